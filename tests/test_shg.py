"""SHG-PNN: split-step SHG against closed forms, the system contract, its reality gap, training."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.shg.gap  # registers the "shg" gap family
import physnn.substrates.shg.system  # noqa: F401  (registers the "shg" system)
from physnn.errors import ConfigError
from physnn.physics import shg
from physnn.reality.levels import make_reality
from physnn.substrates.shg.gap import SpectrometerQuantization
from physnn.substrates.shg.system import SecondHarmonicGeneration
from physnn.systems.base import NoiseSource

N, DT, T0 = 512, 4.0, 60.0  # time grid (fs) that resolves a 100 fs pulse and its SH
TINY = {"num_inputs": 4, "num_controls": 4, "num_outputs": 3, "crystal_steps": 2}


def _pump(dtype=torch.float64):
    t = shg.time_grid(N, DT, dtype=dtype)
    return t, shg.gaussian_pulse(t, T0)


# ----------------------------------------------------------------------------- physics
def test_undepleted_sh_without_dispersion_is_i_gamma_l_times_the_pump_squared():
    _, a1 = _pump()
    gamma, length = 1e-5, 1.0
    _, b2 = shg.propagate_shg(a1, DT, length, 4, gamma)
    torch.testing.assert_close(b2, 1j * gamma * length * a1.square(), rtol=1e-8, atol=1e-14)


def test_undepleted_sh_with_group_velocity_mismatch_follows_the_sinc_phase_matching():
    _, a1 = _pump()
    gamma, length, gvm, mismatch = 1e-5, 1.0, 190.0, 3.0
    _, b2 = shg.propagate_shg(a1, DT, length, 400, gamma, gvm=gvm, mismatch=mismatch)
    omega = shg.detuning_grid(N, DT, dtype=torch.float64)
    phase = shg.second_harmonic_dispersion(omega, gvm, 0.0, mismatch) * length / 2
    sinc = torch.sinc(phase / math.pi)  # torch.sinc(x) = sin(πx)/(πx)
    expected = 1j * gamma * length * shg.to_spectrum(a1.square()) * torch.exp(1j * phase) * sinc
    error = (shg.to_spectrum(b2) - expected).abs().norm() / expected.abs().norm()
    assert error < 1e-5


def test_energy_is_conserved_with_pump_depletion_and_dispersion():
    _, a1 = _pump()
    a1 = a1 * torch.exp(1j * 1e-5 * shg.time_grid(N, DT, dtype=torch.float64).square())  # chirp
    out1, out2 = shg.propagate_shg(
        a1, DT, 1.0, 200, 1.5, gvm=190.0, gvd_fundamental=75.0, gvd_second_harmonic=200.0,
        mismatch=0.5,
    )  # fmt: skip
    before = shg.pulse_energy(a1, DT)
    converted = shg.pulse_energy(out2, DT) / before
    assert converted > 0.2  # strongly depleted pump
    # Manley–Rowe: two pump photons (ħω each) per SH photon (2ħω): total energy is conserved
    total = shg.pulse_energy(out1, DT) + shg.pulse_energy(out2, DT)
    torch.testing.assert_close(total, before, rtol=1e-9, atol=0)


def test_gaussian_pulse_sh_is_sqrt2_shorter_and_sqrt2_broader_in_frequency():
    t, a1 = _pump()
    _, b2 = shg.propagate_shg(a1, DT, 1.0, 2, 1e-5)
    omega = shg.detuning_grid(N, DT, dtype=torch.float64)
    time_ratio = shg.rms_width(b2.abs().square(), t) / shg.rms_width(a1.abs().square(), t)
    spectral_ratio = shg.rms_width(shg.power_spectrum(b2, DT), omega) / shg.rms_width(
        shg.power_spectrum(a1, DT), omega
    )
    assert time_ratio.item() == pytest.approx(1 / math.sqrt(2), rel=1e-9)
    assert spectral_ratio.item() == pytest.approx(math.sqrt(2), rel=1e-9)
    # the transform-limited intensity FWHM is 2√(ln 2) T₀
    assert shg.rms_width(a1.abs().square(), t).item() == pytest.approx(T0 / math.sqrt(2), rel=1e-9)


def test_power_spectrum_obeys_parseval():
    _, a1 = _pump()
    chirped = a1 * torch.exp(1j * 3e-4 * shg.time_grid(N, DT, dtype=torch.float64).square())
    torch.testing.assert_close(
        shg.power_spectrum(chirped, DT).sum(), shg.pulse_energy(chirped, DT), rtol=1e-12, atol=0
    )


def test_split_step_gradients_match_finite_differences():
    n = 16
    re = torch.randn(n, dtype=torch.float64, requires_grad=True)
    im = torch.randn(n, dtype=torch.float64, requires_grad=True)
    mismatch = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)

    def sh_power(re, im, mismatch):
        _, b2 = shg.propagate_shg(
            torch.complex(re, im), 10.0, 0.5, 3, 0.8, gvm=20.0, gvd_fundamental=50.0,
            gvd_second_harmonic=80.0, mismatch=mismatch,
        )  # fmt: skip
        return shg.power_spectrum(b2, 10.0)

    assert torch.autograd.gradcheck(sh_power, (re, im, mismatch))


# ----------------------------------------------------------------------------- system
@pytest.fixture(scope="module")
def system() -> SecondHarmonicGeneration:
    return SecondHarmonicGeneration.from_preset("default")


def test_system_shapes_and_non_negative_outputs_for_images_and_vectors(system, gen):
    controls = system.init_controls(gen)
    nominal = system.nominal_nuisance()
    images = system(torch.rand(5, 8, 8, generator=gen), controls, nominal)
    vectors = system(torch.rand(3, 12, generator=gen), controls, nominal)
    assert images.shape == (5, system.num_outputs) and vectors.shape == (3, system.num_outputs)
    assert (images >= 0).all() and torch.isfinite(images).all()
    assert system.output_kind == "real"
    spec = system.control_specs()["phase"]
    assert spec.shape == (64,) and spec.periodic and spec.high == pytest.approx(2 * math.pi)


def test_a_common_phase_on_every_pixel_changes_nothing(system, gen):
    controls = system.init_controls(gen)
    x = torch.rand(4, 8, 8, generator=gen)
    nuisance = {**system.nominal_nuisance(), "phase_offset": torch.full((128,), 1.3)}
    torch.testing.assert_close(
        system(x, controls, nuisance), system(x, controls, system.nominal_nuisance()),
        rtol=1e-4, atol=1e-5,
    )  # fmt: skip


def test_forward_is_differentiable_in_controls_and_nuisance():
    system = SecondHarmonicGeneration.from_preset("default", **TINY, trainable_amplitude=True)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(2, 4, generator=gen, dtype=torch.float64)
    phase = (2 * torch.rand(4, generator=gen, dtype=torch.float64)).requires_grad_()
    amplitude = torch.rand(4, generator=gen, dtype=torch.float64).requires_grad_()
    offset = (0.1 * torch.randn(8, generator=gen, dtype=torch.float64)).requires_grad_()
    mismatch = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    resolution = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)

    def forward(phase, amplitude, offset, mismatch, resolution):
        nuisance = {**system.nominal_nuisance(), "phase_offset": offset, "mismatch": mismatch,
                    "shaper_resolution": resolution}  # fmt: skip
        return system(x, {"phase": phase, "amplitude": amplitude}, nuisance)

    assert torch.autograd.gradcheck(forward, (phase, amplitude, offset, mismatch, resolution))


def test_pump_noise_is_drawn_inside_forward_and_is_reproducible(system, gen):
    controls = system.init_controls(gen)
    x = torch.rand(6, 8, 8, generator=gen)
    nuisance = {**system.nominal_nuisance(), "pump_noise": 0.05}
    mean = system(x, controls, nuisance)
    noisy = [system(x, controls, nuisance, NoiseSource(torch.Generator().manual_seed(9)))
             for _ in range(2)]  # fmt: skip
    torch.testing.assert_close(noisy[0], noisy[1])
    assert not torch.allclose(noisy[0], mean)
    # SH energy ∝ P² for a weak pump: 5 % power noise gives ≈ 10 % SH noise
    ratio = noisy[0].sum(dim=1) / mean.sum(dim=1)
    assert 0.02 < ratio.log().std().item() < 0.3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layout": "spiral"}, "layout"),
        ({"num_controls": 10}, "interleaved"),
        ({"crystal_length": -1.0}, "crystal_length"),
        ({"input_phase_range": 7.0}, "input_phase_range"),
        ({"drive": -0.1}, "drive"),
        ({"num_outputs": 0}, "num_outputs"),
        ({"crystal_steps": 1.5}, "crystal_steps"),
        ({"colour": "blue"}, "unknown option"),
    ],
)
def test_bad_configurations_are_refused_clearly(options, message):
    with pytest.raises(ConfigError, match=message):
        SecondHarmonicGeneration.from_preset("default", **options)


def test_the_paper_preset_takes_the_twelve_vowel_formants():
    system = SecondHarmonicGeneration.from_preset("wright2022")
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(64, 12, generator=torch.Generator().manual_seed(1))
    y = system(x, controls, system.nominal_nuisance())
    assert y.shape == (64, system.num_outputs) and torch.isfinite(y).all()
    # The inputs shape the output: its spread over samples is a sizeable part of its mean.
    assert float(y.std(dim=0).mean()) > 0.05 * float(y.mean())


# ----------------------------------------------------------------------------- reality gap
def test_gap_levels_build_and_grow(system, gen):
    controls = system.init_controls(gen)
    x = torch.rand(16, 8, 8, generator=gen)
    nominal = system(x, controls, system.nominal_nuisance())
    assert make_reality(system, "none").perturbations == ()
    changes = []
    for level in ("mild", "moderate", "severe"):
        reality = make_reality(system, level)
        nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(1))
        device = reality.observe(system(x, controls, nuisance), torch.Generator().manual_seed(2))
        changes.append(((device - nominal).norm() / nominal.norm()).item())
    assert 0 < changes[0] < changes[1] < changes[2]
    assert changes[1] > 0.1  # the moderate device computes a noticeably different map


def test_a_knob_at_zero_switches_its_perturbation_off(system):
    reality = make_reality(system, "moderate", {"adc_bits": 0, "photons": 0})
    names = {p.name for p in reality.perturbations}
    assert "spectrometer-quantization" not in names and "detector-noise" not in names
    assert "slm-miscalibration" in names


def test_spectrometer_quantization_snaps_saturates_and_passes_gradients():
    adc = SpectrometerQuantization(bits=4, full_scale=16.0)
    y = torch.tensor([0.4, 3.6, 20.0], requires_grad=True)
    out = adc.observe(y, None, differentiable=True)
    torch.testing.assert_close(out, torch.tensor([0.0, 3 * 16 / 15, 16.0]))
    out.sum().backward()
    torch.testing.assert_close(y.grad, torch.tensor([1.0, 1.0, 0.0]))
