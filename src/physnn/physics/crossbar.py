"""Analog in-memory computing on a crossbar of phase-change memory (PCM) devices.

A weight is stored as a differential pair of conductances, normalized to the largest reliably
programmable conductance g_max (Le Gallo et al., Nat. Electron. 6, 680 (2023); Joshi et al.,
Nat. Commun. 11, 2473 (2020)):

    W = (G⁺ − G⁻) / g_max,     G⁺ = g_max · max(W, 0),   G⁻ = g_max · max(−W, 0).

Inputs are applied as voltages through a DAC, each column sums its currents (Kirchhoff) and an
ADC digitizes them; a matrix larger than one tile is split into tiles whose digitized partial
sums are added digitally.

PCM statistics follow the model of Nandakumar et al. (ICECS 2019) fitted on 1 million devices
(Joshi et al. 2020), as documented for IBM's aihwkit ("Inference and PCM statistical model"),
with conductances g in units of g_max = 25 µS:

* programming noise  g_P = g_T + N(0, σ_P²),  σ_P = max(−1.1731 g_T² + 1.9650 g_T + 0.2635, 0) µS;
* drift              g(t) = g_P ((t + t₀)/t₀)^(−ν),  ν ~ N(μ_ν, σ_ν²) per device,
                     μ_ν = clip(−0.0155 ln g_T + 0.0244, 0.049, 0.1),
                     σ_ν = clip(−0.0125 ln g_T − 0.0059, 0.008, 0.045),  t₀ = 20 s;
* 1/f read noise     σ_nG(t) = g(t) Q_s √ln((t + t_read)/(2 t_read)),
                     Q_s = min(0.0088/g_T^0.65, 0.2),  t_read = 250 ns (t counted from t₀);
* global drift compensation: one factor α = Σ|G_P · 1| / Σ|G(t) · 1| per tile, read with an
  all-ones input, rescales the digital output (Le Gallo et al., Adv. Electron. Mater. 2018).

In-situ training updates memristive (RRAM) weights with identical voltage pulses instead of
program-and-verify. One pulse moves a weight w ∈ [w_min, w_max] = [−1, 1] by a state-dependent
step (the soft-bounds family of Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016), as in IBM's
aihwkit pulsed devices; the nonlinear conductance response of Yu, Proc. IEEE 106, 260 (2018)):

    Δw⁺ = Δw_min · a⁺ · (1 − w/w_max)^γ · (1 + σ_c ξ),
    Δw⁻ = −Δw_min · a⁻ · (1 − w/w_min)^γ · (1 + σ_c ξ),

with γ the nonlinearity (0: constant steps, 1: soft bounds, steps shrink to 0 at the bounds),
a± = (1 ± asymmetry)(1 + σ_d ε±) the device's up and down step scales (device-to-device
variation σ_d, a draw per device), σ_c the cycle-to-cycle variation (a draw per pulse), and a
requested change Δw sent as round(Δw/Δw_min) pulses of its sign.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from physnn.physics.quantization import quantize_ste, snap_to_levels

G_MAX_US = 25.0  # µS: the conductance the model's coefficients are fitted for
PROGRAMMING_COEFFS = (0.2635, 1.9650, -1.1731)  # σ_P = c0 + c1 g_T + c2 g_T², in µS
_SIGMA_P = tuple(c / G_MAX_US for c in PROGRAMMING_COEFFS)  # the same in units of g_max
T0 = 20.0  # s: reference time of the drift model after programming
T_READ = 250e-9  # s: read pulse width
_MIN_G = 1e-6  # conductances below this are treated as this in logarithms and powers


def programming_sigma(g_target: Tensor) -> Tensor:
    """σ_P(g_T) in units of g_max: max(c0 + c1 g_T + c2 g_T², 0) µS / 25 µS (Horner form)."""
    c0, c1, c2 = _SIGMA_P
    return (c0 + g_target * (c1 + c2 * g_target)).clamp_min(0.0)


def program(g_target: Tensor, epsilon: Tensor, scale: float = 1.0) -> Tensor:
    """Programmed conductance g_P = max(g_T + scale · σ_P(g_T) · ε, 0) for standard normal ε."""
    return torch.addcmul(g_target, programming_sigma(g_target), epsilon, value=scale).clamp_min(0.0)


def drift_exponent_mean(g_target: Tensor) -> Tensor:
    """μ_ν(g_T) = clip(−0.0155 ln g_T + 0.0244, 0.049, 0.1)."""
    log_g = g_target.clamp_min(_MIN_G).log()
    return (-0.0155 * log_g + 0.0244).clamp(0.049, 0.1)


def drift_exponent_std(g_target: Tensor) -> Tensor:
    """σ_ν(g_T) = clip(−0.0125 ln g_T − 0.0059, 0.008, 0.045)."""
    log_g = g_target.clamp_min(_MIN_G).log()
    return (-0.0125 * log_g - 0.0059).clamp(0.008, 0.045)


def drift_exponent(g_target: Tensor, epsilon: Tensor) -> Tensor:
    """ν = |μ_ν(g_T) + σ_ν(g_T) · ε| for standard normal ε (a conductance never grows)."""
    return (drift_exponent_mean(g_target) + drift_exponent_std(g_target) * epsilon).abs()


def drift(g_programmed: Tensor, nu: Tensor, time: float, t0: float = T0) -> Tensor:
    """g(t) = g_P ((t + t₀)/t₀)^(−ν): power-law drift, t seconds after the reference time t₀."""
    return g_programmed * ((time + t0) / t0) ** (-nu)


def read_noise_q(g_target: Tensor) -> Tensor:
    """Q_s(g_T) = min(0.0088 / g_T^0.65, 0.2): relative 1/f noise per √decade."""
    return g_target.clamp_min(_MIN_G).pow(-0.65).mul(0.0088).clamp_max(0.2)


def read_noise_sigma(g_drifted: Tensor, g_target: Tensor, time: float, t0: float = T0) -> Tensor:
    """σ_nG(t) = g(t) Q_s(g_T) √ln((t + t₀ + t_read)/(2 t_read)): the 1/f noise integrated from
    the read bandwidth 1/(2 t_read) down to 1/(t + t₀)."""
    bandwidth = math.sqrt(math.log((time + t0 + T_READ) / (2 * T_READ)))
    return g_drifted * (read_noise_q(g_target) * bandwidth)


def quantize(value: Tensor, bits: int | None, bound: float) -> Tensor:
    """A signed converter: clip to [−bound, bound], round to 2^bits − 1 symmetric levels (zero
    is a level); the rounding passes gradients straight through, the clipping does not.
    ``bits=None`` is an ideal converter."""
    if bits is None:
        return value
    clipped = value.clamp(-bound, bound)
    levels = 2**bits - 1
    return quantize_ste(clipped, lambda v: snap_to_levels(v, -bound, bound, levels, False))


def split_rows(matrix: Tensor, tile: int) -> Tensor:
    """(out, in) → (out, K, tile): the input rows of the crossbar split into K tiles (zero pad)."""
    out, rows = matrix.shape
    pad = -rows % tile
    if pad:
        matrix = torch.nn.functional.pad(matrix, (0, pad))
    return matrix.reshape(out, -1, tile)


def tile_inputs(x: Tensor, tile: int) -> Tensor:
    """(B, in) → (B, K, tile), zero padded like :func:`split_rows`."""
    pad = -x.shape[1] % tile
    if pad:
        x = torch.nn.functional.pad(x, (0, pad))
    return x.reshape(x.shape[0], -1, tile)


def tile_currents(volts: Tensor, weight: Tensor, tile: int) -> Tensor:
    """Column currents of every row tile, (B, K, m): Σ_{i ∈ tile k} W_ji V_i, from the inputs
    split into tiles, ``volts`` (B, K, tile), and the weights (m, n). One tile is a plain
    ``linear`` on the n used rows, whose weight gradient comes out contiguous (no copy when it
    is accumulated)."""
    if volts.shape[1] == 1:
        return torch.nn.functional.linear(volts[:, 0, : weight.shape[1]], weight).unsqueeze(1)
    return torch.einsum("bkt,mkt->bkm", volts, split_rows(weight, tile))


def tile_sums(matrix: Tensor, tile: int) -> Tensor:
    """Σ_i over each row tile: the column currents for an all-ones input, (out, K)."""
    return split_rows(matrix, tile).sum(dim=-1)


def global_drift_compensation(reference: Tensor, drifted: Tensor, tile: int) -> Tensor:
    """α per (column tile, row tile), broadcast to (out, K): α = Σ_cols |S_ref| / Σ_cols |S(t)|
    with S the column currents of an all-ones input, as measured once after programming and
    again at inference time."""
    s_ref, s_now = tile_sums(reference, tile), tile_sums(drifted, tile)
    out = s_ref.shape[0]
    pad = -out % tile

    def per_tile(s: Tensor) -> Tensor:
        s = torch.nn.functional.pad(s.abs(), (0, 0, 0, pad))
        return s.reshape(-1, tile, s.shape[-1]).sum(dim=1)  # (J, K)

    alpha = per_tile(s_ref) / per_tile(s_now).clamp_min(1e-12)
    return alpha.repeat_interleave(tile, dim=0)[:out]


def pulse_step(
    weight: Tensor, up: Tensor, scale_up: Tensor, scale_down: Tensor, nonlinearity: float
) -> Tensor:
    """The signed step of one pulse (in units of Δw_min) at ``weight``: potentiation where ``up``,
    depression elsewhere, shrinking towards the bound it approaches as (1 − w/w_bound)^γ."""
    towards_max = (1.0 - weight).clamp_min(0.0) ** nonlinearity * scale_up
    towards_min = (1.0 + weight).clamp_min(0.0) ** nonlinearity * scale_down
    return torch.where(up, towards_max, -towards_min)


def apply_pulses(
    weight: Tensor,
    pulses: Tensor,
    step: float,
    scale_up: Tensor,
    scale_down: Tensor,
    nonlinearity: float,
    cycle_variation: float,
    generator: torch.Generator,
) -> Tensor:
    """Fire |pulses| pulses of sign(pulses) at every device, one after the other (each step
    depends on the state the previous one left), with cycle-to-cycle noise; w stays in [−1, 1]."""
    count, up = pulses.abs(), pulses > 0
    for k in range(int(count.max()) if count.numel() else 0):
        delta = step * pulse_step(weight, up, scale_up, scale_down, nonlinearity)
        if cycle_variation:
            noise = torch.randn(weight.shape, generator=generator, device=generator.device)
            delta = delta * (1.0 + cycle_variation * noise.to(weight))
        weight = torch.where(count > k, (weight + delta).clamp(-1.0, 1.0), weight)
    return weight


def symmetry_point(scale_up: Tensor, scale_down: Tensor, nonlinearity: float) -> Tensor:
    """The weight w* at which an up and a down pulse cancel, a⁺ (1 − w)^γ = a⁻ (1 + w)^γ:
    w* = (1 − r)/(1 + r), r = (a⁻/a⁺)^(1/γ); where random up and down pulses drive a device
    (0 for constant steps, γ = 0, which have none)."""
    if nonlinearity == 0:
        return torch.zeros_like(scale_up)
    ratio = (scale_down / scale_up.clamp_min(1e-12)) ** (1.0 / nonlinearity)
    return (1.0 - ratio) / (1.0 + ratio)


def transposed_tile_currents(errors: Tensor, weight: Tensor, tile: int) -> Tensor:
    """Row currents of every column tile, (B, J, n): Σ_{j ∈ tile J} W_ji δ_j, the crossbar read
    transposed by driving its columns with ``errors`` (B, m) and integrating on its rows (the
    backward cycle of Gokmen & Vlasov 2016). Their sum over J is Wᵀ δ."""
    return tile_currents(tile_inputs(errors, tile), weight.T, tile)


def pulse_coincidences(
    inputs: Tensor, errors: Tensor, scale: float, length: int, generator: torch.Generator
) -> Tensor:
    """Signed pulse counts (B, m, n) of the stochastic update cycle (Gokmen & Vlasov 2016).

    In each of ``length`` (BL) slots, row i fires with probability min(1, C|x_i|) and column j
    with min(1, C|δ_j|), independently (the periphery's stochastic translators); the device at
    (j, i) moves by one pulse of sign −sign(x_i δ_j) where both fire. The expected count is
    −BL C² x_i δ_j, i.e. −(η/Δw_min) x_i δ_j for C = √(η/(BL Δw_min)) while no probability
    saturates at 1."""
    gen, dev = generator, generator.device

    def trains(values: Tensor) -> Tensor:  # (B, BL, k) pulse slots
        chance = (scale * values.abs()).clamp_max(1.0)
        draws = torch.rand((values.shape[0], length, values.shape[1]), generator=gen, device=dev)
        return (draws.to(values) < chance.unsqueeze(1)).to(values)

    counts = torch.einsum("bsm,bsn->bmn", trains(errors), trains(inputs))
    return -counts * (errors.sign().unsqueeze(2) * inputs.sign().unsqueeze(1))
