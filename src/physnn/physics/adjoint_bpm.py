"""The adjoint of the split-step BPM: fields at every index sheet, forwards and backwards.

The symmetric split-step propagator of :func:`physnn.physics.bpm.bpm_propagate` is

    A = D_½ N_{K−1} D ⋯ D N₁ D N₀ D_½,

with N_j = exp(i k₀ Δn_j(x) dz) diagonal in x (the index of step j as a thin sheet) and D the
paraxial diffraction F⁻¹ exp(−i k_x² dz / 2k₀n₀) F, which depends on k_x² only; the FFT grid's
wavenumbers are symmetric (k_{−m} = −k_m), so Dᵀ = D, and

    Aᵀ = D_½ N₀ D N₁ ⋯ D N_{K−1} D_½:

the same propagation through the index rows in reverse order. Physically that is light launched
backwards from the output edge through the same programmed index (the slab is reciprocal,
absorbers included: κ is on the diagonal), or forwards through the index mirrored along z.

For outputs z = A E_in and a real loss L(z) with g = ∂L/∂Re z + i ∂L/∂Im z, the sheet j
multiplies the field E_j arriving at it by N_j and ∂N_j/∂Δn_j = i k₀ dz N_j, so

    dL/dΔn_j(x) = Re(i k₀ dz · N_j(x) E_j(x) · E_a,j(x)),

where E_a,j is the adjoint field — ḡ sent backwards — arriving at sheet j from the other side
(Hughes, Minkov, Shi & Fan, Optica 5, 864 (2018), Eq. 3, on a grid). Both fields in every cell
are what a procedure must measure (here: holographically, with relative noise).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from physnn.physics import bpm
from physnn.physics.adjoint import holographic_product


def sheet_fields(
    field: Tensor, delta_n: Tensor, dx: float, dz: float, wavelength: float, n0: float
) -> tuple[Tensor, Tensor]:
    """Propagate ``field`` (B, N_x) through ``delta_n`` (N_z, N_x) as
    :func:`~physnn.physics.bpm.bpm_propagate` does (without checkpoints); returns the output
    field and the field arriving at each index sheet, (B, N_z, N_x)."""
    nx, steps = field.shape[-1], delta_n.shape[-2]
    dtype = torch.promote_types(field.dtype, torch.complex64)
    kwargs = {"device": field.device, "dtype": dtype}
    half = bpm.diffraction_propagator(nx, dx, dz / 2, wavelength, n0, **kwargs)
    full = bpm.diffraction_propagator(nx, dx, dz, wavelength, n0, **kwargs)
    factors = bpm.index_step(delta_n, wavelength, dz).to(dtype)
    field = torch.fft.ifft(torch.fft.fft(field.to(dtype)) * half)
    arriving = []
    for j, factor in enumerate(factors.unbind(-2)):
        arriving.append(field)
        step = half if j == steps - 1 else full
        field = torch.fft.ifft(torch.fft.fft(field * factor) * step)
    return field, torch.stack(arriving, -2)


def index_gradient(
    forward: Tensor,
    error: Tensor,
    delta_n: Tensor,
    wavelength: float,
    dz: float,
    relative_noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """dL/dΔn (N_z, N_x), batch sum, from the forward fields arriving at every sheet (B, N_z,
    N_x), the error fields arriving at it from the other side (same shape, in the sheets'
    order) and the complex index of the device ``delta_n``: Re(i k₀ dz N_j E_j E_a,j), the
    field leaving each sheet and the error field measured holographically."""
    factors = bpm.index_step(delta_n, wavelength, dz).to(forward.dtype)
    product = holographic_product(factors * forward, error, relative_noise, generator)
    k0 = 2 * math.pi / wavelength
    return (1j * k0 * dz * product).real.sum(0)
