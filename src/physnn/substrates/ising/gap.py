"""The reality gap of an Ising machine (annealer): what the hardware cannot program exactly.

* **limited connectivity** — the hardware graph lacks a fraction of the couplers the layered
  network asks for (on a D-Wave chip, couplings a minor embedding cannot place); those J are 0;
* **coefficient precision** — J and h are rounded to 2^bits levels of their ranges;
* **integrated control error** — every programmed J and h is off by Gaussian noise σ, drawn anew
  each time the problem is programmed (once per relaxation, shared by its reads);
* **effective-temperature error** — the sampler's distribution is Boltzmann at a temperature
  (1 + δ) T instead of the nominal T.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
missing couplers              0.02       0.05        0.15
precision (bits)              8          6           4
control error σ (J units)     0.01       0.03        0.08
temperature error δ           0.1        0.25        0.5
============================  =========  ==========  =========

Reasoning (assumptions, not measurements of one chip): D-Wave documents its integrated control
errors as a few per cent of the coefficient range and an effective sampling temperature that
differs from the nominal one and between problems; 4–6 bits of effective precision for J and h
are commonly quoted; a sparse hardware graph leaves some couplings of a dense layer unplaced.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.reality.elements import NoiseLevel, control_shapes
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class MissingCouplers(Perturbation):
    """Each coupler is absent with probability ``fraction`` (drawn once)."""

    fraction: float
    name = "ising-missing-couplers"
    nuisance_keys = ("coupling_mask",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shapes = control_shapes(system, "weight")
        masks = [(torch.rand(s, generator=generator) >= self.fraction).float() for s in shapes]
        return {**nuisance, "coupling_mask": masks}


@dataclass(frozen=True)
class Precision(Perturbation):
    """J and h rounded to 2^bits levels of their ranges."""

    bits: int
    name = "ising-precision"
    nuisance_keys = ("precision_bits",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "precision_bits": self.bits}


@dataclass(frozen=True)
class ControlError(NoiseLevel):
    """Gaussian error σ on every J and h, drawn each time the problem is programmed."""

    name = "ising-control-error"
    nuisance_keys = ("control_noise",)


@dataclass(frozen=True)
class TemperatureError(Perturbation):
    """The sampler runs at (1 + δ) times the nominal temperature."""

    delta: float
    name = "ising-temperature-error"
    nuisance_keys = ("temperature_scale",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "temperature_scale": 1.0 + self.delta}


def _ising_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["missing_couplers"], lambda: MissingCouplers(min(k["missing_couplers"], 1.0))),
        (k["precision_bits"], lambda: Precision(max(1, round(k["precision_bits"])))),
        (k["control_error"], lambda: ControlError(k["control_error"])),
        (k["temperature_error"], lambda: TemperatureError(k["temperature_error"])),
    )
    return tuple(make() for value, make in candidates if value)


_ISING_LEVELS = {
    "mild": {"missing_couplers": 0.02, "precision_bits": 8, "control_error": 0.01,
             "temperature_error": 0.1},
    "moderate": {"missing_couplers": 0.05, "precision_bits": 6, "control_error": 0.03,
                 "temperature_error": 0.25},
    "severe": {"missing_couplers": 0.15, "precision_bits": 4, "control_error": 0.08,
               "temperature_error": 0.5},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "missing_couplers": "fraction of couplers the hardware graph lacks",
        "precision_bits": "bits of precision of J and h (0: exact)",
        "control_error": "σ of the integrated control error on every J and h",
        "temperature_error": "relative error δ of the effective sampling temperature",
    },
    levels=_ISING_LEVELS,
    build=_ising_perturbations,
)
