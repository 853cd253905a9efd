"""Random fields and measurement noise with explicit statistics."""

from __future__ import annotations

import torch
from torch import Tensor


def correlated_gaussian_field(
    shape: tuple[int, ...],
    sigma: float,
    correlation_px: float,
    generator: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Zero-mean Gaussian random field over the last two dims with a Gaussian correlation.

    White noise is low-pass filtered by exp(−2π² ℓ² f²) in the Fourier domain (a Gaussian blur
    of standard deviation ℓ pixels), so the field's autocorrelation is exp(−r² / (4 ℓ²)); each
    2-D slice is then rescaled to standard deviation ``sigma``. ``correlation_px = 0`` gives
    white noise. Used for fabrication errors of printed or lithographic masks.
    """
    white = torch.randn(shape, generator=generator, dtype=torch.float64)
    if correlation_px > 0:
        ny, nx = shape[-2:]
        fy = torch.fft.fftfreq(ny, dtype=torch.float64)[:, None]
        fx = torch.fft.fftfreq(nx, dtype=torch.float64)[None, :]
        kernel = torch.exp(-2 * torch.pi**2 * correlation_px**2 * (fx**2 + fy**2))
        white = torch.fft.ifft2(torch.fft.fft2(white) * kernel).real
    white = white - white.mean(dim=(-2, -1), keepdim=True)
    white = white / white.std(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return (sigma * white).to(dtype)


def photon_noise(
    y: Tensor,
    photons_per_unit: float,
    read_noise: float,
    generator: torch.Generator | None,
    *,
    differentiable: bool = False,
) -> Tensor:
    """Shot (Poisson) plus Gaussian read noise on non-negative optical signals.

    A signal value ``y`` corresponds to ``n = photons_per_unit · y`` detected photons on average;
    the detector reports ``(Poisson(n) + read_noise · N(0, 1)) / photons_per_unit``, whose variance
    is ``y / photons_per_unit + (read_noise / photons_per_unit)²``. With ``differentiable=True``
    the Poisson draw is replaced by its Gaussian approximation ``n + √n · ε`` so that gradients
    flow through ``y`` (noise-aware training).
    """
    n = photons_per_unit * y.clamp_min(0)
    if differentiable:
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        counts = n + n.clamp_min(1e-12).sqrt() * eps
    else:
        counts = torch.poisson(n.detach(), generator=generator)
    if read_noise > 0:
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        counts = counts + read_noise * eps
    return counts / photons_per_unit
