"""Nonlinear multimode fibre: split-step physics against closed forms, the system, its gap."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import physnn.substrates.fibre.gap
import physnn.substrates.fibre.system
from physnn.errors import ConfigError, ControlBoundsError
from physnn.physics import split_step as ss
from physnn.reality.levels import LEVELS, make_reality
from physnn.substrates.fibre.system import MultimodeFibre
from physnn.systems.base import NoiseSource

C128 = torch.complex128
F64 = torch.float64

TINY = {"num_mode_groups": 2, "num_data_pixels": 9, "num_control_pixels": 8, "num_steps": 4,
        "num_time": 4, "time_window": 4.0, "camera_pixels": 3, "peak_power": 2000.0}  # fmt: skip


def _single_mode(field: torch.Tensor, window: float, length: float, steps: int, **physics):
    """Propagate a single-mode pulse (T,) with the multimode solver (M = 1)."""
    params = {"walk_off": torch.zeros(1, dtype=F64), "beta2": 0.0, "gamma": 0.0}
    params.update(physics)
    out = ss.split_step(
        field[:, None],
        length=length,
        num_steps=steps,
        omega=ss.angular_frequencies(field.shape[0], window, dtype=F64),
        coupling=torch.zeros(1, 1, dtype=C128),
        eta=torch.ones(1, 1, 1, 1, dtype=F64),
        **params,
    )
    return out[:, 0]


# ----------------------------------------------------------------------------- split-step physics


def test_energy_is_conserved_with_coupling_dispersion_and_nonlinearity():
    orders = ss.grin_mode_orders(3)
    groups = torch.tensor([a + b for a, b in orders], dtype=F64)
    gen = torch.Generator().manual_seed(0)
    coupling = physnn.substrates.fibre.system.within_group_hermitian(groups, 3.0, gen)
    t = ss.time_grid(64, 20.0, dtype=F64)
    amplitudes = torch.view_as_complex(torch.randn(2, 6, 2, generator=gen, dtype=F64))
    field = 15 * amplitudes[:, None, :] * torch.exp(-(t**2) / 2)[None, :, None]  # ~1 kW peak
    out = ss.split_step(
        field, length=1.0, num_steps=40, omega=ss.angular_frequencies(64, 20.0, dtype=F64),
        coupling=coupling, walk_off=0.3 * groups, beta2=-0.05, gamma=2e-3,
        eta=ss.grin_overlap_tensor(orders),
    )  # fmt: skip
    before, after = ss.energy(field, 20 / 64), ss.energy(out, 20 / 64)
    assert ((after - before).abs() / before).max() < 1e-6
    assert (out - field).abs().max() > 1  # something happened


def test_gaussian_pulse_disperses_as_the_analytic_solution():
    t0, beta2, window, n = 1.0, 0.5, 80.0, 512
    dispersion_length = t0**2 / abs(beta2)
    z = 3 * dispersion_length
    t = ss.time_grid(n, window, dtype=F64)
    pulse = torch.exp(-(t**2) / (2 * t0**2)).to(C128)
    out = _single_mode(pulse, window, z, steps=4, beta2=beta2)
    # Agrawal, Nonlinear Fiber Optics, eq. (3.2.5)
    q = t0**2 - 1j * beta2 * z
    exact = t0 / np.sqrt(q) * torch.exp(-(t**2).to(C128) / (2 * q))
    assert (out - exact).abs().max() < 1e-10
    intensity = out.abs() ** 2
    rms_width = torch.sqrt((t**2 * intensity).sum() / intensity.sum() * 2)  # |A|² ∝ exp(−t²/T²)
    assert rms_width.item() == pytest.approx(t0 * math.sqrt(1 + (z / dispersion_length) ** 2), 1e-9)


def test_pure_self_phase_modulation_adds_gamma_intensity_z():
    gamma, z, window = 1.5e-3, 2.0, 40.0
    t = ss.time_grid(128, window, dtype=F64)
    pulse = (20 * torch.exp(-(t**2) / 8)).to(C128) * torch.exp(0.3j * t)
    out = _single_mode(pulse, window, z, steps=200, gamma=gamma)  # 1.2 rad of peak phase
    assert torch.allclose(out.abs(), pulse.abs(), atol=1e-10)
    exact = pulse * torch.exp(1j * gamma * pulse.abs() ** 2 * z)
    assert (out - exact).abs().max() < 1e-9 * pulse.abs().max()


def test_fundamental_soliton_keeps_its_shape():
    t0, beta2, gamma, window, n = 1.0, -1.0, 1.0, 40.0, 256
    peak = abs(beta2) / (gamma * t0**2)  # N = 1
    dispersion_length = t0**2 / abs(beta2)
    z = 2 * dispersion_length
    t = ss.time_grid(n, window, dtype=F64)
    soliton = (math.sqrt(peak) / torch.cosh(t / t0)).to(C128)
    out = _single_mode(soliton, window, z, steps=400, beta2=beta2, gamma=gamma)
    assert (out.abs() - soliton.abs()).abs().max() < 1e-4 * math.sqrt(peak)
    exact = soliton * np.exp(0.5j * z / dispersion_length)  # u = sech(τ) e^{iξ/2}
    assert (out - exact).abs().max() < 1e-3 * math.sqrt(peak)


def test_modal_walk_off_delays_the_pulse():
    window, n, z, delay = 40.0, 256, 2.0, 1.5  # ps/m
    t = ss.time_grid(n, window, dtype=F64)
    pulse = torch.exp(-(t**2) / 2).to(C128)
    out = _single_mode(pulse, window, z, steps=1, walk_off=torch.tensor([delay], dtype=F64))
    shifted = torch.exp(-((t - delay * z) ** 2) / 2)
    assert (out - shifted).abs().max() < 1e-10


def test_grin_overlap_tensor_matches_direct_integration():
    orders = ss.grin_mode_orders(3)
    eta = ss.grin_overlap_tensor(orders)
    assert float(eta[0, 0, 0, 0]) == pytest.approx(1.0, abs=1e-12)
    assert float(eta[1, 1, 1, 1]) == pytest.approx(0.75, abs=1e-12)  # ∫h₁⁴ / ∫h₀⁴ = 3/4
    # the cross-phase overlap of HG00 and HG10
    assert float(eta[0, 1, 0, 1]) == pytest.approx(0.5, abs=1e-12)
    xi = torch.linspace(-10, 10, 4001, dtype=F64)
    h = ss.hermite_functions(2, xi)
    one_d = torch.einsum("ix,jx,kx,lx->ijkl", h, h, h, h) * (xi[1] - xi[0])  # Riemann sum
    a, b = torch.tensor(orders).T
    direct = one_d[a][:, a][:, :, a][:, :, :, a] * one_d[b][:, b][:, :, b][:, :, :, b]
    direct = direct / direct[0, 0, 0, 0]
    g = torch.tensor([a + b for a, b in orders])
    resonant = (g[:, None, None, None] + g[None, None, None, :]) == (
        g[None, :, None, None] + g[None, None, :, None]
    )
    assert torch.allclose(eta, direct * resonant, atol=1e-9)
    assert (direct * ~resonant).abs().max() > 0.1  # the filter removes real overlaps


def test_checkpointed_integration_matches_and_gives_the_same_gradient():
    orders = ss.grin_mode_orders(2)
    t = ss.time_grid(8, 8.0, dtype=F64)
    base = torch.exp(-(t**2) / 2)[:, None].to(C128) * torch.tensor([3.0, 2.0, 1j], dtype=C128)
    grads = []
    for every in (None, 2):
        gamma = torch.tensor(0.05, dtype=F64, requires_grad=True)
        out = ss.split_step(
            base, length=1.0, num_steps=5, omega=ss.angular_frequencies(8, 8.0, dtype=F64),
            coupling=torch.eye(3, dtype=C128), walk_off=torch.zeros(3, dtype=F64), beta2=0.1,
            gamma=gamma, eta=ss.grin_overlap_tensor(orders), checkpoint_every=every,
        )  # fmt: skip
        out.abs().square()[:, 0].sum().backward()
        grads.append((out.detach(), gamma.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-12)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-12)


# ----------------------------------------------------------------------------- the system


@pytest.fixture
def tiny() -> MultimodeFibre:
    return MultimodeFibre.from_preset("default", **TINY)


def test_forward_gradients_match_finite_differences(tiny):
    x = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0), dtype=F64)
    theta = torch.rand(8, dtype=F64) * 2 * math.pi

    def outputs(theta, power_scale, length_error):
        nuisance = {**tiny.nominal_nuisance(), "power_scale": power_scale}
        nuisance["length_error"] = length_error
        return tiny(x, {"slm_phase": theta}, nuisance)

    inputs = (
        theta.requires_grad_(),
        torch.tensor(1.05, dtype=F64, requires_grad=True),
        torch.tensor(1e-4, dtype=F64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(outputs, inputs, eps=1e-7, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("sample_shape", [(8, 8), (28, 28), (12,)])
def test_any_dataset_sample_gives_one_output_per_camera_pixel(sample_shape):
    system = MultimodeFibre.from_preset("default")
    controls = system.init_controls(torch.Generator().manual_seed(0))
    y = system(torch.rand(3, *sample_shape), controls, system.nominal_nuisance())
    assert y.shape == (3, 36) == (3, system.num_outputs)
    assert torch.isfinite(y).all() and (y >= 0).all()
    assert 0.3 < y.mean() < 3  # in units of a uniform share of the pulse energy


def test_mode_energies_add_up_to_the_launched_energy(tiny):
    # 16 steps keep the RK4 Kerr step at 0.125 rad, where its energy error is ~1e-5.
    system = MultimodeFibre.from_preset("default", **{**TINY, "output": "modes", "num_steps": 16})
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, 8)
    nuisance = system.nominal_nuisance()
    launched = system.launch(system.slm_phase(x, controls["slm_phase"], nuisance), nuisance, None)
    c = system.config
    expected = ss.energy(launched, c.dt) * system.num_outputs / c.reference_energy
    y = system(x, controls, nuisance)
    assert y.shape == (4, c.num_modes)
    assert torch.allclose(y.sum(-1), expected, rtol=1e-3)


def test_kerr_nonlinearity_changes_the_map_and_vanishes_at_low_power():
    x = torch.rand(8, 8, 8, generator=torch.Generator().manual_seed(1))

    def run(power):
        system = MultimodeFibre.from_preset("default", peak_power=power)
        controls = system.init_controls(torch.Generator().manual_seed(0))
        return system(x, controls, system.nominal_nuisance())

    linear, weak, strong = run(1e-6), run(1e-3), run(6000.0)
    assert (weak - linear).abs().max() < 1e-5
    assert (strong - linear).norm() / linear.norm() > 0.2


def test_controls_are_periodic_slm_phases(tiny):
    spec = tiny.control_specs()["slm_phase"]
    assert spec.periodic and (spec.low, spec.high) == (0.0, 2 * math.pi) and spec.shape == (8,)
    controls = tiny.init_controls(torch.Generator().manual_seed(0))
    spec.check("slm_phase", controls["slm_phase"])
    with pytest.raises(ControlBoundsError):
        spec.check("slm_phase", torch.full((8,), 7.0))
    assert tiny.capabilities.linear is False and tiny.capabilities.differentiable


def test_pulse_jitter_is_drawn_from_the_noise_source(tiny):
    controls = tiny.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, 8)
    nuisance = {**tiny.nominal_nuisance(), "power_jitter": 0.05}
    quiet = tiny(x, controls, nuisance)
    assert torch.equal(quiet, tiny(x, controls, tiny.nominal_nuisance()))
    noisy = [
        tiny(x, controls, nuisance, NoiseSource(torch.Generator().manual_seed(seed)))
        for seed in (1, 1, 2)
    ]
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], noisy[2])
    theta = controls["slm_phase"].clone().requires_grad_()
    noise = NoiseSource(torch.Generator().manual_seed(3), differentiable=True)
    tiny(x, {"slm_phase": theta}, nuisance, noise).sum().backward()
    assert theta.grad is not None and theta.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"num_mode_groups": 0}, "num_mode_groups must be positive"),
        ({"output": "spectrum"}, "output must be one of"),
        ({"peak_power": -1.0}, "peak_power must be non-negative"),
        ({"peak_power": 1e5}, "nonlinear phase per step"),
        ({"time_window": 2.0}, "time_window"),
        ({"phase_levels": 1}, "phase_levels must be at least 2"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
        ({"num_modes": 3}, "unknown option"),
    ],
)
def test_bad_configurations_are_refused_clearly(option, message):
    with pytest.raises(ConfigError, match=message):
        MultimodeFibre.from_preset("default", **option)


def test_paper_preset_runs():
    system = MultimodeFibre.from_preset("oguz2024")
    controls = system.init_controls(torch.Generator().manual_seed(0))
    y = system(torch.rand(2, 28, 28), controls, system.nominal_nuisance())
    assert y.shape == (2, 100) and torch.isfinite(y).all()


# ----------------------------------------------------------------------------- reality gap


@pytest.mark.parametrize("level", LEVELS)
def test_gap_levels_build_and_perturb_the_device(tiny, level):
    reality = make_reality(tiny, level)
    nuisance = reality.sample_nuisance(tiny, torch.Generator().manual_seed(5))
    controls = tiny.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(2))
    nominal = tiny(x, controls, tiny.nominal_nuisance())
    device = reality.observe(tiny(x, controls, nuisance), torch.Generator().manual_seed(6))
    change = ((device - nominal).norm() / nominal.norm()).item()
    if level == "none":
        assert change == 0.0
    else:
        assert change > 0.01
        assert reality.noisy
        assert nuisance["coupling_error"] is not None and nuisance["length_error"] != 0.0


def test_a_knob_at_zero_switches_its_perturbation_off(tiny):
    reality = make_reality(tiny, "moderate", {"coupling": 0.0, "camera_bits": 0.0})
    names = {p.name for p in reality.perturbations}
    assert "fibre-coupling-drift" not in names and "camera-quantization" not in names
    assert {"fibre-length-error", "slm-miscalibration", "detector-noise"} <= names


def test_camera_quantization_saturates_and_rounds():
    camera = physnn.substrates.fibre.gap.CameraQuantization(bits=2, full_scale=3.0)
    y = torch.tensor([-1.0, 0.4, 1.6, 2.4, 9.0], requires_grad=True)
    assert camera.observe(y, None).tolist() == [0.0, 0.0, 2.0, 2.0, 3.0]
    camera.observe(y, None, differentiable=True).sum().backward()
    assert y.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ----------------------------------------------------------------------------- training


def test_controls_that_focus_the_light_get_enough_split_steps():
    """Phases conjugate to the launch matrix's first row pour the control pixels' light into one
    mode, many times the nominal peak power: a fixed step count would let RK4 diverge."""
    system = MultimodeFibre.from_preset("default", output="modes")
    c = system.config
    row = system.launch_matrix[0, c.num_data_pixels :]
    controls = {"slm_phase": torch.remainder(-torch.angle(row), 2 * math.pi).float()}
    x = torch.zeros(4, 8, 8)
    nuisance = system.nominal_nuisance()
    field = system.launch(system.slm_phase(x, controls["slm_phase"], nuisance), nuisance, None)
    assert system.steps_for(field, c.length) > 2 * c.num_steps
    y = system(x, controls, nuisance)
    fine = MultimodeFibre.from_preset("default", output="modes", num_steps=400)
    reference = fine(x, controls, nuisance)
    assert float((y - reference).norm() / reference.norm()) < 0.02
