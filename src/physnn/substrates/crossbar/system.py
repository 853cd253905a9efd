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

In-memory training runs three cycles on the same tile (Gokmen & Vlasov, Front. Neurosci. 10,
333 (2016)): the forward read above; the backward read Wᵀ δ, driving the columns and reading
the rows (:meth:`Crossbar.transposed_read`), which only a *preceding* layer needs; and the
update, rows and columns driven together by pulse trains from x and δ = g ⊙ act'(y), whose
coincidences move every device (``analog-sgd``). The gradient procedure ``"outer-product"``
(:meth:`Crossbar.measured_gradient`) is that update's expectation per unit learning rate,
Σ_b δ_b x_bᵀ, formed from one forward read.

Tiki-Taka (Gokmen & Haensch, "Algorithm for training neural networks on resistive device
arrays", Front. Neurosci. 14, 103 (2020)), option ``tiki_taka``: every weight has a second,
fast device, the control ``"fast"`` A next to the slow ``"weight"`` C, and the layer computes
with W = C + γ A (A's and C's column currents summed before the ADC). A's devices are read
against reference devices set to their symmetry point (zero-shifting; Kim et al.,
arXiv:1907.10228 (2019)), so A = 0 where its up and down steps balance. The PCM statistics act
on C only; A is ideal but for its pulsed updates. The procedure ``"fast-read"`` reads A alone
(its columns driven by the DAC inputs, read by the ADC): the transfer read of Tiki-Taka.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import ConfigError
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
    tiki_taka: bool = False  # a fast array A next to every weight: W = C + gamma · A
    gamma: float = 1.0  # γ: the weight of the fast array A in W

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
        # Its transposed read Wᵀ δ (transposed_read) serves only a preceding layer, which no
        # procedure runs here; the weights' own update needs none (Gokmen & Vlasov 2016).
        reciprocal=False,
        # the update cycle's δ xᵀ (Gokmen 2016); the fast array's read (Gokmen & Haensch 2020)
        gradient_procedures=("outer-product", "fast-read"),
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
        spec = ControlSpec((c.num_outputs, c.num_inputs), -1.0, 1.0, unit="g_max")
        return {"weight": spec, "fast": spec} if c.tiki_taka else {"weight": spec}

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Uniform weights; the fast array A, if any, at its symmetry point (A = 0)."""
        controls = super().init_controls(generator)
        if "fast" in controls:
            controls["fast"] = torch.zeros_like(controls["fast"])
        return controls

    def nominal_nuisance(self) -> Nuisance:
        return {
            "programming_noise": None,  # (2, m, n) standard normals of G⁺, G⁻ programming errors
            "programming_noise_scale": 0.0,  # 1: the PCM model's σ_P(g_T)
            "drift_noise": None,  # (2, m, n) standard normals of the drift exponents ν
            "inference_time": 0.0,  # s after the drift reference time t₀ = 20 s
            "read_noise_scale": 0.0,  # 1: the PCM model's 1/f read noise σ_nG(t)
            "pulse_scales": None,  # (2, m, n) up/down step scales of pulsed updates (reality)
            "fast_pulse_scales": None,  # the same of the fast array A (tiki_taka)
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
        pairs, effective = self.held_weight(weight, nuisance, bool(read_scale))
        effective = self.with_fast(effective, controls)
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

    def held_weight(
        self, weight: Tensor, nuisance: Nuisance, read_noise: bool = False
    ) -> tuple[PairConductances | None, Tensor]:
        """The pairs' conductances (None where the PCM model is off and ``read_noise`` not
        asked) and the weight the tile holds, (G⁺ − G⁻)/g_max plus any additive weight error."""
        pcm_model = read_noise or self.drifts(nuisance) or self._programming_noise(nuisance)
        pairs = self.conductances(weight, nuisance) if pcm_model else None
        effective = weight if pairs is None else pairs.weight(pairs.now)  # ideal pairs: W
        weight_std = nuisance.get("weight_noise_std", 0.0)
        if weight_std and nuisance.get("weight_noise") is not None:
            effective = torch.add(
                effective, nuisance["weight_noise"].to(effective), alpha=weight_std
            )
        return pairs, effective

    def with_fast(self, held: Tensor, controls: Controls) -> Tensor:
        """W = C + γ A: the weight the layer computes with, C the slow array's held weight."""
        if "fast" not in controls:
            return held
        return torch.add(held, controls["fast"].to(held), alpha=self.config.gamma)

    def transposed_read(self, errors: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """Wᵀ δ (B, n) read on the tiles by driving their columns with ``errors`` (B, m): the
        backward cycle that hands δ to a *preceding* layer (Gokmen & Vlasov 2016). Bound
        management: δ is divided by its largest magnitude per sample before the DAC (so that it
        spans the converter) and the ADC's codes of the row currents are multiplied back by it
        digitally; column tiles' partial sums are added digitally. The read noise and the drift
        compensation of this transposed read are not modelled."""
        c = self.config
        _, effective = self.held_weight(controls["weight"], nuisance)
        effective = self.with_fast(effective, controls)
        bound = errors.abs().amax(dim=1, keepdim=True).clamp_min(1e-30) / c.input_range
        drive = pcm.quantize(errors / bound, c.input_bits, c.input_range).to(effective)
        rows = pcm.transposed_tile_currents(drive, effective, c.tile_size)
        return pcm.quantize(rows, c.output_bits, c.output_range).sum(dim=1) * bound.to(rows)

    def update_signals(
        self, x: Tensor, measured: Tensor, output_gradient: Tensor
    ) -> tuple[Tensor, Tensor]:
        """What the periphery drives the update cycle with, from the samples and the measured
        outputs alone: the rows' DAC inputs x (B, n) and the columns' errors δ = g ⊙ act'(y)
        (B, m), act' the ReLU mask of the measured outputs (1 without activation). ADC
        saturation is not masked."""
        inputs = self.encode(x).to(output_gradient)
        if self.config.activation == "relu":
            return inputs, output_gradient * (measured > 0).to(output_gradient)
        return inputs, output_gradient

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """``"outer-product"``: one forward read y of the tile (a pass per sample), then the
        outer product Σ_b δ_b x_bᵀ of the periphery's update signals (:meth:`update_signals`),
        the update that the pulse-coincidence cycle writes in expectation per unit learning
        rate (Gokmen & Vlasov 2016). It is the exact gradient of ⟨g, y⟩ with respect to W for
        any converters (the DAC's inputs are what the rows see; the ADC's rounding passes
        straight through) and any additive weight error; it omits what the periphery cannot
        see: ADC saturation, the programming error's and the drift's dependence on W, and the
        drift compensation factor. With ``tiki_taka`` the fast array's share is γ times it.

        ``"fast-read"``: the fast array A read alone at x (DAC, A's column currents, ADC):
        the outputs are A x; no gradient (Tiki-Taka's transfer read, Gokmen & Haensch 2020)."""
        self.check_procedure(procedure)
        if procedure == "fast-read":
            return self.fast_read(x, controls), {}, 1
        measured = self(x, controls, nuisance, noise)
        inputs, errors = self.update_signals(x, measured, output_gradient)
        update = errors.T @ inputs
        if "fast" in controls:
            return measured, {"weight": update, "fast": self.config.gamma * update}, 1
        return measured, {"weight": update}, 1

    def fast_read(self, x: Tensor, controls: Controls) -> Tensor:
        """A x (B, m) read on the fast array alone through the converters (no activation)."""
        c = self.config
        if "fast" not in controls:
            raise ConfigError("the fast read needs a second array: set the crossbar's tiki_taka")
        fast = controls["fast"]
        volts = pcm.tile_inputs(self.encode(x).to(fast), c.tile_size)
        partial = pcm.quantize(pcm.tile_currents(volts, fast, c.tile_size), c.output_bits,
                               c.output_range)  # fmt: skip
        return partial.sum(dim=1)

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
