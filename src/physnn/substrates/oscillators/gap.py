"""The reality gap of a chain of coupled nonlinear oscillators.

The twin assumes the design (identical natural frequencies ω₀, the spring constants that were
written); the device differs by

* **frequency miscalibration** — each oscillator's natural frequency is off by a static
  relative error N(0, σ²) (mass and stiffness tolerances, trimming residuals);
* **coupling miscalibration** — each written spring constant is realized with a static
  relative error N(0, σ²) (tunable-coupler gain errors);
* **slow drift** — all frequencies shifted together by one relative offset N(0, σ²) since
  calibration (temperature dependence of the stiffness, ageing); it is slow compared with a
  training run, so it is static per device;
* **input noise** — the actuators that set the initial displacements add N(0, σ²) per sample
  and oscillator, in units of the input scale (drawn from the device's noise source);
* **readout noise** — the position sensors add N(0, σ²) to every measured displacement, in
  units of the input scale.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
frequency error σ (relative)  0.005      0.02        0.05
coupling error σ (relative)   0.01       0.05        0.15
common drift σ (relative)     0.002      0.01        0.03
input noise σ (× s)           0.002      0.01        0.03
readout noise σ (× s)         0.002      0.01        0.03
============================  =========  ==========  =========

These are assumptions in the range of laboratory mechanical and electronic oscillators, not
values measured on the Wright et al. (Nature 601, 549 (2022)) set-ups: MEMS and macroscopic
resonators are fabricated to frequency tolerances of 0.1–5 % and drift by 10–100 ppm/K
(a relative drift of 1e-3 to 1e-2 over tens of kelvin); tunable couplers (variable capacitors,
digital potentiometers) have gain errors of 1–20 %; actuators and position sensors (speaker
drives, laser vibrometers, ADCs) have noise of 0.1–3 % of their full scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


def _relative_error(
    sigma: float, shape: tuple[int, ...], previous: Tensor | None, generator: torch.Generator
) -> Tensor:
    """N(0, σ²) relative errors, added to those already drawn."""
    error = sigma * torch.randn(shape, generator=generator, dtype=torch.float64)
    return (error if previous is None else error + previous.to(error)).float()


@dataclass(frozen=True)
class FrequencyMiscalibration(Perturbation):
    """Static relative error N(0, σ²) of every natural frequency ω_i."""

    sigma: float
    name = "frequency-miscalibration"
    nuisance_keys = ("frequency_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["offset"].shape
        error = _relative_error(self.sigma, shape, nuisance.get("frequency_error"), generator)
        return {**nuisance, "frequency_error": error}


@dataclass(frozen=True)
class CouplingMiscalibration(Perturbation):
    """Static relative error N(0, σ²) of every realized spring constant J_i."""

    sigma: float
    name = "coupling-miscalibration"
    nuisance_keys = ("coupling_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["coupling"].shape
        error = _relative_error(self.sigma, shape, nuisance.get("coupling_error"), generator)
        return {**nuisance, "coupling_error": error}


@dataclass(frozen=True)
class FrequencyDrift(Perturbation):
    """All natural frequencies shifted by one common relative offset N(0, σ²)."""

    sigma: float
    name = "frequency-drift"
    nuisance_keys = ("frequency_drift",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shift = self.sigma * torch.randn((), generator=generator, dtype=torch.float64).item()
        return {**nuisance, "frequency_drift": nuisance.get("frequency_drift", 0.0) + shift}


@dataclass(frozen=True)
class InputNoise(Perturbation):
    """Actuator noise σ on every initial displacement, drawn per sample by the system."""

    sigma: float
    name = "input-noise"
    nuisance_keys = ("input_noise",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "input_noise": math.hypot(nuisance.get("input_noise", 0.0), self.sigma)}


@dataclass(frozen=True)
class ReadoutNoise(Perturbation):
    """Gaussian noise N(0, σ²) of the position sensors on every measured displacement."""

    sigma: float
    name = "readout-noise"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return y + self.sigma * eps


def _oscillator_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    scale = system.config.input_scale
    candidates = (
        (k["frequency_error"], lambda: FrequencyMiscalibration(k["frequency_error"])),
        (k["coupling_error"], lambda: CouplingMiscalibration(k["coupling_error"])),
        (k["drift"], lambda: FrequencyDrift(k["drift"])),
        (k["input_noise"], lambda: InputNoise(k["input_noise"] * scale)),
        (k["readout_noise"], lambda: ReadoutNoise(k["readout_noise"] * scale)),
    )
    return tuple(make() for value, make in candidates if value)


_OSCILLATOR_LEVELS = {
    "mild": {"frequency_error": 0.005, "coupling_error": 0.01, "drift": 0.002,
             "input_noise": 0.002, "readout_noise": 0.002},
    "moderate": {"frequency_error": 0.02, "coupling_error": 0.05, "drift": 0.01,
                 "input_noise": 0.01, "readout_noise": 0.01},
    "severe": {"frequency_error": 0.05, "coupling_error": 0.15, "drift": 0.03,
               "input_noise": 0.03, "readout_noise": 0.03},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "frequency_error": "static relative error σ of each natural frequency",
        "coupling_error": "static relative error σ of each spring constant",
        "drift": "common relative drift σ of all frequencies since calibration",
        "input_noise": "actuator noise σ per initial displacement, in units of input_scale",
        "readout_noise": "position-sensor noise σ per output, in units of input_scale",
    },
    levels=_OSCILLATOR_LEVELS,
    build=_oscillator_perturbations,
)
