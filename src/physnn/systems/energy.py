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
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.systems.base import Controls, ControlSpec, NoiseSource, Nuisance, System


@dataclass(frozen=True)
class Equilibrium:
    """What a device can measure at a settled state."""

    outputs: Tensor  # (B, num_outputs): the output quantities y(s*)
    local: Controls  # per control name: the batch mean of ∂E/∂θ at s*, shaped like the control


class EnergySystem(System):
    """A system whose outputs are read at the minimum of an energy (``energy_based`` capability)."""

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


def check_layers(sizes: tuple[int, ...]) -> None:
    """Raise ValueError unless every layer size of a layered network is a positive integer."""
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes):
        raise ValueError(f"layer sizes must be positive integers, got {sizes}")


def check_relaxation(free_steps: int, nudged_steps: int, step_size: float) -> None:
    """Raise ValueError unless both phases take at least one step of size in (0, 1]."""
    if free_steps < 1 or nudged_steps < 1:
        raise ValueError(
            f"free_steps and nudged_steps must be at least 1, got {free_steps} and {nudged_steps}"
        )
    if not 0 < step_size <= 1:
        raise ValueError(f"step_size must be in (0, 1], got {step_size}")


def layered_specs(
    sizes: tuple[int, ...], weight_bound: float, bias_bound: float, bias: str
) -> dict[str, ControlSpec]:
    """The controls of a layered network of units: ``weight_k`` (sizes[k] × sizes[k − 1]) in
    ±weight_bound and ``<bias>_k`` (sizes[k]) in ±bias_bound for every layer k ≥ 1."""
    specs = {}
    for k in range(1, len(sizes)):
        specs[f"weight_{k}"] = ControlSpec((sizes[k], sizes[k - 1]), -weight_bound, weight_bound)
        specs[f"{bias}_{k}"] = ControlSpec((sizes[k],), -bias_bound, bias_bound)
    return specs


def glorot_weights_zero_biases(
    specs: dict[str, ControlSpec], generator: torch.Generator
) -> Controls:
    """Weights U(±√(6/(n_in + n_out))) (Glorot & Bengio 2010), every other control zero."""
    out = {}
    for name, spec in specs.items():
        if name.startswith("weight"):
            limit = math.sqrt(6.0 / sum(spec.shape))
            u = torch.rand(spec.shape, generator=generator, dtype=torch.float32)
            out[name] = spec.project(limit * (2 * u - 1))
        else:
            out[name] = torch.zeros(spec.shape)
    return out
