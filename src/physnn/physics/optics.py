"""Scalar free-space optics: band-limited angular spectrum propagation, masks, detectors.

Conventions: fields are complex tensors (..., N, N) with the last two dims (y, x); the pixel
pitch ``dx``, the wavelength and distances are in metres; spatial frequencies are in cycles per
metre in FFT order. The angular spectrum method (Goodman, *Introduction to Fourier Optics*,
§3.10) propagates a field over z by multiplying its spectrum by

    H(fx, fy) = exp(i 2π z √(1/λ² − fx² − fy²)),

which is exact for the scalar Helmholtz equation. Sampled on a finite grid it aliases at long
distances, where H oscillates faster than the frequency sampling Δu = 1/(N dx) can follow;
Matsushima & Shimobaba, Opt. Express 17, 19662 (2009) cut the spectrum at
u_lim = 1 / (λ √((2 Δu z)² + 1)), removing exactly the components that would alias. Zero-padding
the field (×2 by default) turns the circular convolution of the FFT into a linear one.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor


def frequency_grid(
    n: int, dx: float, *, device=None, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    """Spatial frequencies (fx, fy), each (n, n) in FFT order; fx varies along the last dim."""
    f = torch.fft.fftfreq(n, d=dx, dtype=dtype, device=device)
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    return fx, fy


@lru_cache(maxsize=64)
def _axial_frequency(
    n: int, dx: float, wavelength: float, device: str, dtype: torch.dtype
) -> Tensor:
    fx, fy = frequency_grid(n, dx, device=torch.device(device), dtype=torch.float64)
    fz2 = 1.0 / wavelength**2 - fx**2 - fy**2
    return torch.sqrt(fz2.clamp_min(0)).to(dtype)


def axial_frequency(
    n: int, dx: float, wavelength: float, *, device=None, dtype: torch.dtype = torch.float64
) -> Tensor:
    """fz = √(1/λ² − fx² − fy²) for propagating components, 0 for evanescent ones (cached)."""
    return _axial_frequency(n, dx, wavelength, str(torch.device(device or "cpu")), dtype)


@lru_cache(maxsize=64)
def _transfer_function(
    n: int,
    dx: float,
    wavelength: float,
    z: float,
    band_limit: bool,
    device: str,
    dtype: torch.dtype,
) -> Tensor:
    fx, fy = frequency_grid(n, dx, device=torch.device(device), dtype=torch.float64)
    propagating = fx**2 + fy**2 < 1.0 / wavelength**2
    fz = _axial_frequency(n, dx, wavelength, device, torch.float64)
    h = torch.polar(propagating.double(), 2 * math.pi * z * fz)
    if band_limit:
        du = 1.0 / (n * dx)
        u_lim = 1.0 / (wavelength * math.sqrt((2 * du * z) ** 2 + 1))
        h = h * ((fx.abs() <= u_lim) & (fy.abs() <= u_lim))
    return h.to(dtype)


def transfer_function(
    n: int,
    dx: float,
    wavelength: float,
    z: float,
    *,
    band_limit: bool = True,
    device=None,
    dtype: torch.dtype = torch.complex64,
) -> Tensor:
    """Angular-spectrum transfer function on the (padded) n×n grid; evanescent waves are dropped.

    With ``band_limit`` the Matsushima–Shimobaba limit |fx|, |fy| ≤ u_lim is applied. The result
    is cached per (n, dx, λ, z, band_limit, device, dtype): callers must not modify it in place.
    """
    device = str(torch.device(device or "cpu"))
    return _transfer_function(n, float(dx), float(wavelength), float(z), band_limit, device, dtype)


def misalignment_phase(
    n: int, dx: float, wavelength: float, shift_x: Tensor, shift_y: Tensor, dz: Tensor
) -> Tensor:
    """Spectral phase exp(i2π(fx·δx + fy·δy + fz·δz)) of a displaced output plane, (*S, n, n).

    Multiplying a padded spectrum by it adds δz to the propagation distance and expresses the
    result in a frame displaced by (+δx, +δy): u'(x) = u(x + δ), i.e. as seen by an element (a
    misaligned layer) that sits at lateral offset δ. Differentiable in δx, δy, δz, which share a
    shape S (e.g. one value per layer). The complex dtype follows their real dtype.
    """
    real = shift_x.dtype
    fx, fy = frequency_grid(n, dx, device=shift_x.device, dtype=real)
    fz = axial_frequency(n, dx, wavelength, device=shift_x.device, dtype=real)
    expand = (..., None, None)
    phase = 2 * math.pi * (fx * shift_x[expand] + fy * shift_y[expand] + fz * dz[expand])
    return torch.polar(torch.ones_like(phase), phase)


def propagate(
    field: Tensor,
    dx: float,
    wavelength: float,
    z: float,
    *,
    padding: float = 2.0,
    band_limit: bool = True,
    extra_phase: Tensor | None = None,
) -> Tensor:
    """Propagate ``field`` (..., N, N) over ``z`` by the band-limited angular spectrum method.

    The field is zero-padded to round(padding·N), multiplied in the Fourier domain by the cached
    transfer function (and ``extra_phase`` if given, broadcast against (..., Np, Np)), and the
    central N×N window is kept: light leaving the aperture is lost. ``padding=1`` is periodic.
    """
    n = field.shape[-1]
    n_pad = max(n, round(padding * n))
    before = (n_pad - n) // 2
    after = n_pad - n - before
    padded = F.pad(field, (before, after, before, after)) if n_pad > n else field
    h = transfer_function(
        n_pad, dx, wavelength, z, band_limit=band_limit, device=field.device, dtype=field.dtype
    )
    if extra_phase is not None:
        h = h * extra_phase
    out = torch.fft.ifft2(torch.fft.fft2(padded) * h)
    return out[..., before : before + n, before : before + n] if n_pad > n else out


def modulate(field: Tensor, phase: Tensor, amplitude: Tensor | None = None) -> Tensor:
    """Thin mask: field · amplitude · exp(i·phase) (amplitude None means 1)."""
    mask = torch.polar(torch.ones_like(phase) if amplitude is None else amplitude, phase)
    return field * mask.to(field.dtype)


def intensity(field: Tensor) -> Tensor:
    """|u|²."""
    return field.real.square() + field.imag.square()


def _rows(count: int, num_rows: int) -> list[int]:
    """Split ``count`` into ``num_rows`` near-equal rows, the larger ones in the middle."""
    base, extra = divmod(count, num_rows)
    rows = [base] * num_rows
    middle = sorted(range(num_rows), key=lambda r: abs(r - (num_rows - 1) / 2))
    for r in middle[:extra]:
        rows[r] += 1
    return rows


def detector_regions(
    n: int,
    num_detectors: int,
    size: int,
    *,
    gap: int | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """(C, n, n) masks of C square detectors of ``size`` pixels in centred rows.

    Rows hold as equal numbers as possible, the fuller ones in the middle: 10 detectors give rows
    of 3, 4, 3 as in Lin et al., Science 361, 1004 (2018). ``gap`` (default ``size``) separates
    neighbouring detectors.
    """
    gap = size if gap is None else gap
    num_rows = max(1, round(math.sqrt(num_detectors * 3 / 4)))
    rows = _rows(num_detectors, num_rows)
    width = max(rows) * size + (max(rows) - 1) * gap
    height = num_rows * size + (num_rows - 1) * gap
    if width > n or height > n:
        raise ValueError(
            f"{num_detectors} detectors of {size} px with {gap} px gaps need "
            f"{max(width, height)} px but the plane has {n}"
        )
    masks = torch.zeros(num_detectors, n, n, dtype=dtype, device=device)
    top = (n - height) // 2
    k = 0
    for r, count in enumerate(rows):
        left = (n - (count * size + (count - 1) * gap)) // 2
        y0 = top + r * (size + gap)
        for c in range(count):
            x0 = left + c * (size + gap)
            masks[k, y0 : y0 + size, x0 : x0 + size] = 1
            k += 1
    return masks


def detect(intens: Tensor, regions: Tensor) -> Tensor:
    """Energy in each region: (..., N, N) × (C, N, N) → (..., C), one matmul over pixels."""
    return intens.flatten(-2) @ regions.flatten(-2).T.to(intens.dtype)
