"""Physical reservoir: delay-loop linear limit, fading memory, ESN spectral radius, the System
contract, gradients, gap levels and the time-series generators."""

from __future__ import annotations

import pytest
import torch

import physnn.substrates.reservoir.gap  # noqa: F401  (registers the gap family)
from physnn.data.timeseries import mackey_glass, narma10, nmse
from physnn.errors import ConfigError
from physnn.physics.reservoir import (
    carry_over,
    delay_loop,
    echo_state_network,
    node_response,
    ring_coupling,
    sparse_recurrent_matrix,
)
from physnn.reality import make_reality
from physnn.substrates.reservoir.system import Reservoir
from physnn.systems.base import NoiseSource

TINY = {"nodes": 6, "readout_times": 2}
F64 = torch.float64


def scalar(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=F64)


def test_delay_loop_without_coupling_is_a_geometric_memory_in_the_linear_limit():
    # θ → ∞: no inertia, each virtual node keeps only its own past; f(z) ≈ z for |z| ≪ 1 gives
    # x_i(n) = γ m_i Σ_k αᵏ u(n − k)
    gen = torch.Generator().manual_seed(0)
    u = 1e-5 * torch.rand(2, 12, generator=gen, dtype=F64)
    mask = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=F64)
    alpha, gamma = 0.7, 0.5
    states = delay_loop(u, mask, scalar(alpha), scalar(gamma), scalar(0.0), 50.0, "mackey-glass")
    powers = alpha ** torch.arange(12, dtype=F64)
    memory = torch.stack([(u[:, : n + 1].flip(1) * powers[: n + 1]).sum(1) for n in range(12)], 1)
    expected = gamma * memory[..., None] * mask
    assert torch.allclose(states, expected, rtol=1e-4, atol=1e-15)


def test_a_shifted_loop_feeds_each_node_its_predecessor():
    # τ = (N + 1) θ, no inertia, linear node: x_i(n) = α x_{i−1}(n − 1) + γ m_i u(n), cyclic
    u = 1e-6 * torch.tensor([[1.0, 0.0, 0.0]], dtype=F64)
    mask = torch.tensor([1.0, -1.0, 1.0], dtype=F64)
    states = delay_loop(u, mask, scalar(0.5), scalar(2.0), scalar(0.0), 50.0, "mackey-glass",
                        shift=1)  # fmt: skip
    impulse = 2e-6 * mask
    assert torch.allclose(states[0, 1], 0.5 * impulse.roll(1), rtol=1e-5)
    assert torch.allclose(states[0, 2], 0.25 * impulse.roll(2), rtol=1e-5)


def test_delay_loop_with_inertia_reaches_the_closed_form_fixed_point():
    # constant input, linear node: x = L (α x + γ m u) + c x_N, solved as a linear system
    nodes, theta, alpha, gamma = 5, 0.4, 0.6, 0.8
    mask = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0], dtype=F64)
    u = torch.full((1, 300), 1e-6, dtype=F64)
    states = delay_loop(u, mask, scalar(alpha), scalar(gamma), scalar(0.0), theta, "mackey-glass")
    coupling, carry = ring_coupling(nodes, theta, F64), carry_over(nodes, theta, F64)
    last = torch.zeros(nodes, nodes, dtype=F64)
    last[:, -1] = carry
    fixed = torch.linalg.solve(torch.eye(nodes, dtype=F64) - alpha * coupling - last,
                               coupling @ (gamma * mask * 1e-6))  # fmt: skip
    assert torch.allclose(states[0, -1], fixed, rtol=1e-4)
    # the unrolled coupling equals the sequential low-pass recursion over the virtual nodes
    f = torch.rand(nodes, dtype=F64)
    x, seq = 0.3, []
    for value in f:
        x = torch.exp(torch.tensor(-theta)) * x + (1 - torch.exp(torch.tensor(-theta))) * value
        seq.append(x)
    assert torch.allclose(coupling @ f + carry * 0.3, torch.stack(seq).to(F64))


@pytest.mark.parametrize("preset", ["default", "esn"])
def test_fading_memory_two_initial_states_converge(preset):
    system = Reservoir.from_preset(preset, nodes=20)
    controls = {k: v.double() for k, v in system.init_controls(torch.Generator()).items()}
    gen = torch.Generator().manual_seed(1)
    u = torch.rand(1, 150, generator=gen, dtype=F64)
    mask = system.mask.double()
    starts = [torch.rand(1, 20, generator=gen, dtype=F64) * s for s in (1.0, -1.0)]
    if preset == "esn":
        w = system.recurrent.double()
        a, b = (echo_state_network(u, mask, w, controls["feedback"], controls["input_scaling"],
                                   controls["bias"], 0.5, initial=s) for s in starts)  # fmt: skip
    else:
        a, b = (delay_loop(u, mask, controls["feedback"], controls["input_scaling"],
                           controls["bias"], 0.2, "sin2", initial=s) for s in starts)  # fmt: skip
    assert (a[0, 0] - b[0, 0]).abs().max() > 1e-2
    assert (a[0, -1] - b[0, -1]).abs().max() < 1e-5


def test_esn_spectral_radius_is_as_configured():
    w = sparse_recurrent_matrix(60, 0.2, 0.85, torch.Generator().manual_seed(0))
    assert float(torch.linalg.eigvals(w.double()).abs().max()) == pytest.approx(0.85, rel=1e-5)
    assert float((w != 0).double().mean()) == pytest.approx(0.2, abs=0.03)
    system = Reservoir.from_preset("esn", nodes=30, spectral_radius=1.1)
    radius = float(torch.linalg.eigvals(system.recurrent.double()).abs().max())
    assert radius == pytest.approx(1.1, 1e-5)


def test_nonlinearities_and_system_contract():
    z = torch.tensor([0.0, 0.5, -2.0])
    assert torch.allclose(node_response(z, "sin2"), torch.sin(z) ** 2)
    assert torch.allclose(node_response(z, "mackey-glass", 2.0), z / (1 + z**2))
    system = Reservoir.from_preset("default", **TINY)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    for name, spec in system.control_specs().items():
        spec.check(name, controls[name])
    assert system.control_specs()["bias"].periodic
    for x in (torch.rand(3, 8, 8), torch.rand(3, 12), torch.rand(3, 1000)):
        assert system(x, controls, system.nominal_nuisance()).shape == (3, 12)
    assert set(system.mask.tolist()) == {-1.0, 1.0}
    again = Reservoir.from_preset("default", **TINY)
    assert torch.equal(again.mask, system.mask)
    held = Reservoir.from_preset("default", hold=3, **TINY)
    assert torch.equal(
        held.encode(torch.tensor([[1.0, 2.0]])), torch.tensor([[1.0] * 3 + [2.0] * 3])
    )
    assert held.readout_indices(8).tolist() == [3, 7]


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ConfigError, match="kind must be one of delay, esn"):
        Reservoir.from_preset("default", kind="lsm")
    with pytest.raises(ConfigError, match="nonlinearity must be one of"):
        Reservoir.from_preset("default", nonlinearity="relu")
    with pytest.raises(ConfigError, match="nodes must be positive"):
        Reservoir.from_preset("default", nodes=0)
    with pytest.raises(ConfigError, match="leak must be in"):
        Reservoir.from_preset("esn", leak=0.0)
    with pytest.raises(ConfigError, match=r"feedback must be in \[0, 2\]"):
        Reservoir.from_preset("default", feedback=3.0)
    system = Reservoir.from_preset("default", readout_times=20)
    with pytest.raises(ConfigError, match="readout_times=20 exceeds the 12 input steps"):
        system(torch.rand(2, 12), system.init_controls(torch.Generator()), {})
    for preset in Reservoir.presets:
        Reservoir.config_class(**Reservoir.presets[preset])
    assert Reservoir.from_preset("appeltant2011").num_outputs == 400 * 8


@pytest.mark.parametrize("preset", ["default", "esn"])
def test_forward_gradients_match_finite_differences(preset):
    system = Reservoir.from_preset(preset, nodes=4, readout_times=2, density=1.0)
    system.mask = system.mask.double()
    if preset == "esn":
        system.recurrent = system.recurrent.double()
    x = torch.rand(2, 6, generator=torch.Generator().manual_seed(2), dtype=F64)
    names = ("feedback", "input_scaling", "bias")
    start = system.init_controls(torch.Generator())
    values = tuple(start[n].double().requires_grad_() for n in names)
    error = scalar(0.02).requires_grad_()

    def forward(alpha, gamma, phi, err):
        nuisance = {**system.nominal_nuisance(), "feedback_error": err}
        return system(x, dict(zip(names, (alpha, gamma, phi), strict=True)), nuisance)

    assert torch.autograd.gradcheck(forward, (*values, error))


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_family_builds_and_changes_the_output(level):
    system = Reservoir.from_preset("default", **TINY)
    reality = make_reality(system, level)
    names = {p.name for p in reality.perturbations}
    assert names == {"gain-miscalibration", "mask-error", "loop-noise", "detector-noise"}
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    controls = system.init_controls(torch.Generator())
    x = torch.rand(4, 8, 8)
    nominal = system(x, controls, system.nominal_nuisance())
    noise = NoiseSource(torch.Generator().manual_seed(1))
    device = reality.observe(system(x, controls, nuisance, noise), torch.Generator())
    assert not torch.allclose(nominal, device, rtol=1e-4)


def test_a_knob_at_zero_switches_its_perturbation_off():
    system = Reservoir.from_preset("default", **TINY)
    reality = make_reality(system, "moderate", {"loop_noise": 0, "photons": 0})
    assert {p.name for p in reality.perturbations} == {"gain-miscalibration", "mask-error"}
    quiet = make_reality(system, "none", {"gain_error": 0.05})
    nuisance = quiet.sample_nuisance(system, torch.Generator().manual_seed(0))
    assert nuisance["loop_noise"] == 0.0 and nuisance["mask_error"] is None
    # loop noise acts only with a NoiseSource, and only when its σ is positive
    controls = system.init_controls(torch.Generator())
    x = torch.rand(2, 8, 8)
    clean = system(x, controls, system.nominal_nuisance())
    noisy = {**system.nominal_nuisance(), "loop_noise": 0.01}
    assert torch.equal(system(x, controls, noisy), clean)
    noise = NoiseSource(torch.Generator().manual_seed(0))
    assert torch.equal(system(x, controls, system.nominal_nuisance(), noise), clean)
    assert not torch.allclose(system(x, controls, noisy, noise), clean)


def test_time_series_generators():
    u, y = narma10(500, seed=0)
    assert u.shape == y.shape == (500,) and u.min() >= 0 and u.max() <= 0.5
    t = 100  # the recursion, checked at one step from the generated series
    expected = 0.3 * y[t - 1] + 0.05 * y[t - 1] * y[t - 10 : t].sum() + 1.5 * u[t - 9] * u[t]
    assert float(y[t]) == pytest.approx(float(expected) + 0.1)
    assert torch.equal(narma10(50, seed=3)[1], narma10(50, seed=3)[1])
    series = mackey_glass(600, seed=0)
    assert series.min() > 0.2 and series.max() < 1.5 and series.std() > 0.15  # chaotic, bounded
    assert nmse(y, y) == 0.0
    assert nmse(torch.full_like(y, float(y.mean())), y) == pytest.approx(1.0)


@pytest.mark.parametrize("readout", ["snapshots", "window-mean", "window-power"])
def test_readouts_sample_or_integrate_the_node_states(readout):
    system = Reservoir.from_preset("default", nodes=6, readout_times=3, readout=readout)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(2, 12, generator=torch.Generator().manual_seed(1))
    nuisance = system.nominal_nuisance()
    states = system.states(x, controls, nuisance)  # (B, T = 12, nodes)
    y = system(x, controls, nuisance).reshape(2, 3, 6)
    if readout == "snapshots":
        expected = states[:, [3, 7, 11]]
    else:
        power = states.square() if readout == "window-power" else states
        expected = power.reshape(2, 3, 4, 6).mean(dim=2)
    assert torch.allclose(y, expected)
    with pytest.raises(ConfigError, match="readout must be one of"):
        Reservoir.from_preset("default", readout="peaks")
