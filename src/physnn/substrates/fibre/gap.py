"""Reality gap of the nonlinear multimode fibre (:mod:`physnn.substrates.fibre.system`).

Non-idealities of an SLM → multimode fibre → camera experiment (Oguz et al., Opt. Lett. 48,
5249 (2023); Adv. Photonics 6, 016002 (2024)), each a
:class:`~physnn.reality.base.Perturbation` in physical units:

* :class:`FibreCouplingDrift` — the fibre's random linear mode coupling is not the twin's: bends,
  stress and temperature change the coupling within the quasi-degenerate mode groups (a static
  random Hermitian ΔC, rms in 1/m);
* :class:`FibreLengthError` — the optical length differs from the design (cleave position,
  thermal expansion and the thermo-optic effect), which shifts the fast relative phase
  δβ·ΔL of the mode groups and the propagation length;
* :class:`LaunchPowerError` — the coupled peak power is off by a static factor (coupling
  efficiency, power-meter calibration);
* :class:`PulseEnergyJitter` — per-pulse energy fluctuation of the laser, drawn inside the
  forward pass because it changes the nonlinear propagation, not only the measured scale;
* :class:`SlmMiscalibration` — the SLM's phase response (look-up table) has a global scale
  error and a static per-macro-pixel phase error (residual flatness);
* detector shot and read noise (:class:`~physnn.reality.perturbations.DetectorNoise`) and
  :class:`CameraQuantization` (ADC bit depth, saturation at full scale).

=====================================  =========  ==========  =========
knob                                   mild       moderate    severe
=====================================  =========  ==========  =========
coupling drift ΔC rms (1/m)            0.2        0.5         1.5
fibre length error σ (mm)              0.05       0.2         1.0
launch power error σ (relative)        0.02       0.05        0.1
pulse energy jitter (relative rms)     0.005      0.01        0.03
SLM phase scale error σ (relative)     0.02       0.05        0.1
SLM pixel phase error σ (rad)          0.02       0.05        0.15
photons per pulse (whole camera)       1e7        1e6         1e5
read noise (e⁻ rms per pixel)          10         30          100
camera bit depth                       12         10          8
=====================================  =========  ==========  =========

Sources and reasoning. The transmission matrix of a multimode fibre changes under bending and
temperature, and in GRIN fibres mostly *within* mode groups (Matthès et al., Phys. Rev. X 11,
021060 (2021): a deformation of tens of µm visibly changes the measured matrix, whose mode-basis
form is block diagonal by group); the nominal intra-group coupling of the twin is 2 /m, so
0.2–1.5 /m (0.2–1.5 rad of extra mixing over 1 m) spans a well-calibrated fibre to an
uncalibrated one. Psaltis' group reports that such fibres drift within hours and that models
must be refitted or made robust (Oguz et al., Nanophotonics 2025, "resistance to experimental
drifts"). A length or optical-path error ΔL shifts the mode-group phases by δβ·ΔL with
δβ ≈ 5.5·10³ /m for a 50 µm GRIN core: 0.05–1 mm (cleave repeatability, or a few kelvin of
temperature on a metre of fibre) is 0.3–5.5 rad. Picosecond amplified lasers specify
0.5–3 % rms pulse-energy stability, and the power coupled into a fibre is typically known to
5–10 %. LCOS SLMs are calibrated for one wavelength and temperature; 2–10 % error of the 2π
stroke and 0.02–0.15 rad residual flatness per macro-pixel after wavefront correction are
typical of datasheets (e.g. λ/10 uncorrected flatness). Scientific cameras digitise with
8–12 bits; photon budgets and read noise as for the other optical substrates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import CameraQuantization, DetectorNoise
from physnn.substrates.fibre.system import within_group_hermitian
from physnn.systems.base import Nuisance, System

MILLIMETRE = 1e-3


def _normal(sigma: float, generator: torch.Generator) -> float:
    return sigma * torch.randn((), generator=generator, dtype=torch.float64).item()


@dataclass(frozen=True)
class FibreCouplingDrift(Perturbation):
    """Static random Hermitian change of the within-group mode coupling, ``sigma`` rms in 1/m."""

    sigma: float
    name = "fibre-coupling-drift"
    nuisance_keys = ("coupling_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        groups = system.groups.cpu()
        change = within_group_hermitian(groups, self.sigma, generator).to(torch.complex64)
        if nuisance.get("coupling_error") is not None:
            change = change + nuisance["coupling_error"]
        return {**nuisance, "coupling_error": change}


@dataclass(frozen=True)
class FibreLengthError(Perturbation):
    """The fibre's optical length is off by N(0, σ²) metres."""

    sigma: float
    name = "fibre-length-error"
    nuisance_keys = ("length_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        error = nuisance.get("length_error", 0.0) + _normal(self.sigma, generator)
        return {**nuisance, "length_error": error}


@dataclass(frozen=True)
class LaunchPowerError(Perturbation):
    """The launched peak power is off by a static factor 1 + N(0, σ²)."""

    sigma: float
    name = "launch-power-error"
    nuisance_keys = ("power_scale",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        scale = nuisance.get("power_scale", 1.0) * (1 + _normal(self.sigma, generator))
        return {**nuisance, "power_scale": max(scale, 0.0)}


@dataclass(frozen=True)
class PulseEnergyJitter(Perturbation):
    """Every pulse's energy fluctuates by a relative rms ``sigma`` (drawn inside the forward)."""

    sigma: float
    name = "pulse-energy-jitter"
    nuisance_keys = ("power_jitter",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        jitter = math.hypot(nuisance.get("power_jitter", 0.0), self.sigma)
        return {**nuisance, "power_jitter": jitter}


@dataclass(frozen=True)
class SlmMiscalibration(Perturbation):
    """SLM phase response off by a factor 1 + N(0, σ_s²), plus N(0, σ_p²) rad per macro-pixel."""

    scale_sigma: float
    pixel_sigma: float
    name = "slm-miscalibration"
    nuisance_keys = ("slm_phase_scale", "slm_phase_error")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        scale = nuisance.get("slm_phase_scale", 1.0) * (1 + _normal(self.scale_sigma, generator))
        pixels = system.config.num_slm_pixels
        error = self.pixel_sigma * torch.randn(pixels, generator=generator, dtype=torch.float64)
        if nuisance.get("slm_phase_error") is not None:
            error = error + nuisance["slm_phase_error"]
        return {**nuisance, "slm_phase_scale": scale, "slm_phase_error": error.float()}


FULL_SCALE = 10.0
"""Camera exposure: full scale at 10× the mean output (outputs are in units of E₀ / outputs);
fully developed speckle exceeds it with probability e⁻¹⁰ ≈ 5·10⁻⁵."""


def _fibre_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    outputs = system.num_outputs
    candidates = (
        (k["coupling"], lambda: FibreCouplingDrift(k["coupling"])),
        (k["length"], lambda: FibreLengthError(k["length"] * MILLIMETRE)),
        (k["power"], lambda: LaunchPowerError(k["power"])),
        (k["jitter"], lambda: PulseEnergyJitter(k["jitter"])),
        (
            k["slm_scale"] or k["slm_error"],
            lambda: SlmMiscalibration(k["slm_scale"], k["slm_error"]),
        ),
        (k["photons"], lambda: DetectorNoise(k["photons"] / outputs, read_noise=k["read_noise"])),
        (k["camera_bits"], lambda: CameraQuantization(int(k["camera_bits"]), FULL_SCALE)),
    )
    return tuple(make() for value, make in candidates if value)


_FIBRE_LEVELS = {
    "mild": {"coupling": 0.2, "length": 0.05, "power": 0.02, "jitter": 0.005, "slm_scale": 0.02,
             "slm_error": 0.02, "photons": 1e7, "read_noise": 10.0, "camera_bits": 12},
    "moderate": {"coupling": 0.5, "length": 0.2, "power": 0.05, "jitter": 0.01, "slm_scale": 0.05,
                 "slm_error": 0.05, "photons": 1e6, "read_noise": 30.0, "camera_bits": 10},
    "severe": {"coupling": 1.5, "length": 1.0, "power": 0.1, "jitter": 0.03, "slm_scale": 0.1,
               "slm_error": 0.15, "photons": 1e5, "read_noise": 100.0, "camera_bits": 8},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "coupling": "rms change of the within-group mode coupling, 1/m",
        "length": "fibre optical length error σ, mm",
        "power": "static launch power error σ, relative",
        "jitter": "pulse-to-pulse energy jitter, relative rms",
        "slm_scale": "SLM phase-response scale error σ, relative",
        "slm_error": "static SLM phase error per macro-pixel σ, rad",
        "photons": "photons per pulse on the whole camera (0: no detector noise)",
        "read_noise": "camera read noise, electrons rms per pixel (with photons > 0)",
        "camera_bits": "camera bit depth (0: no quantization or saturation)",
    },
    levels=_FIBRE_LEVELS,
    build=_fibre_perturbations,
)
