"""The reality gap of a PCM crossbar: programming noise, conductance drift and 1/f read noise.

The twin computes with the target conductances G_T; the device differs by the PCM statistics of
Nandakumar et al. (ICECS 2019) / Joshi et al. (Nat. Commun. 11, 2473, 2020), as in
:mod:`physnn.physics.crossbar`:

* **programming noise** — every device is written with error N(0, (s · σ_P(g_T))²); one draw
  per device, whatever weight is later written on it (s = 1: the fitted model);
* **drift** — every device drifts as ((t + t₀)/t₀)^(−ν) with its own exponent ν(g_T); the
  inference time t after programming is the knob (the gap grows with it; global drift
  compensation, a design option of the system, removes its mean);
* **read noise** — every read fluctuates by s · σ_nG(t) (1/f noise), drawn inside the forward
  pass for every sample (so it reaches noise-aware training as a reparameterized draw).

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
programming noise scale s     0.5        1           2
inference time t              1 h        1 day       1 year
read noise scale s            0.5        1           2
============================  =========  ==========  =========

Sources and reasoning: s = 1 is the model fitted on 1 million PCM devices of IBM's 90 nm chip
(Joshi et al. 2020); 0.5 and 2 bracket a better-tuned iterative programming and a worse device
(an assumption, not a measurement). The inference times 1 h, 1 day and 1 year are those at which
Joshi et al. 2020 and the issue evaluate PCM inference accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.reality.levels import GAP_FAMILIES, GapFamily
from physnn.systems.base import Nuisance, System

HOUR, DAY, YEAR = 3600.0, 86400.0, 365.25 * 86400.0


def _device_draws(system: System, generator: torch.Generator) -> torch.Tensor:
    """One standard normal per device of the differential pairs, (2, m, n)."""
    shape = system.control_specs()["weight"].shape
    return torch.randn((2, *shape), generator=generator)


@dataclass(frozen=True)
class ProgrammingNoise(Perturbation):
    """Each device is programmed with error N(0, (scale · σ_P(g_T))²)."""

    scale: float
    name = "pcm-programming-noise"
    nuisance_keys = ("programming_noise", "programming_noise_scale")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        eps = _device_draws(system, generator)
        return {**nuisance, "programming_noise": eps, "programming_noise_scale": self.scale}


@dataclass(frozen=True)
class ConductanceDrift(Perturbation):
    """Inference at ``time`` seconds after programming: each device drifts with its own ν."""

    time: float
    name = "pcm-drift"
    nuisance_keys = ("drift_noise", "inference_time")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        eps = _device_draws(system, generator)
        return {**nuisance, "drift_noise": eps, "inference_time": self.time}


@dataclass(frozen=True)
class ReadNoise(Perturbation):
    """1/f read noise of scale · σ_nG(t) on every device at every read."""

    scale: float
    name = "pcm-read-noise"
    nuisance_keys = ("read_noise_scale",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "read_noise_scale": self.scale}


def _crossbar_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["programming_noise"], lambda: ProgrammingNoise(k["programming_noise"])),
        (k["inference_time"], lambda: ConductanceDrift(k["inference_time"])),
        (k["read_noise"], lambda: ReadNoise(k["read_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_CROSSBAR_LEVELS = {
    "mild": {"programming_noise": 0.5, "inference_time": HOUR, "read_noise": 0.5},
    "moderate": {"programming_noise": 1.0, "inference_time": DAY, "read_noise": 1.0},
    "severe": {"programming_noise": 2.0, "inference_time": YEAR, "read_noise": 2.0},
}

GAP_FAMILIES.register("crossbar")(
    GapFamily(
        knobs={
            "programming_noise": "PCM programming noise, multiple of the model's σ_P(g_T)",
            "inference_time": "time of inference after programming, s (0: no drift)",
            "read_noise": "PCM 1/f read noise, multiple of the model's σ_nG(t)",
        },
        levels=_CROSSBAR_LEVELS,
        build=_crossbar_perturbations,
    )
)
