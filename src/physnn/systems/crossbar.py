"""Analog in-memory matrix-vector multiplication on PCM crossbar tiles (IBM HERMES chip).

The controls are the layer's weights ``W ∈ [−1, 1]^{m×n}``, stored as differential PCM pairs
``W = (G⁺ − G⁻)/g_max`` (:func:`~physnn.physics.crossbar.differential_pair`). A sample x is
resampled to n inputs, converted by a signed ``input_bits`` DAC over [−input_range,
input_range], and applied to the rows of ⌈n/tile_size⌉ × ⌈m/tile_size⌉ tiles; each tile's column
currents are digitized by a signed ``output_bits`` ADC over [−output_range, output_range] (in
units of g_max × full-scale input), and the partial sums of the row tiles are added digitally:

    y_j = act( Σ_k α_jk · ADC( Σ_{i ∈ tile k} (G⁺_ji(t) − G⁻_ji(t))/g_max · DAC(x_i) + n_jk ) ),

where G(t) are the programmed and drifted conductances, n the 1/f read noise of the summed
devices, α the global drift compensation and ``act`` the digital activation of the tile
periphery (ReLU or none). Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based
on phase-change memory for deep neural network inference", Nat. Electron. 6, 680 (2023),
arXiv:2212.02872: 256×256 unit cells per core, 8-bit inputs (pulse-width modulation) and
8-bit outputs (current-controlled oscillator ADCs).

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
from physnn.systems import SYSTEMS
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


@SYSTEMS.register("crossbar")
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
        }

    output_kind = "real"

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Samples → DAC outputs (B, n): resampled, clipped and quantized."""
        c = self.config
        return pcm.quantize(as_vector(x, c.num_inputs), c.input_bits, c.input_range)

    def conductances(self, weight: Tensor, nuisance: Nuisance) -> tuple[Tensor, Tensor]:
        """(G_P, G(t)) of the pairs, (2, m, n) in units of g_max: programmed, then drifted."""
        target = torch.stack(pcm.differential_pair(weight))
        eps = nuisance.get("programming_noise")
        scale = nuisance.get("programming_noise_scale", 0.0)
        programmed = target
        if eps is not None and scale:
            programmed = pcm.program(target, eps.to(weight), scale)
        if not self.drifts(nuisance):
            return programmed, programmed
        nu = pcm.drift_exponent(target, nuisance["drift_noise"].to(weight))
        return programmed, pcm.drift(programmed, nu, nuisance["inference_time"])

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
        g_prog, g_now = self.conductances(weight, nuisance)
        effective = g_now[0] - g_now[1]
        partial = torch.einsum("bkt,mkt->bkm", volts, pcm.split_rows(effective, c.tile_size))
        read_scale = nuisance.get("read_noise_scale", 0.0)
        if noise is not None and read_scale:
            partial = partial + read_scale * self.read_noise(volts, weight, g_now, nuisance, noise)
        partial = pcm.quantize(partial, c.output_bits, c.output_range)
        if c.drift_compensation and self.drifts(nuisance):
            alpha = pcm.global_drift_compensation(g_prog[0] - g_prog[1], effective, c.tile_size)
            partial = partial * alpha.T
        y = partial.sum(dim=1)
        return y.relu() if c.activation == "relu" else y

    def read_noise(
        self, volts: Tensor, weight: Tensor, g_now: Tensor, nuisance: Nuisance, noise: NoiseSource
    ) -> Tensor:
        """1/f read noise of each tile's column current, (B, K, m): every device fluctuates
        independently by σ_nG, so the current Σ_i G_i V_i has variance Σ_i (σ⁺_i² + σ⁻_i²) V_i²."""
        c = self.config
        target = torch.stack(pcm.differential_pair(weight))
        sigma = pcm.read_noise_sigma(g_now, target, nuisance.get("inference_time", 0.0))
        variance = pcm.split_rows(sigma.square().sum(dim=0), c.tile_size)
        std = torch.einsum("bkt,mkt->bkm", volts.square(), variance).clamp_min(1e-30).sqrt()
        gen = noise.generator
        eps = torch.randn(std.shape, generator=gen, device=gen.device, dtype=std.dtype)
        return std * eps.to(std.device)
