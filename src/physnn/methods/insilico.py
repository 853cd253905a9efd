"""In-silico training: gradients from the digital twin alone.

* ``backprop`` — the ideal digital reference: train on the twin, report the twin's accuracy.
* ``insilico`` — train on the twin, deploy to the device, report the device's accuracy (the
  usual practice; the reality gap shows as the difference).
* ``noise-aware`` — in silico, but with the twin's nuisance drawn afresh from an assumed
  reality-gap level every step and measurement noise injected: the "vaccination" of Mengu et
  al., IEEE JSTQE 26, 3700114 (2020); cf. noise injection in Zhou et al. (2020) and Wright et al.
  (2022). The method never sees the device's true perturbation values: the run's setup hands it
  the assumed noise model of the level (:class:`~physnn.methods.base.Auxiliaries`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.labels import LEVELS
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    NoiseModel,
    Requirements,
    backward_on,
    generator_for,
)
from physnn.nets.pnn import PNN, PhysicalBlock, run_twin
from physnn.seeds import derived_seed
from physnn.systems.base import NoiseSource


@METHODS.register("insilico")
class InSilico(GradientEstimator):
    name = "insilico"
    summary = "train on the digital twin by backpropagation, then deploy to the device"
    reference = "Lin et al., Science 361, 1004 (2018)"
    requirements = Requirements(differentiable_twin=True)

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        return backward_on(model, run_twin, x, y, loss_fn)


@METHODS.register("backprop")
class Backprop(InSilico):
    name = "backprop"
    summary = "ideal digital reference: backpropagation through the twin, evaluated on the twin"
    reference = "Rumelhart, Hinton & Williams, Nature 323, 533 (1986)"
    headline = "twin"


@dataclass(frozen=True)
class NoiseAwareOptions:
    assumed_gap: str = "moderate"
    """Reality-gap level whose distribution the twin is trained under (not the device's draw)."""

    def __post_init__(self) -> None:
        if self.assumed_gap not in LEVELS:
            raise ValueError(f"assumed_gap must be one of {', '.join(LEVELS)}")


@METHODS.register("noise-aware")
class NoiseAware(GradientEstimator):
    name = "noise-aware"
    summary = "in silico with perturbations and noise redrawn every step (vaccination)"
    reference = "Mengu et al., IEEE JSTQE 26, 3700114 (2020)"
    requirements = Requirements(differentiable_twin=True)
    options_class = NoiseAwareOptions

    def bind(self, model: PNN, seed: int) -> None:
        noise_model = self.auxiliaries.noise_model
        if noise_model is None:
            raise ConfigError(
                "noise-aware training needs the assumed noise model, which the run's setup "
                "builds (physnn.train.setup)"
            )
        self._realities: dict[int, NoiseModel] = {}
        for block in model.physical_blocks():
            try:
                self._realities[id(block)] = noise_model(block.system, self.options.assumed_gap)
            except ConfigError as err:
                raise ConfigError(f"noise-aware training: {err}") from None
        self._generator = generator_for(model, derived_seed(seed, "noise-aware"))
        self._cpu_generator = torch.Generator().manual_seed(derived_seed(seed, "noise-aware-cpu"))

    def _execute(self, block: PhysicalBlock, x: Tensor) -> Tensor:
        reality = self._realities[id(block)]
        nuisance = reality.sample_nuisance(block.system, self._cpu_generator)
        noise = NoiseSource(self._generator, differentiable=True)
        y = block.system(x, block.realized_controls(), nuisance, noise)
        return reality.observe(y, self._generator, differentiable=True)

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        return backward_on(model, self._execute, x, y, loss_fn)

    def state_dict(self) -> dict:
        return {"gpu": self._generator.get_state(), "cpu": self._cpu_generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self._generator.set_state(state["gpu"])
        self._cpu_generator.set_state(state["cpu"])
