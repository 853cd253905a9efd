"""Optical random projection through a scattering medium: speckle statistics, exact linear and
holographic projections, medium decorrelation, the System contract and a tiny training run."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.scattering.gap
import physnn.substrates.scattering.system
from physnn.errors import ConfigError
from physnn.physics.scattering import (
    decorrelate,
    holographic_projection,
    random_projection,
    transmission_matrix,
)
from physnn.reality import make_reality
from physnn.substrates.scattering.system import ScatteringMedium

TINY = {"num_inputs": 16, "num_pixels": 32}


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def test_speckle_intensity_is_exponential_with_mean_variance_times_power(gen):
    n, m = 64, 40_000
    medium = transmission_matrix(m, n, gen, dtype=torch.complex128)
    x = torch.rand(1, n, generator=gen, dtype=torch.float64)
    intensity = random_projection(x, medium, "intensity")[0]
    mean = float(x.square().sum()) / n  # σ² ‖x‖² with σ² = 1/n
    assert float(intensity.mean()) == pytest.approx(mean, rel=0.02)
    assert float(intensity.std()) == pytest.approx(mean, rel=0.03)  # exponential: std = mean
    for t in (0.5, 1.0, 2.0, 3.0):  # P(I > t ⟨I⟩) = exp(−t)
        above = float((intensity > t * mean).double().mean())
        assert above == pytest.approx(math.exp(-t), abs=0.006)


def test_entries_are_circular_gaussian_with_the_requested_variance(gen):
    medium = transmission_matrix(300, 200, gen, variance=0.5, dtype=torch.complex128)
    assert float(medium.abs().square().mean()) == pytest.approx(0.5, rel=0.01)
    assert float(medium.real.var()) == pytest.approx(0.25, rel=0.02)
    assert float(medium.imag.var()) == pytest.approx(0.25, rel=0.02)
    assert (medium.real * medium.imag).mean().abs() < 0.005
    assert medium.square().mean().abs() < 0.005  # circular: ⟨B²⟩ = 0


def test_linear_mode_is_exactly_the_matrix_product(gen):
    medium = transmission_matrix(12, 7, gen, dtype=torch.complex128)
    x = torch.randn(5, 7, generator=gen, dtype=torch.complex128)
    expected = torch.einsum("mn,bn->bm", medium, x)
    assert torch.allclose(random_projection(x, medium, "linear"), expected, atol=1e-14)
    assert torch.allclose(random_projection(x, medium), expected.abs().square(), atol=1e-13)


def test_holographic_projection_recovers_the_field_from_intensities(gen):
    medium = transmission_matrix(20, 9, gen, dtype=torch.complex128)
    x = torch.rand(4, 9, generator=gen, dtype=torch.float64)
    reference = torch.randn(9, generator=gen, dtype=torch.complex128)
    expected = (medium @ reference).conj() * random_projection(x, medium, "linear")
    assert torch.allclose(holographic_projection(x, medium, reference), expected, atol=1e-12)


def test_decorrelation_gives_the_expected_correlation_coefficient(gen):
    medium = transmission_matrix(400, 400, gen, dtype=torch.complex128)
    innovation = transmission_matrix(400, 400, gen, dtype=torch.complex128)
    for eps in (0.0, 0.3, 0.8):
        drifted = decorrelate(medium, innovation, eps)
        rho = (drifted * medium.conj()).mean() / medium.abs().square().mean()
        assert float(rho.real) == pytest.approx(math.sqrt(1 - eps**2), abs=0.01)
        assert abs(rho.imag) < 0.01
        assert float(drifted.abs().square().mean()) == pytest.approx(1 / 400, rel=0.02)
    x = torch.rand(1, 400, generator=gen, dtype=torch.float64)
    a = random_projection(x, medium)[0]
    b = random_projection(x, decorrelate(medium, innovation, 0.6))[0]
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) == pytest.approx(1 - 0.36, abs=0.06)


def test_projection_rejects_bad_input(gen):
    medium = transmission_matrix(4, 3, gen)
    with pytest.raises(ValueError, match="mode must be one of"):
        random_projection(torch.ones(1, 3), medium, "phase")
    with pytest.raises(ValueError, match="input has 5 modes"):
        random_projection(torch.ones(1, 5), medium)
    with pytest.raises(ValueError, match="positive"):
        transmission_matrix(0, 3, gen)


def test_system_accepts_images_and_features_and_has_bounded_controls():
    system = ScatteringMedium.from_preset("default", **TINY)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    spec = system.control_specs()["phase"]
    assert spec.shape == (16,) and spec.periodic
    spec.check("phase", controls["phase"])
    nominal = system.nominal_nuisance()
    for x in (torch.rand(3, 8, 8), torch.rand(3, 28, 28), torch.rand(3, 12)):
        y = system(x, controls, nominal)
        assert y.shape == (3, 32) and (y >= 0).all()
    assert system.medium.dtype == torch.complex64
    # the medium is fixed by its seed
    again = ScatteringMedium.from_preset("default", **TINY)
    assert torch.equal(again.medium, system.medium)
    other = ScatteringMedium.from_preset("default", medium_seed=1, **TINY)
    assert not torch.equal(other.medium, system.medium)


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ConfigError, match="num_pixels must be positive"):
        ScatteringMedium.from_preset("default", num_pixels=0)
    with pytest.raises(ConfigError, match="phase_levels must be at least 2"):
        ScatteringMedium.from_preset("default", phase_levels=1)
    with pytest.raises(ConfigError, match="camera_full_scale must be positive"):
        ScatteringMedium.from_preset("default", camera_full_scale=0.0)
    with pytest.raises(ConfigError, match="must be int"):
        ScatteringMedium.from_preset("default", num_inputs=2.5)
    paper = ScatteringMedium.config_class(**ScatteringMedium.presets["launay2020"])
    assert (paper.num_inputs, paper.num_pixels) == (784, 4096)


def test_forward_gradients_match_finite_differences():
    system = ScatteringMedium.from_preset("default", num_inputs=4, num_pixels=3)
    system.medium = system.medium.to(torch.complex128)
    gen = torch.Generator().manual_seed(3)
    innovation = transmission_matrix(3, 4, gen, dtype=torch.complex128)
    x = torch.rand(2, 4, generator=gen)
    phase = torch.rand(4, generator=gen, dtype=torch.float64, requires_grad=True)
    eps = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)

    def forward(phase, eps):
        nuisance = {**system.nominal_nuisance(), "medium_decorrelation": eps,
                    "medium_innovation": innovation}  # fmt: skip
        return system(x, {"phase": phase}, nuisance)

    assert torch.autograd.gradcheck(forward, (phase, eps))


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_family_builds_and_changes_the_output(level):
    system = ScatteringMedium.from_preset("default", **TINY)
    reality = make_reality(system, level)
    names = {p.name for p in reality.perturbations}
    assert names == {"medium-decorrelation", "slm-phase-error", "detector-noise",
                     "camera-quantization", "monitor-noise"}  # fmt: skip
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, 8)
    nominal = system(x, controls, system.nominal_nuisance())
    device = reality.observe(system(x, controls, nuisance), torch.Generator().manual_seed(1))
    assert not torch.allclose(nominal, device, rtol=1e-3)
    bits = next(p for p in reality.perturbations if p.name == "camera-quantization").bits
    codes = device / (system.config.camera_full_scale / (2**bits - 1))
    assert torch.allclose(codes, codes.round(), atol=1e-3)  # the ADC reports integer codes


def test_camera_quantization_saturates_and_passes_gradients_straight_through():
    quantize = physnn.substrates.scattering.gap.CameraQuantization(bits=2, full_scale=3.0)
    y = torch.tensor([-0.2, 0.4, 1.6, 5.0], requires_grad=True)
    out = quantize.observe(y, None, differentiable=True)
    assert torch.equal(out.detach(), torch.tensor([0.0, 0.0, 2.0, 3.0]))
    out.sum().backward()
    # rounding is straight-through; a reading clipped at 0 or at full scale does not respond
    assert torch.equal(y.grad, torch.tensor([0.0, 1.0, 1.0, 0.0]))


def test_decorrelation_above_one_is_refused():
    system = ScatteringMedium.from_preset("default", **TINY)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\]"):
        make_reality(system, "moderate", {"decorrelation": 1.5})
