"""Discrete controls trained by flip search on the device: binary, ternary or any L-level.

Some substrates hold only a few values per control: a digital micromirror device (on/off), a
binarised wave-speed map, ternary weights made of two Boolean masks. Gradients of such controls
do not exist; these update rules search the alphabet directly, with the device in the loop.

The alphabet of a control is its spec's ``levels`` when the spec is quantized, otherwise the
method's ``levels`` option (default 2) spread evenly over the bounds: L values from ``low`` to
``high`` for bounded controls, L values over one period [low, high) for periodic ones (binary
phases: 0 and π). The controls are snapped to it at :meth:`bind`, and only its values are ever
written.

One step on a batch (x, y), with the readout held fixed:

1. measure L = ℓ(θ) on the device at the current controls θ;
2. propose θ′: ``flips`` controls chosen at random, each moved to one of the other L − 1 levels
   (for binary controls: flipped);
3. measure L′ = ℓ(θ′) on the same batch;
4. keep θ′ or go back to θ by the method's rule:

* ``anneal`` — annealing-inspired training (Skalli et al., Commun. Phys. 8, 68 (2025),
  arXiv:2409.01042): Metropolis acceptance, keep θ′ with probability min(1, exp(−(L′ − L)/T_k))
  at the temperature T_k = t0 · cooling^k of step k, so that the search explores early and
  becomes greedy as it cools.
* ``flip`` — the greedy reward-driven rule of Bueno et al., Optica 5, 756 (2018): keep the flip
  only if the batch error decreased (L′ < L), else revert; the zero-temperature limit.

The controls are set by the rule itself (``updates_controls``); the optimizer trains the digital
readout after the last physical block with the exact gradient of the loss of the measured outputs
of the kept controls. Digital parameters upstream of a physical block (the input layer of
``hybrid:H``) get no gradient: a model-free rule sends no error through the device, so they keep
their initial values. Each step costs 2 batch measurements (2B queries) and at most 2 writes per
physical block; the twin is never called.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    generator_for,
    is_int,
    is_number,
    require,
)
from physnn.methods.perturbation import FlatParameters
from physnn.methods.zeroth_order import readout_backward
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.physics.quantization import level_step
from physnn.seeds import derived_seed


class Alphabet(FlatParameters):
    """The physical controls of a model as one flat vector, each with its L equally spaced
    levels: value = low + k · step, k = 0 … L − 1."""

    def __init__(self, blocks: list[PhysicalBlock], default_levels: int) -> None:
        entries = []
        for block in blocks:
            for key, param in block.controls.items():
                spec = block.specs[key]
                size = spec.levels or default_levels
                step = level_step(spec.low, spec.high, size, spec.periodic)
                entries.append((param, spec.low, step, size, spec.periodic))
        params, lows, steps, sizes, periodic = zip(*entries, strict=True)
        super().__init__(list(params))
        self.low, self.step, self.size = self.spread(lows), self.spread(steps), self.spread(sizes)
        self.periodic = self.spread(periodic).bool()

    def index(self, values: Tensor) -> Tensor:
        """The nearest level's number k (on a circle the top level wraps to 0)."""
        k = torch.round((values - self.low) / self.step)
        k = torch.where(self.periodic, torch.remainder(k, self.size), k)
        return torch.minimum(k.clamp_min(0), self.size - 1)

    def value(self, k: Tensor) -> Tensor:
        return self.low + k * self.step

    def snap(self) -> None:
        self.assign(self.value(self.index(self.values())))

    def propose(self, flips: int, generator: torch.Generator) -> Tensor:
        """The current controls with ``flips`` random ones moved to another of their levels."""
        k = self.index(self.values())
        chosen = torch.randperm(k.numel(), generator=generator, device=k.device)[:flips]
        size = self.size[chosen]
        u = torch.rand(chosen.numel(), generator=generator, device=k.device)
        shift = 1 + torch.floor(u * (size - 1))  # uniform over 1 … L − 1
        k[chosen] = torch.remainder(k[chosen] + shift, size)
        return self.value(k)


class FlipSearch(GradientEstimator):
    """Propose, measure twice on the device, keep or revert; subclasses give the rule."""

    requirements = Requirements(device_forward=True)
    updates_controls = True

    def bind(self, model: PNN, seed: int) -> None:
        self._split = model.segments(self.name)
        self._alphabet = Alphabet(model.physical_blocks(), self.options.levels)
        self._alphabet.snap()
        self._generator = generator_for(model, derived_seed(seed, self.name))
        self._step = 0
        self._proposed = self._accepted = 0

    @abstractmethod
    def keep(self, change: float) -> bool:
        """Whether to keep the proposal whose batch loss differs by ``change`` = L′ − L."""

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        alphabet = self._alphabet
        current = alphabet.values()
        before = self._split.measure(x)
        alphabet.assign(alphabet.propose(self.options.flips, self._generator))
        after = self._split.measure(x)
        logits = [self._split.readout(z) for z in (before, after)]
        losses = [loss_fn(out, y) for out in logits]
        kept = self.keep(float(losses[1].detach() - losses[0].detach()))
        if not kept:
            alphabet.assign(current)
        self._step += 1
        self._proposed += 1
        self._accepted += kept
        i = 1 if kept else 0
        return readout_backward(losses[i], logits[i])

    def epoch_diagnostics(self) -> dict[str, float]:
        rate = self._accepted / max(self._proposed, 1)
        self._proposed = self._accepted = 0
        return {"acceptance_rate": rate}

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self._generator.get_state(),
            "step": self._step,
            "proposed": self._proposed,
            "accepted": self._accepted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["rng"])
        self._step, self._proposed, self._accepted = (
            state["step"],
            state["proposed"],
            state["accepted"],
        )


def check_flip_options(flips: Any, levels: Any) -> None:
    require(is_int(flips) and flips >= 1, "flips", "a positive integer", flips)
    require(is_int(levels) and levels >= 2, "levels", "an integer of at least 2", levels)


@dataclass(frozen=True)
class AnnealOptions:
    flips: int = 1
    """Controls moved to another level per proposal."""
    t0: float = 0.01
    """Initial temperature, in units of the loss."""
    cooling: float = 0.995
    """Geometric cooling per step: T_k = t0 · cooling^k."""
    levels: int = 2
    """Alphabet size for controls whose spec is not quantized."""

    def __post_init__(self) -> None:
        check_flip_options(self.flips, self.levels)
        require(is_number(self.t0) and self.t0 > 0, "t0", "positive", self.t0)
        require(
            is_number(self.cooling) and 0 < self.cooling <= 1,
            "cooling",
            "in (0, 1]",
            self.cooling,
        )


@METHODS.register("anneal")
class Anneal(FlipSearch):
    name = "anneal"
    summary = "random level flips of the controls, Metropolis acceptance on a cooling schedule"
    reference = "Skalli et al., Commun. Phys. 8, 68 (2025)"
    options_class = AnnealOptions

    def temperature(self) -> float:
        return self.options.t0 * self.options.cooling**self._step

    def keep(self, change: float) -> bool:
        u = float(torch.rand((), generator=self._generator, device=self._generator.device))
        return u < math.exp(min(0.0, -change / self.temperature()))

    def epoch_diagnostics(self) -> dict[str, float]:
        return {**super().epoch_diagnostics(), "temperature": self.temperature()}


@dataclass(frozen=True)
class FlipOptions:
    flips: int = 1
    """Controls moved to another level per proposal."""
    levels: int = 2
    """Alphabet size for controls whose spec is not quantized."""

    def __post_init__(self) -> None:
        check_flip_options(self.flips, self.levels)


@METHODS.register("flip")
class GreedyFlip(FlipSearch):
    name = "flip"
    summary = "random level flips of the controls, kept only if the batch error decreased"
    reference = "Bueno et al., Optica 5, 756 (2018)"
    options_class = FlipOptions

    def keep(self, change: float) -> bool:
        return change < 0
