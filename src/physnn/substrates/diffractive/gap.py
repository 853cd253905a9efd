"""The reality gap of a diffractive network: misaligned and imperfectly made planes, quantized
phases, absorption and detector noise (λ = wavelength, p = pixel pitch; at 0.4 THz
λ = 0.75 mm, p = 0.4 mm):

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

from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import (
    Absorption,
    AxialMisalignment,
    DetectorNoise,
    FabricationPhaseError,
    LateralMisalignment,
    MonitorNoise,
    PhaseQuantization,
)
from physnn.systems.base import System


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

GAP_FAMILY = GapFamily(
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
