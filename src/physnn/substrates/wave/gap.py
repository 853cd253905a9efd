"""The reality gap of a wave-physics recurrent network (Hughes et al., Sci. Adv. 2019).

The twin knows the designed wave-speed map; the built device differs by

* **fabrication error** — the realized speed map deviates from the design by a smooth random
  field (relative σ of c0, Gaussian correlation of ``correlation`` cells) inside the design
  region: local density / thickness variations of a printed or machined acoustic or photonic
  medium;
* **material contrast miscalibration** — the slow material's speed c1 is off by a relative
  error ε (sign drawn at random): the material constant was measured or modelled imperfectly;
  every cell is realized as the same mix of the two real materials;
* **nonlinearity strength error** — the Kerr / saturable-absorption coefficient is off by a
  relative error (sign random); no effect on a linear device;
* **source / probe offset** — the transducer and the probe column sit off their design cells
  by round(N(0, σ²)) cells per axis (assembly tolerance);
* **detector noise** — shot noise for ``photons`` quanta per unit of integrated intensity plus
  Gaussian read noise (:class:`~physnn.reality.perturbations.DetectorNoise`); for acoustic
  transducers read this as an additive noise floor with a signal-dependent part;
* **monitor noise** — relative noise σ of each reading of the field monitors in the design
  region that the ``time-reversal`` and ``echo`` gradient procedures read
  (:class:`~physnn.reality.perturbations.MonitorNoise`; the forward outputs are unaffected).

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
speed error σ (of c0)         0.01       0.03        0.08
  correlation (cells)         2          2           3
c1 contrast error             0.02       0.05        0.1
nonlinearity error            0.05       0.15        0.3
source/probe offset σ (cells) 0.5        1           2
quanta per unit intensity     1e6        1e5         1e4
read noise (quanta rms)       10         30          100
monitor noise (relative)      0.001      0.01        0.03
============================  =========  ==========  =========

Reasoning (assumptions, not measured on a wave RNN): Hughes et al. propose printed or
lithographic media with a grid cell of a fraction of a wavelength; 1–8 % speed errors bracket
the density and thickness tolerances of 3-D printed acoustic metamaterials and etched
photonic slabs, and the error varies smoothly over a few cells. Material constants from data
sheets are typically good to a few per cent (2–10 %). Nonlinear coefficients are far less
certain (5–30 %). A positioning error of half a cell to two cells spans careful to rough
assembly. The default preset's integrated probe intensities are ~0.1; 1e4–1e6 quanta per unit
give relative shot noise of ~3 % to ~0.3 % there. The monitor noise takes the MZI mesh's
levels (0.1–3 % per reading), an assumption for in-situ field sensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.physics.noise import correlated_gaussian_field
from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import DetectorNoise, MonitorNoise
from physnn.systems.base import Nuisance, System


def _random_sign(generator: torch.Generator) -> float:
    return 1.0 if torch.rand((), generator=generator).item() < 0.5 else -1.0


@dataclass(frozen=True)
class SpeedFabricationError(Perturbation):
    """Smooth additive error of the wave-speed map: σ (relative to c0), correlation ℓ cells."""

    sigma: float
    correlation: float
    name = "speed-fabrication-error"
    nuisance_keys = ("speed_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        c = system.config
        error = correlated_gaussian_field(
            (c.nx, c.ny), self.sigma * c.c0, self.correlation, generator
        )
        if nuisance.get("speed_error") is not None:
            error = error + nuisance["speed_error"]
        return {**nuisance, "speed_error": error}


@dataclass(frozen=True)
class ContrastMiscalibration(Perturbation):
    """The slow material's speed is c1 · (1 ± ε) (kept below c0)."""

    relative_error: float
    name = "contrast-miscalibration"
    nuisance_keys = ("c1_realized",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        c = system.config
        c1 = c.c1 * (1 + _random_sign(generator) * self.relative_error)
        return {**nuisance, "c1_realized": min(c1, c.c0 * (1 - 1e-6))}


@dataclass(frozen=True)
class NonlinearityError(Perturbation):
    """The nonlinear coefficients are off by a relative error ±ε."""

    relative_error: float
    name = "nonlinearity-error"
    nuisance_keys = ("nonlinearity_scale",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        scale = nuisance.get("nonlinearity_scale", 1.0)
        return {
            **nuisance,
            "nonlinearity_scale": scale * (1 + _random_sign(generator) * self.relative_error),
        }


@dataclass(frozen=True)
class PositionOffset(Perturbation):
    """Source and probe column each displaced by round(N(0, σ²)) cells per axis."""

    sigma: float
    name = "position-offset"
    nuisance_keys = ("source_shift", "probe_shift")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        def shift() -> torch.Tensor:
            return (self.sigma * torch.randn(2, generator=generator)).round().long()

        return {**nuisance, "source_shift": shift(), "probe_shift": shift()}


def _wave_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["speed_error"], lambda: SpeedFabricationError(k["speed_error"], k["correlation"])),
        (k["contrast_error"], lambda: ContrastMiscalibration(k["contrast_error"])),
        (k["nonlinearity_error"], lambda: NonlinearityError(k["nonlinearity_error"])),
        (k["offset"], lambda: PositionOffset(k["offset"])),
        (k["photons"], lambda: DetectorNoise(k["photons"], read_noise=k["read_noise"])),
        (k["monitor_noise"], lambda: MonitorNoise(k["monitor_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_WAVE_LEVELS = {
    "mild": {"speed_error": 0.01, "correlation": 2.0, "contrast_error": 0.02,
             "nonlinearity_error": 0.05, "offset": 0.5, "photons": 1e6, "read_noise": 10.0,
             "monitor_noise": 0.001},
    "moderate": {"speed_error": 0.03, "correlation": 2.0, "contrast_error": 0.05,
                 "nonlinearity_error": 0.15, "offset": 1.0, "photons": 1e5, "read_noise": 30.0,
                 "monitor_noise": 0.01},
    "severe": {"speed_error": 0.08, "correlation": 3.0, "contrast_error": 0.1,
               "nonlinearity_error": 0.3, "offset": 2.0, "photons": 1e4, "read_noise": 100.0,
               "monitor_noise": 0.03},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "speed_error": "fabrication error σ of the wave-speed map, relative to c0",
        "correlation": "correlation length of the speed error, cells (with speed_error > 0)",
        "contrast_error": "relative error of the slow material's speed c1",
        "nonlinearity_error": "relative error of the nonlinear coefficients",
        "offset": "source / probe position error σ, cells",
        "photons": "detected quanta per unit integrated intensity (0: no detector noise)",
        "read_noise": "detector read noise, quanta rms (with photons > 0)",
        "monitor_noise": "relative noise of the field monitors read by time-reversal and echo",
    },
    levels=_WAVE_LEVELS,
    build=_wave_perturbations,
)
