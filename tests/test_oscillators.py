"""Coupled nonlinear oscillators: energy conservation, the normal-mode solution of the linear
chain, the System contract, gradients, configuration errors and the reality gap."""

from __future__ import annotations

import pytest
import torch

import physnn.substrates.oscillators.gap  # noqa: F401  (registers the gap family)
import physnn.substrates.oscillators.system as oscillator_system
from physnn.compiling import compile_unavailable
from physnn.errors import ConfigError
from physnn.physics.oscillators import Chain, energy, integrate, normal_mode_solution
from physnn.reality import make_reality
from physnn.substrates.oscillators.system import OscillatorChain
from physnn.systems.base import NoiseSource

TINY = {"num_oscillators": 9, "num_steps": 30, "duration": 3.0}


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def _chain(kind: str, n: int, gen: torch.Generator, nonlinearity: float = 1.0) -> Chain:
    omega_sq = (1 + 0.3 * torch.rand(n, generator=gen, dtype=torch.float64)).square()
    coupling = torch.rand(n - 1, generator=gen, dtype=torch.float64)
    return Chain(omega_sq, coupling, nonlinearity=nonlinearity, kind=kind)


@pytest.mark.parametrize("kind", ["duffing", "pendulum"])
def test_energy_is_conserved_without_damping_and_drive(kind, gen):
    chain = _chain(kind, 6, gen)
    q0 = torch.rand(4, 6, generator=gen, dtype=torch.float64) * 2 - 1
    v0 = torch.rand(4, 6, generator=gen, dtype=torch.float64) - 0.5
    q, v = integrate(q0, v0, chain, duration=20.0, num_steps=2000, num_samples=10)
    initial = energy(q0, v0, chain)
    drift = (energy(q, v, chain) - initial[:, None]).abs() / initial[:, None]
    assert drift.max() < 1e-6
    # the chain does move: energy is exchanged between oscillators
    assert (q[:, -1] - q0).abs().max() > 0.1


def test_damping_dissipates_energy(gen):
    chain = _chain("duffing", 5, gen)
    damped = Chain(chain.omega_sq, chain.coupling, nonlinearity=1.0, damping=0.2)
    q0 = torch.rand(3, 5, generator=gen, dtype=torch.float64)
    v0 = torch.zeros_like(q0)
    q, v = integrate(q0, v0, damped, duration=10.0, num_steps=1000, num_samples=5)
    e = energy(q, v, damped)
    assert (e[:, 1:] < e[:, :-1]).all() and (e[:, -1] < 0.5 * energy(q0, v0, damped)).all()


def test_linear_limit_matches_the_normal_mode_solution(gen):
    chain = _chain("duffing", 7, gen, nonlinearity=0.0)
    q0 = torch.randn(3, 7, generator=gen, dtype=torch.float64)
    v0 = torch.randn(3, 7, generator=gen, dtype=torch.float64)
    q, _ = integrate(q0, v0, chain, duration=8.0, num_steps=1600, num_samples=4)
    for k, t in enumerate((2.0, 4.0, 6.0, 8.0)):
        exact = normal_mode_solution(q0, v0, chain.omega_sq, chain.coupling, t)
        assert torch.allclose(q[:, k], exact, rtol=0, atol=1e-8)
    # small-angle pendula are the same linear chain
    pendula = Chain(chain.omega_sq, chain.coupling, kind="pendulum")
    small, _ = integrate(1e-4 * q0, 1e-4 * v0, pendula, duration=8.0, num_steps=800)
    exact = normal_mode_solution(1e-4 * q0, 1e-4 * v0, chain.omega_sq, chain.coupling, 8.0)
    assert torch.allclose(small[:, 0], exact, rtol=0, atol=1e-11)


def test_single_driven_damped_oscillator_reaches_the_analytic_steady_state():
    # q̈ = −q − γ q̇ + F cos Ω t: steady amplitude F / √((1 − Ω²)² + γ² Ω²)
    gamma, force, omega = 0.5, 0.3, 1.4
    chain = Chain(
        torch.ones(2, dtype=torch.float64), torch.zeros(1, dtype=torch.float64),
        drive=torch.tensor([force, 0.0], dtype=torch.float64), damping=gamma,
        drive_frequency=omega,
    )  # fmt: skip
    q0 = torch.zeros(1, 2, dtype=torch.float64)
    q, _ = integrate(q0, q0, chain, duration=60.0, num_steps=3000, num_samples=1500)
    late = q[0, 1000:, 0]  # the last 20 time units, after the transient exp(−γ t / 2) died out
    expected = force / ((1 - omega**2) ** 2 + (gamma * omega) ** 2) ** 0.5
    assert float(late.abs().max()) == pytest.approx(expected, rel=2e-3)
    assert q[0, :, 1].abs().max() == 0.0  # the uncoupled neighbour stays at rest


def test_system_contract_and_shapes(gen):
    system = OscillatorChain.from_preset("default", **TINY)
    controls = system.init_controls(gen)
    specs = system.control_specs()
    assert {k: s.shape for k, s in specs.items()} == {
        "offset": (9,), "coupling": (8,), "drive": (9,)
    }  # fmt: skip
    for name, spec in specs.items():
        spec.check(name, controls[name])
    for x in (torch.rand(3, 8, 8), torch.rand(3, 28, 28), torch.rand(3, 9)):
        y = system(x, controls, system.nominal_nuisance())
        assert y.shape == (3, 9) and torch.isfinite(y).all()
    sampled = OscillatorChain.from_preset("default", **{**TINY, "num_samples": 3})
    assert sampled(torch.rand(2, 9), controls, sampled.nominal_nuisance()).shape == (2, 27)
    assert sampled.num_outputs == 27


def test_the_output_responds_to_inputs_and_every_control(gen):
    system = OscillatorChain.from_preset("default", **TINY)
    controls = system.init_controls(gen)
    x = torch.rand(2, 9, generator=gen)
    y = system(x, controls, system.nominal_nuisance())
    assert not torch.allclose(y[0], y[1])
    for name in controls:
        changed = {**controls, name: controls[name] * 0.5}
        assert not torch.allclose(system(x, changed, system.nominal_nuisance()), y)


def test_forward_gradients_match_finite_differences(gen):
    system = OscillatorChain.from_preset(
        "default", num_oscillators=3, num_steps=20, duration=2.0, num_samples=2
    )
    x = torch.rand(2, 3, generator=gen)
    controls = {k: v.double().requires_grad_(True) for k, v in system.init_controls(gen).items()}
    coupling_error = torch.randn(2, generator=gen, dtype=torch.float64) * 0.1
    drift = torch.tensor(0.02, dtype=torch.float64, requires_grad=True)

    def forward(offset, coupling, drive, drift):
        nuisance = {**system.nominal_nuisance(), "coupling_error": coupling_error,
                    "frequency_drift": drift}  # fmt: skip
        return system(x, {"offset": offset, "coupling": coupling, "drive": drive}, nuisance)

    args = (controls["offset"], controls["coupling"], controls["drive"], drift)
    assert torch.autograd.gradcheck(forward, args)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own, while inductor loads
def test_the_compiled_rk4_step_integrates_the_same_chain(gen):
    """compile=true runs each RK4 step under torch.compile: same outputs and gradients."""
    if reason := compile_unavailable():
        pytest.skip(f"torch.compile does not work here: {reason}")
    options = {**TINY, "num_samples": 3, "kind": "pendulum"}
    eager = OscillatorChain.from_preset("default", **options)
    compiled = OscillatorChain.from_preset("default", **options, compile=True)
    x, controls = torch.rand(4, 9, generator=gen), eager.init_controls(gen)
    results = []
    for system in (eager, compiled):
        leaves = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
        y = system(x, leaves, system.nominal_nuisance())
        y.square().sum().backward()
        results.append((y.detach(), [leaves[k].grad for k in sorted(leaves)]))
    (y_eager, g_eager), (y_compiled, g_compiled) = results
    assert torch.allclose(y_compiled, y_eager, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_compiled, g_eager, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def test_compile_without_a_working_compiler_is_a_config_error(monkeypatch, gen):
    monkeypatch.setattr(oscillator_system, "compile_unavailable", lambda kind="cpu": "no C++")
    with pytest.raises(ConfigError, match=r"compile=true needs a working torch\.compile here"):
        OscillatorChain.from_preset("default", compile=True)
    # a device type the configuration did not probe (e.g. CUDA without Triton) is refused at
    # the first pass with the same kind of sentence
    monkeypatch.setattr(oscillator_system, "compile_unavailable", lambda kind="cpu": None)
    system = OscillatorChain.from_preset("default", **TINY, compile=True)
    monkeypatch.setattr(oscillator_system, "compile_unavailable", lambda kind="cpu": "no Triton")
    with pytest.raises(ConfigError, match=r"torch\.compile on cpu: no Triton"):
        system(torch.rand(2, 9), system.init_controls(gen), system.nominal_nuisance())


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ConfigError, match="num_oscillators must be at least 2"):
        OscillatorChain.from_preset("default", num_oscillators=1)
    with pytest.raises(ConfigError, match="kind must be one of"):
        OscillatorChain.from_preset("default", kind="spring")
    with pytest.raises(ConfigError, match="damping must be non-negative"):
        OscillatorChain.from_preset("default", damping=-0.1)
    with pytest.raises(ConfigError, match="duration must be positive"):
        OscillatorChain.from_preset("default", duration=0.0)
    with pytest.raises(ConfigError, match="must be a multiple of num_samples"):
        OscillatorChain.from_preset("default", num_steps=60, num_samples=7)
    with pytest.raises(ConfigError, match="num_steps=10 is too few"):
        OscillatorChain.from_preset("default", num_steps=10)
    with pytest.raises(ConfigError, match="must be int"):
        OscillatorChain.from_preset("default", num_oscillators=2.5)


@pytest.mark.parametrize("preset", sorted(OscillatorChain.presets))
def test_presets_build_and_run(preset, gen):
    system = OscillatorChain.from_preset(preset)
    controls = system.init_controls(gen)
    y = system(torch.rand(2, 28, 28, generator=gen), controls, system.nominal_nuisance())
    assert y.shape == (2, system.num_outputs) and torch.isfinite(y).all()
    if preset == "wright2022":
        assert system.config.kind == "pendulum" and system.num_outputs == 196


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_levels_build_and_change_the_output(level, gen):
    system = OscillatorChain.from_preset("default", **TINY)
    reality = make_reality(system, level)
    assert {p.name for p in reality.perturbations} == {
        "frequency-miscalibration", "coupling-miscalibration", "frequency-drift", "input-noise",
        "readout-noise",
    }  # fmt: skip
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    controls = system.init_controls(gen)
    x = torch.rand(4, 9, generator=gen)
    nominal = system(x, controls, system.nominal_nuisance())
    static = system(x, controls, nuisance)  # miscalibration and drift, no noise
    assert not torch.allclose(nominal, static, atol=1e-4)
    noise = NoiseSource(torch.Generator().manual_seed(1))
    noisy = system(x, controls, nuisance, noise)
    assert not torch.allclose(noisy, static, atol=1e-5)
    measured = reality.observe(noisy, torch.Generator().manual_seed(2))
    assert not torch.allclose(measured, noisy, atol=1e-5)


def test_a_knob_at_zero_switches_its_perturbation_off(gen):
    system = OscillatorChain.from_preset("default", **TINY)
    names = {p.name for p in make_reality(system, "moderate", {"drift": 0}).perturbations}
    assert "frequency-drift" not in names and "coupling-miscalibration" in names
    off = dict.fromkeys(("frequency_error", "coupling_error", "drift", "input_noise"), 0)
    only_readout = make_reality(system, "severe", off)
    nuisance = only_readout.sample_nuisance(system, gen)
    assert nuisance == system.nominal_nuisance()
    x = torch.rand(2, 9, generator=gen)
    controls = system.init_controls(gen)
    noise = NoiseSource(torch.Generator().manual_seed(1))
    assert torch.equal(system(x, controls, nuisance, noise), system(x, controls, nuisance))
