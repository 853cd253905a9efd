"""The reality gap of a photoelectric (homodyne) optical MLP.

The twin is the noiseless design: ideal linear modulators, no crosstalk, continuous readings,
no shot noise. The device differs by

* **photon budget** — n photons per MAC: shot noise inside every homodyne layer, the standard
  quantum limit of Hamerly et al. (PRX 9, 021032, 2019);
* **read noise** — r electrons rms on every integrated reading (needs a photon budget);
* **detection efficiency** — only η of the photons are detected (photodiode quantum efficiency,
  single-photon detector efficiency): more shot noise, fewer photons at single-photon neurons;
* **modulator nonlinearity** — the amplitude modulators respond as sin(β W)/β (calibrated at
  small signal), compressing large weights;
* **weight-encoding error** — static per-weight relative gain error g and offset o:
  W' = (1 + g) W + o;
* **channel crosstalk** — each output channel picks up the weight beams of its neighbours with
  amplitude coupling c;
* **detector imbalance** — the two photodiodes of each balanced pair differ in responsivity by
  a static ε_i ~ N(0, σ_ε²): the pair leaks ε_i/2 of the common-mode photon number, a bias
  ε_i ‖x‖ ‖W_i‖ / 2 that grows with the input;
* **ADC quantization** — every reading is digitized with ``bits`` bits over its full scale.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
photons per MAC n             100        10          1
read noise (e⁻ rms)           1          3           10
detection efficiency η        0.9        0.7         0.5
modulator drive β (rad)       0.3        0.6         1.0
  (|W| = 1 compressed by)     (1.5 %)    (5.9 %)     (16 %)
weight gain error σ_g         0.01       0.05        0.1
weight offset error σ_o       0.005      0.02        0.05
crosstalk c (amplitude)       0.01       0.03        0.1
  (intensity, dB)             (−40)      (−30)       (−20)
detector imbalance σ_ε        0.01       0.03        0.1
  (common-mode rejection)     (40 dB)    (30 dB)     (20 dB)
ADC bits                      10         8           6
============================  =========  ==========  =========

Sources and reasoning: Hamerly et al. (2019) find that the accuracy of their MNIST networks
holds down to about 1 photon per MAC and then drops (their "standard quantum limit", as low as
50 zJ/MAC); Wang et al. (Nat. Commun. 13, 123, 2022) measured 99 % MNIST accuracy at ~3.2 and
~90 % at ~0.64 detected photons per multiplication. Our default network is small (N = 32–64
inputs per neuron, so less averaging than N = 100–1000), hence 1 photon per MAC is *severe*
and 10 *moderate*. Integrating detectors (the charge integration of photoelectric
multiplication is that of a CMOS/CCD pixel) have 1–10 e⁻ rms read noise. Photodiode quantum
efficiencies are ~0.9 and single-photon detectors (SPADs, MPPCs as in Ma et al., Nat. Commun.
16, 359, 2025) 0.4–0.7, so 0.9 / 0.7 / 0.5. Chen et al. (Nat. Photon. 17, 723, 2023) encode
weights in the phase of injection-locked VCSELs read interferometrically: the amplitude is
sinusoidal in the drive; using ±0.3 to ±1 rad of it trades linearity for signal. Residual
per-weight gain spreads of 1–10 % and offsets of 0.5–5 % of full scale after calibration, and
−40 to −20 dB crosstalk between adjacent channels of fan-out optics and VCSEL/detector arrays,
are our assumptions, not measured values of one device. Balanced photoreceivers specify a
common-mode rejection of ≥ 20–30 dB, better when trimmed: 20–40 dB is ε = 0.1–0.01. 10/8/6-bit
ADCs bracket the 8 bits of typical fast readout electronics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class PhotonBudget(Perturbation):
    """The device spends ``photons_per_mac`` photons per multiply-accumulate (shot noise)."""

    photons_per_mac: float
    name = "photon-budget"
    nuisance_keys = ("photons_per_mac",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "photons_per_mac": self.photons_per_mac}


@dataclass(frozen=True)
class ReadNoise(Perturbation):
    """Gaussian read noise of ``electrons`` rms on every integrated homodyne reading."""

    electrons: float
    name = "read-noise"
    nuisance_keys = ("read_noise",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "read_noise": self.electrons}


@dataclass(frozen=True)
class DetectionEfficiency(Perturbation):
    """Only a fraction ``efficiency`` of the photons is detected."""

    efficiency: float
    name = "detection-efficiency"
    nuisance_keys = ("detection_efficiency",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "detection_efficiency": self.efficiency}


@dataclass(frozen=True)
class ModulatorNonlinearity(Perturbation):
    """Amplitude modulators respond as sin(β W)/β; ``drive`` is β in rad at W = 1."""

    drive: float
    name = "modulator-nonlinearity"
    nuisance_keys = ("modulator_drive",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "modulator_drive": self.drive}


@dataclass(frozen=True)
class WeightEncodingError(Perturbation):
    """Static per-weight errors: relative gain N(0, σ_g²) and additive offset N(0, σ_o²)."""

    gain_sigma: float
    offset_sigma: float
    name = "weight-encoding-error"
    nuisance_keys = ("weight_gain_error", "weight_offset_error")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        count = sum(spec.size for spec in system.control_specs().values())
        gain = self.gain_sigma * torch.randn(count, generator=generator, dtype=torch.float64)
        offset = self.offset_sigma * torch.randn(count, generator=generator, dtype=torch.float64)
        return {
            **nuisance,
            "weight_gain_error": gain.float(),
            "weight_offset_error": offset.float(),
        }


@dataclass(frozen=True)
class ChannelCrosstalk(Perturbation):
    """Neighbouring output channels leak ``coupling`` of their weight amplitude into each other."""

    coupling: float
    name = "channel-crosstalk"
    nuisance_keys = ("crosstalk",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "crosstalk": self.coupling}


@dataclass(frozen=True)
class DetectorImbalance(Perturbation):
    """Each balanced detector pair has a static responsivity mismatch ε_i ~ N(0, σ²)."""

    sigma: float
    name = "detector-imbalance"
    nuisance_keys = ("detector_imbalance",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        outputs = sum(spec.shape[0] for spec in system.control_specs().values())
        imbalance = self.sigma * torch.randn(outputs, generator=generator, dtype=torch.float64)
        return {**nuisance, "detector_imbalance": imbalance.float()}


@dataclass(frozen=True)
class ReadoutADC(Perturbation):
    """Every homodyne reading is digitized with ``bits`` bits over its full scale."""

    bits: int
    name = "readout-adc"
    nuisance_keys = ("adc_bits",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "adc_bits": self.bits}


def _photoelectric_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["photons"], lambda: PhotonBudget(k["photons"])),
        (k["read_noise"], lambda: ReadNoise(k["read_noise"])),
        (k["efficiency_loss"], lambda: DetectionEfficiency(1.0 - k["efficiency_loss"])),
        (k["modulator_drive"], lambda: ModulatorNonlinearity(k["modulator_drive"])),
        (
            k["gain_error"] or k["offset_error"],
            lambda: WeightEncodingError(k["gain_error"], k["offset_error"]),
        ),
        (k["crosstalk"], lambda: ChannelCrosstalk(k["crosstalk"])),
        (k["imbalance"], lambda: DetectorImbalance(k["imbalance"])),
        (k["adc_bits"], lambda: ReadoutADC(int(k["adc_bits"]))),
    )
    return tuple(make() for value, make in candidates if value)


_PHOTOELECTRIC_LEVELS = {
    "mild": {"photons": 100.0, "read_noise": 1.0, "efficiency_loss": 0.1,
             "modulator_drive": 0.3, "gain_error": 0.01, "offset_error": 0.005,
             "crosstalk": 0.01, "imbalance": 0.01, "adc_bits": 10},
    "moderate": {"photons": 10.0, "read_noise": 3.0, "efficiency_loss": 0.3,
                 "modulator_drive": 0.6, "gain_error": 0.05, "offset_error": 0.02,
                 "crosstalk": 0.03, "imbalance": 0.03, "adc_bits": 8},
    "severe": {"photons": 1.0, "read_noise": 10.0, "efficiency_loss": 0.5,
               "modulator_drive": 1.0, "gain_error": 0.1, "offset_error": 0.05,
               "crosstalk": 0.1, "imbalance": 0.1, "adc_bits": 6},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "photons": "photons per MAC of the homodyne layers (0: the design's budget)",
        "read_noise": "read noise per homodyne reading, electrons rms (with a photon budget)",
        "efficiency_loss": "1 − detection efficiency η",
        "modulator_drive": "β of the sin(βW)/β modulator response, rad (0: linear)",
        "gain_error": "per-weight relative gain error σ_g",
        "offset_error": "per-weight additive offset σ_o (weights span [−1, 1])",
        "crosstalk": "amplitude coupling between neighbouring output channels",
        "imbalance": "σ of the responsivity mismatch ε of each balanced detector pair",
        "adc_bits": "bits of the readout ADC (0: continuous)",
    },
    levels=_PHOTOELECTRIC_LEVELS,
    build=_photoelectric_perturbations,
)
