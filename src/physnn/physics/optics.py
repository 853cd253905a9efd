"""Scalar free-space optics: band-limited angular spectrum propagation, masks, detectors.

Conventions
-----------
Fields are complex tensors (..., N, N) whose last two dims are (y, x), sampled with pixel pitch
``dx``; the pixel of index j sits at x_j = j·dx up to a common offset. Wavelengths and distances
are in metres, spatial frequencies in cycles per metre in FFT order (``torch.fft.fftfreq``).
The time dependence is exp(−iωt), so an outgoing spherical wave is exp(+ikr)/r.

Physics
-------
A monochromatic scalar field obeys the Helmholtz equation (∇² + k²) u = 0, k = 2π/λ. Each plane
wave exp(i2π(fx·x + fy·y)) of the angular spectrum travels a distance z by acquiring the phase
2π fz z, with fz = √(1/λ² − fx² − fy²); components with fx² + fy² > 1/λ² are evanescent and are
dropped by default (``evanescent=True`` keeps them with their decay exp(−2π κ z),
κ = √(fx² + fy² − 1/λ²), as torchoptics does). The angular spectrum method (Goodman,
*Introduction to Fourier Optics*, 3rd ed., §3.10) therefore propagates u over z as

    u(x, y; z) = F⁻¹[ F[u(·; 0)] · H ],    H(fx, fy) = exp(i 2π z √(1/λ² − fx² − fy²)),

which is exact for the scalar Helmholtz equation and equivalent to the first Rayleigh–Sommerfeld
integral. On an N×N grid the FFT makes the convolution circular; zero-padding the field (×2 by
default) and cropping back makes it linear, and light that leaves the window is lost. At long
distances H oscillates faster than the frequency sampling Δu = 1/(N dx) can represent and the
impulse response aliases; Matsushima & Shimobaba, Opt. Express 17, 19662 (2009) remove exactly
the under-sampled components with the band limit

    |fx|, |fy| ≤ u_lim = 1 / (λ √((2 Δu z)² + 1)).

A thin element (phase mask, amplitude mask) multiplies the field pointwise; a detector integrates
the intensity |u|² over its area.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

_CACHE_SIZE = 64


def frequency_grid(
    n: int, dx: float, *, device=None, dtype: torch.dtype = torch.float64
) -> tuple[Tensor, Tensor]:
    """Spatial frequencies (fx, fy) in cycles/m, each (n, n) in FFT order.

    fx varies along the last dim (x), fy along the second-to-last (y); the spacing is
    Δu = 1/(n·dx) and the largest magnitude the Nyquist frequency 1/(2·dx).
    """
    f = torch.fft.fftfreq(n, d=dx, dtype=dtype, device=device)
    fy, fx = torch.meshgrid(f, f, indexing="ij")
    return fx, fy


def band_limit_frequency(n: int, dx: float, wavelength: float, z: float) -> float:
    """Matsushima–Shimobaba (2009) limit u_lim = 1 / (λ √((2 Δu z)² + 1)), Δu = 1/(n·dx).

    Beyond u_lim the chirp of the transfer function on an n×n grid of pitch ``dx`` is sampled
    more coarsely than Nyquist, and those components would alias into the propagated field.
    """
    du = 1.0 / (n * dx)
    return 1.0 / (wavelength * math.sqrt((2.0 * du * z) ** 2 + 1.0))


def _device_key(device) -> str:
    return str(torch.device("cpu" if device is None else device))


@lru_cache(maxsize=_CACHE_SIZE)
def _axial_frequency(n: int, dx: float, wavelength: float, device: str, dtype: torch.dtype):
    # Cached tensors must be ordinary tensors even when first requested under inference mode,
    # otherwise autograd later refuses to save them for backward.
    with torch.inference_mode(False):
        fx, fy = frequency_grid(n, dx, device=torch.device(device), dtype=torch.float64)
        fz_squared = 1.0 / wavelength**2 - fx**2 - fy**2
        return torch.sqrt(fz_squared.clamp_min(0.0)).to(dtype)


def axial_frequency(
    n: int, dx: float, wavelength: float, *, device=None, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Axial frequency fz = √(1/λ² − fx² − fy²), (n, n) in FFT order; 0 where evanescent.

    Computed in float64, cast to ``dtype`` and cached per (n, dx, λ, device, dtype); callers must
    not modify the returned tensor in place.
    """
    key = (int(n), float(dx), float(wavelength), _device_key(device), dtype)
    return _axial_frequency(*key)


@lru_cache(maxsize=_CACHE_SIZE)
def _transfer_function(
    n: int,
    dx: float,
    wavelength: float,
    z: float,
    band_limit: bool,
    evanescent: bool,
    device: str,
    dtype: torch.dtype,
) -> Tensor:
    with torch.inference_mode(False):
        fx, fy = frequency_grid(n, dx, device=torch.device(device), dtype=torch.float64)
        radial = fx**2 + fy**2
        if evanescent:  # every component; the evanescent ones decay as exp(−2π κ z)
            passband = torch.ones_like(radial, dtype=torch.bool)
        else:
            passband = radial < 1.0 / wavelength**2  # propagating waves only
        if band_limit:
            u_lim = band_limit_frequency(n, dx, wavelength, z)
            passband &= (fx.abs() <= u_lim) & (fy.abs() <= u_lim)
        fz = _axial_frequency(n, dx, wavelength, device, torch.float64)
        modulus = passband.to(torch.float64)
        if evanescent:
            kappa = torch.sqrt((radial - 1.0 / wavelength**2).clamp_min(0.0))
            modulus = modulus * torch.exp(-2.0 * math.pi * z * kappa)
        h = torch.polar(modulus, 2.0 * math.pi * z * fz)
        return h.to(dtype)


def transfer_function(
    n: int,
    dx: float,
    wavelength: float,
    z: float,
    *,
    band_limit: bool = True,
    evanescent: bool = False,
    device=None,
    dtype: torch.dtype = torch.complex64,
) -> Tensor:
    """Angular-spectrum transfer function H = exp(i 2π z fz) on the (padded) n×n grid.

    Evanescent components (fx² + fy² ≥ 1/λ²) are set to 0, unless ``evanescent`` keeps them
    with their decay H = exp(−2π κ z), κ = √(fx² + fy² − 1/λ²) (then only z ≥ 0 is allowed:
    backwards, the decay would be an exponential growth). With ``band_limit`` everything outside
    |fx|, |fy| ≤ u_lim is set to 0 as well (Matsushima & Shimobaba, Opt. Express 17, 19662
    (2009)), see :func:`band_limit_frequency`. Computed in float64, cast to ``dtype``, and cached
    per (n, dx, λ, z, band_limit, evanescent, device, dtype) because it is needed on every forward
    pass: the returned tensor is shared, so callers must not modify it in place.
    """
    if evanescent and z < 0:
        raise ValueError(f"evanescent waves can only be kept for z >= 0, got z={z}")
    key = (int(n), float(dx), float(wavelength), float(z), bool(band_limit), bool(evanescent))
    return _transfer_function(*key, _device_key(device), dtype)


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """complex64 for float32 (and narrower) inputs, complex128 for float64; complex unchanged."""
    return torch.promote_types(dtype, torch.complex64)


def misalignment_phase(
    n: int, dx: float, wavelength: float, shift_x: Tensor, shift_y: Tensor, dz: Tensor
) -> Tensor:
    """Spectral phase exp(i 2π (fx·δx + fy·δy + fz·δz)) of a displaced output plane, S + (n, n).

    Multiplying a padded n×n spectrum by it (a) adds δz to the propagation distance, since
    H(z) · exp(i 2π fz δz) = H(z + δz), and (b) by the Fourier shift theorem expresses the output
    in a frame whose origin is displaced by (+δx, +δy), u'(x, y) = u(x + δx, y + δy): the field as
    seen by an element (e.g. a misaligned diffractive layer) sitting at lateral offset (δx, δy)
    (Mengu et al., IEEE JSTQE 26, 3700114 (2020)). Shifts need not be whole pixels.

    ``shift_x``, ``shift_y`` and ``dz`` are real tensors in metres that broadcast to a common
    shape S (e.g. one value per layer); the result is differentiable in all three and has the
    complex dtype of their real dtype (float32 → complex64, float64 → complex128).
    """
    shift_x, shift_y, dz = torch.broadcast_tensors(shift_x, shift_y, dz)
    real = torch.promote_types(torch.promote_types(shift_x.dtype, shift_y.dtype), dz.dtype)
    if not real.is_floating_point:
        real = torch.get_default_dtype()
    device = shift_x.device
    fx, fy = frequency_grid(n, dx, device=device, dtype=real)
    fz = axial_frequency(n, dx, wavelength, device=device, dtype=real)
    sx, sy, sz = (s.to(real)[..., None, None] for s in (shift_x, shift_y, dz))
    phase = 2.0 * math.pi * (fx * sx + fy * sy + fz * sz)
    return torch.polar(torch.ones_like(phase), phase)


def propagate(
    field: Tensor,
    dx: float,
    wavelength: float,
    z: float,
    *,
    padding: float = 2.0,
    band_limit: bool = True,
    evanescent: bool = False,
    extra_phase: Tensor | None = None,
) -> Tensor:
    """Propagate ``field`` (..., N, N) over ``z`` by the band-limited angular spectrum method.

    u(z) = crop_N( F⁻¹[ F[pad_Np(u)] · H_Np(z) · extra_phase ] ): the field is zero-padded,
    centred, to Np = max(N, round(padding·N)); multiplied in the Fourier domain by the cached
    :func:`transfer_function` and by ``extra_phase`` if given (it must broadcast against
    (..., Np, Np), e.g. one :func:`misalignment_phase` per batch element or layer); and the
    central N×N window is kept, so light that leaves the aperture is lost. ``padding=1`` gives
    periodic (circular) propagation. ``evanescent=True`` keeps the evanescent components with
    their decay instead of dropping them (see :func:`transfer_function`). Vectorised over all
    leading dims; a real ``field`` is promoted to complex and ``extra_phase`` is cast to the
    field's complex dtype.
    """
    n = field.shape[-1]
    if field.dim() < 2 or field.shape[-2] != n:
        raise ValueError(f"propagate expects square fields (..., N, N), got {tuple(field.shape)}")
    field = field.to(_complex_dtype(field.dtype))
    n_pad = max(n, round(padding * n))
    before = (n_pad - n) // 2
    after = n_pad - n - before
    padded = F.pad(field, (before, after, before, after)) if n_pad > n else field
    h = transfer_function(
        n_pad,
        dx,
        wavelength,
        z,
        band_limit=band_limit,
        evanescent=evanescent,
        device=field.device,
        dtype=field.dtype,
    )
    if extra_phase is not None:
        h = h * extra_phase.to(field.dtype)
    out = torch.fft.ifft2(torch.fft.fft2(padded) * h)
    return out[..., before : before + n, before : before + n] if n_pad > n else out


def modulate(field: Tensor, phase: Tensor, amplitude: Tensor | None = None) -> Tensor:
    """Thin mask: u' = u · a · exp(iφ), with ``amplitude`` a = 1 when None.

    ``phase`` (and ``amplitude``) broadcast against ``field``; the result has the field's complex
    dtype (a real field is promoted).
    """
    dtype = _complex_dtype(field.dtype)
    transmission = torch.polar(torch.ones_like(phase), phase).to(dtype)
    if amplitude is not None:
        transmission = transmission * amplitude.to(transmission.real.dtype)
    return field.to(dtype) * transmission


def intensity(field: Tensor) -> Tensor:
    """Intensity I = |u|² = Re(u)² + Im(u)² (real; smooth for autograd, also at u = 0)."""
    if not field.is_complex():
        return field.square()
    return field.real.square() + field.imag.square()


def _row_counts(count: int, num_rows: int) -> list[int]:
    """Split ``count`` into ``num_rows`` near-equal rows, the fuller ones in the middle."""
    base, extra = divmod(count, num_rows)
    rows = [base] * num_rows
    centre = (num_rows - 1) / 2
    for r in sorted(range(num_rows), key=lambda r: abs(r - centre))[:extra]:
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
    """(C, n, n) binary masks of C square detectors of ``size``×``size`` pixels in centred rows.

    The layout has about √(3C/4) rows holding as equal numbers as possible, the fuller rows in the
    middle: 10 detectors give rows of 3, 4, 3 as in Lin et al., Science 361, 1004 (2018).
    ``gap`` pixels (default ``size``) separate neighbouring detectors and rows. Masks are ordered
    row by row, left to right.
    """
    gap = size if gap is None else gap
    if num_detectors < 1 or size < 1 or gap < 0:
        raise ValueError(
            f"need at least one detector of at least 1 px and a non-negative gap, got "
            f"num_detectors={num_detectors}, size={size}, gap={gap}"
        )
    num_rows = max(1, round(math.sqrt(num_detectors * 3 / 4)))
    rows = _row_counts(num_detectors, num_rows)
    width = max(rows) * size + (max(rows) - 1) * gap
    height = num_rows * size + (num_rows - 1) * gap
    if width > n or height > n:
        raise ValueError(
            f"{num_detectors} detectors of {size} px with {gap} px gaps need a "
            f"{width}×{height} px area, which does not fit in the {n}×{n} px output plane"
        )
    masks = torch.zeros(num_detectors, n, n, dtype=dtype, device=device)
    top = (n - height) // 2
    k = 0
    for r, count in enumerate(rows):
        y0 = top + r * (size + gap)
        left = (n - (count * size + (count - 1) * gap)) // 2
        for c in range(count):
            x0 = left + c * (size + gap)
            masks[k, y0 : y0 + size, x0 : x0 + size] = 1
            k += 1
    return masks


def detect(intens: Tensor, regions: Tensor) -> Tensor:
    """Power on each detector, P_c = Σ_xy I(x, y) · M_c(x, y): (..., N, N) × (C, N, N) → (..., C).

    One matmul over the flattened pixels; ``regions`` is cast to the intensity's dtype.
    """
    return intens.flatten(-2) @ regions.flatten(-2).to(intens.dtype).mT
