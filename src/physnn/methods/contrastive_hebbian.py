"""Contrastive Hebbian learning: the contrast of the free and the fully clamped equilibrium.

Movellan, "Contrastive Hebbian learning in the continuous Hopfield model", Connectionist Models
Summer School (1991); Xie & Seung, "Equivalence of backpropagation and contrastive Hebbian
learning in a layered network", Neural Comput. 15, 441 (2003). The network settles freely with
its inputs applied (outputs y_F), then with its outputs clamped *at the targets*, and every
trainable element compares its local energy derivative in the two states:

    ĝ = ∂E/∂θ(clamped) − ∂E/∂θ(free)       (for a coupling: the anti-Hebbian free correlation
                                             minus the clamped one).

It is the fully clamped limit of coupled learning (Stern, Hexner, Rocks & Liu, PRX 11, 021045
(2021)): the clamp y_C = y_F + η (t − y_F) at η = 1. For a general loss with digital parts after
the physical block the target direction is −B·g (g = ∂L/∂y at the measured free outputs, B the
batch size), so the clamp is y_F − B g: coupled learning at η = 1, whose code this reuses.

A baseline, not a gradient: the contrast of two states a full error apart is the gradient only
to first order in the error (the O(η) bias of coupled learning at η = 1), and it descends the
contrastive energy E_C − E_F rather than the loss. Where that difference is not small (strong
nonlinearity, outputs far from their targets) the estimate turns away from the gradient, and
CHL is known to oscillate or fail where the clamped and free states leave different basins
(Movellan 1991; Xie & Seung 2003 show it equals backprop only in the limit of weak feedback).
Two ``Device.relax`` calls per batch (2 queries per sample); no twin, no write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from physnn.methods.base import METHODS
from physnn.methods.coupled import CoupledLearning


@dataclass(frozen=True)
class CHLOptions:
    """No options: the clamp goes all the way to the target (coupled learning's η = 1)."""

    eta: ClassVar[float] = 1.0


@METHODS.register("chl")
class ContrastiveHebbian(CoupledLearning):
    """Free vs fully clamped equilibria; ĝ = local(clamped) − local(free)."""

    name = "chl"
    summary = "contrastive Hebbian learning: free vs fully clamped equilibrium (baseline)"
    reference = "Movellan (1991); Xie & Seung, Neural Comput. 15, 441 (2003)"
    options_class = CHLOptions
