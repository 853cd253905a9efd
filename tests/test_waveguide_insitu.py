"""In-situ gradients of the programmable waveguide: the adjoint of the split-step BPM equals
autograd (float64), the system's adjoint and fully forward mode equal autograd of the device
where they are exact, and what the nominal writing law and the unmirrored writing error bias."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import physnn.substrates.waveguide.system  # noqa: F401  (registers the system)
from physnn.physics import adjoint_bpm, bpm
from physnn.reality import Reality
from physnn.substrates.waveguide.gap import (
    IndexScaleMiscalibration,
    IndexWritingError,
    InputMisalignment,
    WritingBlur,
    WritingNonlinearity,
)
from physnn.substrates.waveguide.system import INDEX_UNIT
from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource
from test_insitu import _measured_and_true, _relative_error

TINY = {"width": 128e-6, "length": 1e-3, "grid_x": 64, "steps": 8, "pixels_x": 6,
        "pixels_z": 4, "num_inputs": 9, "input_pitch": 6e-6, "input_waist": 4e-6,
        "num_classes": 4, "detector_width": 8e-6, "detector_pitch": 12e-6,
        "absorber_width": 16e-6}  # fmt: skip
DX, DZ, WAVELENGTH, N0 = 1e-6, 50e-6, 1.55e-6, 1.8


def _random_index(gen: torch.Generator, steps: int = 6, nx: int = 48) -> torch.Tensor:
    real = 1e-3 * torch.rand(steps, nx, generator=gen, dtype=torch.float64)
    extinction = bpm.absorbing_boundary(nx, 8, 2e-3).double().expand(steps, nx)
    return torch.complex(real, extinction)


def test_sheet_fields_propagate_as_the_bpm(gen):
    index = _random_index(gen)
    field = torch.randn(3, 48, generator=gen, dtype=torch.complex128)
    out, arriving = adjoint_bpm.sheet_fields(field, index, DX, DZ, WAVELENGTH, N0)
    torch.testing.assert_close(out, bpm.bpm_propagate(field, index, DX, DZ, WAVELENGTH, N0))
    assert arriving.shape == (3, 6, 48)


@pytest.mark.parametrize("mirrored", [False, True])
def test_the_error_sent_back_or_through_the_mirror_gives_the_index_gradient(gen, mirrored):
    """Backwards through the same lossy index, or forwards through its mirror image along z:
    the same fields, and Re(i k₀ dz N E_f E_a) is autograd's dL/dΔn at every cell."""
    index = _random_index(gen)
    field = torch.randn(3, 48, generator=gen, dtype=torch.complex128)
    g = torch.randn(3, 48, generator=gen, dtype=torch.complex128)
    real = index.real.clone().requires_grad_(True)
    out = bpm.bpm_propagate(field, torch.complex(real, index.imag), DX, DZ, WAVELENGTH, N0)
    (out.conj() * g).real.sum().backward()  # L = Re⟨g, z⟩: ∂L/∂Re z + i ∂L/∂Im z = g
    _, forward = adjoint_bpm.sheet_fields(field, index, DX, DZ, WAVELENGTH, N0)
    _, error = adjoint_bpm.sheet_fields(g.conj(), index.flip(-2), DX, DZ, WAVELENGTH, N0)
    measured = adjoint_bpm.index_gradient(forward, error.flip(-2), index, WAVELENGTH, DZ)
    torch.testing.assert_close(measured, real.grad, rtol=1e-9, atol=1e-9 * real.grad.abs().max())
    assert not torch.allclose(-measured, real.grad)  # a sign-flipped reading is told apart


EXACT = Reality((InputMisalignment(1e-6, 2e-3),))
WRITING_ERROR = Reality((IndexWritingError(5e-5, 1.0),))


@pytest.mark.parametrize("procedure", ["adjoint", "ffm"])
@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
@pytest.mark.parametrize("reality", [Reality(()), EXACT], ids=["none", "misaligned-input"])
def test_waveguide_procedures_equal_autograd_of_the_device(procedure, upsampling, reality):
    system = SYSTEMS["waveguide"].from_preset("default", **TINY, upsampling=upsampling)
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    measured, true, passes = _measured_and_true(system, reality, procedure, x)
    assert _relative_error(measured, true) < 1e-5
    assert passes == 2


def test_the_writing_error_stays_put_when_the_pattern_is_mirrored():
    """ε(x, z) is not mirrored with the command: ffm becomes approximate, the adjoint is not."""
    system = SYSTEMS["waveguide"].from_preset("default", **TINY)
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    measured, true, _ = _measured_and_true(system, WRITING_ERROR, "adjoint", x)
    assert _relative_error(measured, true) < 1e-5
    measured, true, _ = _measured_and_true(system, WRITING_ERROR, "ffm", x)
    assert _relative_error(measured, true) > 1e-3
    assert F.cosine_similarity(measured, true, dim=0) > 0.95


@pytest.mark.parametrize("procedure", ["adjoint", "ffm"])
def test_the_unknown_writing_law_scales_each_pixel_never_flips_it(procedure):
    """The chain to the controls is the nominal law: the true one has the slope s · g_a'(u),
    g_a'(u) = (1 + a) / (1 + a u)², a positive factor per pixel."""
    system = SYSTEMS["waveguide"].from_preset("default", **TINY).double()
    reality = Reality((IndexScaleMiscalibration(0.2), WritingNonlinearity(0.5)))
    gen = torch.Generator().manual_seed(0)
    nuisance = reality.sample_nuisance(system, gen)
    controls = {"delta_n": system.init_controls(gen)["delta_n"].double()}
    leaf = controls["delta_n"].clone().requires_grad_(True)
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    y = system(x, {"delta_n": leaf}, nuisance)
    g = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    (y * g).sum().backward()
    _, grads, _ = system.measured_gradient(procedure, x, controls, nuisance, g)
    u, a = controls["delta_n"] * INDEX_UNIT / system.config.delta_n_max, 0.5
    slope = nuisance["index_scale"] * (1 + a) / (1 + a * u) ** 2
    torch.testing.assert_close(grads["delta_n"] * slope, leaf.grad, rtol=1e-8, atol=1e-14)


def test_blur_is_not_undone_but_the_reading_stays_aligned():
    system = SYSTEMS["waveguide"].from_preset("default", **TINY)
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    measured, true, _ = _measured_and_true(system, Reality((WritingBlur(5e-6),)), "adjoint", x)
    assert _relative_error(measured, true) > 1e-2
    assert F.cosine_similarity(measured, true, dim=0) > 0.9


def test_field_image_noise_degrades_the_waveguide_gradient():
    system = SYSTEMS["waveguide"].from_preset("default", **TINY).double()
    gen = torch.Generator().manual_seed(0)
    controls = {"delta_n": system.init_controls(gen)["delta_n"].double()}
    nuisance = system.nominal_nuisance()
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    g = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    clean = system.measured_gradient("adjoint", x, controls, nuisance, g)[1]["delta_n"]
    noisy = {**nuisance, "monitor_noise": 0.1}
    noise = NoiseSource(torch.Generator().manual_seed(1))
    measured = system.measured_gradient("adjoint", x, controls, noisy, g, noise)[1]["delta_n"]
    cosine = float(F.cosine_similarity(measured.flatten(), clean.flatten(), dim=0))
    assert 0.3 < cosine < 0.9999
