"""Named reality-gap levels: ``none``, ``mild``, ``moderate``, ``severe``.

Each system family registers a builder that turns a level name into a :class:`Reality` in the
system's own physical units. The values and their sources are documented in docs/reality.md and
in ``physnn list --json``.

Diffractive network (λ = wavelength, p = pixel pitch; at 0.4 THz λ = 0.75 mm, p = 0.4 mm):

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
lateral misalignment σ        0.1 p      0.4 p       1.0 p
axial misalignment σ          0.1 λ      0.5 λ       1.0 λ
fabrication phase error σ     0.05 rad   0.2 rad     0.5 rad
  correlation length          1 p        1 p         2 p
hardware phase levels         64         16          8
absorption α (per rad)        0.01       0.04        0.08
photons per input             1e7        1e6         1e5
read noise (e⁻ rms)           10         30          100
============================  =========  ==========  =========

Sources: layer displacements of a fraction of a pixel to about a wavelength are what Mengu et
al. (IEEE JSTQE 26, 3700114, 2020) found in assembled 3-D printed THz networks and used to
"vaccinate" them; a 3-D printer's ~20–30 µm height error at Δn ≈ 0.7 is ≈ 0.1–0.2 rad at
0.4 THz; α ≈ κ/(n−1) ≈ 0.03/0.72 ≈ 0.04 for the printing resin of Lin et al. (Science 2018,
supplementary, n ≈ 1.72, κ ≈ 0.03); 8–64 levels span lithographic multi-level masks to 6-bit
printers and SLMs; photon budgets from 1e5 to 1e7 per inference bracket the low-light regime
studied by Wang et al. (Nat. Commun. 13, 123, 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from physnn.errors import ConfigError, refuse_unknown
from physnn.labels import gap_label
from physnn.plugins import SUBSTRATES_GROUP
from physnn.reality.base import Perturbation, Reality
from physnn.reality.perturbations import (
    Absorption,
    AxialMisalignment,
    DetectorNoise,
    FabricationPhaseError,
    LateralMisalignment,
    MonitorNoise,
    PhaseQuantization,
)
from physnn.registry import Registry
from physnn.systems.base import System

LEVELS: tuple[str, ...] = ("none", "mild", "moderate", "severe")


@dataclass(frozen=True)
class GapFamily:
    """The reality gap of one system family: named knobs, their values per level, a builder.

    ``knobs`` maps each knob to its meaning and unit; ``levels`` gives every knob's value for
    ``mild``, ``moderate`` and ``severe`` (``none`` is all zeros); ``build`` turns knob values
    into perturbations in the system's physical units. A knob at 0 switches its perturbation off,
    so one knob can be swept from a perfect device (robustness curves).
    """

    knobs: dict[str, str]
    levels: dict[str, dict[str, float]]
    build: Callable[[System, dict[str, float]], tuple[Perturbation, ...]]

    def values(self, level: str, overrides: dict[str, float] | None = None) -> dict[str, float]:
        base = dict.fromkeys(self.knobs, 0.0) if level == "none" else dict(self.levels[level])
        refuse_unknown(overrides or {}, list(self.knobs), kind="gap option")
        for name, value in (overrides or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"gap option {name} must be a non-negative number, got {value!r}")
        return {**base, **(overrides or {})}


GAP_FAMILIES: Registry[GapFamily] = Registry("reality-gap family", SUBSTRATES_GROUP)


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise ConfigError(f"unknown gap level {level!r}; choose one of: {', '.join(LEVELS)}")


def make_reality(system: System, level: str, overrides: dict[str, float] | None = None) -> Reality:
    """The :class:`Reality` of a named gap level for ``system``, with knobs overridden.

    ``none`` without overrides is the perfect device for every system.
    """
    check_level(level)
    if level == "none" and not overrides:
        return Reality((), level="none")
    if system.name not in GAP_FAMILIES:
        raise ConfigError(f"system {system.name!r} has no reality-gap levels defined")
    family = GAP_FAMILIES[system.name]
    knobs = family.values(level, overrides)
    reality = Reality(family.build(system, knobs), level=gap_label(level, overrides))
    reality.check(system)
    return reality


def _diffractive_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    pitch, wavelength = system.config.pitch, system.config.wavelength
    candidates = (
        (k["lateral"], lambda: LateralMisalignment(sigma=k["lateral"] * pitch)),
        (k["axial"], lambda: AxialMisalignment(sigma=k["axial"] * wavelength)),
        (
            k["phase_error"],
            lambda: FabricationPhaseError(k["phase_error"], k["correlation"] * pitch),
        ),
        (k["phase_levels"], lambda: PhaseQuantization(levels=int(k["phase_levels"]))),
        (k["absorption"], lambda: Absorption(alpha=k["absorption"])),
        (k["photons"], lambda: DetectorNoise(k["photons"], read_noise=k["read_noise"])),
        (k["monitor_noise"], lambda: MonitorNoise(k["monitor_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_DIFFRACTIVE_LEVELS = {
    "mild": {"lateral": 0.1, "axial": 0.1, "phase_error": 0.05, "correlation": 1.0,
             "phase_levels": 64, "absorption": 0.01, "photons": 1e7, "read_noise": 10.0,
             "monitor_noise": 0.001},
    "moderate": {"lateral": 0.4, "axial": 0.5, "phase_error": 0.2, "correlation": 1.0,
                 "phase_levels": 16, "absorption": 0.04, "photons": 1e6, "read_noise": 30.0,
                 "monitor_noise": 0.01},
    "severe": {"lateral": 1.0, "axial": 1.0, "phase_error": 0.5, "correlation": 2.0,
               "phase_levels": 8, "absorption": 0.08, "photons": 1e5, "read_noise": 100.0,
               "monitor_noise": 0.03},
}  # fmt: skip

GAP_FAMILIES.register("diffractive")(
    GapFamily(
        knobs={
            "lateral": "lateral misalignment σ of each plane, in pixel pitches",
            "axial": "axial misalignment σ of each plane, in wavelengths",
            "phase_error": "fabrication phase error σ, rad",
            "correlation": "correlation length of the phase error, in pixel pitches",
            "phase_levels": "phase levels the hardware realizes (0: continuous)",
            "absorption": "amplitude absorption α per radian of phase delay",
            "photons": "photons per input (0: no detector noise)",
            "read_noise": "detector read noise, electrons rms (with photons > 0)",
            "monitor_noise": "relative noise of the in-situ field measurements (adjoint, ffm)",
        },
        levels=_DIFFRACTIVE_LEVELS,
        build=_diffractive_perturbations,
    )
)
