"""The reality gap of an analog Hopfield network: synapse tolerances, a limited relaxation time
and measurement noise.

* **weight fabrication error** — every synapse realizes W ⊙ (1 + σ ε), one standard normal ε per
  synapse drawn once (the tolerance of a programmed conductance or resistor);
* **limited relaxation time** — the device completes only a fraction 1 − ``short_relaxation`` of
  the sweeps the twin assumes before it is read (its settling time constant against the clock);
* **local measurement noise** — each per-sample measurement of a local derivative (the
  correlation ρ(s_i)ρ(s_j) of a synapse, the activity of a unit) carries Gaussian noise σ, so
  its batch mean carries σ/√B;
* **output noise** — Gaussian noise of σ (unit activities span [0, 1]) on every output read.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
relative weight error σ       0.02       0.05        0.1
fraction of sweeps lost       0.25       0.5         0.75
local noise σ                 0.01       0.03        0.1
output noise σ                0.01       0.03        0.1
============================  =========  ==========  =========

Reasoning (assumptions, not measurements of one chip): analog conductances written with
program-and-verify land within a few per cent of their target, unverified memristive writes
within about ten per cent; 1 % resistors would be "mild". A relaxation cut to a half or a quarter
of the sweeps models reading an analog circuit after one or two time constants instead of at
equilibrium. Noise of 1 % of the full range is a 7-bit readout; 10 % is a fast, single-shot
analog correlation measurement.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.reality.base import Perturbation
from physnn.reality.elements import CouplingFabricationError, NoiseLevel
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class WeightError(CouplingFabricationError):
    """Each synapse realizes W ⊙ (1 + scale · ε), ε ~ N(0, 1) drawn once per synapse."""

    name = "hopfield-weight-error"
    nuisance_keys = ("weight_error", "weight_error_scale")


@dataclass(frozen=True)
class ShortRelaxation(Perturbation):
    """The device completes only the fraction 1 − ``lost`` of its relaxation sweeps."""

    lost: float
    name = "hopfield-short-relaxation"
    nuisance_keys = ("relaxation",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "relaxation": 1.0 - self.lost}


@dataclass(frozen=True)
class LocalNoise(NoiseLevel):
    """Gaussian noise σ on each per-sample measurement of a local energy derivative."""

    name = "hopfield-local-noise"
    nuisance_keys = ("local_noise",)


@dataclass(frozen=True)
class OutputNoise(Perturbation):
    """Additive Gaussian noise σ on every measured output (already reparameterized)."""

    sigma: float
    name = "hopfield-output-noise"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        real = y.real.dtype if y.is_complex() else y.dtype
        eps = torch.randn(y.shape, generator=generator, dtype=real, device=y.device)
        return y + self.sigma * eps


def _hopfield_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["weight_error"], lambda: WeightError(k["weight_error"])),
        (k["short_relaxation"], lambda: ShortRelaxation(min(k["short_relaxation"], 0.99))),
        (k["local_noise"], lambda: LocalNoise(k["local_noise"])),
        (k["output_noise"], lambda: OutputNoise(k["output_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_HOPFIELD_LEVELS = {
    "mild": {"weight_error": 0.02, "short_relaxation": 0.25, "local_noise": 0.01,
             "output_noise": 0.01},
    "moderate": {"weight_error": 0.05, "short_relaxation": 0.5, "local_noise": 0.03,
                 "output_noise": 0.03},
    "severe": {"weight_error": 0.1, "short_relaxation": 0.75, "local_noise": 0.1,
               "output_noise": 0.1},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "weight_error": "relative fabrication error σ of every synapse",
        "short_relaxation": "fraction of the relaxation sweeps the device does not complete",
        "local_noise": "noise σ of each per-sample local derivative measurement",
        "output_noise": "noise σ of every output read (activities span [0, 1])",
    },
    levels=_HOPFIELD_LEVELS,
    build=_hopfield_perturbations,
)
