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

from physnn.errors import ConfigError
from physnn.reality.base import Reality
from physnn.reality.perturbations import (
    Absorption,
    AxialMisalignment,
    DetectorNoise,
    FabricationPhaseError,
    LateralMisalignment,
    PhaseQuantization,
)
from physnn.registry import Registry
from physnn.systems.base import System

LEVELS: tuple[str, ...] = ("none", "mild", "moderate", "severe")

GAP_BUILDERS: Registry[Callable[[System, str], Reality]] = Registry("reality-gap family")


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise ConfigError(f"unknown gap level {level!r}; choose one of: {', '.join(LEVELS)}")


def make_reality(system: System, level: str) -> Reality:
    """The :class:`Reality` of a named gap level for ``system`` (``none`` is always empty)."""
    check_level(level)
    if level == "none":
        return Reality((), level="none")
    if system.name not in GAP_BUILDERS:
        raise ConfigError(f"system {system.name!r} has no reality-gap levels defined")
    reality = GAP_BUILDERS[system.name](system, level)
    reality.check(system)
    return reality


_DIFFRACTIVE = {
    # level: lateral σ/p, axial σ/λ, phase σ rad, corr/p, levels, α, photons, read e-
    "mild": (0.1, 0.1, 0.05, 1.0, 64, 0.01, 1e7, 10.0),
    "moderate": (0.4, 0.5, 0.2, 1.0, 16, 0.04, 1e6, 30.0),
    "severe": (1.0, 1.0, 0.5, 2.0, 8, 0.08, 1e5, 100.0),
}


@GAP_BUILDERS.register("diffractive")
def diffractive_reality(system: System, level: str) -> Reality:
    """Misalignment, fabrication error, quantization, absorption and detector noise of a D2NN."""
    lateral, axial, phase_sigma, corr, levels, alpha, photons, read = _DIFFRACTIVE[level]
    pitch, wavelength = system.config.pitch, system.config.wavelength
    return Reality(
        (
            LateralMisalignment(sigma=lateral * pitch),
            AxialMisalignment(sigma=axial * wavelength),
            FabricationPhaseError(sigma=phase_sigma, correlation_length=corr * pitch),
            PhaseQuantization(levels=levels),
            Absorption(alpha=alpha),
            DetectorNoise(photons_per_unit=photons, read_noise=read),
        ),
        level=level,
    )
