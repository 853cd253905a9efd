"""Free-space optics against analytic results."""

from __future__ import annotations

import math

import pytest
import torch

from physnn.physics import optics

WAVELENGTH = 1e-6


def gaussian(n: int, dx: float, w0: float) -> torch.Tensor:
    x = (torch.arange(n, dtype=torch.float64) - n / 2) * dx
    r2 = x[None, :] ** 2 + x[:, None] ** 2
    return torch.exp(-r2 / w0**2).to(torch.complex128)


def second_moment_width(field: torch.Tensor, dx: float) -> float:
    """w = 2 √⟨x²⟩ of the intensity (equals the 1/e² radius for a Gaussian beam)."""
    n = field.shape[-1]
    x = (torch.arange(n, dtype=torch.float64) - n / 2) * dx
    intensity = optics.intensity(field)
    px = intensity.sum(0)
    mean = (px * x).sum() / px.sum()
    return float(2 * torch.sqrt((px * (x - mean) ** 2).sum() / px.sum()))


@pytest.mark.parametrize("z_over_zr", [1.0, 2.0])
def test_gaussian_beam_width_matches_the_analytic_law(z_over_zr):
    dx, w0, n = WAVELENGTH / 2, 10 * WAVELENGTH, 256
    zr = math.pi * w0**2 / WAVELENGTH
    z = z_over_zr * zr
    out = optics.propagate(gaussian(n, dx, w0), dx, WAVELENGTH, z)
    expected = w0 * math.sqrt(1 + (z / zr) ** 2)
    assert abs(second_moment_width(out, dx) - expected) / expected < 1e-3


def test_energy_is_conserved_without_padding():
    n, dx = 64, WAVELENGTH
    spectrum = torch.randn(n, n, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    fx, fy = optics.frequency_grid(n, dx)
    spectrum = spectrum * (fx**2 + fy**2 < (0.4 / WAVELENGTH) ** 2)  # propagating only
    field = torch.fft.ifft2(spectrum)
    out = optics.propagate(field, dx, WAVELENGTH, 50 * WAVELENGTH, padding=1, band_limit=False)
    energy = optics.intensity(field).sum()
    assert abs(float(optics.intensity(out).sum() / energy) - 1) < 1e-10


def test_energy_is_conserved_for_a_beam_inside_the_window():
    dx, w0, n = WAVELENGTH / 2, 8 * WAVELENGTH, 128
    field = gaussian(n, dx, w0)
    out = optics.propagate(field, dx, WAVELENGTH, 100 * WAVELENGTH, padding=2)
    ratio = float(optics.intensity(out).sum() / optics.intensity(field).sum())
    assert abs(ratio - 1) < 1e-6


def rayleigh_sommerfeld(
    field: torch.Tensor, dx: float, wavelength: float, z: float
) -> torch.Tensor:
    """Direct first Rayleigh–Sommerfeld summation onto the same grid (O(N⁴), reference only)."""
    n = field.shape[-1]
    x = (torch.arange(n, dtype=torch.float64) - n / 2) * dx
    yy, xx = torch.meshgrid(x, x, indexing="ij")
    k = 2 * math.pi / wavelength
    src = field.flatten()
    dxs = xx.flatten()[:, None] - xx.flatten()[None, :]
    dys = yy.flatten()[:, None] - yy.flatten()[None, :]
    r = torch.sqrt(dxs**2 + dys**2 + z**2)
    kernel = z / (2 * math.pi * r**2) * (1 / r - 1j * k) * torch.exp(1j * k * r) * dx * dx
    return (kernel @ src).reshape(n, n)


def test_band_limit_suppresses_aliasing_at_long_distance():
    n, dx = 48, 2 * WAVELENGTH
    field = torch.zeros(n, n, dtype=torch.complex128)
    field[n // 2 - 3 : n // 2 + 3, n // 2 - 3 : n // 2 + 3] = 1  # 12 µm square aperture
    z = 4 * (2 * n * dx**2 / WAVELENGTH)  # four times the critical distance of the padded grid
    reference = rayleigh_sommerfeld(field, dx, WAVELENGTH, z)

    def error(band_limit: bool) -> float:
        out = optics.propagate(field, dx, WAVELENGTH, z, padding=2, band_limit=band_limit)
        return float((out - reference).norm() / reference.norm())

    limited, unlimited = error(True), error(False)
    # measured: band-limited 0.084, unlimited 0.46 (aliased copies of the kernel)
    assert limited < 0.25
    assert unlimited > 4 * limited


def test_integer_shift_is_a_translation_and_dz_adds_distance():
    n, dx, z = 64, WAVELENGTH, 20 * WAVELENGTH
    field = gaussian(n, dx, 5 * WAVELENGTH)
    k = 3
    zero = torch.zeros((), dtype=torch.float64)
    shift = optics.misalignment_phase(
        2 * n, dx, WAVELENGTH, torch.tensor(k * dx, dtype=torch.float64), zero, zero
    )
    moved = optics.propagate(field, dx, WAVELENGTH, z, extra_phase=shift)
    plain = optics.propagate(field, dx, WAVELENGTH, z)
    # u'(x) = u(x + k dx): the frame moved by +k pixels, so the beam appears k pixels to the left
    assert torch.allclose(moved, torch.roll(plain, -k, dims=-1), atol=1e-10)

    dz = torch.tensor(7 * WAVELENGTH, dtype=torch.float64)
    defocus = optics.misalignment_phase(2 * n, dx, WAVELENGTH, zero, zero, dz)
    a = optics.propagate(field, dx, WAVELENGTH, z, band_limit=False, extra_phase=defocus)
    b = optics.propagate(field, dx, WAVELENGTH, z + float(dz), band_limit=False)
    assert torch.allclose(a, b, atol=1e-10)


def test_misalignment_phase_is_differentiable():
    n, dx, wavelength = 8, 1.0, 2.0  # unit-free, so that finite differences are well scaled
    params = [torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True) for _ in range(3)]

    def f(sx, sy, dz):
        return torch.view_as_real(optics.misalignment_phase(n, dx, wavelength, sx, sy, dz))

    assert torch.autograd.gradcheck(f, params)


def test_transfer_function_is_cached_and_passive():
    h1 = optics.transfer_function(64, WAVELENGTH, WAVELENGTH, 1e-4)
    h2 = optics.transfer_function(64, WAVELENGTH, WAVELENGTH, 1e-4)
    assert h1 is h2
    assert float(h1.abs().max()) <= 1 + 1e-6


def test_detector_regions_layout_and_detection():
    masks = optics.detector_regions(40, 10, 4)
    assert masks.shape == (10, 40, 40)
    assert torch.all(masks.sum(0) <= 1)  # disjoint
    assert torch.all(masks.sum((1, 2)) == 16)
    rows = sorted({int(torch.nonzero(m)[:, 0].min()) for m in masks})
    counts = [sum(int(torch.nonzero(m)[:, 0].min()) == r for m in masks) for r in rows]
    assert counts == [3, 4, 3]
    intens = torch.rand(5, 40, 40)
    expected = torch.stack([(intens * m).sum((1, 2)) for m in masks], dim=1)
    assert torch.allclose(optics.detect(intens, masks), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="detectors"):
        optics.detector_regions(10, 10, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_propagation_on_cuda_matches_cpu():
    field = gaussian(64, WAVELENGTH, 5 * WAVELENGTH).to(torch.complex64)
    cpu = optics.propagate(field, WAVELENGTH, WAVELENGTH, 30 * WAVELENGTH)
    gpu = optics.propagate(field.cuda(), WAVELENGTH, WAVELENGTH, 30 * WAVELENGTH).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-5)
