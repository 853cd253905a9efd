"""Analog in-memory matrix-vector multiplication on PCM crossbar tiles (IBM HERMES chip).

The controls are the layer's weights ``W ∈ [−1, 1]^{m×n}``, stored as differential PCM pairs
``W = (G⁺ − G⁻)/g_max``, the sign picking the device that holds |W| and the other one reset
(:mod:`physnn.physics.crossbar`, :class:`PairConductances`). A sample x is
resampled to n inputs, converted by a signed ``input_bits`` DAC over [−input_range,
input_range], and applied to the rows of ⌈n/tile_size⌉ × ⌈m/tile_size⌉ tiles; each tile's column
currents are digitized by a signed ``output_bits`` ADC over [−output_range, output_range] (in
units of g_max × full-scale input), and the partial sums of the row tiles are added digitally:

    y_j = act( Σ_k α_jk · ADC( Σ_{i ∈ tile k} (G⁺_ji(t) − G⁻_ji(t))/g_max · DAC(x_i) + n_jk ) ),

where G(t) are the programmed and drifted conductances, n the 1/f read noise of the summed
devices (plus, optionally, the additive Gaussian weight and output noise of
:mod:`physnn.substrates.crossbar.gap`), α the global drift compensation and ``act`` the digital
activation of the tile periphery (ReLU or none). Le Gallo et al., "A 64-core mixed-signal
in-memory compute chip based on phase-change memory for deep neural network inference",
Nat. Electron. 6, 680 (2023), arXiv:2212.02872: 256×256 unit cells per core, 8-bit inputs
(pulse-width modulation) and 8-bit outputs (current-controlled oscillator ADCs).

Nuisance (the PCM statistics of :mod:`physnn.physics.crossbar`): the standard normal draws of
every device's programming error and drift exponent (so that the same device realizes whatever
weights are written on it), the scales of programming and read noise (0: ideal), and the
inference time t after programming. With the nominal nuisance the crossbar is the quantized
matrix product; with ideal converters it is exactly the matmul.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import crossbar as pcm
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import as_vector

ACTIVATIONS = ("none", "relu")


@dataclass(frozen=True)
class PairConductances:
    """A layer's differential pairs by role: of each pair, the *on* device holds |W| (G⁺ where
    W ≥ 0, G⁻ elsewhere) and the *off* device is reset (target 0). Only the on device depends on
    W, and the PCM statistics of the off one are those of g_T = 0, so the model is evaluated on
    m × n on devices plus constants instead of on all 2 × m × n devices; an off device without
    noise is the scalar 0. Conductances are in units of g_max, each pair ``(on, off)``."""

    positive: Tensor  # W ≥ 0: G⁺ is the on device
    target: Tensor  # |W|: the on device's target conductance
    programmed: tuple[Tensor, Tensor]  # after programming (with its noise)
    now: tuple[Tensor, Tensor]  # at inference time (drifted)

    def weight(self, pair: tuple[Tensor, Tensor]) -> Tensor:
        """(G⁺ − G⁻)/g_max of a pair of conductances, (m, n)."""
        on, off = pair
        difference = on - off
        return torch.where(self.positive, difference, -difference)


def _by_role(draws: Tensor | None, positive: Tensor, like: Tensor) -> tuple[Tensor, Tensor] | None:
    """Per-device draws (2, m, n) of (G⁺, G⁻) → the draws of the (on, off) devices, on the
    device and in the dtype of ``like``."""
    if draws is None:
        return None
    plus, minus = draws.to(like)
    return torch.where(positive, plus, minus), torch.where(positive, minus, plus)


@dataclass(frozen=True)
class CrossbarConfig:
    """One analog layer: n inputs, m outputs on tiles of tile_size × tile_size PCM pairs."""

    num_inputs: int = 64  # crossbar rows used (the sample is resampled to this many values)
    num_outputs: int = 32  # crossbar columns used (measured outputs)
    tile_size: int = 256  # rows = columns of one crossbar tile
    input_bits: int | None = 8  # DAC resolution; None: ideal
    output_bits: int | None = 8  # ADC resolution; None: ideal
    input_range: float = 1.0  # DAC full scale (inputs are clipped to ±input_range)
    output_range: float = 8.0  # ADC full scale, in units of g_max × input full scale
    drift_compensation: bool = True  # global drift compensation per tile
    activation: str = "relu"  # digital activation after the ADC and the tile sum

    def __post_init__(self) -> None:
        for name in ("num_inputs", "num_outputs", "tile_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("input_bits", "output_bits"):
            bits = getattr(self, name)
            if bits is not None and not 2 <= bits <= 24:
                raise ValueError(f"{name} must be between 2 and 24 (or None: ideal), got {bits}")
        for name in ("input_range", "output_range"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}"
            )


class Crossbar(System):
    """DAC → PCM crossbar tiles (differential pairs) → ADC → digital tile sum and activation."""

    name = "crossbar"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # the converters quantize and clip (and the activation, if any)
        reciprocal=True,  # a crossbar is read transposed by driving its columns (Gokmen 2016)
        description="analog in-memory matrix-vector multiplication on PCM crossbar tiles",
    )
    # Weights span [−1, 1] at 8-bit resolution: 0.05 steps overshoot (measured on digits).
    learning_rate = 0.005
    config_class = CrossbarConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 64 inputs (8×8 digits) → 32 outputs on one tile: trains in seconds.
        "default": {},
        # Le Gallo et al. 2023: 256×256 tiles, 8-bit inputs and outputs; a 784 → 256 layer
        # (the first layer of a 784-256-10 MNIST network) spans 4 × 1 tiles.
        "legallo2023": {"num_inputs": 784, "num_outputs": 256, "tile_size": 256,
                        "input_bits": 8, "output_bits": 8},
    }  # fmt: skip

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {"weight": ControlSpec((c.num_outputs, c.num_inputs), -1.0, 1.0, unit="g_max")}

    def nominal_nuisance(self) -> Nuisance:
        return {
            "programming_noise": None,  # (2, m, n) standard normals of G⁺, G⁻ programming errors
            "programming_noise_scale": 0.0,  # 1: the PCM model's σ_P(g_T)
            "drift_noise": None,  # (2, m, n) standard normals of the drift exponents ν
            "inference_time": 0.0,  # s after the drift reference time t₀ = 20 s
            "read_noise_scale": 0.0,  # 1: the PCM model's 1/f read noise σ_nG(t)
            "pulse_scales": None,  # (2, m, n) up/down step scales of pulsed updates (reality)
            "weight_noise": None,  # (m, n) standard normals of additive weight errors
            "weight_noise_std": 0.0,  # σ_w of the additive weight errors, g_max units
            "output_noise_std": 0.0,  # σ_y of additive noise on each column current per read
        }

    output_kind = "real"

    @property
    def input_range(self) -> tuple[float, float] | None:  # type: ignore[override]
        """The DAC's full scale ±input_range (it clips beyond); an ideal DAC passes any value."""
        c = self.config
        return None if c.input_bits is None else (-c.input_range, c.input_range)

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Samples → DAC outputs (B, n): resampled, clipped and quantized."""
        c = self.config
        return pcm.quantize(as_vector(x, c.num_inputs), c.input_bits, c.input_range)

    def conductances(self, weight: Tensor, nuisance: Nuisance) -> PairConductances:
        """The pairs' conductances in units of g_max, programmed and drifted, by role."""
        positive = weight >= 0
        on, off = weight.abs(), weight.new_zeros(())  # the targets
        programmed = (on, off)
        draws = _by_role(nuisance.get("programming_noise"), positive, weight)
        scale = nuisance.get("programming_noise_scale", 0.0)
        if draws is not None and scale:
            programmed = (pcm.program(on, draws[0], scale), pcm.program(off, draws[1], scale))
        now = programmed
        if self.drifts(nuisance):
            nu_on, nu_off = _by_role(nuisance["drift_noise"], positive, weight)
            time = nuisance["inference_time"]
            now = (
                pcm.drift(programmed[0], pcm.drift_exponent(on, nu_on), time),
                pcm.drift(programmed[1], pcm.drift_exponent(off, nu_off), time),
            )
        return PairConductances(positive, on, programmed, now)

    @staticmethod
    def _programming_noise(nuisance: Nuisance) -> bool:
        return (
            nuisance.get("programming_noise") is not None
            and nuisance.get("programming_noise_scale", 0.0) != 0
        )

    @staticmethod
    def drifts(nuisance: Nuisance) -> bool:
        """Whether the conductances have drifted (drift draws and an inference time t > 0)."""
        return nuisance.get("drift_noise") is not None and nuisance.get("inference_time", 0.0) > 0

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config
        weight = controls["weight"]
        volts = pcm.tile_inputs(self.encode(x).to(weight), c.tile_size)  # (B, K, T)
        read_scale = nuisance.get("read_noise_scale", 0.0) if noise is not None else 0.0
        pcm_model = read_scale or self.drifts(nuisance) or self._programming_noise(nuisance)
        pairs = self.conductances(weight, nuisance) if pcm_model else None
        effective = weight if pairs is None else pairs.weight(pairs.now)  # ideal pairs: W
        weight_std = nuisance.get("weight_noise_std", 0.0)
        if weight_std and nuisance.get("weight_noise") is not None:
            effective = torch.add(
                effective, nuisance["weight_noise"].to(effective), alpha=weight_std
            )
        partial = pcm.tile_currents(volts, effective, c.tile_size)
        if pairs is not None and read_scale:
            partial = partial + read_scale * self.read_noise(volts, pairs, nuisance, noise)
        output_std = nuisance.get("output_noise_std", 0.0)
        if noise is not None and output_std:
            partial = torch.add(partial, noise.standard_normal(partial), alpha=output_std)
        partial = pcm.quantize(partial, c.output_bits, c.output_range)
        if c.drift_compensation and pairs is not None and self.drifts(nuisance):
            programmed = pairs.weight(pairs.programmed)
            alpha = pcm.global_drift_compensation(programmed, effective, c.tile_size)
            partial = partial * alpha.T
        y = partial.squeeze(1) if partial.shape[1] == 1 else partial.sum(dim=1)  # one tile: a view
        return y.relu() if c.activation == "relu" else y

    def read_noise(
        self, volts: Tensor, pairs: PairConductances, nuisance: Nuisance, noise: NoiseSource
    ) -> Tensor:
        """1/f read noise of each tile's column current, (B, K, m): every device fluctuates
        independently by σ_nG, so the current Σ_i G_i V_i has variance Σ_i (σ⁺_i² + σ⁻_i²) V_i²."""
        variance = self.read_noise_variance(pairs, nuisance)
        std = torch.einsum("bkt,mkt->bkm", volts.square(), variance).clamp_min(1e-30).sqrt()
        return std * noise.standard_normal(std)

    def read_noise_variance(self, pairs: PairConductances, nuisance: Nuisance) -> Tensor:
        """σ⁺² + σ⁻² of every pair, (m, K, tile_size): the read-noise variance each device row
        adds to a column current per unit input squared."""
        time = nuisance.get("inference_time", 0.0)
        on, off = pairs.now
        sigma_on = pcm.read_noise_sigma(on, pairs.target, time)
        sigma_off = pcm.read_noise_sigma(off, pairs.target.new_zeros(()), time)
        return pcm.split_rows(sigma_on.square() + sigma_off.square(), self.config.tile_size)
