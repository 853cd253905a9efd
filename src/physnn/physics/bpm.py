"""Scalar paraxial beam propagation in a slab waveguide: split-step Fourier BPM.

Physics
-------
In a planar (slab) waveguide the light is confined vertically to one guided mode of effective
index n₀, so the field in the plane of the slab is a scalar E(x, z) with one transverse
coordinate x and the propagation direction z. Writing the field as E(x, z)·exp(i k₀ n₀ z − iωt)
with a slowly varying envelope E, the Helmholtz equation for a weakly perturbed index
n(x, z) = n₀ + Δn(x, z) (|Δn| ≪ n₀) reduces to the paraxial wave equation

    ∂E/∂z = (i / 2k₀n₀) ∂²E/∂x² + i k₀ Δn(x, z) E,            k₀ = 2π/λ,

(Feit & Fleck, Appl. Opt. 17, 3990 (1978); Okamoto, *Fundamentals of Optical Waveguides*,
ch. 7). A complex Δn = Δn' + iκ describes absorption: the intensity decays as exp(−2k₀κz).

The split-step Fourier method integrates it over a step dz by alternating the two exact
sub-solutions: diffraction, which is diagonal in the transverse wavenumber k_x,

    Ê(k_x, z + dz) = exp(−i k_x² dz / 2k₀n₀) · Ê(k_x, z),

and the index, which is diagonal in x: E(x, z + dz) = exp(i k₀ Δn(x, z) dz) · E(x, z). The
symmetric (Strang) splitting D(dz/2) · N(dz) · D(dz/2) is accurate to second order in dz; both
factors are unitary for real Δn, so the discrete scheme conserves power exactly (up to
rounding). Half steps of neighbouring steps merge into full ones, so N steps cost N + 1 FFT
pairs. The transverse window is periodic (FFT); absorbing boundaries are an imaginary Δn that
rises smoothly towards the window's edges (:func:`absorbing_boundary`).

Onodera et al., "Scaling on-chip photonic neural processors using arbitrarily programmable
wave propagation", arXiv:2402.17750 (2024), model their 2-D programmable lithium-niobate slab
waveguide with exactly this method.

Conventions: fields are complex tensors (..., N_x) sampled at x_j = (j − N_x/2)·dx; index maps
are (..., N_z, N_x), one row per propagation step; lengths in metres.
"""

from __future__ import annotations

import cmath
import math
from functools import lru_cache

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

_CACHE_SIZE = 64


def transverse_axis(
    nx: int, dx: float, *, device=None, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Centred transverse coordinates x_j = (j − ⌊N_x/2⌋)·dx, in metres, shape (N_x,)."""
    return (torch.arange(nx, device=device, dtype=torch.float64) - nx // 2).mul(dx).to(dtype)


@lru_cache(maxsize=_CACHE_SIZE)
def _diffraction_propagator(
    nx: int, dx: float, dz: float, wavelength: float, n0: float, device: str, dtype: torch.dtype
) -> Tensor:
    # Cached tensors must be ordinary tensors even when first requested under inference mode.
    with torch.inference_mode(False):
        kx = 2 * math.pi * torch.fft.fftfreq(nx, d=dx, dtype=torch.float64, device=device)
        k = 2 * math.pi * n0 / wavelength
        return torch.polar(torch.ones_like(kx), -(kx**2) * dz / (2 * k)).to(dtype)


def diffraction_propagator(
    nx: int,
    dx: float,
    dz: float,
    wavelength: float,
    n0: float,
    *,
    device=None,
    dtype: torch.dtype = torch.complex64,
) -> Tensor:
    """Paraxial diffraction over dz in k-space, exp(−i k_x² dz / 2k₀n₀), (N_x,) in FFT order.

    Computed in float64 and cached per (N_x, dx, dz, λ, n₀, device, dtype): callers must not
    modify the returned tensor in place.
    """
    key = (int(nx), float(dx), float(dz), float(wavelength), float(n0))
    return _diffraction_propagator(*key, str(torch.device(device or "cpu")), dtype)


def index_step(delta_n: Tensor, wavelength: float, dz: float) -> Tensor:
    """Index factor of one step, exp(i k₀ Δn dz); a complex Δn = Δn' + iκ also attenuates."""
    k0 = 2 * math.pi / wavelength
    return torch.exp(1j * k0 * dz * delta_n)


def absorbing_boundary(nx: int, width_px: int, extinction: float) -> Tensor:
    """Extinction κ(x) of absorbing layers at both window edges, (N_x,) float32.

    κ rises quadratically from 0 at the inner edge of each layer to ``extinction`` at the
    window's edge, which reflects little of the light that reaches it (a graded absorber).
    Use it as the imaginary part of Δn.
    """
    if width_px <= 0 or extinction == 0:
        return torch.zeros(nx)
    depth = torch.arange(width_px, 0, -1, dtype=torch.float64) / width_px  # 1 at the very edge
    profile = torch.zeros(nx, dtype=torch.float64)
    profile[:width_px] = depth**2
    profile[nx - width_px :] = depth.flip(0) ** 2
    return (extinction * profile).float()


def gaussian_beam(
    x: Tensor, centre: Tensor | float, waist: float, wavelength: float, n0: float, z: float = 0.0
) -> Tensor:
    """Paraxial Gaussian beam of a slab (one transverse dimension) at distance z from its waist.

    E(x, z) = √(q₀/q) · exp(i k (x − c)² / 2q),   q = z − i z_R,  z_R = k w₀²/2,  k = k₀n₀,

    which is exp(−(x − c)²/w₀²) at z = 0 and solves the paraxial equation in a uniform medium:
    its width is w(z) = w₀ √(1 + (z/z_R)²) and its 1-D Gouy phase −½ arctan(z/z_R).
    ``centre`` broadcasts against ``x`` (e.g. centres (K, 1) against x (N_x,) gives K beams).
    """
    k = 2 * math.pi * n0 / wavelength
    q0 = complex(0.0, -k * waist**2 / 2)
    q = q0 + z
    return cmath.sqrt(q0 / q) * torch.exp(1j * k * (x - centre).square() / (2 * q))


def _propagate_steps(
    field: Tensor, factors: Tensor, full_step: Tensor, last_step: Tensor | None
) -> Tensor:
    """Apply index factors row by row, each followed by diffraction (the last one by last_step)."""
    for j, factor in enumerate(factors.unbind(-2)):
        step = full_step if last_step is None or j < factors.shape[-2] - 1 else last_step
        field = torch.fft.ifft(torch.fft.fft(field * factor) * step)
    return field


def bpm_propagate(
    field: Tensor,
    delta_n: Tensor,
    dx: float,
    dz: float,
    wavelength: float,
    n0: float,
    *,
    checkpoint_steps: int = 0,
) -> Tensor:
    """Propagate ``field`` (..., N_x) through the index map ``delta_n`` (..., N_z, N_x).

    Symmetric split-step Fourier method, N_z steps of length dz:
    D(dz/2) N₀ D(dz) N₁ … D(dz) N_{N_z−1} D(dz/2), with D the diffraction propagator and
    N_j = exp(i k₀ Δn_j dz) (:func:`index_step`). ``delta_n`` may be complex (absorption) and
    broadcasts against the field's leading dims. With ``checkpoint_steps`` > 0 and gradients
    required, blocks of that many steps are recomputed in the backward pass instead of stored
    (``torch.utils.checkpoint``), so memory stays bounded for long regions.
    """
    nx, steps = field.shape[-1], delta_n.shape[-2]
    if delta_n.shape[-1] != nx:
        raise ValueError(f"delta_n has {delta_n.shape[-1]} columns, the field {nx} samples")
    dtype = torch.promote_types(field.dtype, torch.complex64)
    kwargs = {"device": field.device, "dtype": dtype}
    half = diffraction_propagator(nx, dx, dz / 2, wavelength, n0, **kwargs)
    full = diffraction_propagator(nx, dx, dz, wavelength, n0, **kwargs)
    factors = index_step(delta_n, wavelength, dz).to(dtype)
    field = torch.fft.ifft(torch.fft.fft(field.to(dtype)) * half)
    use_checkpoint = (
        checkpoint_steps > 0
        and torch.is_grad_enabled()
        and (field.requires_grad or factors.requires_grad)
    )
    block = checkpoint_steps if use_checkpoint else steps
    for start in range(0, steps, block):
        rows = factors[..., start : start + block, :]
        last = half if start + block >= steps else None
        if use_checkpoint:
            field = checkpoint(_propagate_steps, field, rows, full, last, use_reentrant=False)
        else:
            field = _propagate_steps(field, rows, full, last)
    return field


def window_power(field: Tensor, windows: Tensor) -> Tensor:
    """Power in each detector window, P_c = Σ_x |E(x)|² W_c(x): (..., N_x) × (C, N_x) → (..., C)."""
    intensity = field.real.square() + field.imag.square()
    return intensity @ windows.to(intensity.dtype).mT
