"""The reality gap of a coupled phase-oscillator network: coupling tolerances, frequency detuning
and phase noise.

* **coupling error** — every coupling realizes W ⊙ (1 + σ ε), one standard normal ε per
  coupling drawn once (the tolerance of a coupling element);
* **frequency detuning** — every free oscillator runs at its own natural frequency offset
  ω ~ N(0, σ_ω²) (in units of the coupling), drawn once; the dynamics dφ/dt = ω − ∂E/∂φ are then
  no longer a gradient flow and settle at a phase-locked state that is not an energy minimum
  (EP's identity holds only approximately);
* **phase noise** — Langevin kicks σ √η ε on every phase at every step (thermal or oscillator
  phase noise), drawn from the device's noise source.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
relative coupling error σ     0.02       0.05        0.1
detuning σ_ω                  0.01       0.03        0.1
phase noise σ (rad / √time)   0.01       0.03        0.1
============================  =========  ==========  =========

Reasoning (assumptions, not measurements of one chip): coupling elements (resistors, varactors,
optical couplers) hold their design within a few per cent; a detuning of a few per cent of the
coupling is what a frequency-locked oscillator array tolerates before the locked state breaks;
phase noise of 0.01–0.1 rad over a coupling time is a quiet to a noisy oscillator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.reality.elements import CouplingFabricationError, NoiseLevel, control_shapes
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class CouplingError(CouplingFabricationError):
    """Each coupling realizes W ⊙ (1 + scale · ε), ε ~ N(0, 1) drawn once per coupling."""

    name = "xy-coupling-error"
    nuisance_keys = ("coupling_error", "coupling_error_scale")


@dataclass(frozen=True)
class Detuning(Perturbation):
    """Each free oscillator's natural frequency is off by ω ~ N(0, sigma²), drawn once."""

    sigma: float
    name = "xy-detuning"
    nuisance_keys = ("detuning",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shapes = control_shapes(system, "field")
        return {
            **nuisance,
            "detuning": [self.sigma * torch.randn(s, generator=generator) for s in shapes],
        }


@dataclass(frozen=True)
class PhaseNoise(NoiseLevel):
    """Langevin phase noise σ √η ε per step of the relaxation."""

    name = "xy-phase-noise"
    nuisance_keys = ("phase_noise",)


def _xy_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["coupling_error"], lambda: CouplingError(k["coupling_error"])),
        (k["detuning"], lambda: Detuning(k["detuning"])),
        (k["phase_noise"], lambda: PhaseNoise(k["phase_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_XY_LEVELS = {
    "mild": {"coupling_error": 0.02, "detuning": 0.01, "phase_noise": 0.01},
    "moderate": {"coupling_error": 0.05, "detuning": 0.03, "phase_noise": 0.03},
    "severe": {"coupling_error": 0.1, "detuning": 0.1, "phase_noise": 0.1},
}

GAP_FAMILY = GapFamily(
    knobs={
        "coupling_error": "relative fabrication error σ of every coupling",
        "detuning": "σ of the free oscillators' frequency detunings (units of coupling)",
        "phase_noise": "σ of the Langevin phase noise per unit time (rad)",
    },
    levels=_XY_LEVELS,
    build=_xy_perturbations,
)
