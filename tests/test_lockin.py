"""The lock-in gradient of the resistive network (AC nudge, RC dynamics, finite window) and the
methods that run it: freqprop and hep with realization=lock-in."""

import pytest
import torch

from conftest import fit_one_batch, learned, tiny_run
from physnn.errors import ConfigError, IncompatibleError
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods import METHODS
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.reality.base import Reality
from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource
from physnn.train.config import TrainConfig

SMALL = {"num_inputs": 6, "num_hidden": 8, "num_outputs": 4}


def system_with(**options):
    return SYSTEMS["resistive"].from_preset("default", **{**SMALL, **options})


def problem(system, seed=0):
    gen = torch.Generator().manual_seed(seed)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    x = torch.rand(3, SMALL["num_inputs"], generator=gen, dtype=torch.float64)
    u = 1e-3 * torch.randn(3, SMALL["num_outputs"], generator=gen, dtype=torch.float64)
    return controls, x, u


def drawn_diodes(system, seed=0):
    """A hidden device whose diodes differ from the design (conductance and threshold)."""
    gen = torch.Generator().manual_seed(seed)
    n = len(system.hidden)
    nuisance = system.nominal_nuisance()
    nuisance["diode_scale"] = 1 + 0.1 * torch.randn(n, generator=gen, dtype=torch.float64)
    nuisance["diode_offset"] = 0.02 * torch.randn(n, generator=gen, dtype=torch.float64)
    return nuisance


def exact_and_measured(system, nuisance=None, seed=0):
    """∂Σ⟨u, y⟩/∂G by autograd of the hidden physics, and as the lock-in measures it."""
    controls, x, u = problem(system, seed)
    nuisance = nuisance or system.nominal_nuisance()
    g = controls["conductance"].clone().requires_grad_(True)
    (exact,) = torch.autograd.grad((u * system(x, {"conductance": g}, nuisance)).sum(), g)
    outputs, grads, passes = system.measured_gradient("lock-in", x, controls, nuisance, u)
    torch.testing.assert_close(outputs, system(x, controls, nuisance))
    assert passes == 2
    return exact, grads["conductance"]


def cosine(a, b):
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))


def rel_error(estimate, exact):
    return float((estimate - exact).norm() / exact.norm())


@pytest.mark.parametrize("hidden", ["nominal", "drawn diodes"])
def test_the_quasi_static_lock_in_is_the_gradient_in_float64(hidden):
    """C = 0: the network follows the AC current; the first harmonic of ½ΔV² is ΔV_DC·ΔV_AC,
    the gradient, up to O(|u|²)."""
    system = system_with(node_capacitance=0.0, lockin_periods=1, lockin_settle=0)
    nuisance = drawn_diodes(system) if hidden == "drawn diodes" else None
    exact, measured = exact_and_measured(system, nuisance)
    torch.testing.assert_close(measured, exact, rtol=1e-5, atol=1e-5 * float(exact.abs().max()))


def test_a_slow_drive_through_the_capacitors_approaches_the_gradient():
    """ωR₀C = 0.01 (the default): the in-phase response errs by O((ωRC)²)."""
    exact, measured = exact_and_measured(system_with(lockin_frequency=0.01))
    assert cosine(measured, exact) > 0.9999
    assert rel_error(measured, exact) < 1e-3
    assert cosine(-measured, exact) < 0  # a sign-flipped estimator fails


def test_a_faster_drive_lags_and_loses_the_gradient():
    """The RC lag moves the response out of phase with the reference."""
    errors, cosines = [], []
    for omega in (0.01, 0.3, 3.0, 10.0):
        exact, measured = exact_and_measured(system_with(lockin_frequency=omega))
        errors.append(rel_error(measured, exact))
        cosines.append(cosine(measured, exact))
    assert errors == sorted(errors) and cosines == sorted(cosines, reverse=True)
    assert errors[-1] > 0.5


def test_fewer_periods_let_in_more_of_the_turn_on_transient():
    """Without settling periods, the transient of switching the AC on (a few RC) leaks into the
    window as O(RC / (M T))."""
    errors = []
    for periods in (1, 4, 16):
        options = {"lockin_frequency": 1.0, "lockin_settle": 0, "lockin_periods": periods}
        exact, measured = exact_and_measured(system_with(**options))
        errors.append(rel_error(measured, exact))
    assert errors == sorted(errors, reverse=True)
    settled = system_with(lockin_frequency=1.0, lockin_settle=4, lockin_periods=1)
    assert rel_error(*reversed(exact_and_measured(settled))) < errors[0]


def test_voltmeter_noise_averages_down_over_the_window():
    """Every voltage sample carries the voltmeter noise; M K samples average it as 1/√(M K)."""
    errors = []
    for periods in (1, 16):
        system = system_with(node_capacitance=0.0, lockin_periods=periods, lockin_steps=8)
        controls, x, u = problem(system)
        nuisance = {**system.nominal_nuisance(), "voltmeter_noise": 1e-3}
        exact, _ = exact_and_measured(system)
        noise = NoiseSource(torch.Generator().manual_seed(3))
        _, grads, _ = system.measured_gradient("lock-in", x, controls, nuisance, u, noise)
        errors.append(rel_error(grads["conductance"], exact))
    assert errors[1] < errors[0] / 2


def physical_model(system, seed=0):
    device = SimulatedDevice(system, Reality(), seed=seed)
    controls = system.init_controls(torch.Generator().manual_seed(seed))
    return PNN([PhysicalBlock(system, controls, device=device)])


def mse(outputs, targets):
    return 0.5 * (outputs - targets).square().sum(dim=1).mean()


def method_gradient(model, x, y, method, **options):
    model.zero_grad()
    estimator = METHODS[method](options)
    estimator.bind(model, 0)
    estimator.estimate(model, x, y, mse)
    return model.blocks[0].controls["conductance"].grad.clone()


def test_freqprop_and_hep_lock_in_are_one_measurement_of_the_gradient():
    system = system_with(lockin_periods=2, lockin_steps=16)
    model = physical_model(system)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(4, SMALL["num_inputs"], generator=gen)
    y = 0.2 * torch.rand(4, SMALL["num_outputs"], generator=gen) - 0.1
    model.zero_grad()
    mse(model(x), y).backward()
    true = model.blocks[0].controls["conductance"].grad.clone()
    freqprop = method_gradient(model, x, y, "freqprop", realization="lock-in")
    hep = method_gradient(model, x, y, "hep", realization="lock-in")
    torch.testing.assert_close(freqprop, hep)
    assert cosine(freqprop, true) > 0.999
    quasi_static = method_gradient(model, x, y, "freqprop")
    assert cosine(freqprop, quasi_static) > 0.999
    counts = model.blocks[0].device.stats()
    # free state (1) + lock-in (DC state, AC run: 2), twice; then 1 + 4 phases
    assert counts.queries == 4 * (3 + 3 + 5)


def test_the_lock_in_realization_is_refused_where_the_system_has_none():
    elastic = SYSTEMS["elastic"].from_preset("default")
    model = physical_model(elastic)
    for method in ("freqprop", "hep"):
        with pytest.raises(IncompatibleError, match="realization=lock-in"):
            METHODS[method]({"realization": "lock-in"}).bind(model, 0)
    with pytest.raises(ConfigError, match="realization"):
        METHODS["freqprop"]({"realization": "complex"})
    with pytest.raises(ConfigError, match="realization"):
        METHODS["hep"]({"realization": "quasi-static"})
    with pytest.raises(ConfigError, match="lockin_steps"):
        system_with(lockin_steps=2)


def test_freqprop_learns_its_tiny_problem_through_the_lock_in():
    run = tiny_run("resistive")
    fast = {"lockin_periods": 1, "lockin_settle": 0, "lockin_steps": 4}  # ωR₀C = 0.01: no lag
    options = {**run["system_options"], **fast}
    config = TrainConfig(
        method="freqprop",
        gap="mild",
        method_options={"realization": "lock-in"},
        **{**run, "system_options": options},
    )
    losses, accuracies = fit_one_batch(config)
    assert learned(losses, accuracies), (losses[0], losses[-1], accuracies[0], accuracies[-1])
