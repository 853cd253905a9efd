"""Layered energy networks: what Hopfield networks, coupled phase oscillators and Ising machines
share.

Each is a stack of layers s_0 (the inputs, held), s_1 … s_L (hidden layers, then the outputs)
with sizes n_0 … n_L, a coupling matrix W_k (n_k × n_{k−1}) between adjacent layers (control
``weight_k``) and per-unit terms on every layer k ≥ 1 (a bias or a field, control ``bias_k`` or
``field_k``; the oscillators add a pinning phase). The energy couples adjacent layers only, so a
layer given its two neighbours feels the local field

    a_k = W_k g(s_{k−1}) + W_{k+1}ᵀ g(s_{k+1}) + (its per-unit term),

and the networks relax by steps over the layers (Gauss–Seidel sweeps, Gibbs sweeps, Euler steps
of a gradient flow: the physics of each substrate). Equilibrium propagation asks for two phases
(:meth:`LayeredEnergyNetwork.relax_two_phases`): a free phase from rest (inputs held, every other
layer at 0) and a nudged or clamped phase that *continues from the free state*, as a physical
network does when the weak force on its outputs is switched on after it settled. The force f adds
to a_L (energy E − ⟨f, y(s_L)⟩); a clamp holds s_L at the state whose outputs are the clamped
values. A complex nudge (holomorphic EP, Laborieux & Zenke, NeurIPS 2022) runs the second phase in
complex arithmetic on a holomorphic network.

A coupling realized with a fabrication error is W ⊙ (1 + σ ε), one standard normal ε per coupling
drawn once (:func:`fabricated`). The local measurements are the batch means of ∂E/∂θ per control,
named ``<control>_k`` and ordered layer by layer (:meth:`LayeredEnergyNetwork.per_layer_controls`).
"""

from __future__ import annotations

import math
import warnings
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import PhysnnWarning
from physnn.systems.base import Controls, ControlSpec, NoiseSource, Nuisance
from physnn.systems.encoding import UNIT_INTERVAL
from physnn.systems.energy import EnergySystem, Equilibrium

Params = Sequence[list[Tensor] | None]
"""Per-layer parameters of one relaxation step (lists over k = 1 … L; None where absent)."""

CHECK_EVERY = 4
"""Steps between two measurements of a relaxation's residual (each reads a number back from the
arithmetic device: a synchronization on a GPU); a relaxation takes at most CHECK_EVERY − 1 steps
more than it needs."""


class Settled(list):
    """The layers' states [s_0, …, s_L] after a relaxation (a list of tensors) with the residual
    it reached (:meth:`LayeredEnergyNetwork.residual`; None where none was measured)."""

    def __init__(self, states: list[Tensor], residual: float | None) -> None:
        super().__init__(states)
        self.residual = residual


Step = Callable[[list[Tensor], Params, Tensor | None, Tensor | None], list[Tensor]]
"""One relaxation step: (states, params, force on the outputs, held outputs) → new states."""


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


class LayeredConfig:
    """Mixin of the frozen config dataclasses of layered networks (it adds no fields).

    The dataclass declares ``num_inputs``, ``hidden_sizes``, its output layer's size (the field
    named by ``output_field``) and the bounds named by ``bound_fields``; a relaxation schedule
    of ``free_steps``, ``nudged_steps`` (the step budgets of the two phases) and ``step_size``,
    and, for a deterministic relaxation, the ``tolerance`` its phases stop at (None: a fixed
    schedule of every step of the budgets; see :meth:`LayeredEnergyNetwork.converge`), unless it
    overrides :meth:`check_schedule`.
    """

    output_field: ClassVar[str] = "num_outputs"
    bound_fields: ClassVar[tuple[str, str]] = ("weight_bound", "field_bound")

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))  # type: ignore[attr-defined]
        check_layers(self.sizes)
        self.check_schedule()
        if not all(getattr(self, name) > 0 for name in self.bound_fields):
            raise ValueError(f"{' and '.join(self.bound_fields)} must be positive")

    def check_schedule(self) -> None:
        """Raise ValueError unless the relaxation schedule is valid."""
        c: Any = self
        check_relaxation(c.free_steps, c.nudged_steps, c.step_size)
        tolerance = getattr(c, "tolerance", None)
        if tolerance is not None and not tolerance > 0:
            raise ValueError(
                f"tolerance must be positive (or none: a fixed schedule), got {tolerance}"
            )

    @property
    def sizes(self) -> tuple[int, ...]:
        """(n_0, …, n_L): inputs, hidden layers, output layer."""
        c: Any = self
        return (c.num_inputs, *c.hidden_sizes, getattr(c, self.output_field))


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


def glorot(spec: ControlSpec, u: Tensor) -> Tensor:
    """Weights U(±√(6/(n_in + n_out))) (Glorot & Bengio 2010) from uniform draws u ∈ [0, 1)."""
    return spec.project(math.sqrt(6.0 / sum(spec.shape)) * (2 * u - 1))


def glorot_weights_zero_biases(
    specs: dict[str, ControlSpec], generator: torch.Generator
) -> Controls:
    """Glorot-uniform weights (one draw per weight control, in order), every other control
    zero."""
    out = {}
    for name, spec in specs.items():
        if name.startswith("weight"):
            u = torch.rand(spec.shape, generator=generator, dtype=torch.float32)
            out[name] = glorot(spec, u)
        else:
            out[name] = torch.zeros(spec.shape)
    return out


def fabricated(weights: list[Tensor], errors: list[Tensor] | None, scale: float) -> list[Tensor]:
    """The couplings W ⊙ (1 + σ ε) realized with the fabrication errors ε (standard normals
    shaped like each W_k, None for none) of relative scale σ."""
    if errors is None or not scale:
        return weights
    return [w * (1 + scale * e.to(w)) for w, e in zip(weights, errors, strict=True)]


class LayeredEnergyNetwork(EnergySystem):
    """An energy system of held inputs → hidden layers ↔ output layer (see the module).

    A subclass names its per-unit control (``unit_control``: ``bias`` or ``field``, bounded by
    the config's ``<unit_control>_bound``) and implements its physics: :meth:`settle` (usually
    through :meth:`relax_two_phases`) and :meth:`local_derivatives`. Relaxing is settling and
    then measuring; ``forward`` is the free phase's outputs, differentiable through the
    unrolled relaxation.
    """

    input_range = UNIT_INTERVAL
    output_kind = "real"
    learning_rate = 0.01
    unit_control: ClassVar[str] = "field"

    @property
    def layers(self) -> int:
        """L: the number of layers after the inputs."""
        return len(self.config.sizes) - 1

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    def control_specs(self) -> dict[str, ControlSpec]:
        c, unit = self.config, self.unit_control
        return layered_specs(c.sizes, c.weight_bound, getattr(c, f"{unit}_bound"), unit)

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Glorot-uniform couplings and zero per-unit terms, as in the papers."""
        return glorot_weights_zero_biases(self.control_specs(), generator)

    @abstractmethod
    def settle(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        noise: NoiseSource | None = None,
    ) -> list[Tensor]:
        """The layers' states [s_0, …, s_L] after the free phase and, with a nudge or a clamp,
        the phase that continues from it."""

    @abstractmethod
    def local_derivatives(
        self,
        states: list[Tensor],
        controls: Controls,
        nuisance: Nuisance,
        noise: NoiseSource | None,
    ) -> Controls:
        """The measured batch means of ∂E/∂θ at the settled ``states``, per control."""

    def outputs_of(self, states: list[Tensor]) -> Tensor:
        """The measured outputs of settled states (default: the output layer's state)."""
        return states[-1]

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
        states = self.settle(x, controls, nuisance, nudge, clamp, noise)
        local = self.local_derivatives(states, controls, nuisance, noise)
        return Equilibrium(self.outputs_of(states), local, getattr(states, "residual", None))

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        return self.outputs_of(self.settle(x, controls, nuisance, noise=noise))

    def per_layer(self, controls: Controls, name: str) -> list[Tensor]:
        """[name_1, …, name_L]: one control of every layer."""
        return [controls[f"{name}_{k}"] for k in range(1, self.layers + 1)]

    def per_layer_controls(self, values: dict[str, list[Tensor]]) -> Controls:
        """{name_k: values[name][k − 1]}, layer by layer (the order of the controls)."""
        return {
            f"{name}_{k}": layer[k - 1]
            for k in range(1, self.layers + 1)
            for name, layer in values.items()
        }

    def at_rest(self, inputs: Tensor) -> list[Tensor]:
        """[inputs, 0, …, 0]: the held inputs and every other layer at rest."""
        zeros = [
            torch.zeros(inputs.shape[0], n, dtype=inputs.dtype, device=inputs.device)
            for n in self.config.sizes[1:]
        ]
        return [inputs, *zeros]

    def output_state(self, clamp: Tensor) -> Tensor:
        """The output layer's state whose outputs are ``clamp`` (default: the outputs are the
        state)."""
        return clamp

    def relax_two_phases(
        self,
        states: list[Tensor],
        params: Params,
        step: Step,
        steps: tuple[int, int],
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        tolerance: float | None = None,
    ) -> Settled:
        """The states after the free phase from ``states`` and, with a nudge or a clamp, the
        phase that continues from them: each at most ``steps[0]`` (``steps[1]``) steps, stopped
        at the residual ``tolerance`` (see :meth:`converge`). ``params[0]`` are the couplings
        (their dtype is the arithmetic's); a complex nudge promotes the second phase to complex
        arithmetic on a holomorphic network."""
        states, residual = self.converge(states, params, step, steps[0], tolerance)
        if nudge is None and clamp is None:
            return Settled(states, residual)
        dtype = params[0][0].dtype  # type: ignore[index]
        if nudge is not None and nudge.is_complex() and self.capabilities.holomorphic:
            dtype = torch.promote_types(dtype, nudge.dtype)
            params = [None if p is None else [t.to(dtype) for t in p] for p in params]
            states = [s.to(dtype) for s in states]
        force = None if nudge is None else nudge.to(dtype)
        held = None if clamp is None else self.output_state(clamp.to(dtype))
        phase = "nudged_steps"
        return Settled(
            *self.converge(states, params, step, steps[1], tolerance, force, held, phase)
        )

    def converge(
        self,
        states: list[Tensor],
        params: Params,
        step: Step,
        budget: int,
        tolerance: float | None,
        force: Tensor | None = None,
        held: Tensor | None = None,
        phase: str = "free_steps",
    ) -> tuple[list[Tensor], float | None]:
        """Steps until the residual (:meth:`residual`, measured every :data:`CHECK_EVERY` steps)
        is at most ``tolerance``, at most ``budget`` of them; the states and the last residual
        measured. A budget spent first is warned about (:class:`PhysnnWarning`, naming the
        config field ``phase`` to raise). Without a tolerance every step of the budget is taken
        (a fixed schedule), and the residual of the last one is reported if the config has a
        ``tolerance`` field at all (a sampled network has none: no residual)."""
        measured = hasattr(self.config, "tolerance")
        residual = None
        for i in range(budget):
            new = step(states, params, force, held)
            last = i == budget - 1
            if measured and (last or (tolerance is not None and (i + 1) % CHECK_EVERY == 0)):
                residual = self.residual(states, new)
            states = new
            if tolerance is not None and residual is not None and residual <= tolerance:
                return states, residual
        if tolerance is not None:
            warnings.warn(
                PhysnnWarning(
                    f"the {self.name} network did not settle in {budget} steps (residual above "
                    f"the tolerance {tolerance:g}; see Equilibrium.residual): raise {phase} or "
                    "the tolerance"
                ),
                stacklevel=3,
            )
        return states, residual

    def residual(self, old: list[Tensor], new: list[Tensor]) -> float:
        """The largest change of a unit in one step over the step size: the projected energy
        gradient at the state, relative to each unit's range (Hopfield) or total coupling (the
        oscillators' mobility); zero exactly at a fixed point of the relaxation."""
        changes = [(b - a).detach().abs().max() for a, b in zip(old[1:], new[1:], strict=True)]
        return float(torch.stack(changes).max()) / self.config.step_size
