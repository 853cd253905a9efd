"""Broadband second-harmonic generation (SHG) of shaped femtosecond pulses, by split-step Fourier.

Conventions and units
---------------------
The fields are E_j = A_j(z, τ) exp(i(k_j z − ω_j t)) with ω₂ = 2ω₁, written in the frame that
moves with the group velocity v₁ of the fundamental (τ = t − z/v₁). Time τ is in femtoseconds,
the crystal coordinate z in millimetres, angular frequencies in rad/fs. Envelopes are normalized
so that |A|² is the instantaneous power in units of the peak power P₀ of the transform-limited
pump pulse (dimensionless); the pulse energy is ∫|A|² dτ (in units of P₀·fs).

With the exp(−iωt) convention a spectral component exp(−iΩτ) of an envelope sits at the optical
frequency ω_j + Ω. ``torch.fft.fft`` projects on exp(−i2πfτ), so its bin of frequency f holds the
detuning Ω = −2πf (:func:`detuning_grid`); :func:`to_spectrum` / :func:`to_time` are that pair.

Coupled-wave equations (Boyd, *Nonlinear Optics*, 3rd ed., §2.6–2.7; Agrawal, *Nonlinear Fiber
Optics*, §2.3, for the dispersion terms; for broadband SHG with group-velocity mismatch see
Sidick, Knoesen & Dienes, J. Opt. Soc. Am. B 12, 1704 (1995))::

    ∂A₁/∂z = −(i β₂⁽¹⁾/2) ∂²A₁/∂τ²                     + i γ A₂ A₁* e^{−iΔk z}
    ∂A₂/∂z = −δ ∂A₂/∂τ − (i β₂⁽²⁾/2) ∂²A₂/∂τ²          + i γ A₁²    e^{+iΔk z}

with the group-velocity mismatch δ = 1/v₂ − 1/v₁ (fs/mm), the group-velocity dispersions β₂⁽ʲ⁾
(fs²/mm), the phase mismatch Δk = 2k₁ − k₂ (1/mm) and the coupling γ = κ √P₀ (1/mm), where κ ∝
d_eff ω / (n c) is the usual SHG coupling for power-normalized envelopes. With the same γ in
both equations the total power |A₁|² + |A₂|² is conserved point by point by the nonlinear terms,
which is the Manley–Rowe relation (one SH photon of 2ħω per two pump photons of ħω); dispersion
only redistributes power in time, so the total pulse energy ∫(|A₁|² + |A₂|²) dτ is conserved.

Substituting A₂ = B₂ e^{iΔk z} moves the mismatch into the linear operator: in the spectral
domain each envelope evolves linearly as ∂Ã_j/∂z = i D_j(Ω) Ã_j with

    D₁(Ω) = β₂⁽¹⁾ Ω² / 2,        D₂(Ω) = −Δk + δ Ω + β₂⁽²⁾ Ω² / 2,

and the nonlinear step ∂A₁/∂z = iγ B₂ A₁*, ∂B₂/∂z = iγ A₁² has no explicit z. |B₂| = |A₂|, so
the measured SH spectrum is the same. The symmetric (Strang) split-step Fourier method advances
by h with exp(iD h/2) · N(h) · exp(iD h/2), where the nonlinear map N is a classical fourth-order
Runge–Kutta step; the scheme is second-order accurate in h and exactly unitary in its linear
part.

Undepleted-pump limits (used as analytic checks). Without dispersion or mismatch,
B₂(L, τ) = iγL A₁(τ)². With group-velocity mismatch and a mismatch Δk (β₂ = 0), each SH
frequency is driven by the spectrum of A₁² and phase matched by a sinc:

    B̃₂(L, Ω) = iγL · F[A₁²](Ω) · e^{iD₂(Ω)L/2} · sinc(D₂(Ω)L/2),     sinc(u) = sin(u)/u.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def time_grid(n: int, dt: float, *, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """n sample times (fs), spaced dt and centred on τ = 0 (index n // 2 is τ = 0)."""
    return (torch.arange(n, device=device, dtype=dtype) - n // 2) * dt


def detuning_grid(n: int, dt: float, *, device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Detuning Ω (rad/fs) of each ``torch.fft.fft`` bin under the exp(−iΩτ) convention."""
    return -2 * math.pi * torch.fft.fftfreq(n, d=dt, device=device, dtype=dtype)


def to_spectrum(field: Tensor) -> Tensor:
    """Envelope (..., n) in time → its spectral amplitudes in FFT order (:func:`detuning_grid`)."""
    return torch.fft.fft(field, dim=-1)


def to_time(spectrum: Tensor) -> Tensor:
    """Inverse of :func:`to_spectrum`."""
    return torch.fft.ifft(spectrum, dim=-1)


def fundamental_dispersion(omega: Tensor, gvd: float | Tensor) -> Tensor:
    """D₁(Ω) = β₂⁽¹⁾ Ω² / 2 (1/mm), the fundamental's phase per unit length in its own frame."""
    return 0.5 * gvd * omega.square()


def second_harmonic_dispersion(
    omega: Tensor, gvm: float | Tensor, gvd: float | Tensor, mismatch: float | Tensor
) -> Tensor:
    """D₂(Ω) = −Δk + δ Ω + β₂⁽²⁾ Ω² / 2 (1/mm), the SH's phase per unit length in the pump frame."""
    return -mismatch + gvm * omega + 0.5 * gvd * omega.square()


def gaussian_pulse(t: Tensor, duration: float) -> Tensor:
    """Transform-limited Gaussian envelope exp(−τ²/(2T₀²)) of unit peak power (complex).

    The intensity full width at half maximum is 2√(ln 2) T₀ ≈ 1.665 T₀.
    """
    amplitude = torch.exp(-0.5 * (t / duration).square())
    return torch.polar(amplitude, torch.zeros_like(amplitude))


def _coupled_rates(a1: Tensor, b2: Tensor, gamma: float | Tensor) -> tuple[Tensor, Tensor]:
    """Right-hand sides of the nonlinear step: (iγ B₂ A₁*, iγ A₁²)."""
    return 1j * gamma * b2 * a1.conj(), 1j * gamma * a1.square()


def nonlinear_step(
    a1: Tensor, b2: Tensor, gamma: float | Tensor, h: float
) -> tuple[Tensor, Tensor]:
    """Advance ∂A₁/∂z = iγB₂A₁*, ∂B₂/∂z = iγA₁² over h by one fourth-order Runge–Kutta step."""
    k1a, k1b = _coupled_rates(a1, b2, gamma)
    k2a, k2b = _coupled_rates(a1 + 0.5 * h * k1a, b2 + 0.5 * h * k1b, gamma)
    k3a, k3b = _coupled_rates(a1 + 0.5 * h * k2a, b2 + 0.5 * h * k2b, gamma)
    k4a, k4b = _coupled_rates(a1 + h * k3a, b2 + h * k3b, gamma)
    a1 = a1 + (h / 6) * (k1a + 2 * k2a + 2 * k3a + k4a)
    b2 = b2 + (h / 6) * (k1b + 2 * k2b + 2 * k3b + k4b)
    return a1, b2


def propagate_shg(
    a1: Tensor,
    dt: float,
    length: float,
    steps: int,
    gamma: float | Tensor,
    *,
    gvm: float | Tensor = 0.0,
    gvd_fundamental: float | Tensor = 0.0,
    gvd_second_harmonic: float | Tensor = 0.0,
    mismatch: float | Tensor = 0.0,
    b2: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Propagate a pump envelope A₁(τ) (..., n) through a χ⁽²⁾ crystal of ``length`` mm.

    Returns the envelopes (A₁, B₂) at the crystal exit in time, where B₂ = A₂ e^{−iΔkL} (same
    power spectrum). ``gamma`` is the coupling γ = κ√P₀ (1/mm), ``gvm`` δ (fs/mm), the GVDs in
    fs²/mm and ``mismatch`` Δk (1/mm); scalars or tensors that broadcast against (..., 1) (per
    sample values). The SH starts from ``b2`` (default: zero). Any batch shape is allowed.
    """
    omega = detuning_grid(a1.shape[-1], dt, device=a1.device, dtype=a1.real.dtype)
    h = length / steps
    half_step_1 = torch.exp(0.5j * h * fundamental_dispersion(omega, gvd_fundamental))
    half_step_2 = torch.exp(
        0.5j * h * second_harmonic_dispersion(omega, gvm, gvd_second_harmonic, mismatch)
    )
    spec1 = to_spectrum(a1)
    spec2 = torch.zeros_like(spec1) if b2 is None else to_spectrum(b2)
    for _ in range(steps):
        spec1, spec2 = spec1 * half_step_1, spec2 * half_step_2
        a1, b2 = nonlinear_step(to_time(spec1), to_time(spec2), gamma, h)
        spec1, spec2 = to_spectrum(a1) * half_step_1, to_spectrum(b2) * half_step_2
    return to_time(spec1), to_time(spec2)


def pulse_energy(field: Tensor, dt: float) -> Tensor:
    """∫|A|² dτ over the last dim (units of P₀·fs)."""
    return field.abs().square().sum(dim=-1) * dt


def power_spectrum(field: Tensor, dt: float) -> Tensor:
    """|Ã(Ω)|² per FFT bin, normalized so that its sum is the pulse energy (Parseval)."""
    n = field.shape[-1]
    return to_spectrum(field).abs().square() * (dt / n)


def rms_width(values: Tensor, axis: Tensor) -> Tensor:
    """Root-mean-square width of a non-negative distribution ``values`` over ``axis``."""
    weights = values / values.sum(dim=-1, keepdim=True)
    mean = (weights * axis).sum(dim=-1, keepdim=True)
    return (weights * (axis - mean).square()).sum(dim=-1).sqrt()


# ----------------------------------------------------------------------------- pulse shaper
def pixel_matrix(omega: Tensor, half_span: float, num_pixels: int) -> Tensor:
    """(n, K) 0/1 matrix assigning each spectral bin to the SLM pixel it falls on.

    A 4f pulse shaper (Weiner, Rev. Sci. Instrum. 71, 1929 (2000)) maps the detuning Ω linearly
    onto the SLM; K equal pixels cover [−half_span, half_span), ordered from low to high optical
    frequency. Bins outside the SLM aperture belong to no pixel (their row is zero: blocked).
    """
    width = 2 * half_span / num_pixels
    index = torch.floor((omega + half_span) / width).long()
    inside = (index >= 0) & (index < num_pixels)
    pixels = torch.arange(num_pixels, device=omega.device)
    return ((index[:, None] == pixels[None, :]) & inside[:, None]).to(omega.dtype)


def smoothing_matrix(omega: Tensor, sigma: float | Tensor) -> Tensor:
    """(n, n) row-normalized Gaussian blur over detuning with standard deviation ``sigma`` rad/fs.

    The finite focal spot of each frequency on the SLM and the fringing fields between pixels
    make the realized mask a smoothed version of the pixel pattern (Weiner 2000, eq. 10):
    M_eff(Ω) = ∫ M(Ω') g(Ω − Ω') dΩ' with a Gaussian g.
    """
    difference = omega[:, None] - omega[None, :]
    kernel = torch.exp(-0.5 * (difference / sigma).square())
    return kernel / kernel.sum(dim=-1, keepdim=True)


def band_matrix(omega: Tensor, half_span: float, num_bands: int) -> Tensor:
    """(n, M) 0/1 matrix summing spectral bins into M equal spectrometer bands over ±half_span."""
    return pixel_matrix(omega, half_span, num_bands)
