"""Optical random projections through a multiple-scattering medium.

A coherent field ``u`` (n input modes: the macropixels of a DMD or SLM) crosses a thick
scattering layer (white paint, a diffuser) and is imaged onto a camera with m pixels. The medium
is linear, so the camera field is ``E = B u`` with the transmission matrix ``B`` (m × n). For a
strongly scattering medium the entries of ``B`` are i.i.d. circular complex Gaussian,
``B_ij ~ CN(0, σ²)`` (Popoff et al., PRL 104, 100601 (2010)); the camera records the speckle
intensity ``y = |B u|²`` (Saade et al., ICASSP 2016, arXiv:1510.06664; LightOn's optical
processing unit, Launay et al., arXiv:2012.06373 (2020)).

For a fixed input each ``E_j`` is CN(0, σ² ‖u‖²), so the intensities are exponentially
distributed (fully developed speckle, Goodman, *Speckle Phenomena in Optics*, 2007) with mean
and standard deviation ``σ² ‖u‖²``.

Linear (holographic) projections: a camera sees only intensities, but interfering the input
with a fixed reference field ``r`` launched through the same medium gives the linear part. With
two shots, ``|B(u + r)|² − |B(u − r)|² = 4 Re(conj(B r) ⊙ B u)``; with the reference shifted by
a quarter wave, ``|B(u + i r)|² − |B(u − i r)|² = 4 Im(conj(B r) ⊙ B u)``. The four shots give
``conj(B r) ⊙ B u`` exactly: the linear projection by the (still random) matrix
``diag(conj(B r)) B``. Interferometric schemes of this kind are how an intensity-only OPU
delivers the linear random projections that direct feedback alignment needs (Launay et al.
2020 describe the variant used on their hardware). :func:`holographic_projection` implements
this four-shot scheme from intensities only.

Backward pass (:func:`adjoint_field`): a passive medium is reciprocal, so light sent backwards
from the camera plane reaches the input plane through ``Bᵀ`` (the same matrix, transposed).
For speckle y = |B u|² and a loss with ∂L/∂y = g, the input field u = x ⊙ e^{iφ} gives

    ∂L/∂φ_k = Re(i u_k (Bᵀ a)_k),        a = 2 g ⊙ conj(B u),

the interference of the forward field with the adjoint field ``Bᵀ a`` at every input pixel
(Hughes et al., Optica 5, 864 (2018), for linear reciprocal optics). Launching ``a`` needs the
camera field measured holographically and a complex modulator at the camera side; reading
``Bᵀ a`` needs a holographic camera at the input side: the two halves of digital optical phase
conjugation (Cui & Yang, Opt. Express 18, 3444 (2010)), one at each side of the medium.
"""

from __future__ import annotations

import torch
from torch import Tensor

PROJECTION_MODES = ("intensity", "linear")


def transmission_matrix(
    num_outputs: int,
    num_inputs: int,
    generator: torch.Generator,
    *,
    variance: float | None = None,
    dtype: torch.dtype = torch.complex64,
) -> Tensor:
    """An i.i.d. circular complex Gaussian matrix ``B`` (num_outputs × num_inputs).

    ``B_ij ~ CN(0, σ²)``: real and imaginary parts independent N(0, σ²/2). The default
    ``σ² = 1 / num_inputs`` makes the mean speckle intensity of a fully lit input (all ones)
    equal to 1. Drawn in float64 on the generator's device so that a seed fixes the medium.
    """
    if num_outputs < 1 or num_inputs < 1:
        raise ValueError(f"matrix dimensions must be positive, got {num_outputs}×{num_inputs}")
    var = 1.0 / num_inputs if variance is None else variance
    if var <= 0:
        raise ValueError(f"variance must be positive, got {var}")
    shape = (num_outputs, num_inputs, 2)
    parts = torch.randn(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return (torch.view_as_complex(parts) * (var / 2) ** 0.5).to(dtype)


def decorrelate(medium: Tensor, innovation: Tensor, epsilon: float | Tensor) -> Tensor:
    """A medium that has drifted: ``B' = √(1 − ε²) B + ε B_new``.

    With ``B_new`` independent of ``B`` and of the same statistics, ``B'`` has the same
    statistics as ``B`` and the field correlation ``⟨B' conj(B)⟩ / ⟨|B|²⟩ = √(1 − ε²)``; the
    speckle intensities then correlate with coefficient ``1 − ε²``.
    """
    eps = torch.as_tensor(epsilon, dtype=medium.real.dtype, device=medium.device)
    return torch.sqrt(1 - eps.square()) * medium + eps * innovation.to(medium)


def random_projection(x: Tensor, medium: Tensor, mode: str = "intensity") -> Tensor:
    """Project a batch through the medium: (batch, n) → (batch, m).

    ``mode="intensity"`` returns the speckle ``|B x|²`` (real), ``mode="linear"`` the field
    ``B x`` (complex): the ideal linear projection that :func:`holographic_projection` measures.
    ``x`` may be real (amplitude-modulated DMD) or complex (phase-modulated SLM).
    """
    if mode not in PROJECTION_MODES:
        raise ValueError(f"mode must be one of {PROJECTION_MODES}, got {mode!r}")
    if x.shape[-1] != medium.shape[-1]:
        raise ValueError(f"input has {x.shape[-1]} modes, the medium takes {medium.shape[-1]}")
    field = x.to(medium.dtype) @ medium.transpose(-2, -1)
    return field if mode == "linear" else field.abs().square()


def holographic_projection(x: Tensor, medium: Tensor, reference: Tensor) -> Tensor:
    """``conj(B r) ⊙ B x`` from four intensity measurements (complex, (batch, m)).

    ``(|B(x + r)|² − |B(x − r)|²) / 4`` is the real part and ``(|B(x + i r)|² − |B(x − i r)|²) / 4``
    the imaginary part. Noise or quantization applied to each intensity shot propagates to the
    result exactly as on the hardware.
    """
    ref = reference.to(medium.dtype)
    shots = torch.stack([x + ref, x - ref, x + 1j * ref, x - 1j * ref])
    i_plus, i_minus, q_plus, q_minus = random_projection(shots, medium, "intensity")
    return torch.complex((i_plus - i_minus) / 4, (q_plus - q_minus) / 4)


def adjoint_field(source: Tensor, medium: Tensor) -> Tensor:
    """The field ``Bᵀ a`` (batch, n) that reaches the input plane when ``a`` (batch, m) is sent
    backwards from the camera plane through a reciprocal medium ``B`` (m × n)."""
    if source.shape[-1] != medium.shape[-2]:
        raise ValueError(f"source has {source.shape[-1]} modes, the camera has {medium.shape[-2]}")
    return source.to(medium.dtype) @ medium
