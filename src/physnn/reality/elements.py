"""Perturbation shapes that several gap families share: a relative error of every element of a
device, drawn once, and a noise level that the system's own physics draws from.

Each is a base class; a substrate's gap module subclasses it with its ``name`` and the nuisance
entries it writes (``nuisance_keys``), which its system declares and reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.systems.base import Nuisance, System


def control_shapes(system: System, prefix: str) -> list[tuple[int, ...]]:
    """The shapes of the system's controls whose names start with ``prefix``, in order."""
    return [s.shape for n, s in system.control_specs().items() if n.startswith(prefix)]


@dataclass(frozen=True)
class CouplingFabricationError(Perturbation):
    """Each coupling realizes W ⊙ (1 + scale · ε), ε ~ N(0, 1) drawn once per coupling.

    The draws (one tensor per control named ``weight…``, in the controls' order) go to the first
    nuisance key, ``scale`` to the second; the system multiplies them in.
    """

    scale: float

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        errors_key, scale_key = self.nuisance_keys
        draws = [
            torch.randn(shape, generator=generator) for shape in control_shapes(system, "weight")
        ]
        return {**nuisance, errors_key: draws, scale_key: self.scale}


@dataclass(frozen=True)
class EdgeTolerance(Perturbation):
    """Each edge element of a network realizes its value × (1 + δ_e), δ_e ~ N(0, sigma²) drawn
    once (float64) and the factor clipped at 0.01; the factors (E,) go to the one nuisance key."""

    sigma: float

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        (key,) = self.nuisance_keys
        size = system.num_edges  # type: ignore[attr-defined]
        delta = self.sigma * torch.randn(size, generator=generator, dtype=torch.float64)
        return {**nuisance, key: (1 + delta).clamp_min(0.01)}


@dataclass(frozen=True)
class NoiseLevel(Perturbation):
    """Sets the one nuisance key to ``sigma``: the rms of noise the system draws itself (per
    measurement, per step or per programming) from the device's noise source."""

    sigma: float

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        (key,) = self.nuisance_keys
        return {**nuisance, key: self.sigma}
