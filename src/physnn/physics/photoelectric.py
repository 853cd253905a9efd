"""Photoelectric multiplication: homodyne dot products at the standard quantum limit.

Hamerly et al., "Large-scale optical neural networks based on photoelectric multiplication",
PRX 9, 021032 (2019): an input vector x and a weight row W_i are encoded in the amplitudes of
two coherent beams, a_j = s·x_j and b_ij = t·W_ij (in √photons per time slot j). A 50/50 beam
splitter mixes them and a balanced pair of photodiodes integrates the difference charge over the
N time slots, so the charge is the dot product:

    N±_i ~ Poisson( Σ_j |a_j ± b_ij|² / 2 ),     E[N+_i − N−_i] = 2 s t Σ_j x_j W_ij.

Since a sum of Poisson variables is Poisson, each detector's total count is ONE Poisson draw with
mean (P_i ± S_i) / 2, where P_i = s²‖x‖² + t²‖W_i‖² is the number of photons spent on output i
and S_i = 2 s t (W x)_i (|S_i| ≤ P_i by Cauchy–Schwarz). For a budget of ``n`` photons per MAC,
P_i = N n, and the signal-to-noise ratio is best with the budget split equally between the two
beams, s‖x‖ = t‖W_i‖; the calibrated estimate of the dot product is then

    ŷ_i = (N+_i − N−_i + r ξ) · ‖x‖ ‖W_i‖ / P_i,                     ξ ~ N(0, 1),

    E[ŷ_i] = (W x)_i,   Var[ŷ_i] = ‖x‖² ‖W_i‖² (P_i + r²) / P_i²
                                 = ‖x‖² ‖W_i‖² / (N n) · (1 + r² / (N n)),

with r the rms read noise of the integrator in electrons. This is the shot-noise formula that the
tests check; it is the standard quantum limit of Hamerly et al. (their Eq. 3 has the same
‖x‖‖W‖/√(N n) scaling). :func:`homodyne_dot` draws the two Poisson counts exactly (the
device); its reparameterized version replaces them by the Gaussian of the same mean and
variance, accurate when the photons per output N n ≳ 10 (noise-aware training only).

Single-photon neurons — Ma et al., "Quantum-limited stochastic optical neural networks operating
at a few quanta per activation", Nat. Commun. 16, 359 (2025): a neuron is a single-photon
detector that receives λ photons on average; it clicks with P(click) = 1 − exp(−λ) (Poisson
statistics: at least one photon). :func:`single_photon_click` samples the click and uses the
*expectation* gradient (straight-through estimator of Ma et al.): forward the Bernoulli sample,
backward d/dλ (1 − e^{−λ}) = e^{−λ}.

Backpropagation in the same hardware (Hamerly et al. 2019, Sec. V): the error of a layer,
W_lᵀ δ, is the same homodyne product with the error δ encoded in place of the activations and
the weight columns in place of the rows (:func:`backpropagated_error`); the weight gradient
δ xᵀ summed over a batch is a product over the batch's time slots (:func:`weight_gradient`).
Both are measured with the shot noise of the photon budget: noisy but unbiased.

Chen et al., "Deep learning with coherent VCSEL neural networks", Nat. Photon. 17, 723 (2023)
realize the same homodyne multiplication with injection-locked VCSEL arrays; their weight
encoding (a phase modulator read out interferometrically) has the sinusoidal response of
:func:`encode_weights`.

Units: amplitudes are dimensionless (inputs and weights in [−1, 1]); photon numbers are counts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.physics.quantization import quantize_ste, snap_to_levels


def homodyne_mean(x: Tensor, weight: Tensor, imbalance: Tensor | None = None) -> Tensor:
    """Noise-free calibrated homodyne reading for a batch ``x`` (B, N): (B, M).

    ``(W x)_i``, plus ``ε_i ‖x‖ ‖W_i‖ / 2`` when the two photodiodes of output i have
    responsivities 1 ± ε_i/2 (finite common-mode rejection): the pair then also reports ε_i/2 of
    the total photon number P_i, which calibrates to that input-dependent bias.
    """
    y = x @ weight.transpose(-1, -2)
    if imbalance is not None:
        y = y + imbalance / 2 * homodyne_scale(x, weight)
    return y


def homodyne_scale(x: Tensor, weight: Tensor) -> Tensor:
    """‖x‖ ‖W_i‖ for every sample and output: (B, M). The calibration factor of the charge."""
    return torch.linalg.vector_norm(x, dim=-1)[:, None] * torch.linalg.vector_norm(weight, dim=-1)


def homodyne_std(
    x: Tensor, weight: Tensor, photons_per_mac: float | Tensor, read_noise: float | Tensor = 0.0
) -> Tensor:
    """Standard deviation of the calibrated dot product: ‖x‖‖W_i‖ √(P + r²) / P, P = N n."""
    photons = x.shape[-1] * photons_per_mac
    return homodyne_scale(x, weight) * (photons + read_noise**2) ** 0.5 / photons


def homodyne_dot(
    x: Tensor,
    weight: Tensor,
    photons_per_mac: float | Tensor,
    read_noise: float | Tensor,
    generator: torch.Generator,
    *,
    imbalance: Tensor | None = None,
    differentiable: bool = False,
) -> Tensor:
    """One shot-noise-limited homodyne measurement of ``W x`` for every sample: (B, M).

    Exact: two Poisson counts N± with means (P ± S)/2, weighted by the responsivities 1 ± ε/2,
    and Gaussian read noise r. With ``differentiable`` the counts are replaced by their Gaussian
    approximation (the mean of :func:`homodyne_mean`, the variance of the module docstring; the
    O(ε) change of the variance is neglected), reparameterized so that gradients reach x, W, n.
    """
    eps = torch.randn(
        (x.shape[0], weight.shape[0]), generator=generator, dtype=x.dtype, device=x.device
    )
    if differentiable:
        std = homodyne_std(x, weight, photons_per_mac, read_noise)
        return homodyne_mean(x, weight, imbalance) + std * eps
    photons = x.shape[-1] * photons_per_mac
    scale = homodyne_scale(x, weight).clamp_min(1e-30)
    signal = photons * (homodyne_mean(x, weight) / scale).clamp(-1.0, 1.0)
    plus = torch.poisson((photons + signal) / 2, generator=generator)
    minus = torch.poisson((photons - signal) / 2, generator=generator)
    charge = plus - minus
    if imbalance is not None:
        charge = charge + imbalance / 2 * (plus + minus)
    return (charge + read_noise * eps) * scale / photons


def homodyne_reading(
    x: Tensor,
    weight: Tensor,
    photons_per_mac: float | Tensor | None,
    read_noise: float | Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """``x Wᵀ`` as the homodyne multiplier reads it: exact without a photon budget or generator,
    else one shot-noise-limited measurement (:func:`homodyne_dot`)."""
    if generator is None or photons_per_mac is None:
        return homodyne_mean(x, weight)
    return homodyne_dot(x, weight, photons_per_mac, read_noise, generator)


def backpropagated_error(
    delta: Tensor,
    weight: Tensor,
    photons_per_mac: float | Tensor | None,
    read_noise: float | Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Wᵀ δ for a batch of errors δ (B, M): (B, N). Hamerly et al. (2019), Sec. V: the same
    hardware computes the transposed product when the error is encoded where the activations
    were and each detector receives a weight *column*; same shot noise, δ now the broadcast
    vector (M time slots)."""
    return homodyne_reading(delta, weight.transpose(-1, -2), photons_per_mac, read_noise, generator)


def weight_gradient(
    delta: Tensor,
    x: Tensor,
    photons_per_mac: float | Tensor | None,
    read_noise: float | Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Σ_b δ_bi x_bj (M, N): the outer products of errors (B, M) and inputs (B, N), summed over
    the batch, read as dot products over the B samples (one time slot each) by homodyne
    detectors: an optical outer product (Hamerly et al. 2019, Sec. V), with its shot noise."""
    return homodyne_reading(delta.T, x.T, photons_per_mac, read_noise, generator)


def click_probability(mean_photons: Tensor) -> Tensor:
    """P(click) = 1 − exp(−λ) of a single-photon detector receiving λ photons on average."""
    return -torch.expm1(-mean_photons)


def single_photon_click(
    mean_photons: Tensor, generator: torch.Generator, *, differentiable: bool = False
) -> Tensor:
    """A Bernoulli click (0 or 1) with P = 1 − e^{−λ}; expectation gradient when differentiable.

    The value is the sample; its gradient is that of the expected value 1 − e^{−λ}
    (straight-through estimator, Ma et al. 2025).
    """
    probability = click_probability(mean_photons)
    uniform = torch.rand(
        probability.shape, generator=generator, dtype=probability.dtype, device=probability.device
    )
    click = (uniform < probability).to(probability.dtype)
    if not differentiable:
        return click
    return probability + (click - probability).detach()


def encode_weights(
    weight: Tensor,
    modulator_drive: float | Tensor = 0.0,
    gain_error: Tensor | None = None,
    offset_error: Tensor | None = None,
) -> Tensor:
    """Field amplitudes that a modulator really produces for commanded weights W.

    An interferometric amplitude modulator driven by a voltage proportional to W has the response
    sin(β W) / β (β: drive phase at W = 1, rad), calibrated to slope 1 at W = 0; β = 0 is the
    ideal linear modulator. Static per-weight relative gain errors g and offsets o (component
    spread, DAC offsets) give  W' = (1 + g) sin(β W) / β + o.
    """
    if torch.is_tensor(modulator_drive) or modulator_drive:
        beta = torch.as_tensor(modulator_drive, dtype=weight.dtype, device=weight.device)
        weight = torch.sin(beta * weight) / beta
    if gain_error is not None:
        weight = weight * (1 + gain_error)
    if offset_error is not None:
        weight = weight + offset_error
    return weight


def neighbour_crosstalk(weight: Tensor, coupling: float | Tensor) -> Tensor:
    """Each output channel also receives ``coupling`` × the amplitude of its two neighbours.

    Leakage between adjacent spatial channels (fan-out optics, VCSEL or detector pitch) mixes the
    weight beams of neighbouring outputs before detection: W'_i = W_i + c (W_{i−1} + W_{i+1}).
    """
    padded = F.pad(weight.transpose(-1, -2), (1, 1)).transpose(-1, -2)
    return weight + coupling * (padded[..., :-2, :] + padded[..., 2:, :])


def adc(value: Tensor, bits: int, full_scale: float) -> Tensor:
    """An ADC of ``bits`` bits over [−full_scale, full_scale]: clip and round (straight-through)."""
    return quantize_ste(
        value, lambda v: snap_to_levels(v, -full_scale, full_scale, 2**bits, periodic=False)
    )
