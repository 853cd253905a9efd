"""The perturbation size of a zeroth-order estimator, chosen from the device ("auto").

A finite-difference probe L(θ + a u) − L(θ − a u) = 2a ∇L·u + O(a³) must be large enough to
survive two things the device does to it, and no larger, since the O(a³) curvature term biases
the estimate (on the 256-phase MZI mesh, SPSA with 64 probes reaches cosine 0.17 to the exact
gradient at a relative step of 0.05 — about 5 rad of total perturbation — against 0.47 at
0.005, where theory gives √(P/n) ≈ 0.45; issue 20):

* **quantization**: a control realized on L levels moves only by whole levels, so a smaller step
  is rounded away (:meth:`Coordinates.amplitude` rounds every amplitude to ≥ 1 level);
* **noise**: the measured loss fluctuates by σ_L from one query to the next, so the difference
  of two probes carries noise √2 σ_L.

The rule (:func:`probe_step`), run once at a method's first step on its first batch:

1. **noise floor** — measure the batch loss R = 4 times at the current controls; σ_L is the
   sample standard deviation, floored at the loss's floating-point resolution 8 ε |L̄|
   (ε: the machine epsilon of the loss's dtype; a noiseless simulation repeats exactly);
2. **search** — from r₀ = max(10⁻³, the finest level of a quantized control), relative to each
   coordinate's range, try r₀, 2r₀, 4r₀, … ≤ 0.25: at each size measure the same m = 4
   antithetic pairs along directions drawn like the method's own (a single coordinate for
   ``fd``, ±1 on every coordinate for ``spsa`` and ``mgd``, Gaussian for ``es``),
   D_j = L(θ + a u_j) − L(θ − a u_j), and the ratio ρ = rms_j D_j / (√2 σ_L);
3. **accept** the first size with ρ ≥ κ = 10. Measurement noise adds 1/ρ² to the relative
   variance of an estimate (for ``fd`` its only error: cosine ≈ (1 + 1/ρ²)^(-1/2) ≥ 0.995);
4. **noisy device** — if instead ρ falls below 3/4 of its value at the previous size after
   reaching 2 (a real signal), the response has turned nonlinear before clearing the noise: the
   peak is the previous size, and half of it is used (where the O(a³) term is 4× smaller); if
   the search reaches 0.25 first, the smallest size with a real signal (ρ ≥ 2) is used, or 0.25
   if none had one (a larger step is biased by the curvature; a noisier one is averaged over
   the steps of training). Either way a warning says so.

Why not larger steps or repeated measurements on a noisy device? A step past the turnover is
biased, not noisy: on the tiny diffractive network at gap ``moderate`` (σ_L ≈ 0.035, 16 phase
levels), SPSA with 64 pairs reaches cosine 0.26 to the exact gradient at 0.03 of the range and
0.24 at 0.1, but −0.03 at 0.25. Repeating each probe r times divides the noise variance by r at
r times the queries — what r times more probes (``samples``, ``population``, ``tau``) or an
r times larger batch (σ_L ∝ 1/√B) buy as well, and more probes also shrink the directional
variance of ``spsa``, ``mgd`` and ``es``; so the probe never multiplies the cost of a step
silently, and the warning names the options that do.

The probe costs R + 2m = 12 batch measurements when the first size clears, 8 more per doubling;
they are counted as training queries. A number given for the method's step option skips the
probe.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from physnn.methods.base import is_number
from physnn.nets.pnn import PhysicalBlock, Segments
from physnn.physics.quantization import level_step

AUTO = "auto"
"""The value of a step option that asks for the probe."""

REPEATS = 4
"""R: repeated measurements at the current controls for the noise floor."""
PAIRS = 4
"""m: antithetic probe pairs per trial size."""
CLEARANCE = 10.0
"""κ: the factor by which the rms probe difference must exceed its noise √2 σ_L."""
TURNOVER = 2.0
"""The ratio to the noise above which a falling response marks the end of the linear regime."""
FALL = 0.75
"""A response that falls below this fraction of the previous one when the step doubles has
turned over (a noisy rms of m pairs fluctuates by about 1/√(2m) = 35 %, a linear one doubles)."""
START = 1e-3
"""The smallest relative step tried (on continuous controls)."""
LARGEST = 0.25
"""The largest relative step tried."""
RESOLUTION = 8
"""The noise floor's lower bound, in units of the loss's machine epsilon times |L̄|."""


# ----------------------------------------------------------------------------- the coordinates


class FlatParameters:
    """Parameters seen as one flat vector (values, assignment, gradient)."""

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = params

    def values(self) -> Tensor:
        return torch.cat([p.detach().flatten() for p in self.params])

    def chunks(self, flat: Tensor) -> list[Tensor]:
        """A flat vector cut into the shapes of the parameters."""
        pieces = flat.split([p.numel() for p in self.params])
        return [piece.view_as(p) for piece, p in zip(pieces, self.params, strict=True)]

    @torch.no_grad()
    def assign(self, flat: Tensor) -> None:
        for param, value in zip(self.params, self.chunks(flat), strict=True):
            param.copy_(value)

    def set_grad(self, flat: Tensor) -> None:
        for param, grad in zip(self.params, self.chunks(flat), strict=True):
            param.grad = grad.clone()

    def spread(self, per_parameter: Sequence[float]) -> Tensor:
        """A flat vector holding one value per parameter on each of its coordinates."""
        return torch.cat(
            [
                torch.full((p.numel(),), float(v), device=p.device)
                for p, v in zip(self.params, per_parameter, strict=True)
            ]
        )


class Coordinates(FlatParameters):
    """The perturbed parameters θ ∈ ℝⁿ, with each coordinate's range and level spacing (0 for
    continuous values)."""

    def __init__(self, split: Segments) -> None:
        entries: list[tuple[nn.Parameter, float, float]] = []
        for block in split.front:
            if isinstance(block, PhysicalBlock):
                for key, param in block.controls.items():
                    spec = block.specs[key]
                    spacing = (
                        level_step(spec.low, spec.high, spec.levels, spec.periodic)
                        if spec.levels
                        else 0.0
                    )
                    entries.append((param, spec.high - spec.low, spacing))
            else:
                entries += [(p, 1.0, 0.0) for p in block.parameters() if p.requires_grad]
        super().__init__([param for param, _, _ in entries])
        self.scale = self.spread([scale for _, scale, _ in entries])
        self.quantum = self.spread([quantum for _, _, quantum in entries])

    @property
    def size(self) -> int:
        return self.scale.numel()

    def finest_level(self) -> float:
        """The smallest level spacing of a quantized coordinate, relative to its range (0 if
        every coordinate is continuous)."""
        quantized = self.quantum > 0
        if not quantized.any():
            return 0.0
        return float((self.quantum[quantized] / self.scale[quantized]).min())

    def amplitude(self, relative: float) -> Tensor:
        """a_i = relative · range_i, a whole number (≥ 1) of levels on quantized coordinates."""
        a = relative * self.scale
        quantized = self.quantum > 0
        spacing = torch.where(quantized, self.quantum, torch.ones_like(self.quantum))
        levels = torch.round(a / spacing).clamp_min(1)
        return torch.where(quantized, levels * spacing, a)


# ----------------------------------------------------------------------------- the step probe


def is_step(value: Any) -> bool:
    """A valid step option: "auto" or a positive finite number."""
    return value == AUTO or (is_number(value) and value > 0)


@dataclass(frozen=True)
class ProbeResult:
    """What the probe found: the chosen relative step, the loss noise floor, its cost."""

    step: float
    noise: float
    measurements: int
    cleared: bool


def rademacher(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    """Independent ±1 entries of ``shape`` (SPSA's and MGD's perturbations)."""
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return 2.0 * bits - 1.0


def draw_directions(
    kind: str, count: int, n: int, generator: torch.Generator, device: torch.device
) -> Tensor:
    """``count`` probe directions (count, n) of a method's kind: "coordinate" (a random e_i),
    "rademacher" (±1 everywhere) or "gaussian" (N(0, I))."""
    if kind == "coordinate":
        chosen = torch.randint(0, n, (count,), generator=generator, device=device)
        return torch.nn.functional.one_hot(chosen, n).to(torch.get_default_dtype())
    if kind == "rademacher":
        return rademacher((count, n), generator, device)
    return torch.randn(count, n, generator=generator, device=device)


def projection_cosine(
    exact: Tensor,
    amplitude: Tensor,
    kind: str,
    pairs: int,
    generator: torch.Generator,
    draws: int = 4000,
) -> float:
    """The mean cosine to ``exact`` (g) of the ideal random-projection estimate with ``pairs``
    (P) antithetic pairs of directions of ``kind``: noise-free and at an infinitesimal step, a
    pair measures 2 (a ⊙ g)·u exactly, so ĝ = (1/P) Σ_p ((a ⊙ g)·u_p) u_p / a (``spsa``'s
    Δ⁻¹ = Δ for ±1 entries; ``es``'s Gaussian ε). Averaged over ``draws`` independent sets of
    P directions (Monte Carlo: one set's cosine varies by about 3/4 of the mean for P = 1 and
    many comparable coordinates, less with more pairs: a standard error of about 1 %).

    For n coordinates, E|ĝ|² = |g|² (n + P ∓ 1) / P for ±1 (−) or Gaussian (+) directions, so
    the cosine is about √(P / (n + P ∓ 1)) when P ≫ 1 (the familiar √(P/n) for 1 ≪ P ≪ n);
    for P = 1 it is √(2 / (π n)) for many comparable coordinates (E|z| / √n), 20 % below
    √(1/n), and exactly 1/√n with ±1 directions when g has a single non-zero coordinate."""
    g, a = (amplitude * exact).double(), amplitude.double()
    total = 0.0
    for start in range(0, draws, CHUNK):
        count = min(CHUNK, draws - start)
        u = draw_directions(kind, count * pairs, g.numel(), generator, g.device).double()
        u = u.view(count, pairs, -1)
        estimate = ((u @ g)[..., None] * u).mean(1) / a
        total += float(torch.nn.functional.cosine_similarity(estimate, exact.double(), dim=1).sum())
    return total / draws


CHUNK = 250
"""Draws of :func:`projection_cosine` held in memory at once."""


def noise_floor(losses: Tensor) -> float:
    """σ_L of repeated losses, floored at the floating-point resolution of their mean (and at
    the smallest positive float, for a loss that is exactly zero)."""
    finfo = torch.finfo(losses.dtype)
    resolution = RESOLUTION * finfo.eps * float(losses.mean().abs())
    return max(float(losses.std()), resolution, finfo.tiny)


def probe_step(
    loss_at: Callable[[Tensor], Tensor],
    amplitude: Callable[[float], Tensor],
    directions: Tensor,
    start: float,
) -> ProbeResult:
    """The smallest relative step whose probe differences clear the noise (the module's rule).

    ``loss_at(offset)`` measures the batch loss on the device at θ + offset (a flat vector);
    ``amplitude(r)`` gives each coordinate's amplitude for the relative step r; ``directions``
    are the m antithetic probe directions' first halves (m, n); ``start`` is r₀.
    """
    zero = torch.zeros_like(directions[0])
    sigma = noise_floor(torch.stack([loss_at(zero) for _ in range(REPEATS)]))
    measurements, step = REPEATS, min(max(start, START), LARGEST)
    last_step, last_ratio, first_signal = step, 0.0, None
    while True:
        a = amplitude(step)
        diffs = torch.stack([loss_at(a * u) - loss_at(-a * u) for u in directions])
        measurements += 2 * len(directions)
        ratio = float(diffs.pow(2).mean().sqrt()) / (math.sqrt(2) * sigma)
        if ratio >= CLEARANCE:
            return ProbeResult(step, sigma, measurements, cleared=True)
        if last_ratio >= TURNOVER and ratio < FALL * last_ratio:  # past the response's peak
            reason, step = f"the response turns nonlinear past {last_step:.3g}", last_step / 2
            break
        if ratio >= TURNOVER and first_signal is None:
            first_signal = step
        if step >= LARGEST:  # the smallest step with a real signal, if any
            reason, step = f"the step reaches {LARGEST:g}", first_signal or LARGEST
            break
        last_step, last_ratio, step = step, ratio, min(2 * step, LARGEST)
    warnings.warn(
        f"no perturbation clears the device's loss noise {sigma:.3g} by a factor {CLEARANCE:g} "
        f"before {reason} of the range; using {step:.3g}; average the noise with more probes "
        "per step or a larger batch",
        stacklevel=3,
    )
    return ProbeResult(step, sigma, measurements, cleared=False)
