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

Its limit, and why its magnitude is not the gradient's. With Φ(θ, c) = min {E : y = c} (the
energy with the outputs held at c; ∂Φ/∂c = 0 at c = y_F) and K = ∂²Φ/∂c² the output stiffness
(per sample; its inverse is the response ∂y/∂f of the outputs to injected forces),

    ĝ = (∂Φ/∂θ(y_F + η δ) − ∂Φ/∂θ(y_F)) / η → δᵀ ∂²Φ/∂c∂θ  (η → 0, bias O(η)),
    dL/dθ = −(B g)ᵀ ∂y_F/∂θ = (K⁻¹ δ)ᵀ ∂²Φ/∂c∂θ,            δ = t − y_F = −B g,

because ∂y_F/∂θ = −K⁻¹ ∂²Φ/∂c∂θ (Stern et al. 2021, Sec. III and App. B: coupled learning
descends the coupled-learning cost (E_C − E_F)/η ≈ ½ η δᵀ K δ, not the squared error).
Equilibrium propagation's nudge is a force, coupled learning's a displacement; the clamp's
reaction is K η δ. So ĝ is the gradient *in the stiffness metric*, K·dL/dθ: the same direction
for a single output (K a scalar) and costs with the same minima (y_F = t) in general, but
scaled by the stiffness (for the default resistive network K ≈ 17 G₀ per output: the relative
error of about 14 that ``physnn gradcheck`` shows) and turned where the outputs are coupled
through K. A device that measures its clamps' reactions could undo K; :class:`Equilibrium`
does not report them, so the rule is shipped as published and the learning rate absorbs the
scale (measured in the method tables).

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

``realization=lock-in`` runs it as the paper's AC circuit does instead of P quasi-static
states: the device's ``"lock-in"`` procedure (:mod:`physnn.physics.lockin`, on the resistive
network) injects the error current into the capacitive network, integrates its real RC dynamics
(diodes included) and lets every edge demodulate ½ ΔV_e(t)² over finitely many periods. Its
errors are physical: the RC lag (O((ωRC)²) in the in-phase part), the turn-on transient within
the lock-in's window, O(ε²); its sampling is the system's (``lockin_steps`` per period, so
``phases`` is unused). Queries: the free state for the loss, then the procedure's two passes
(its DC state and the AC run) per sample. It is also ``hep realization=lock-in``: the first
harmonic of a real oscillating nudge, the same measurement.
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
from physnn.methods.equilibrium import (
    LOCK_IN,
    check_lock_in,
    check_nudge,
    lock_in_gradient,
    nudge_force,
)
from physnn.nets.pnn import PNN, backward_to_latent, relax_on_device


@dataclass(frozen=True)
class CoupledOptions:
    """η: the fraction of the way from the free outputs to the target that the clamp goes.

    The default 1e-3 puts the estimate at its η → 0 limit (the bias is O(η)): measured with
    ``physnn gradcheck`` at gap ``none``, the cosine at η = 1e-3 equals the limit's to 1e-3 on
    the resistive, elastic and Hopfield networks, while η = 0.1 (the earlier default) lost
    0.01 of it on the resistive network and fell from 0.69 to 0.18 on the elastic one, whose
    outputs (strains ≈ 0.01) are far smaller than the distance to their targets. Measurement
    noise enters ĝ as σ/η: on a noisy device a larger η trades bias for variance."""

    eta: float = 1e-3

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


INJECTS = "injects an error current into the outputs of"


@dataclass(frozen=True)
class FreqpropOptions:
    """amplitude: the largest AC current on any output of any sample, in the system's units
    (the error current is −ε B g cos ωt with ε scaled so, as ``ep`` scales its β:
    :func:`physnn.methods.equilibrium.nudge_force`), by default the system's ``nudge``
    (:attr:`physnn.systems.energy.EnergySystem.nudge`); phases: samples of one AC period.

    The bias is O(ε²) (P ≥ 4; P = 4 is symmetric EP at β = ε, whose default and its reasons
    this shares: 1e-3 for the relaxing systems). The earlier default 0.5 was far outside that
    regime: ``physnn gradcheck`` (gap ``none``, one batch of 8, the amplitude then per unit of
    B g) gave cosine −0.18 on the elastic network (0.89 at 0.05, 0.99999 at 0.005), whose strain
    outputs respond far beyond linearly, and 0.955 on the Hopfield network (0.999999 at 0.005).
    Measurement noise enters ĝ as σ/ε: raise it with the gap.

    realization: ``quasi-static`` (P settled phase samples, no dynamics) or ``lock-in`` (the
    device's AC run with capacitors and a finite lock-in window; see the module)."""

    amplitude: float | None = None
    phases: int = 4
    realization: str = "quasi-static"

    def __post_init__(self) -> None:
        check_nudge("amplitude", self.amplitude)
        require(is_int(self.phases) and self.phases >= 2, "phases", "an integer ≥ 2", self.phases)
        ok = self.realization in ("quasi-static", LOCK_IN)
        require(ok, "realization", f"quasi-static or {LOCK_IN}", self.realization)


@METHODS.register("freqprop")
class FrequencyPropagation(GradientEstimator):
    """DC inputs, AC error current at the outputs; each edge locks in on its power at ω."""

    name = "freqprop"
    summary = "frequency propagation: lock-in of each edge's power on an AC error current"
    reference = "Anisetti et al., Neural Comput. 36, 596 (2024)"
    requirements = Requirements(device_forward=True, energy_based=True)
    options_class = FreqpropOptions

    def bind(self, model: PNN, seed: int) -> None:
        if self.options.realization == LOCK_IN:
            check_lock_in(model, self.name, INJECTS)

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        split = model.physical_first(self.name, INJECTS)
        block = split.physical
        free = relax_on_device(block, x)
        loss, logits, g = split.readout_gradient(free.outputs, y, loss_fn)
        if self.options.realization == LOCK_IN:
            backward_to_latent(block, lock_in_gradient(block, x, g, self.options.amplitude))
            return loss, logits
        eps, error_current = nudge_force(self.options.amplitude, block, g)
        phases = self.options.phases
        grads: dict[str, Tensor] = {}
        for k in range(phases):
            weight = math.cos(2 * math.pi * k / phases)
            settled = relax_on_device(block, x, nudge=weight * error_current)
            for name, local in settled.local.items():
                grads[name] = grads.get(name, 0) + (2 * weight / (phases * eps)) * local
        with torch.enable_grad():
            backward_to_latent(block, grads)
        return loss, logits
