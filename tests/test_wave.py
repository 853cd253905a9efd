"""Wave-physics RNN (Hughes et al. 2019): leapfrog dispersion relation, CFL refusal, discrete
energy conservation and dissipation only inside the absorbing layer, gradients (finite
differences, checkpointing), saved-tensor memory, the System contract and its reality gap."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.wave.gap
import physnn.substrates.wave.system
from physnn.errors import ConfigError
from physnn.physics.wave import (
    WaveMedium,
    absorbing_profile,
    discrete_energy,
    leapfrog_step,
    point_source,
    propagate,
)
from physnn.reality import make_reality
from physnn.substrates.wave.system import WaveRNN

F64 = torch.float64
SMALL = {"nx": 14, "ny": 12, "pml_cells": 2, "src_x": 3, "probe_x": 10, "num_probes": 3,
         "probe_spacing": 2, "design_margin": 1, "hold": 2}  # fmt: skip


def _run(u: torch.Tensor, u_prev: torch.Tensor, medium: WaveMedium, steps: int):
    """Free evolution (no source); yields (u⁺, u) after every step."""
    zero = torch.zeros_like(u)
    for _ in range(steps):
        u, u_prev = leapfrog_step(u, u_prev, medium, zero), u
        yield u, u_prev


def _pulse(nx: int, ny: int, radius: int) -> torch.Tensor:
    """A smooth bump that is exactly zero farther than ``radius`` cells from the centre."""
    x = torch.arange(nx, dtype=F64)[:, None] - nx // 2
    y = torch.arange(ny, dtype=F64)[None, :] - ny // 2
    r = torch.sqrt(x**2 + y**2) / radius
    return torch.where(r < 1, torch.cos(0.5 * torch.pi * r) ** 2, torch.zeros_like(r))[None]


def test_cfl_violation_is_refused_with_a_clear_sentence():
    with pytest.raises(ConfigError, match=r"exceeds the CFL limit 1/√2"):
        WaveRNN.from_preset("default", dt=1.1, h=1.42)
    WaveRNN.from_preset("default", dt=1.0, h=1.42)  # Courant 0.704: still stable, accepted


@pytest.mark.parametrize(("m", "n"), [(3, 1), (7, 5), (11, 2)])
def test_leapfrog_mode_oscillates_at_the_discrete_dispersion_frequency(m, n):
    nx, ny, c, dt, h = 24, 20, 0.8, 0.6, 1.0
    kx, ky = math.pi * m / ((nx + 1) * h), math.pi * n / ((ny + 1) * h)
    i = torch.arange(1, nx + 1, dtype=F64)[:, None]
    j = torch.arange(1, ny + 1, dtype=F64)[None, :]
    mode = (torch.sin(kx * h * i) * torch.sin(ky * h * j))[None]  # Dirichlet eigenmode
    # 2-D form of ω = (2/dt) asin((c dt/h) sin(k h/2))
    s = math.sqrt(math.sin(kx * h / 2) ** 2 + math.sin(ky * h / 2) ** 2)
    omega = (2 / dt) * math.asin(c * dt / h * s)
    medium = WaveMedium(torch.full((nx, ny), c, dtype=F64), torch.zeros(nx, ny, dtype=F64), dt, h)
    start = (mode, math.cos(-omega * dt) * mode)
    amplitude = [(u * mode).sum() / mode.square().sum() for u, _ in _run(*start, medium, 300)]
    t = dt * torch.arange(1, 301, dtype=F64)
    assert torch.allclose(torch.stack(amplitude), torch.cos(omega * t), atol=1e-9)
    # the continuum relation ω = c|k| is measurably different: the test can tell them apart
    continuum = c * math.hypot(kx, ky)
    assert (torch.stack(amplitude) - torch.cos(continuum * t)).abs().max() > 1e-3


def test_undamped_discrete_energy_is_conserved_in_a_heterogeneous_medium():
    nx, ny, dt, h = 30, 26, 0.7, 1.42
    gen = torch.Generator().manual_seed(0)
    speed = 0.5 + 0.5 * torch.rand(nx, ny, generator=gen, dtype=F64)
    medium = WaveMedium(speed, torch.zeros(nx, ny, dtype=F64), dt, h)
    u_prev = torch.zeros(2, nx, ny, dtype=F64)
    u = torch.cat([_pulse(nx, ny, 4), 0.3 * _pulse(nx, ny, 6)])
    energies = torch.stack(
        [discrete_energy(a, b, speed, dt, h) for a, b in _run(u, u_prev, medium, 1000)]
    )
    assert (energies > 0).all()
    assert ((energies - energies[0]).abs() / energies[0]).max() < 1e-6


def test_energy_is_lost_only_inside_the_absorbing_layer():
    nx, ny, dt, h, cells = 40, 40, 0.7, 1.42, 8
    damping = absorbing_profile(nx, ny, cells, 3.0, 4.0, dtype=F64)
    layer = damping > 0
    assert not layer[cells:-cells, cells:-cells].any() and layer[:cells].all()
    speed = torch.ones(nx, ny, dtype=F64)
    medium = WaveMedium(speed, damping, dt, h)
    u0 = _pulse(nx, ny, 3)
    energy = [discrete_energy(u0, u0, speed, dt, h)]
    reached, older, tol = None, u0, 1e-12 * energy[0].item()
    for n, (u, u_prev) in enumerate(_run(u0, u0.clone(), medium, 400), start=1):
        energy.append(discrete_energy(u, u_prev, speed, dt, h))
        # balance law: E^{n+½} − E^{n−½} = −h² Σ b (u⁺ − u⁻)² / (4 dt c²) — only where b > 0
        loss = h**2 * (damping * (u - older) ** 2 / (4 * dt * speed**2)).sum()
        assert torch.allclose(energy[-2] - energy[-1], loss, rtol=1e-6, atol=tol)
        if reached is None and u[:, layer].abs().max() > 0:
            reached = n
        older = u_prev
    energy = torch.stack(energy)[:, 0]
    # the 5-point stencil moves the support one cell per step: the layer starts 20 − 8 − 3 cells out
    assert reached is not None and reached >= nx // 2 - cells - 3
    before = energy[: reached + 1]
    assert ((before - before[0]).abs() / before[0]).max() < 1e-12
    assert energy[-1] < 0.05 * energy[0]  # then the layer absorbs the pulse
    assert (energy[1:] <= energy[:-1] * (1 + 1e-12)).all()


def _float64_system(**options) -> WaveRNN:
    return WaveRNN.from_preset("default", **{**SMALL, **options})


def test_forward_gradients_match_finite_differences():
    system = _float64_system(kerr=2.0, saturable=0.1, u_threshold=0.05)
    gen = torch.Generator().manual_seed(1)
    shape = system.control_specs()["speed"].shape
    speed = (0.6 + 0.3 * torch.rand(shape, generator=gen, dtype=F64)).requires_grad_()
    x = torch.rand(2, 12, generator=gen)  # 24 steps: the waves reach the probes
    nuisance = system.nominal_nuisance()

    def forward(s: torch.Tensor) -> torch.Tensor:
        return system(x, {"speed": s}, nuisance)

    y = forward(speed)
    assert (y > 1e-3).all()  # outputs (~1e-2) far above the tolerances below
    assert torch.autograd.gradcheck(forward, (speed,), atol=1e-9, rtol=1e-5)


def test_checkpointed_gradients_equal_plain_gradients():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(3, 10, generator=gen)
    grads = []
    for every in (None, 4, 7):
        system = _float64_system(kerr=0.1, checkpoint_every=every)
        speed = torch.full(system.control_specs()["speed"].shape, 0.75, dtype=F64)
        speed = (
            speed + 0.1 * torch.rand(speed.shape, generator=torch.Generator())
        ).requires_grad_()
        y = system(x, {"speed": speed}, system.nominal_nuisance())
        (y * torch.arange(1, 4, dtype=F64)).sum().backward()
        grads.append((y.detach(), speed.grad))
    for y, grad in grads[1:]:
        assert torch.equal(y, grads[0][0])
        assert torch.equal(grad, grads[0][1])


def test_linear_fast_path_equals_the_step_by_step_recurrence_with_its_gradients():
    """The fused linear path (in-place stencil, hand-written adjoint) against autograd through
    ``leapfrog_step``: same probe intensities and the same gradients for the speed map, the
    damping map and the source signal, with and without checkpointing."""
    nx, ny, steps, src, probes = 12, 10, 30, (3, 5), ((8, 3), (8, 5), (8, 5))
    gen = torch.Generator().manual_seed(4)
    speed = (0.5 + 0.5 * torch.rand(nx, ny, generator=gen, dtype=F64)).requires_grad_()
    damping = absorbing_profile(nx, ny, 2, 3.0, 4.0, dtype=F64).requires_grad_()
    signal = torch.randn(2, steps, generator=gen, dtype=F64).requires_grad_()
    weights = torch.rand(2, 3, generator=gen, dtype=F64)
    inputs = (speed, damping, signal)

    medium = WaveMedium(speed, damping, 0.7, 1.42)
    u = u_prev = torch.zeros(2, nx, ny, dtype=F64)
    reference = 0
    for t in range(steps):
        u, u_prev = leapfrog_step(u, u_prev, medium, point_source(signal[:, t], (nx, ny), src)), u
        reference = reference + torch.stack([u[:, x, y] for x, y in probes], dim=1).square()
    assert (reference > 1e-4).all()  # the waves reach the probes
    expected = torch.autograd.grad((weights * reference).sum(), inputs)

    results = []
    for every in (None, 1, 7, 100):
        y = propagate(signal, medium, src, probes, checkpoint_every=every)
        results.append((y, torch.autograd.grad((weights * y).sum(), inputs)))
    torch.testing.assert_close(results[0][0], reference, rtol=1e-12, atol=0)
    for got, want in zip(results[0][1], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)
    for y, grads in results[1:]:  # checkpointing changes nothing, bit for bit
        assert torch.equal(y, results[0][0])
        assert all(torch.equal(a, b) for a, b in zip(grads, results[0][1], strict=True))
    with torch.no_grad():
        assert torch.equal(propagate(signal, medium, src, probes), results[0][0])


def _saved_bytes(system: WaveRNN, x: torch.Tensor) -> int:
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    speed = torch.full(system.control_specs()["speed"].shape, 0.8, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = system(x, {"speed": speed}, system.nominal_nuisance())
    y.sum().backward()
    return total


def test_checkpointing_saves_much_less_for_the_backward_pass():
    x = torch.rand(2, 50)
    plain = _saved_bytes(_float64_system(hold=4), x)
    bounded = _saved_bytes(_float64_system(hold=4, checkpoint_every=20), x)
    assert bounded < plain / 5


def test_bad_configurations_raise_clear_errors():
    cases = {
        "nx must be positive": {"nx": 0},
        "c1 .* must be below c0": {"c1": 1.2},
        "must lie inside the absorbing": {"src_x": 1},
        "no room for a design region": {"src_x": 10, "probe_x": 12},
        "do not fit in the": {"num_probes": 20},
        "checkpoint_every must be positive": {"checkpoint_every": 0},
        "pml_max must be non-negative": {"pml_max": -1.0},
        "damping must be non-negative": {"damping": -0.1},
        "echo_kick must be positive": {"echo_kick": 0.0},
    }
    for message, options in cases.items():
        with pytest.raises(ConfigError, match=message):
            WaveRNN.from_preset("default", **options)


def test_reflecting_walls_and_uniform_damping_set_the_loss_map():
    """pml_cells = 0 leaves a lossless box (u = 0 outside: reflecting walls); ``damping`` adds a
    uniform b everywhere, the absorbing layer's profile included."""
    box = WaveRNN.from_preset("default", pml_cells=0)
    assert torch.equal(box.damping, torch.zeros(30, 30))
    lossy = WaveRNN.from_preset("default", damping=0.01)
    plain = WaveRNN.from_preset("default")
    torch.testing.assert_close(lossy.damping, plain.damping + 0.01)


def test_presets_build_and_binarized_controls_have_two_levels():
    default = WaveRNN.from_preset("default")
    controls = default.init_controls(torch.Generator().manual_seed(0))
    y = default(torch.rand(4, 8, 8), controls, default.nominal_nuisance())
    assert y.shape == (4, 10) and (y > 0).all()
    paper = WaveRNN.from_preset("hughes2019")
    spec = paper.control_specs()["speed"]
    assert (paper.num_outputs, spec.low, spec.high, spec.levels) == (3, 0.5, 1.0, None)
    y = paper(torch.rand(2, 5), paper.init_controls(torch.Generator()), paper.nominal_nuisance())
    assert y.shape == (2, 3)
    binary = WaveRNN.from_preset("default", binarized=True)
    speed = binary.init_controls(torch.Generator().manual_seed(0))["speed"]
    assert binary.control_specs()["speed"].levels == 2
    assert set(speed.unique().tolist()) == {0.5, 1.0}


def test_input_is_unit_energy_held_for_hold_steps():
    system = WaveRNN.from_preset("default", hold=3, amplitude=2.0)
    signal = system.encode(torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(signal, torch.tensor([[1.2, 1.2, 1.2, 1.6, 1.6, 1.6]]))
    audio = system.encode(torch.randn(2, 1000))
    assert signal.shape[1] == 6 and audio.shape == (2, 3000)  # native length, not resampled


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_levels_build_and_change_the_output(level):
    system = WaveRNN.from_preset("default", kerr=0.5, amplitude=5.0)
    reality = make_reality(system, level)
    assert {p.name for p in reality.perturbations} == {
        "speed-fabrication-error", "contrast-miscalibration", "nonlinearity-error",
        "position-offset", "detector-noise", "monitor-noise"}  # fmt: skip
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(3, 8, 8)
    nominal = system(x, controls, system.nominal_nuisance())
    device = reality.observe(system(x, controls, nuisance), torch.Generator().manual_seed(1))
    assert not torch.allclose(nominal, device, rtol=1e-3)


@pytest.mark.parametrize(
    "knob", ["speed_error", "contrast_error", "nonlinearity_error", "offset", "photons"]
)
def test_each_knob_alone_changes_the_output_and_zero_switches_it_off(knob):
    system = WaveRNN.from_preset("default", kerr=0.5, amplitude=5.0)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(3, 8, 8)
    nominal = system(x, controls, system.nominal_nuisance())
    others = dict.fromkeys(physnn.substrates.wave.gap._WAVE_LEVELS["severe"], 0.0)

    def device_output(value: float) -> torch.Tensor:
        extra = {"read_noise": 100.0} if knob == "photons" else {"correlation": 2.0}
        reality = make_reality(system, "none", {**others, **extra, knob: value})
        nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(3))
        return reality.observe(system(x, controls, nuisance), torch.Generator().manual_seed(1))

    assert torch.equal(device_output(0.0), nominal)
    value = physnn.substrates.wave.gap._WAVE_LEVELS["severe"][knob]
    assert not torch.allclose(device_output(value), nominal, rtol=1e-4)
