"""The reality gap of the SHG-PNN: pulse shaper, crystal, laser and spectrometer imperfections.

Wright et al. (Nature 601, 549 (2022)) found their physics-based model of the SHG-PNN not exact
enough and trained a neural-network digital model on measured input–output pairs instead; even
so the model's predictions differed from the hardware, which physics-aware training tolerates.
The hidden differences modelled here, in physical units:

==========================================  =========  ==========  =========
perturbation                                mild       moderate    severe
==========================================  =========  ==========  =========
SLM phase gain error σ_g (relative)         0.02       0.05        0.10
SLM phase offset error σ_o (rad)            0.05       0.2         0.5
shaper resolution / crosstalk σ (pixels)    0.25       0.5         1.0
phase mismatch σ of Δk·L (rad)              0.3        1.0         2.0
crystal length error σ (relative)           0.01       0.03        0.10
pump power calibration error σ (relative)   0.02       0.05        0.10
pump shot-to-shot fluctuation (rms)         0.005      0.01        0.03
photons per output unit                     1e5        1e4         1e3
read noise (e⁻ rms)                         5          10          30
spectrometer ADC bits (full scale 16)       14         12          10
==========================================  =========  ==========  =========

Sources. A liquid-crystal SLM's phase response φ(V) is calibrated at one wavelength; the
retardance Δn(λ)d/λ varies by several per cent across a femtosecond spectrum and the lookup
table leaves residual errors of λ/100–λ/10 (0.06–0.6 rad) (Weiner, Rev. Sci. Instrum. 71, 1929
(2000); Monmayrant, Weber & Chatel, J. Phys. B 43, 103001 (2010)). The spectral resolution of a
4f shaper is set by the focal spot size, typically a fraction of to one pixel, and fringing
fields blur neighbouring pixels (Weiner 2000, §III). For type-I BBO at 800 nm the angular
acceptance is ≈ 1 mrad·cm, so a 1 mm crystal detuned by ≈ 2 mrad (≈ 0.1°, a typical mount and
alignment error) has Δk·L ≈ 1 rad; thin-crystal thickness tolerances are ±(1–10) %. Ti:sapphire
oscillators fluctuate by ≈ 0.1–0.5 % rms pulse to pulse, amplifiers by ≈ 1–3 %, and the mean
power drifts by a few per cent between calibrations. Spectrometer CCDs deliver 1e3–1e5
photoelectrons per band with 5–30 e⁻ read noise and 16-bit ADCs, of which the exposure used
for shaped pulses leaves 10–14 effective bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation, normal_draw
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import CameraQuantization, DetectorNoise
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class SLMMiscalibration(Perturbation):
    """Pixel k realizes (1 + g_k) φ_k + o_k: gain errors σ_g (relative), offsets σ_o (rad)."""

    gain_sigma: float
    offset_sigma: float
    name = "slm-miscalibration"
    nuisance_keys = ("phase_gain", "phase_offset")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = tuple(nuisance["phase_gain"].shape)
        gain = nuisance["phase_gain"] + normal_draw(shape, self.gain_sigma, generator)
        offset = nuisance["phase_offset"] + normal_draw(shape, self.offset_sigma, generator)
        return {**nuisance, "phase_gain": gain, "phase_offset": offset}


@dataclass(frozen=True)
class ShaperCrosstalk(Perturbation):
    """The realized spectral mask is the pixel pattern blurred by a Gaussian of σ pixels."""

    pixels: float
    name = "shaper-crosstalk"
    nuisance_keys = ("shaper_resolution",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "shaper_resolution": nuisance["shaper_resolution"] + self.pixels}


@dataclass(frozen=True)
class PhaseMatchingError(Perturbation):
    """Crystal detuned by Δk with Δk·L ~ N(0, σ²) rad, and its length off by N(0, σ_L²) relative."""

    mismatch_sigma: float
    length_sigma: float
    name = "phase-matching-error"
    nuisance_keys = ("mismatch", "crystal_length")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        length = nuisance["crystal_length"]
        draws = torch.randn(2, generator=generator, dtype=torch.float64).tolist()
        mismatch = nuisance["mismatch"] + self.mismatch_sigma * draws[0] / length
        length = length * (1 + self.length_sigma * draws[1])
        return {**nuisance, "mismatch": mismatch, "crystal_length": length}


@dataclass(frozen=True)
class PumpFluctuation(Perturbation):
    """Mean pump power off by N(0, σ_cal²) (static); each shot scaled by (1 + σ_shot ε)."""

    calibration_sigma: float
    shot_rms: float
    name = "pump-fluctuation"
    nuisance_keys = ("pump_power", "pump_noise")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        draw = torch.randn(1, generator=generator, dtype=torch.float64).item()
        power = nuisance["pump_power"] * (1 + self.calibration_sigma * draw)
        return {**nuisance, "pump_power": power, "pump_noise": self.shot_rms}


@dataclass(frozen=True)
class SpectrometerQuantization(CameraQuantization):
    """The spectrometer's ADC: ``bits`` bits over [0, full_scale] output units."""

    full_scale: float = 16.0
    name = "spectrometer-quantization"


def _shg_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (
            k["slm_gain"] or k["slm_offset"],
            lambda: SLMMiscalibration(k["slm_gain"], k["slm_offset"]),
        ),
        (k["crosstalk"], lambda: ShaperCrosstalk(k["crosstalk"])),
        (
            k["mismatch"] or k["length"],
            lambda: PhaseMatchingError(k["mismatch"], k["length"]),
        ),
        (
            k["pump_calibration"] or k["pump_noise"],
            lambda: PumpFluctuation(k["pump_calibration"], k["pump_noise"]),
        ),
        (k["photons"], lambda: DetectorNoise(k["photons"], read_noise=k["read_noise"])),
        (k["adc_bits"], lambda: SpectrometerQuantization(int(k["adc_bits"]))),
    )
    return tuple(make() for value, make in candidates if value)


_SHG_LEVELS = {
    "mild": {"slm_gain": 0.02, "slm_offset": 0.05, "crosstalk": 0.25, "mismatch": 0.3,
             "length": 0.01, "pump_calibration": 0.02, "pump_noise": 0.005, "photons": 1e5,
             "read_noise": 5.0, "adc_bits": 14},
    "moderate": {"slm_gain": 0.05, "slm_offset": 0.2, "crosstalk": 0.5, "mismatch": 1.0,
                 "length": 0.03, "pump_calibration": 0.05, "pump_noise": 0.01, "photons": 1e4,
                 "read_noise": 10.0, "adc_bits": 12},
    "severe": {"slm_gain": 0.1, "slm_offset": 0.5, "crosstalk": 1.0, "mismatch": 2.0,
               "length": 0.1, "pump_calibration": 0.1, "pump_noise": 0.03, "photons": 1e3,
               "read_noise": 30.0, "adc_bits": 10},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "slm_gain": "SLM phase-response gain error σ per pixel (relative)",
        "slm_offset": "SLM phase offset error σ per pixel, rad",
        "crosstalk": "pulse-shaper resolution / pixel crosstalk blur σ, in pixels",
        "mismatch": "phase-matching error σ of Δk·L, rad",
        "length": "crystal length error σ (relative)",
        "pump_calibration": "static pump power error σ (relative)",
        "pump_noise": "shot-to-shot pump power fluctuation, relative rms",
        "photons": "photons per output unit (0: no detector noise)",
        "read_noise": "spectrometer read noise, electrons rms (with photons > 0)",
        "adc_bits": "spectrometer ADC bits over a full scale of 16 output units (0: off)",
    },
    levels=_SHG_LEVELS,
    build=_shg_perturbations,
)
