"""Agnostic equilibrium propagation: the device's parameters move themselves (model-free).

Scellier, Mishra, Bengio & Ollivier, "Agnostic physics-driven deep learning", arXiv:2205.15021
(2022). The trainable parameters are physical degrees of freedom of the device's energy, held
by a homeostatic controller. In the free phase the controller measures the force that keeps
them still, u = ∂E/∂θ (free equilibrium); in the nudged phase (outputs pulled by −β B g, as in
equilibrium propagation) it keeps applying the frozen u, so the parameters feel
∂E/∂θ(nudged) − u and move by Δθ ≈ −(t/γ) β dL/dθ in the time t: a gradient step that the
physics takes, with no local derivative read out or computed.

One step: the device measures y (a query), the digital blocks run on y with autograd (the exact
readout gradient and g = ∂L/∂y), then ``Device.measure_gradient(x, g, "agnostic")`` runs the two
phases (three passes per sample with the default hold at −β, two with
``agnostic_symmetric=false``) and reports the displacement as ĝ = −Δθ / (T β), which the
optimizer descends (its step lr·ĝ is the physics' own step at lr = T β). The nudge strength and
the duration of the nudged phase are options of the system, since the device carries the
procedure out (the elastic network's ``agnostic_nudge`` and ``agnostic_time``, -S key=value), as
the echo's kick is the oscillators'. The estimate is approximate: EP's one-sided O(β) bias, and
the parameters' own restoring stiffness acting while they move (the cosine to the gradient falls
as the time grows; see :mod:`physnn.substrates.elastic.agnostic`). No twin is used.
"""

from __future__ import annotations

from physnn.methods.base import METHODS, Requirements
from physnn.methods.insitu import PhysicalGradient


@METHODS.register("agnostic-ep")
class AgnosticEP(PhysicalGradient):
    name = "agnostic-ep"
    summary = "agnostic EP: nudged parameters move themselves under a frozen homeostatic force"
    reference = "Scellier, Mishra, Bengio & Ollivier, arXiv:2205.15021 (2022)"
    requirements = Requirements(device_forward=True, gradient_procedure="agnostic")
    procedure = "agnostic"
