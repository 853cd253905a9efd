"""The resistive network: Kirchhoff's laws, the co-content minimum, implicit gradients, gaps."""

import numpy as np
import pytest
import torch

from physnn.errors import ConfigError, PhysnnWarning
from physnn.hardware.simulated import SimulatedDevice
from physnn.physics import resistive as rn
from physnn.reality.levels import make_reality
from physnn.systems import SYSTEMS

SMALL = {"num_inputs": 3, "num_outputs": 2, "num_hidden": 5, "num_bias": 2}


def small(**options):
    return SYSTEMS["resistive"].from_preset("default", **{**SMALL, **options})


def controls64(system, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {k: v.double() for k, v in system.init_controls(gen).items()}


def inputs(batch=4, features=3, seed=1):
    return torch.rand(batch, features, generator=torch.Generator().manual_seed(seed)).double()


def node_voltages(system, x, controls, *, nudge=None, clamp=None):
    """All node voltages of the settled network (numpy, (B, N))."""
    net = system.network(system.nominal_nuisance(), clamped=clamp is not None)
    fixed = system.source_voltages(x).double()
    if clamp is not None:
        fixed = torch.cat([fixed, clamp], dim=1)
    force = torch.zeros(x.shape[0], system.num_outputs).double() if nudge is None else nudge
    g = controls["conductance"].numpy()
    solution = rn.settle(net, g, fixed.numpy(), force.numpy() * (clamp is None))
    return net, g, solution.voltages, force.numpy() * (clamp is None)


@pytest.mark.parametrize("diodes", [False, True])
@pytest.mark.parametrize("topology", ["layered", "random"])
def test_kirchhoff_current_law_holds_at_every_free_node(diodes, topology):
    system = small(diodes=diodes, topology=topology)
    c = controls64(system)
    nudge = 0.1 * torch.randn(4, 2, generator=torch.Generator().manual_seed(2)).double()
    net, g, v, force = node_voltages(system, inputs(), c, nudge=nudge)
    residual = net.currents(g, v, force)[:, net.free]
    assert np.abs(residual).max() < 1e-9
    assert np.abs(net.currents(g, v, force)[:, net.fixed]).max() > 1e-3  # sources do supply


def test_linear_network_equals_a_dense_solve():
    system = small(diodes=False)
    c = controls64(system)
    x = inputs()
    net, g, v, _ = node_voltages(system, x, c)
    lap = net.laplacian(g).toarray()
    free, fixed = net.free, net.fixed
    vs = system.source_voltages(x).double().numpy()
    dense = np.linalg.solve(lap[np.ix_(free, free)], -lap[np.ix_(free, fixed)] @ vs.T).T
    assert np.allclose(v[:, free], dense, atol=1e-12)


def test_the_solution_is_the_minimum_of_the_co_content():
    system = small()
    c = controls64(system)
    net, g, v, force = node_voltages(system, inputs(), c)
    e0 = net.energy(g, v, force)
    gen = np.random.default_rng(0)
    for scale in (1e-1, 1e-3):
        trial = v.copy()
        trial[:, net.free] += scale * gen.standard_normal((v.shape[0], len(net.free)))
        assert (net.energy(g, trial, force) > e0).all()


def test_diodes_clip_the_hidden_voltages():
    big_inputs = 5 * torch.ones(2, 3).double()
    linear = small(diodes=False, input_scale=1.0, differential_inputs=False, num_bias=0)
    clipped = small(differential_inputs=False, num_bias=0, diode_conductance=100.0, input_scale=1.0)
    c = controls64(linear)
    _, _, v_lin, _ = node_voltages(linear, big_inputs, c)
    _, _, v_clip, _ = node_voltages(clipped, big_inputs, c)
    hidden = clipped.hidden
    assert v_lin[:, hidden].min() > 4.9  # all sources at 5 V: the linear network follows
    assert v_clip[:, hidden].max() < 0.7  # the diodes to the ±0.5 V rails pull it down


def test_local_derivative_is_the_derivative_of_the_minimum_energy():
    """Envelope theorem: d/dG_e min_V E = ½ ΔV_e², what relax reports as ``local``."""
    system = small()
    c = controls64(system)
    x = inputs()
    local = system.relax(x, c, system.nominal_nuisance()).local["conductance"]

    def min_energy(g):
        net, _, v, force = node_voltages(system, x, {"conductance": torch.as_tensor(g)})
        return net.energy(g, v, force).mean()

    g0 = c["conductance"].numpy()
    for e in (0, 7, len(g0) - 1):
        h = np.zeros_like(g0)
        h[e] = 1e-6
        fd = (min_energy(g0 + h) - min_energy(g0 - h)) / 2e-6
        assert fd == pytest.approx(float(local[e]), rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("dense_limit", [400, 0])
def test_implicit_gradients_equal_finite_differences(monkeypatch, dense_limit):
    monkeypatch.setattr(rn, "DENSE_LIMIT", dense_limit)  # 0: the sparse Newton path
    system = small(num_hidden=3)
    c = controls64(system)["conductance"].requires_grad_(True)
    x = inputs(batch=2).requires_grad_(True)
    nudge = 0.05 * torch.ones(2, 2, dtype=torch.float64, requires_grad=True)

    def outputs(g, x, nudge):
        return system.relax(x, {"conductance": g}, system.nominal_nuisance(), nudge=nudge).outputs

    assert torch.autograd.gradcheck(outputs, (c, x, nudge), eps=1e-6, atol=1e-6)


def test_clamp_holds_the_outputs_and_a_positive_current_raises_them():
    system = small()
    c = controls64(system)
    x = inputs()
    nuisance = system.nominal_nuisance()
    free = system.relax(x, c, nuisance).outputs
    target = free + 0.1
    assert torch.equal(system.relax(x, c, nuisance, clamp=target).outputs, target)
    nudged = system.relax(x, c, nuisance, nudge=torch.full((4, 2), 0.01).double()).outputs
    assert (nudged > free).all()


def test_large_networks_settle_sparsely():
    system = SYSTEMS["resistive"].from_preset(
        "default", topology="random", num_hidden=600, num_inputs=8, degree=4.0
    )
    c = controls64(system)
    net, g, v, force = node_voltages(system, inputs(batch=2, features=8), c)
    assert len(net.free) > rn.DENSE_LIMIT  # the per-sample sparse Newton path
    assert np.abs(net.currents(g, v, force)[:, net.free]).max() < 1e-9


@pytest.mark.parametrize("diodes", [False, True])
def test_relax_reports_the_kirchhoff_residual_it_reached(diodes):
    system = small(diodes=diodes)
    c, x, nuisance = controls64(system), inputs(), system.nominal_nuisance()
    free = system.relax(x, c, nuisance)
    clamped = system.relax(x, c, nuisance, clamp=free.outputs + 0.1)
    for settled in (free, clamped):
        assert settled.residual is not None and settled.residual <= 1e-10
    net, g, v, force = node_voltages(system, x, c)
    assert free.residual == pytest.approx(rn.kirchhoff_residual(net, g, v, force), abs=1e-15)


def test_an_exhausted_newton_budget_warns_and_reports_the_residual_reached():
    system = small()
    net = system.network(system.nominal_nuisance(), clamped=False)
    g = controls64(system)["conductance"].numpy()
    fixed = system.source_voltages(inputs()).double().numpy()
    with pytest.warns(PhysnnWarning, match="did not settle in 1 Newton"):
        solution = rn.settle(net, g, fixed, np.zeros((4, 2)), max_iter=1)
    assert solution.residual > 1e-10
    assert solution.residual == pytest.approx(
        rn.kirchhoff_residual(net, g, solution.voltages, np.zeros((4, 2)))
    )


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_levels_build_a_device_that_differs_from_the_twin(level):
    system = SYSTEMS["resistive"].from_preset("default", num_hidden=8, num_outputs=4)
    reality = make_reality(system, level)
    device = SimulatedDevice(system, reality, seed=0)
    c = system.init_controls(torch.Generator().manual_seed(0))
    device.write(c)
    held = device._held["conductance"]
    levels = {"mild": 256, "moderate": 128, "severe": 32}[level]
    step = (1.0 - 0.01) / (levels - 1)
    assert torch.allclose(torch.round((held - 0.01) / step) * step + 0.01, held, atol=1e-6)
    x = torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(3))
    twin = system(x, c, system.nominal_nuisance())
    measured = device.query(x)
    again = device.query(x)
    assert not torch.allclose(measured, twin, atol=1e-4)
    assert not torch.equal(measured, again)  # voltmeter noise on every reading
    knobs = {"mild": 1e-4, "moderate": 1e-3, "severe": 5e-3}
    assert device._nuisance["voltmeter_noise"] == knobs[level]


def test_the_dillavou_preset_is_a_sixteen_edge_linear_network():
    system = SYSTEMS["resistive"].from_preset("dillavou2022")
    assert system.num_edges == 16 and not system.config.diodes


@pytest.mark.parametrize(
    "options",
    [{"topology": "lattice"}, {"g_min": 2.0}, {"num_hidden": 0}, {"degree": 1.0, "topology":
     "random"}, {"diode_smoothing": 0.0}, {"diodes": "yes"}],
)  # fmt: skip
def test_bad_configurations_raise_a_config_error(options):
    with pytest.raises(ConfigError):
        SYSTEMS["resistive"].from_preset("default", **options)


def test_unknown_gap_knob_is_a_config_error():
    with pytest.raises(ConfigError):
        make_reality(small(), "mild", {"resistor_noise": 1.0})


def test_complex_nudges_follow_the_holomorphic_extension():
    """For hEP: relax with a complex nudge iβ·f is analytic, so for small β its outputs are
    y(0) + iβ·(dy/df)·f, with (dy/df)·f from a real finite difference."""
    system = small()
    c = controls64(system)
    x = inputs(batch=2)
    nuisance = system.nominal_nuisance()
    f = torch.tensor([[0.3, -0.2], [0.1, 0.4]], dtype=torch.float64)
    beta = 1e-4
    with torch.no_grad():
        settled = system.relax(x, c, nuisance, nudge=1j * beta * f.to(torch.complex128))
    free = system.relax(x, c, nuisance).outputs
    tangent = (system.relax(x, c, nuisance, nudge=1e-6 * f).outputs - free) / 1e-6
    assert torch.allclose(settled.outputs.real, free, atol=1e-8)
    assert torch.allclose(settled.outputs.imag / beta, tangent, rtol=1e-4, atol=1e-8)
