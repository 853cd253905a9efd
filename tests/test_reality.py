"""Reality-gap perturbations: their statistics and their effect on the physics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch

from physnn.errors import ConfigError
from physnn.physics.noise import correlated_gaussian_field, photon_noise
from physnn.reality import (
    LEVELS,
    Absorption,
    AxialMisalignment,
    DetectorNoise,
    LateralMisalignment,
    Perturbation,
    PhaseQuantization,
    Reality,
    make_reality,
)


def test_misalignment_draws_have_the_stated_spread(tiny_system, gen):
    reality = Reality((LateralMisalignment(sigma=1e-4), AxialMisalignment(sigma=5e-4)))
    draws = [reality.sample_nuisance(tiny_system, gen) for _ in range(400)]
    shifts = torch.stack([d["plane_shift"] for d in draws])
    dz = torch.stack([d["plane_dz"] for d in draws])
    assert abs(float(shifts.std()) / 1e-4 - 1) < 0.06
    assert abs(float(dz.std()) / 5e-4 - 1) < 0.08


def test_correlated_field_has_sigma_and_correlation_length(gen):
    field = correlated_gaussian_field((64, 128, 128), 0.3, 3.0, gen, dtype=torch.float64)
    assert torch.allclose(field.std(dim=(-2, -1)), torch.full((64,), 0.3, dtype=torch.float64))
    # autocorrelation of Gaussian-filtered white noise: exp(−r² / (4ℓ²))
    for lag in (2, 4):
        rho = float((field * torch.roll(field, lag, dims=-1)).mean() / field.var())
        assert abs(rho - math.exp(-(lag**2) / (4 * 3.0**2))) < 0.03
    white = correlated_gaussian_field((32, 64, 64), 1.0, 0.0, gen, dtype=torch.float64)
    assert abs(float((white * torch.roll(white, 1, dims=-1)).mean())) < 0.02


def test_photon_noise_matches_the_shot_noise_formula(gen):
    y = torch.full((200_000,), 0.02, dtype=torch.float64)
    photons, read = 1e5, 30.0
    expected_var = 0.02 / photons + (read / photons) ** 2
    for differentiable in (False, True):
        noisy = photon_noise(y, photons, read, gen, differentiable=differentiable)
        assert abs(float(noisy.mean()) - 0.02) < 3 * math.sqrt(expected_var / len(y))
        assert abs(float(noisy.var()) / expected_var - 1) < 0.02


def test_differentiable_noise_passes_gradients(gen):
    y = torch.full((10,), 0.5, requires_grad=True)
    DetectorNoise(1e4, 5.0).observe(y, gen, differentiable=True).sum().backward()
    assert y.grad is not None and torch.all(y.grad > 0)


def test_absorption_and_quantization_change_the_physics(tiny_system, gen):
    controls = tiny_system.init_controls(gen)
    x = torch.rand(4, 8, 8)
    nominal = tiny_system(x, controls, tiny_system.nominal_nuisance())
    for p in (Absorption(alpha=0.05), PhaseQuantization(levels=4)):
        perturbed = tiny_system(x, controls, Reality((p,)).sample_nuisance(tiny_system, gen))
        assert not torch.allclose(perturbed, nominal, rtol=1e-3)
    absorbed = tiny_system(
        x, controls, Reality((Absorption(0.05),)).sample_nuisance(tiny_system, gen)
    )
    assert float(absorbed.sum()) < float(nominal.sum())  # absorption only removes light


def test_levels_grow_in_severity(tiny_system):
    assert make_reality(tiny_system, "none").perturbations == ()
    sigmas = [make_reality(tiny_system, lvl).perturbations[0].sigma for lvl in LEVELS[1:]]
    assert sigmas == sorted(sigmas) and sigmas[0] > 0
    described = make_reality(tiny_system, "moderate").describe()
    assert described["level"] == "moderate"
    assert {p["perturbation"] for p in described["perturbations"]} >= {
        "absorption",
        "detector-noise",
    }
    with pytest.raises(ConfigError, match="unknown gap level"):
        make_reality(tiny_system, "extreme")


def test_a_perturbation_needs_the_nuisance_it_writes(tiny_system):
    @dataclass(frozen=True)
    class HeaterCrosstalk(Perturbation):
        name = "heater-crosstalk"
        nuisance_keys = ("crosstalk",)

    with pytest.raises(ConfigError, match="lacks crosstalk"):
        Reality((HeaterCrosstalk(),)).check(tiny_system)


def test_gap_options_override_one_knob(tiny_system):
    only_lateral = make_reality(tiny_system, "none", {"lateral": 0.5})
    assert [p.name for p in only_lateral.perturbations] == ["lateral-misalignment"]
    assert only_lateral.perturbations[0].sigma == pytest.approx(0.5 * tiny_system.config.pitch)
    assert only_lateral.level == "none+lateral=0.5"
    quiet = make_reality(tiny_system, "moderate", {"photons": 0})
    assert "detector-noise" not in [p.name for p in quiet.perturbations]
    with pytest.raises(ConfigError, match="unknown gap option"):
        make_reality(tiny_system, "mild", {"lateral_sigma": 1})
    with pytest.raises(ConfigError, match="non-negative"):
        make_reality(tiny_system, "mild", {"lateral": -1})
