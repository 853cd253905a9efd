"""Energy-based systems: physics that settles into the minimum of an energy.

Resistive networks minimize their co-content, spring networks their elastic energy, Hopfield
networks and Ising machines their Hamiltonians. Methods that let the physics do the credit
assignment (equilibrium propagation, Scellier & Bengio, Front. Comput. Neurosci. 11, 24 (2017);
coupled learning, Stern et al., PRX 11, 021045 (2021)) need more than a forward query: they let
the system settle while its outputs are *nudged* by a weak force or *clamped* to given values,
and then read, at every trainable element θ_k, the local derivative of the energy ∂E/∂θ_k
(the power dissipated in a resistor, the strain of a spring, the correlation of two spins).

An :class:`EnergySystem` provides :meth:`relax`, which returns an :class:`Equilibrium`: the
measured outputs and those local derivatives (batch means) at the state that minimizes

    F(s) = E(s; x, θ) − ⟨f, y(s)⟩        (nudged by the force f, per sample), or
    E(s; x, θ)  subject to y(s) = c       (outputs clamped to c).

Its ``forward`` is the free equilibrium's outputs, differentiable for the twin (through the
unrolled relaxation or an implicit solve, as each system documents).

Two families share more: the layered networks of units (Hopfield, XY oscillators, Ising) derive
from :class:`physnn.systems.layered.LayeredEnergyNetwork`, the node-and-edge networks solved by
Newton's method (resistive, elastic) from
:class:`physnn.systems.equilibrium_network.EquilibriumNetwork`.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from physnn.systems.base import Controls, NoiseSource, Nuisance, System


@dataclass(frozen=True)
class Equilibrium:
    """What a device can measure at a settled state."""

    outputs: Tensor  # (B, num_outputs): the output quantities y(s*)
    local: Controls  # per control name: the batch mean of ∂E/∂θ at s*, shaped like the control
    residual: float | None = None
    """The relative residual of the equilibrium condition the relaxation reached (each system
    documents its measure; a relaxation stops once it is at most the system's tolerance), None
    where the device does not report one."""


class EnergySystem(System):
    """A system whose outputs are read at the minimum of an energy (``energy_based`` capability)."""

    nudge: ClassVar[float] = 1e-3
    """The largest nudge force on an output (in the system's units: a force of 1 moves an output
    across about its range) that equilibrium propagation uses unless told otherwise: √τ for a
    relaxation resolved to the residual τ = 1e-6, where its error (τ/β) and the bias of the
    nudge (O(β) at an activation's kink, O(β²) where smooth) are both small. A sampled system,
    whose equilibria carry sampling noise, sets a larger one."""

    @abstractmethod
    def relax(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        *,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        noise: NoiseSource | None = None,
    ) -> Equilibrium:
        """Settle for inputs ``x``: free, nudged by the force ``nudge`` (B, num_outputs) on the
        outputs, or with the outputs clamped to ``clamp`` (B, num_outputs); measure."""

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        return self.relax(x, controls, nuisance, noise=noise).outputs
