"""The Hopfield substrate: the projected fixed point, presets, gap levels and bad configs."""

from __future__ import annotations

import warnings

import pytest
import torch

import physnn.substrates.hopfield.gap  # noqa: F401  (registers the gap family)
from physnn.errors import ConfigError, PhysnnWarning
from physnn.hardware import SimulatedDevice
from physnn.physics import hopfield as hop
from physnn.reality import make_reality
from physnn.substrates.hopfield.system import HopfieldNetwork
from physnn.systems import SYSTEMS

SMALL = {"num_inputs": 16, "hidden_sizes": (12,), "num_outputs": 6}


def small(**options) -> tuple[HopfieldNetwork, dict]:
    system = HopfieldNetwork.from_preset("default", **{**SMALL, **options})
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    # biases at mid-range and weaker synapses: most units unsaturated (a nonlinear regime)
    controls = {k: v + 0.5 if k.startswith("bias") else 0.5 * v for k, v in controls.items()}
    return system, controls


def test_the_fixed_point_is_a_stationary_point_and_the_energy_decreases():
    system, controls = small(free_steps=1, tolerance=None)
    weights, biases = system.parameters_of(controls, system.nominal_nuisance())
    x = torch.rand(5, 16, dtype=torch.float64)
    states = system.settle(x, controls, system.nominal_nuisance())
    energies = [hop.energy(states, weights, biases)]
    for _ in range(60):
        states = hop.sweep(states, weights, biases, 1.0)
        energies.append(hop.energy(states, weights, biases))
    steps = torch.stack(energies)
    assert (steps[1:] <= steps[:-1] + 1e-12).all()
    assert max(r.abs().max() for r in hop.projected_gradient(states, weights, biases)) < 1e-10
    assert all(((s >= 0) & (s <= 1)).all() for s in states)
    # not trivially saturated: some units sit strictly inside (0, 1)
    assert ((states[1] > 0) & (states[1] < 1)).any()


def test_leaky_dynamics_reach_the_same_fixed_point():
    exact, controls = small(tolerance=1e-12)
    leaky, _ = small(step_size=0.5, tolerance=1e-12)
    x = torch.rand(4, 16, dtype=torch.float64)
    nominal = exact.nominal_nuisance()
    assert torch.allclose(exact(x, controls, nominal), leaky(x, controls, nominal), atol=1e-10)


def test_a_relaxation_stops_at_its_tolerance_and_reports_the_residual():
    system, controls = small(tolerance=1e-9)
    weights, biases = system.parameters_of(controls, system.nominal_nuisance())
    x = torch.rand(4, 16, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # it settles within its budget: no warning
        free = system.relax(x, controls, system.nominal_nuisance())
        states = system.settle(x, controls, system.nominal_nuisance())
    assert 0 < free.residual <= 1e-9
    # ε = 1: a sweep's change is the projected gradient, so the state is within ~τ of the point
    assert max(r.abs().max() for r in hop.projected_gradient(states, weights, biases)) < 1e-8
    loose = small(tolerance=1e-3)[0].relax(x, controls, system.nominal_nuisance())
    assert 1e-9 < loose.residual <= 1e-3
    assert (loose.outputs - free.outputs).abs().max() > 1e-8  # it did stop early


def test_a_spent_budget_warns_and_a_fixed_schedule_does_not():
    system, controls = small(free_steps=3, tolerance=1e-9)
    x = torch.rand(4, 16, dtype=torch.float64)
    with pytest.warns(PhysnnWarning, match="did not settle in 3 steps.*raise free_steps"):
        short = system.relax(x, controls, system.nominal_nuisance())
    assert short.residual > 1e-9
    fixed, _ = small(free_steps=3, tolerance=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        equilibrium = fixed.relax(x, controls, fixed.nominal_nuisance())
    assert equilibrium.residual == short.residual  # the same three sweeps, measured at the last
    paper = HopfieldNetwork.from_preset("scellier2017")
    assert paper.config.tolerance is None  # the paper's fixed schedule


def test_the_residual_reaches_the_caller_through_the_device():
    system, controls = small()
    device = SimulatedDevice(system, make_reality(system, "none"), seed=0)
    device.write({k: v.float() for k, v in controls.items()})
    equilibrium = device.relax(torch.rand(4, 16))
    assert equilibrium.residual is not None and 0 < equilibrium.residual <= 1e-6


def test_a_short_relaxation_stops_at_a_looser_residual():
    system, _ = small()
    nuisance = {**system.nominal_nuisance(), "relaxation": 0.5}
    assert system.stopping_residual(nuisance) == pytest.approx(1e-3)
    assert system.stopping_residual(system.nominal_nuisance()) == pytest.approx(1e-6)


def test_nudge_moves_the_outputs_along_the_force_and_clamp_holds_them():
    system, controls = small()
    x = torch.rand(4, 16, dtype=torch.float64)
    nominal = system.nominal_nuisance()
    free = system.relax(x, controls, nominal)
    force = 0.05 * torch.randn(4, 6, dtype=torch.float64)
    nudged = system.relax(x, controls, nominal, nudge=force)
    assert ((nudged.outputs - free.outputs) * force).sum() > 0
    target = torch.rand(4, 6, dtype=torch.float64)
    assert torch.equal(system.relax(x, controls, nominal, clamp=target).outputs, target)
    rho = hop.project(free.outputs)
    assert torch.allclose(free.local["bias_2"], -rho.mean(dim=0))
    assert set(free.local) == set(system.control_specs())


def test_presets_and_their_shapes():
    assert set(HopfieldNetwork.presets) == {"default", "scellier2017"}
    paper = SYSTEMS["hopfield"].from_preset("scellier2017")
    specs = paper.control_specs()
    assert specs["weight_1"].shape == (500, 784) and specs["weight_2"].shape == (10, 500)
    assert (paper.config.free_steps, paper.config.nudged_steps) == (20, 4)
    default = SYSTEMS["hopfield"].from_preset("default")
    y = default(torch.rand(3, 8, 8), default.init_controls(torch.Generator().manual_seed(1)), {})
    assert y.shape == (3, 10)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"hidden_sizes": (0,)}, "layer sizes"),
        ({"free_steps": 0}, "free_steps"),
        ({"step_size": 1.5}, "step_size"),
        ({"tolerance": 0.0}, "tolerance"),
        ({"weight_bound": -1.0}, "weight_bound"),
        ({"num_outputs": 2.5}, "num_outputs"),
        ({"relax_steps": 3}, "unknown option"),
    ],
)
def test_bad_configs_raise_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        HopfieldNetwork.from_preset("default", **options)


def test_gap_levels_grow_and_reach_the_device():
    system, controls = small()
    controls = {k: v.float() for k, v in controls.items()}
    x = torch.rand(32, 16)
    clean = system(x, controls, system.nominal_nuisance())
    errors = []
    for level in ("mild", "moderate", "severe"):
        reality = make_reality(system, level)
        device = SimulatedDevice(system, reality, seed=0)
        device.write(controls)
        errors.append(float((device.query(x) - clean).abs().mean()))
        assert device._nuisance["relaxation"] < 1.0
    assert errors[0] < errors[1] < errors[2]
    assert make_reality(system, "none").perturbations == ()
    with pytest.raises(ConfigError, match="gap option"):
        make_reality(system, "mild", {"local_noise": -1.0})
