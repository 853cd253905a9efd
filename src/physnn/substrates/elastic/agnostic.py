"""Agnostic equilibrium propagation: the spring network moves its own trainable parameters.

Scellier, Mishra, Bengio & Ollivier, "Agnostic physics-driven deep learning", arXiv:2205.15021
(2022). The trainable parameters θ (rest strains or stiffnesses) are physical degrees of freedom
of the energy E(θ, s), each with a mobility 1/γ: left alone they would slide down the energy,
γ dθ/dt = −∂E/∂θ. A homeostatic controller holds them:

* free phase — with the inputs applied the network settles (s⁰) and the controller finds the
  force that keeps every parameter still, u = ∂E/∂θ(θ₀, s⁰) (batch mean, read through the
  spring's length gauge, so with its noise);
* nudged phase — the target pairs are pulled by f = −β B g (as equilibrium propagation's nudge,
  β the strength, g = ∂L/∂y) while the controller keeps applying the *frozen* u; the parameters
  now feel an unbalanced force and move under their own dynamics for a time t, the network's
  state following them quasi-statically, s = s^β(θ):

      γ dθ/dt = −(∂E/∂θ(θ, s^β(θ)) − u),
      Δθ = −(t/γ) (∂E/∂θ(s^β) − ∂E/∂θ(s⁰)) + O((t/γ)²) = −(t/γ) β ĝ_EP + O((t/γ)², β²).

The displacement is the update (a gradient step done by the physics, learning rate t β / γ); the
procedure reports it as the gradient estimate ĝ = −Δθ / (T β), T = t/γ in units of γ/(k₀ L̄²)
(``agnostic_time``).

Centring (``agnostic_symmetric``, the default; ours, after the symmetric nudging of Laborieux
et al., Front. Neurosci. 15, 633674 (2021)): the controller finds u in a phase nudged by −f
instead of the free phase, so Δθ ≈ −T (∂E/∂θ(s^β) − ∂E/∂θ(s^{−β})) = −2Tβ ĝ_EP, with EP's
symmetric O(β²) bias instead of the one-sided O(β) (stiffness-trained network at β = 10⁻³:
cosine 0.99999 instead of 0.78); ĝ = −Δθ / (2Tβ).

The bias of the motion: while θ moves, the parameters' restoring stiffness K = ∂²Φ/∂θ² (Φ(θ) the
energy minimized over s) acts on the displacement, so Δθ = −(1 − e^{−TK}) K⁻¹ β ĝ_EP to first
order in β: the cosine to the gradient stays near 1 for T ‖K‖ ≪ 1 and turns towards the
Newton-like K⁻¹ ĝ as T grows. For rest strains ‖K‖ ≈ k₀ L̄² ≈ 1; a stiffness's K (≈ the squared
extensions, ~10⁻⁴) is far softer. The controller here holds u exactly and acts instantly (an
infinitely stiff actuator; only its force reading carries the gauge noise); the samples of a
batch act on the parameters together (the batch-mean force: presenting them in turn for t/B
each moves θ by the same amount to first order).

What it is agnostic to: the parameters feel the true ∂E/∂θ of their own realization. A
stiffness realized as k = s θ (the tolerance s of the nuisance ``stiffness_scale``) is pushed by
s ∂E/∂k, which is the gradient's own factor, where equilibrium propagation reads ∂E/∂k with a
gauge and leaves s uncorrected (its estimate is off by s per spring). The controller finds the
force that holds θ by feedback; its error is modelled as that of the gauge reading of ∂E/∂k.

The dynamics are integrated by Heun's method with steps of at most :data:`MAX_STEP`, each stage
settling the network by Newton's method from the previous stage's positions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from physnn.physics import elastic as el
from physnn.systems.base import Nuisance

if TYPE_CHECKING:
    from physnn.substrates.elastic.system import ElasticNetwork

MAX_STEP = 0.02
"""Largest integration step of the parameter dynamics, in units of γ/(k₀ L̄²): Heun's local
error is O((step ‖K‖)³), below 10⁻⁵ of the displacement for rest strains (‖K‖ ≈ 1)."""


class ParameterDynamics:
    """γ dθ/dt = −(∂E/∂θ(θ, s^β(θ)) − u) of the control ``name`` for one batch of inputs."""

    def __init__(
        self, system: ElasticNetwork, x: Tensor, name: str, nuisance: Nuisance, force: Tensor
    ) -> None:
        self.system, self.name, self.nuisance, self.force = system, name, nuisance, force
        self.ref = system.reference(nuisance, force)
        self.net = system.network(self.ref)
        self.r = system.held_positions(x.to(self.ref), self.ref)

    def local(self, theta: Tensor) -> Tensor:
        """∂E/∂θ (batch mean) at the nudged equilibrium for parameters θ: the force the
        parameters feel (noise-free, not a reading); the positions warm-start the next call."""
        controls = {self.name: theta}
        k, rest = self.system.springs(controls, self.nuisance, self.ref)
        self.r = el.settle(self.net, k, rest, self.r, self.force)
        d, _ = el.geometry(self.r, self.net.edges)
        return self.system.local(d - rest, k, rest, controls)[self.name] * self.gain(theta)

    def gain(self, theta: Tensor) -> Tensor | float:
        """∂(what the springs realize)/∂θ beyond what :meth:`ElasticNetwork.local` includes:
        k/θ (the stiffness tolerance) for stiffnesses, whose local derivative is taken with
        respect to the realized k; 1 for rest strains."""
        if self.name != "stiffness":
            return 1.0
        k, _ = self.system.springs({self.name: theta}, self.nuisance, self.ref)
        return k / theta

    def displacement(self, theta: Tensor, hold: Tensor, time: float) -> Tensor:
        """Δθ after the time ``time`` with the controller's force ``hold`` frozen (Heun)."""
        steps = max(1, math.ceil(time / MAX_STEP))
        dt, start = time / steps, theta
        for _ in range(steps):
            slope = hold - self.local(theta)
            trial = theta + dt * slope
            theta = theta + 0.5 * dt * (slope + hold - self.local(trial))
        return theta - start


def agnostic_gradient(
    system: ElasticNetwork,
    x: Tensor,
    theta: Tensor,
    name: str,
    nuisance: Nuisance,
    held: Tensor,
    force: Tensor,
    contrast: float,
) -> Tensor:
    """ĝ = −Δθ / (T Δβ) of the nudged phase (T = ``agnostic_time``; Δβ = ``contrast``, the
    difference of the nudge strengths of the nudged and the hold phase), float64. ``held``:
    the local derivatives of the hold phase as the gauges read them, from which the controller's
    force follows (with the same gain as the force the parameters feel)."""
    time = system.config.agnostic_time
    with torch.no_grad():
        dynamics = ParameterDynamics(system, x, name, nuisance, force)
        hold = held * dynamics.gain(theta)
        return -dynamics.displacement(theta, hold, time) / (time * contrast)
