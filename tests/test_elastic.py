"""The elastic spring network: force balance, linear response, local rule, implicit gradients,
equilibrium propagation against autograd, gaps, presets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import ExactDevice
from physnn.errors import ConfigError, PhysnnWarning
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods import METHODS
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.physics import elastic as el
from physnn.reality.levels import make_reality
from physnn.systems import SYSTEMS

SMALL = {"num_nodes": 24, "num_inputs": 3, "num_outputs": 2, "num_pinned": 2}


def small(**options):
    return SYSTEMS["elastic"].from_preset("default", **{**SMALL, **options})


def controls64(system, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: v.double() for k, v in system.init_controls(gen).items()}


def inputs(batch=4, features=3, seed=1):
    return torch.rand(batch, features, generator=torch.Generator().manual_seed(seed)).double()


def settled(system, x, controls, force=None):
    """The network, springs, positions at the (nudged) minimum and the force."""
    ref = system.reference(system.nominal_nuisance(), x)
    net = system.network(ref)
    k, rest = system.springs(controls, system.nominal_nuisance(), ref)
    force = torch.zeros(x.shape[0], system.num_outputs).double() if force is None else force
    return net, k, rest, el.settle(net, k, rest, system.held_positions(x, ref), force), force


@pytest.mark.parametrize("topology", ["random", "lattice"])
def test_forces_balance_at_every_free_node(topology):
    system = small(topology=topology)
    c = controls64(system)
    nudge = 0.05 * torch.randn(4, 2, generator=torch.Generator().manual_seed(2)).double()
    net, k, rest, r, force = settled(system, inputs(), c, nudge)
    assert el.residual(net, k, rest, r, force).abs().max() < 1e-10
    d, _ = el.geometry(r, net.edges)
    tension = k * (d - rest)
    held = torch.as_tensor(system.held)
    reaction = el._pair_forces(r, net.edges, tension)[:, held]
    assert reaction.abs().max() > 1e-3  # the held source nodes do push


def test_relax_reports_the_force_residual_it_reached():
    system = small()
    c, x, nuisance = controls64(system), inputs(), system.nominal_nuisance()
    free = system.relax(x, c, nuisance)
    clamped = system.relax(x, c, nuisance, clamp=free.outputs + 0.01)
    nudged = system.relax(x, c, nuisance, nudge=torch.full((4, 2), 0.05).double())
    for state in (free, clamped, nudged):
        assert state.residual is not None and 0 <= state.residual <= 1e-10


def test_an_exhausted_newton_budget_warns_and_returns_the_state_reached():
    system = small()
    c, x = controls64(system), inputs()
    ref = system.reference(system.nominal_nuisance(), x)
    net = system.network(ref)
    k, rest = system.springs(c, system.nominal_nuisance(), ref)
    r0, force = system.held_positions(x, ref), torch.zeros(4, 2).double()
    with pytest.warns(PhysnnWarning, match="did not settle in 1 Newton"):
        r = el.settle(net, k, rest, r0, force, max_iter=1)
    assert el.force_residual(net, k, rest, r, force) > 1e-11
    with pytest.warns(PhysnnWarning, match="hold the clamped target strains"):
        el.settle_clamped(net, k, rest, r0, torch.full((4, 2), 0.01).double(), max_iter=0)


def test_small_inputs_follow_the_linearized_stiffness_matrix():
    """y ≈ G K_FF⁻¹ (−K_FS u_S) for the stiffness matrix K = Σ k n nᵀ of the unstressed network,
    built here node by node."""
    system = small()
    c = controls64(system)
    eps = 1e-5
    x = inputs(batch=2)
    y = system.relax(eps * x, c, system.nominal_nuisance()).outputs / eps
    pts, k = system.points, c["stiffness"].numpy()
    stiff = np.zeros((2 * len(pts), 2 * len(pts)))
    for (i, j), ke in zip(system.edges, k, strict=True):
        n = (pts[i] - pts[j]) / np.linalg.norm(pts[i] - pts[j])
        block = ke * np.outer(n, n)
        for a, b, sign in ((i, i, 1), (j, j, 1), (i, j, -1), (j, i, -1)):
            stiff[2 * a : 2 * a + 2, 2 * b : 2 * b + 2] += sign * block
    dof = lambda nodes: np.stack([2 * nodes, 2 * nodes + 1], 1).ravel()  # noqa: E731
    free, held = dof(system.free), dof(system.held)
    for b in range(2):
        u = np.zeros(2 * len(pts))
        for s, (i, j) in enumerate(system.sources):
            axis = pts[i] - pts[j]
            u[2 * i : 2 * i + 2] += 0.5 * system.config.input_scale * x[b, s].item() * axis
            u[2 * j : 2 * j + 2] -= 0.5 * system.config.input_scale * x[b, s].item() * axis
        u[free] = np.linalg.solve(stiff[np.ix_(free, free)], -stiff[np.ix_(free, held)] @ u[held])
        for t, (i, j) in enumerate(system.targets):
            axis = pts[i] - pts[j]
            expected = axis @ (u[2 * i : 2 * i + 2] - u[2 * j : 2 * j + 2]) / (axis @ axis)
            assert y[b, t].item() == pytest.approx(expected, rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("train", ["stiffness", "rest_length"])
def test_local_derivative_is_the_derivative_of_the_minimum_energy(train):
    """Envelope theorem: d/dθ_e min_r E = ∂E/∂θ_e at the minimum, what relax reports."""
    system = small(train=train)
    c = controls64(system)
    name = next(iter(c))
    c[name] = c[name] + 0.05 * torch.rand(c[name].shape, dtype=torch.float64)
    x = inputs()
    local = system.relax(x, c, system.nominal_nuisance()).local[name]

    def min_energy(theta):
        net, k, rest, r, force = settled(system, x, {name: theta})
        return el.energy(net, k, rest, r, force).mean().item()

    for e in (0, 7, system.num_edges - 1):
        h = torch.zeros_like(c[name])
        h[e] = 1e-6
        fd = (min_energy(c[name] + h) - min_energy(c[name] - h)) / 2e-6
        assert fd == pytest.approx(float(local[e]), rel=1e-4, abs=1e-11)


@pytest.mark.parametrize("train", ["stiffness", "rest_length"])
def test_implicit_gradients_equal_finite_differences(train):
    system = small(train=train, num_nodes=12, num_inputs=2, num_outputs=1, num_pinned=1)
    theta = next(iter(controls64(system).values())).requires_grad_(True)
    name = next(iter(system.control_specs()))
    x = inputs(batch=2, features=2).requires_grad_(True)
    nudge = 0.02 * torch.ones(2, 1, dtype=torch.float64, requires_grad=True)

    def outputs(theta, x, nudge):
        return system.relax(x, {name: theta}, system.nominal_nuisance(), nudge=nudge).outputs

    assert torch.autograd.gradcheck(outputs, (theta, x, nudge), eps=1e-6, atol=1e-6)


def test_clamp_holds_the_strains_and_a_pulling_force_stretches():
    system = small()
    c = controls64(system)
    x = inputs()
    nuisance = system.nominal_nuisance()
    free = system.relax(x, c, nuisance)
    target = free.outputs + 0.01
    clamped = system.relax(x, c, nuisance, clamp=target)
    assert torch.allclose(clamped.outputs, target, atol=1e-9)
    assert not torch.allclose(clamped.local["stiffness"], free.local["stiffness"])
    nudged = system.relax(x, c, nuisance, nudge=torch.full((4, 2), 0.01).double()).outputs
    assert (nudged > free.outputs).all()


def test_equilibrium_propagation_converges_to_the_true_gradient():
    """ep (methods/equilibrium.py) against autograd through the implicit solve, as β → 0."""
    system = small(num_nodes=30, num_outputs=3)
    gen = torch.Generator().manual_seed(0)
    controls = controls64(system)
    readout = nn.Linear(3, 2).double()
    model = PNN([PhysicalBlock(system, controls, device=ExactDevice(system)), readout])
    x = torch.rand(6, 3, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 2, (6,), generator=gen)
    F.cross_entropy(model(x), y).backward()
    truth = next(model.parameters()).grad.clone()
    cosines = []
    for beta in (1.0, 0.01):
        model.zero_grad()
        METHODS["ep"]({"beta": beta}).estimate(model, x, y, F.cross_entropy)
        estimate = next(model.parameters()).grad
        cosines.append(float(F.cosine_similarity(estimate, truth, dim=0)))
    assert cosines[1] > 0.99
    assert 1 - cosines[1] <= 1 - cosines[0] + 1e-9


@pytest.mark.parametrize("method", ["ep", "hep", "freqprop"])
def test_nudging_methods_at_their_defaults_give_the_gradient_on_a_float32_device(method):
    """The local derivatives are read in float64, so a default (small) nudge's contrast keeps
    its digits with float32 controls; the estimate is the gradient, magnitude included."""
    system = small(num_nodes=30, num_outputs=3)
    gen = torch.Generator().manual_seed(0)
    controls = system.init_controls(gen)
    device = SimulatedDevice(system, make_reality(system, "none"), seed=0)
    model = PNN([PhysicalBlock(system, controls, device=device), nn.Linear(3, 2)])
    x = torch.rand(6, 3, generator=gen)
    y = torch.randint(0, 2, (6,), generator=gen)
    F.cross_entropy(model(x), y).backward()
    truth = next(model.parameters()).grad.clone().double()
    model.zero_grad()
    METHODS[method]().estimate(model, x, y, F.cross_entropy)
    estimate = next(model.parameters()).grad.double()
    assert float(F.cosine_similarity(estimate, truth, dim=0)) > 0.999
    assert float((estimate - truth).norm() / truth.norm()) < 0.02


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_levels_build_a_device_that_differs_from_the_twin(level):
    system = small()
    device = SimulatedDevice(system, make_reality(system, level), seed=0)
    c = system.init_controls(torch.Generator().manual_seed(0))
    device.write(c)
    x = torch.rand(4, 3, generator=torch.Generator().manual_seed(3))
    twin = system(x, c, system.nominal_nuisance())
    measured = device.query(x)
    assert not torch.allclose(measured, twin, atol=1e-5)
    assert not torch.equal(measured, device.query(x))  # gauge noise on every reading
    knobs = {"mild": 1e-4, "moderate": 1e-3, "severe": 5e-3}
    assert device._nuisance["gauge_noise"] == knobs[level]
    assert device._nuisance["stiffness_scale"].shape == (system.num_edges,)


def test_gap_knobs_at_zero_leave_the_device_equal_to_the_twin():
    system = small()
    zero = dict.fromkeys(("tolerance", "rest_length_error", "node_jitter", "gauge_noise"), 0.0)
    device = SimulatedDevice(system, make_reality(system, "severe", zero), seed=0)
    c = system.init_controls(torch.Generator().manual_seed(0))
    device.write(c)
    x = torch.rand(4, 3, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(device.query(x), system(x, c, system.nominal_nuisance()), atol=1e-6)


def test_rest_length_error_prestresses_the_network():
    system = small()
    c = controls64(system)
    x = torch.zeros(2, 3, dtype=torch.float64)
    nominal = system.relax(x, c, system.nominal_nuisance()).outputs
    scale = 1 + 0.02 * torch.randn(system.num_edges, generator=torch.Generator().manual_seed(0))
    nuisance = {**system.nominal_nuisance(), "rest_length_scale": scale.double()}
    assert nominal.abs().max() < 1e-12  # no input, no prestress: no strain
    assert system.relax(x, c, nuisance).outputs.abs().max() > 1e-4


def test_presets():
    default = SYSTEMS["elastic"].from_preset("default")
    assert default.config.num_nodes == 100 and default.num_outputs == 10
    assert len(default.sources) == 16
    stern = SYSTEMS["elastic"].from_preset("stern2021")
    assert len(stern.sources) == len(stern.targets) == 1
    taken = np.concatenate([stern.sources.ravel(), stern.targets.ravel(), stern.pinned])
    assert len(set(taken.tolist())) == len(taken)  # sources, targets, pins are disjoint


@pytest.mark.parametrize(
    "options",
    [{"topology": "voronoi"}, {"train": "mass"}, {"k_min": 2.0}, {"num_nodes": 10},
     {"num_inputs": 0}, {"rest_range": 1.5}, {"lattice_jitter": 0.7}, {"input_scale": -1.0},
     {"num_pinned": "3"}],
)  # fmt: skip
def test_bad_configurations_raise_a_config_error(options):
    with pytest.raises(ConfigError):
        small(**options)


def test_unknown_gap_knob_is_a_config_error():
    with pytest.raises(ConfigError):
        make_reality(small(), "mild", {"spring_noise": 1.0})


def test_complex_nudges_follow_the_holomorphic_extension():
    """For hEP: relax with a complex nudge iβ·f is analytic, so for small β its outputs are
    y(0) + iβ·(dy/df)·f, with (dy/df)·f from a real finite difference."""
    system = small()
    c = controls64(system)
    x = inputs(batch=2)
    nuisance = system.nominal_nuisance()
    f = torch.tensor([[0.03, -0.02], [0.01, 0.04]], dtype=torch.float64)
    beta = 1e-4
    with torch.no_grad():
        settled = system.relax(x, c, nuisance, nudge=1j * beta * f.to(torch.complex128))
    free = system.relax(x, c, nuisance).outputs
    tangent = (system.relax(x, c, nuisance, nudge=1e-6 * f).outputs - free) / 1e-6
    assert torch.allclose(settled.outputs.real, free, atol=1e-8)
    assert torch.allclose(settled.outputs.imag / beta, tangent, rtol=1e-4, atol=1e-8)
