"""The reality gap of an optical random projection (scattering medium + camera).

The twin knows the transmission matrix ``B`` measured at calibration; the device differs by

* **medium decorrelation** — between calibration and use the medium and the set-up drift
  (temperature, mechanical creep of the paint layer, laser pointing), modelled as
  ``B' = √(1 − ε²) B + ε B_new`` with an independent ``B_new``; the speckle-intensity
  correlation between calibration and use is then ``1 − ε²``;
* **SLM phase error** — each macropixel realizes its phase with a static error (look-up-table
  calibration, fringing between pixels), N(0, σ²) rad;
* **camera noise** — shot noise for a full well of ``full_well`` electrons at the saturation
  intensity plus Gaussian read noise (:class:`~physnn.reality.perturbations.DetectorNoise`);
* **holographic field noise** — the in-situ ``adjoint`` procedure (``bidirectional`` set-ups)
  reads fields holographically with the cameras' shot noise: relative noise 1/√full_well;
* **camera quantization** — the ADC reports ``bits``-bit codes between 0 and the saturation
  intensity (the OPU's camera is 8-bit; Launay et al., arXiv:2012.06373).

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
medium decorrelation ε        0.1        0.3         0.5
  (intensity correlation)     (0.99)     (0.91)      (0.75)
SLM phase error σ             0.05 rad   0.15 rad    0.4 rad
camera full well (e⁻)         2e4        1e4         2e3
read noise (e⁻ rms)           2          5           10
camera bits                   10         8           6
============================  =========  ==========  =========

Sources and reasoning: the transmission matrix of a static scattering layer is measured by
phase-shifting interferometry (Popoff et al., PRL 104, 100601 (2010)); its usefulness decays
with the speckle decorrelation of the medium and the optical set-up (review: Rotter & Gigan,
Rev. Mod. Phys. 89, 015005 (2017)), and the measured matrix itself is noisy. We take an
intensity correlation of 0.99 / 0.91 / 0.75 between calibration and use for a freshly
calibrated, a typical and a badly drifted set-up — an assumption, not a value measured on an
OPU. LCoS SLMs realize 8-bit phase with look-up-table errors and phase flicker of a few 0.01
to 0.1 rad; fringing between neighbouring pixels adds more for fine masks. Machine-vision CMOS
cameras have full wells of ~1e4 e⁻ and 2–10 e⁻ read noise; 8 bits is the OPU's camera depth,
10 and 6 bits bracket it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.physics.scattering import transmission_matrix
from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import CameraQuantization, DetectorNoise, MonitorNoise
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class MediumDecorrelation(Perturbation):
    """The medium has drifted since calibration: ``B' = √(1 − ε²) B + ε B_new``."""

    epsilon: float
    name = "medium-decorrelation"
    nuisance_keys = ("medium_decorrelation", "medium_innovation")

    def __post_init__(self) -> None:
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"medium decorrelation ε must be in [0, 1], got {self.epsilon}")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        c = system.config
        innovation = transmission_matrix(c.num_pixels, c.num_inputs, generator)
        return {**nuisance, "medium_decorrelation": self.epsilon, "medium_innovation": innovation}


@dataclass(frozen=True)
class SLMPhaseError(Perturbation):
    """Static phase error of every SLM macropixel, N(0, σ²) rad."""

    sigma: float
    name = "slm-phase-error"
    nuisance_keys = ("slm_phase_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["phase"].shape
        error = self.sigma * torch.randn(shape, generator=generator, dtype=torch.float64)
        if nuisance.get("slm_phase_error") is not None:
            error = error + nuisance["slm_phase_error"]
        return {**nuisance, "slm_phase_error": error.float()}


def _scattering_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    full_scale = system.config.camera_full_scale
    candidates = (
        (k["decorrelation"], lambda: MediumDecorrelation(k["decorrelation"])),
        (k["slm_phase_error"], lambda: SLMPhaseError(k["slm_phase_error"])),
        (
            k["full_well"],
            lambda: DetectorNoise(k["full_well"] / full_scale, read_noise=k["read_noise"]),
        ),
        (k["camera_bits"], lambda: CameraQuantization(int(k["camera_bits"]), full_scale)),
        (k["full_well"], lambda: MonitorNoise(k["full_well"] ** -0.5)),
    )
    return tuple(make() for value, make in candidates if value)


_SCATTERING_LEVELS = {
    "mild": {"decorrelation": 0.1, "slm_phase_error": 0.05, "full_well": 2e4, "read_noise": 2.0,
             "camera_bits": 10},
    "moderate": {"decorrelation": 0.3, "slm_phase_error": 0.15, "full_well": 1e4,
                 "read_noise": 5.0, "camera_bits": 8},
    "severe": {"decorrelation": 0.5, "slm_phase_error": 0.4, "full_well": 2e3, "read_noise": 10.0,
               "camera_bits": 6},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "decorrelation": "medium decorrelation ε since calibration (0: none, 1: new medium)",
        "slm_phase_error": "static SLM phase error σ per macropixel, rad",
        "full_well": "camera electrons at saturation (0: no shot or read noise)",
        "read_noise": "camera read noise, electrons rms (with full_well > 0)",
        "camera_bits": "camera ADC bits (0: no quantization)",
    },
    levels=_SCATTERING_LEVELS,
    build=_scattering_perturbations,
)
