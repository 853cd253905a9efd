"""Free-space optics against analytic results (Gaussian beams, Parseval, Rayleigh–Sommerfeld)."""

from __future__ import annotations

import math

import pytest
import torch

from physnn.physics import optics

WAVELENGTH = 1e-6


def coordinates(n: int, dx: float) -> torch.Tensor:
    """Pixel positions x_j = (j − n/2)·dx, float64."""
    return (torch.arange(n, dtype=torch.float64) - n / 2) * dx


def gaussian(n: int, dx: float, w0: float) -> torch.Tensor:
    """Gaussian beam at its waist, u = exp(−r²/w0²), centred on pixel n/2; complex128."""
    x = coordinates(n, dx)
    r2 = x[None, :] ** 2 + x[:, None] ** 2
    return torch.exp(-r2 / w0**2).to(torch.complex128)


def second_moment_width(field: torch.Tensor, dx: float) -> float:
    """w = 2 √⟨(x − x̄)²⟩ of the intensity along x (the 1/e² radius for a Gaussian beam)."""
    x = coordinates(field.shape[-1], dx)
    px = optics.intensity(field).sum(-2)
    mean = (px * x).sum() / px.sum()
    return float(2 * torch.sqrt((px * (x - mean) ** 2).sum() / px.sum()))


@pytest.mark.parametrize("z_over_zr", [1.0, 2.0])
def test_gaussian_beam_width_matches_the_analytic_law(z_over_zr):
    dx, w0, n = WAVELENGTH / 2, 10 * WAVELENGTH, 256
    zr = math.pi * w0**2 / WAVELENGTH
    z = z_over_zr * zr
    out = optics.propagate(gaussian(n, dx, w0), dx, WAVELENGTH, z)
    expected = w0 * math.sqrt(1 + (z / zr) ** 2)
    # measured: 2.5e-4 at z_R, 4.1e-4 at 2 z_R; the residual is the non-paraxial correction
    # ~ (λ / π w0)² to the paraxial law (it falls 4× when w0 doubles), not a numerical error.
    assert abs(second_moment_width(out, dx) - expected) / expected < 1e-3


def test_energy_is_conserved_without_padding():
    n, dx = 64, WAVELENGTH / 4  # the grid reaches 2/λ, so it holds evanescent frequencies
    gen = torch.Generator().manual_seed(0)
    spectrum = torch.randn(n, n, dtype=torch.complex128, generator=gen)
    fx, fy = optics.frequency_grid(n, dx)
    spectrum = spectrum * (fx**2 + fy**2 < (0.9 / WAVELENGTH) ** 2)  # propagating band only
    field = torch.fft.ifft2(spectrum)
    out = optics.propagate(field, dx, WAVELENGTH, 50 * WAVELENGTH, padding=1, band_limit=False)
    ratio = float(optics.intensity(out).sum() / optics.intensity(field).sum())
    assert abs(ratio - 1) < 1e-10
    assert not torch.allclose(out, field)  # it did propagate


def test_energy_is_conserved_for_a_beam_inside_the_window():
    dx, w0, n = WAVELENGTH / 2, 8 * WAVELENGTH, 128
    field = gaussian(n, dx, w0)
    out = optics.propagate(field, dx, WAVELENGTH, 100 * WAVELENGTH, padding=2)
    ratio = float(optics.intensity(out).sum() / optics.intensity(field).sum())
    assert abs(ratio - 1) < 1e-6


def rayleigh_sommerfeld(field: torch.Tensor, dx: float, wavelength: float, z: float):
    """First Rayleigh–Sommerfeld integral by direct summation over the non-zero source samples:

    u(x, y, z) = Σ u0(ξ, η) · z / (2π r²) · (1/r − ik) · exp(ikr) · dξ dη,
    r = √((x − ξ)² + (y − η)² + z²), evaluated on the same grid (float64, reference only).
    """
    n = field.shape[-1]
    x = coordinates(n, dx)
    yy, xx = (t.flatten() for t in torch.meshgrid(x, x, indexing="ij"))
    source = field.flatten() != 0
    xi, eta, u0 = xx[source], yy[source], field.flatten()[source]
    k = 2 * math.pi / wavelength
    r = torch.sqrt((xx[:, None] - xi) ** 2 + (yy[:, None] - eta) ** 2 + z**2)
    kernel = z / (2 * math.pi * r**2) * (1 / r - 1j * k) * torch.exp(1j * k * r) * dx**2
    return (kernel @ u0).reshape(n, n)


@pytest.mark.parametrize(
    ("z_over_zc", "bound"),
    # measured (band-limited / unlimited relative error): 3 z_c: 0.046 / 0.246 (5.3×);
    # 5 z_c: 0.065 / 0.434 (6.7×). The remaining band-limited error is the ringing of the hard
    # spectral cut-off at u_lim (the square's sinc spectrum is still large there); at 1 z_c both
    # agree with the reference to 6.6e-5 (next test).
    [(3.0, 0.1), (5.0, 0.1)],
)
def test_band_limit_suppresses_aliasing_at_long_distance(z_over_zc, bound):
    n, dx = 64, 4 * WAVELENGTH
    field = torch.zeros(n, n, dtype=torch.complex128)
    field[n // 2 - 4 : n // 2 + 4, n // 2 - 4 : n // 2 + 4] = 1  # 32 µm square aperture
    # Beyond z_c = 2 N dx² / λ the transfer function on the ×2 padded grid is under-sampled.
    z = z_over_zc * 2 * n * dx**2 / WAVELENGTH
    reference = rayleigh_sommerfeld(field, dx, WAVELENGTH, z)

    def error(band_limit: bool) -> float:
        out = optics.propagate(field, dx, WAVELENGTH, z, padding=2, band_limit=band_limit)
        return float((out - reference).norm() / reference.norm())

    limited, unlimited = error(True), error(False)
    assert limited < bound
    assert unlimited > 4 * limited


def test_propagation_agrees_with_rayleigh_sommerfeld_below_the_critical_distance():
    n, dx = 64, 4 * WAVELENGTH
    field = torch.zeros(n, n, dtype=torch.complex128)
    field[n // 2 - 4 : n // 2 + 4, n // 2 - 4 : n // 2 + 4] = 1
    z = 2 * n * dx**2 / WAVELENGTH
    reference = rayleigh_sommerfeld(field, dx, WAVELENGTH, z)
    out = optics.propagate(field, dx, WAVELENGTH, z)
    assert float((out - reference).norm() / reference.norm()) < 1e-3


def test_integer_shift_is_a_translation_and_dz_adds_distance():
    n, dx, z = 64, WAVELENGTH, 20 * WAVELENGTH
    field = gaussian(n, dx, 5 * WAVELENGTH)
    kx, ky = 3, -2
    zero = torch.zeros((), dtype=torch.float64)
    shift = optics.misalignment_phase(
        2 * n,
        dx,
        WAVELENGTH,
        torch.tensor(kx * dx, dtype=torch.float64),
        torch.tensor(ky * dx, dtype=torch.float64),
        zero,
    )
    moved = optics.propagate(field, dx, WAVELENGTH, z, extra_phase=shift)
    plain = optics.propagate(field, dx, WAVELENGTH, z)
    # u'(x, y) = u(x + kx dx, y + ky dx): u'[j] = u[j + k], i.e. a roll by −k pixels.
    assert torch.allclose(moved, torch.roll(plain, (-ky, -kx), dims=(-2, -1)), atol=1e-10)

    dz = torch.tensor(7 * WAVELENGTH, dtype=torch.float64)
    for band_limit in (False, True):
        defocus = optics.misalignment_phase(2 * n, dx, WAVELENGTH, zero, zero, dz)
        a = optics.propagate(field, dx, WAVELENGTH, z, band_limit=band_limit, extra_phase=defocus)
        b = optics.propagate(field, dx, WAVELENGTH, z + float(dz), band_limit=band_limit)
        assert torch.allclose(a, b, atol=1e-6)


def test_misalignment_phase_batches_one_shift_per_element():
    n, dx, z = 48, WAVELENGTH, 10 * WAVELENGTH
    field = gaussian(n, dx, 3 * WAVELENGTH).expand(3, n, n)
    shifts = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64) * dx
    zero = torch.zeros(3, dtype=torch.float64)
    phase = optics.misalignment_phase(2 * n, dx, WAVELENGTH, shifts, zero, zero)
    assert phase.shape == (3, 2 * n, 2 * n) and phase.dtype == torch.complex128
    out = optics.propagate(field, dx, WAVELENGTH, z, extra_phase=phase)
    for k in range(3):
        assert torch.allclose(out[k], torch.roll(out[0], -k, dims=-1), atol=1e-10)
    single = torch.zeros(1, dtype=torch.float32)
    assert optics.misalignment_phase(8, dx, WAVELENGTH, single, single, single).dtype == (
        torch.complex64
    )


def test_misalignment_phase_is_differentiable():
    n, dx, wavelength = 8, 1.0, 2.0  # unit-free, so that finite differences are well scaled
    params = [torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True) for _ in range(3)]

    def f(sx, sy, dz):
        return torch.view_as_real(optics.misalignment_phase(n, dx, wavelength, sx, sy, dz))

    assert torch.autograd.gradcheck(f, params)


def test_transfer_function_is_cached_passive_and_band_limited():
    n, dx, z = 64, 0.45 * WAVELENGTH, 1e-4  # no grid frequency falls exactly on 1/λ
    h1 = optics.transfer_function(n, dx, WAVELENGTH, z)
    h2 = optics.transfer_function(n, dx, WAVELENGTH, z)
    assert h1 is h2
    assert float(h1.abs().max()) <= 1 + 1e-6
    fx, fy = optics.frequency_grid(n, dx)
    u_lim = optics.band_limit_frequency(n, dx, WAVELENGTH, z)
    passband = (fx.abs() <= u_lim) & (fy.abs() <= u_lim) & (fx**2 + fy**2 < WAVELENGTH**-2)
    assert torch.equal(h1 != 0, passband)
    unlimited = optics.transfer_function(n, dx, WAVELENGTH, z, band_limit=False)
    assert torch.equal(unlimited != 0, fx**2 + fy**2 < WAVELENGTH**-2)  # evanescent → 0
    fz = optics.axial_frequency(n, dx, WAVELENGTH)
    assert fz is optics.axial_frequency(n, dx, WAVELENGTH)
    assert torch.allclose(
        unlimited.to(torch.complex128),
        torch.polar(fz.ne(0).double(), 2 * math.pi * z * fz),
        atol=1e-6,
    )


def _analytic_transfer(n: int, dx: float, z: float) -> torch.Tensor:
    """exp(i2π fz z) where fx² + fy² < 1/λ², exp(−2π κ z), κ = √(fx² + fy² − 1/λ²), elsewhere."""
    fx, fy = optics.frequency_grid(n, dx)
    excess = fx**2 + fy**2 - WAVELENGTH**-2
    fz = torch.sqrt((-excess).clamp_min(0.0))
    kappa = torch.sqrt(excess.clamp_min(0.0))
    propagating = torch.exp(1j * 2 * math.pi * fz * z)
    decaying = torch.exp(-2 * math.pi * kappa * z).to(torch.complex128)
    return torch.where(excess < 0, propagating, decaying)


def test_evanescent_transfer_function_matches_the_analytic_decay():
    n, dx, z = 64, 0.3 * WAVELENGTH, 0.7 * WAVELENGTH  # Nyquist 1.67/λ: many evanescent bins
    h = optics.transfer_function(
        n, dx, WAVELENGTH, z, band_limit=False, evanescent=True, dtype=torch.complex128
    )
    expected = _analytic_transfer(n, dx, z)
    assert float((h - expected).abs().max()) <= 1e-14
    fx, fy = optics.frequency_grid(n, dx)
    evanescent = fx**2 + fy**2 > WAVELENGTH**-2
    assert bool(evanescent.any()) and bool((h[evanescent].abs() < 1).all())
    assert float(h[evanescent].abs().max()) > 0.1  # kept, not dropped
    # the option is part of the cache key, and the default still drops them
    default = optics.transfer_function(n, dx, WAVELENGTH, z, band_limit=False)
    assert default is not optics.transfer_function(
        n, dx, WAVELENGTH, z, band_limit=False, evanescent=True
    )
    assert torch.equal(default[evanescent], torch.zeros_like(default[evanescent]))
    limited = optics.transfer_function(n, dx, WAVELENGTH, 1e-4, evanescent=True)
    u_lim = optics.band_limit_frequency(n, dx, WAVELENGTH, 1e-4)
    assert torch.equal(limited != 0, (fx.abs() <= u_lim) & (fy.abs() <= u_lim))
    with pytest.raises(ValueError, match="z >= 0"):
        optics.transfer_function(n, dx, WAVELENGTH, -z, evanescent=True)


def test_evanescent_energy_is_all_that_a_long_distance_removes():
    n, dx = 64, 0.3 * WAVELENGTH  # 1/λ = 19.2 Δu: no grid frequency on the circle
    gen = torch.Generator().manual_seed(3)
    field = torch.randn(n, n, dtype=torch.complex128, generator=gen)
    spectrum = optics.intensity(torch.fft.fft2(field)) / n**2  # Parseval: Σ|u|² = Σ|U|²/n²
    fx, fy = optics.frequency_grid(n, dx)
    excess = fx**2 + fy**2 - WAVELENGTH**-2
    kappa = torch.sqrt(excess.clamp_min(0.0))
    propagating = float(spectrum[excess < 0].sum())
    for z in (0.1 * WAVELENGTH, 200 * WAVELENGTH):
        kw = {"padding": 1.0, "band_limit": False}  # periodic: nothing leaves the window
        dropped = optics.propagate(field, dx, WAVELENGTH, z, **kw)
        kept = optics.propagate(field, dx, WAVELENGTH, z, evanescent=True, **kw)
        decayed = float((spectrum * torch.exp(-4 * math.pi * kappa * z))[excess > 0].sum())
        assert float(optics.intensity(dropped).sum()) == pytest.approx(propagating, rel=1e-12)
        assert float(optics.intensity(kept).sum()) == pytest.approx(
            propagating + decayed, rel=1e-12
        )
    # far from the source (z ≫ λ) the evanescent part is gone and the two options agree
    assert decayed < 1e-30 * propagating
    assert float((kept - dropped).abs().max()) < 1e-12 * float(dropped.abs().max())


def test_evanescent_propagation_matches_torchoptics():
    torchoptics = pytest.importorskip("torchoptics")
    n, dx, z = 32, 0.3 * WAVELENGTH, 2 * WAVELENGTH
    gen = torch.Generator().manual_seed(4)
    field = torch.randn(n, n, dtype=torch.complex128, generator=gen)
    theirs = (
        torchoptics.Field(field, wavelength=WAVELENGTH, z=0, spacing=dx)
        .propagate_to_z(z, propagation_method="ASM", asm_pad=(n // 2, n // 2))
        .data
    )
    ours = optics.propagate(field, dx, WAVELENGTH, z, band_limit=False, evanescent=True)
    dropped = optics.propagate(field, dx, WAVELENGTH, z, band_limit=False)
    scale = float(theirs.abs().max())
    assert float((ours - theirs).abs().max()) <= 1e-10 * scale
    assert float((dropped - theirs).abs().max()) > 1e-3 * scale  # what the default leaves out


def test_cache_filled_under_inference_mode_still_trains():
    field = gaussian(16, WAVELENGTH, 3 * WAVELENGTH)
    with torch.inference_mode():
        optics.propagate(field, WAVELENGTH, WAVELENGTH, 3.3e-6)
    phase = torch.zeros(16, 16, dtype=torch.float64, requires_grad=True)
    out = optics.propagate(optics.modulate(field, phase), WAVELENGTH, WAVELENGTH, 3.3e-6)
    optics.intensity(out).sum().backward()
    assert phase.grad is not None


def test_modulate_and_intensity():
    gen = torch.Generator().manual_seed(1)
    field = torch.randn(2, 4, 4, dtype=torch.complex128, generator=gen)
    phase = torch.rand(4, 4, dtype=torch.float64, generator=gen)
    amplitude = torch.rand(4, 4, dtype=torch.float64, generator=gen)
    expected = field * amplitude * torch.exp(1j * phase)
    assert torch.allclose(optics.modulate(field, phase, amplitude), expected)
    assert torch.allclose(optics.modulate(field, phase), field * torch.exp(1j * phase))
    assert torch.allclose(optics.intensity(field), field.abs() ** 2)


def test_detector_regions_layout_and_detection():
    masks = optics.detector_regions(40, 10, 4)
    assert masks.shape == (10, 40, 40)
    assert torch.all(masks.sum(0) <= 1)  # disjoint
    assert torch.all(masks.sum((1, 2)) == 16)
    tops = [int(torch.nonzero(m)[:, 0].min()) for m in masks]
    assert [tops.count(t) for t in sorted(set(tops))] == [3, 4, 3]
    intens = torch.rand(5, 40, 40, generator=torch.Generator().manual_seed(2))
    expected = torch.stack([(intens * m).sum((1, 2)) for m in masks], dim=1)
    assert torch.allclose(optics.detect(intens, masks), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        optics.detector_regions(10, 10, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_propagation_on_cuda_matches_cpu():
    n, dx = 64, WAVELENGTH
    field = gaussian(n, dx, 5 * WAVELENGTH).to(torch.complex64).expand(2, n, n)
    shift = torch.tensor([0.0, 1.5 * dx])
    zero = torch.zeros(2)

    def run(device: str) -> torch.Tensor:
        args = (shift.to(device), zero.to(device), zero.to(device))
        extra = optics.misalignment_phase(2 * n, dx, WAVELENGTH, *args)
        return optics.propagate(field.to(device), dx, WAVELENGTH, 30e-6, extra_phase=extra)

    gpu = run("cuda")
    assert gpu.device.type == "cuda" and gpu.dtype == torch.complex64
    assert torch.allclose(run("cpu"), gpu.cpu(), atol=1e-5)
