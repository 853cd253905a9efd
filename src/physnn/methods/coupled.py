"""Coupled learning: the contrast of a free and a slightly clamped equilibrium (model-free).

Stern, Hexner, Rocks & Liu, "Supervised learning in physical networks: from machine learning to
learning machines", PRX 11, 021045 (2021). The network first settles freely with its inputs
applied (outputs y_F); then its outputs are held by sources a fraction η of the way to the
target, y_C = y_F + η (t − y_F), and it settles again. Every trainable element compares its own
energy derivative in the two states; for a resistor, ∂E/∂G_e = ½ ΔV_e², so

    ΔG_e = −α/η · [½ ΔV_{C,e}² − ½ ΔV_{F,e}²],

i.e. the gradient estimate ĝ = (local(clamped) − local(free)) / η, which the optimizer descends.

A general loss L with digital parts after the physical block (the ``pnn`` model: a readout):
the loss is computed through the digital part by autograd at the *measured* free outputs (which
gives the readout its exact gradient and g = ∂L/∂y), and the target direction is t − y_F = −B·g
per sample (B the batch size; for L = ½|y − t|² summed per sample and averaged over the batch,
this is exactly t − y_F). With the batch-mean local derivatives, ĝ is then for the batch-mean
loss.

Its limit. With Φ(θ, c) = min {E : y = c}, ĝ → (t − y_F)ᵀ ∂²Φ/∂c∂θ as η → 0, whereas the true
gradient is (K⁻¹(t − y_F))ᵀ ∂²Φ/∂c∂θ with K = ∂²Φ/∂c² the output stiffness (equilibrium
propagation's nudge is a force, coupled learning's a displacement). The two agree up to a
positive factor for a single output (K a scalar) and in general descend costs with the same
minima (y_F = t); they differ in direction when the outputs are coupled through K.

Device honesty: two ``Device.relax`` calls per batch (free, clamped: 2 queries per sample); the
twin is never called; no write (the training step commits the updated controls).

Frequency propagation (Anisetti, Kandala, Scellier & Schwarz, "Frequency propagation:
multimechanism learning in nonlinear physical networks", Neural Comput. 36, 596 (2024),
arXiv:2208.08862): the inputs stay at DC while the error is injected at the outputs as an AC
current f(t) = −ε·B·g·cos ωt; every edge demodulates its own dissipated power at ω (a lock-in).
At quasi-static frequencies the network follows the nudge, so the local quantity at phase φ is
local(ε cos φ) and the lock-in returns its first Fourier coefficient

    ĝ = (2 / (P ε)) Σ_k cos φ_k · local(ε cos φ_k),   φ_k = 2πk / P,

= ΔV_DC · ΔV_AC (the DC drop times the small-signal AC drop: the adjoint) + O(ε²), here with P
phase samples of one period (P ≥ 4 keeps the second harmonic out; P = 2 is symmetric EP).
Queries: one free (DC) state for the loss and P nudged states per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    is_int,
    is_number,
    require,
)
from physnn.nets.pnn import PNN, backward_to_latent, relax_on_device


@dataclass(frozen=True)
class CoupledOptions:
    """η: the fraction of the way from the free outputs to the target that the clamp goes."""

    eta: float = 0.1

    def __post_init__(self) -> None:
        require(is_number(self.eta) and self.eta > 0, "eta", "a positive number", self.eta)


@METHODS.register("coupled")
class CoupledLearning(GradientEstimator):
    """Free vs slightly clamped equilibria; ĝ = (local(clamped) − local(free)) / η."""

    name = "coupled"
    summary = "coupled learning: local contrast of a free and a slightly clamped equilibrium"
    reference = "Stern et al., PRX 11, 021045 (2021)"
    requirements = Requirements(device_forward=True, energy_based=True)
    options_class = CoupledOptions

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        split = model.physical_first(self.name, "clamps the outputs of")
        block = split.physical
        free = relax_on_device(block, x)
        loss, logits, g = split.readout_gradient(free.outputs, y, loss_fn)
        eta = self.options.eta
        target_direction = -x.shape[0] * g
        clamped = relax_on_device(block, x, clamp=free.outputs + eta * target_direction)
        grads = {k: (clamped.local[k] - free.local[k]) / eta for k in free.local}
        with torch.enable_grad():
            backward_to_latent(block, grads)
        return loss, logits


@dataclass(frozen=True)
class FreqpropOptions:
    """ε: AC current amplitude (per unit of −B·g); phases: samples of one AC period."""

    amplitude: float = 0.5
    phases: int = 4

    def __post_init__(self) -> None:
        require(is_number(self.amplitude) and self.amplitude > 0, "amplitude",
                "a positive number", self.amplitude)  # fmt: skip
        require(is_int(self.phases) and self.phases >= 2, "phases", "an integer ≥ 2", self.phases)


@METHODS.register("freqprop")
class FrequencyPropagation(GradientEstimator):
    """DC inputs, AC error current at the outputs; each edge locks in on its power at ω."""

    name = "freqprop"
    summary = "frequency propagation: lock-in of each edge's power on an AC error current"
    reference = "Anisetti et al., Neural Comput. 36, 596 (2024)"
    requirements = Requirements(device_forward=True, energy_based=True)
    options_class = FreqpropOptions

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        split = model.physical_first(self.name, "injects an error current into the outputs of")
        block = split.physical
        free = relax_on_device(block, x)
        loss, logits, g = split.readout_gradient(free.outputs, y, loss_fn)
        eps, phases = self.options.amplitude, self.options.phases
        error_current = -eps * x.shape[0] * g
        grads: dict[str, Tensor] = {}
        for k in range(phases):
            weight = math.cos(2 * math.pi * k / phases)
            settled = relax_on_device(block, x, nudge=weight * error_current)
            for name, local in settled.local.items():
                grads[name] = grads.get(name, 0) + (2 * weight / (phases * eps)) * local
        with torch.enable_grad():
            backward_to_latent(block, grads)
        return loss, logits
