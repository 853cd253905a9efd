"""Reality gap of the 2-D programmable waveguide (:mod:`physnn.substrates.waveguide.system`).

Non-idealities of an optically written index pattern (Onodera et al., arXiv:2402.17750, 2024),
each a :class:`~physnn.reality.base.Perturbation` in physical units:

* :class:`IndexWritingError` — static, spatially correlated error of the written Δn (RIU): the
  photoconductive film's thickness and conductivity, the electrode gap and the projector's
  illumination are not uniform over the chip;
* :class:`WritingBlur` — Gaussian blur of the pattern (m): photo-carriers diffuse laterally in
  the photoconductor and the projection optics have a finite point-spread function;
* :class:`IndexScaleMiscalibration` — a global error of the index per unit of written light;
* :class:`WritingNonlinearity` — the sublinear (saturating) index-vs-light response of a
  photoconductor whose resistance falls as 1/(σ₀ + αI) in series with the film's capacitance;
* :class:`InputMisalignment` — lateral displacement and tilt of the input spots (the input
  beam-shaper / fibre array drifts with respect to the chip);
* detector shot and read noise (:class:`~physnn.reality.perturbations.DetectorNoise`);
* the noise of the holographic field images that the in-situ procedures read
  (:class:`~physnn.reality.perturbations.MonitorNoise`, as for the MZI and diffractive monitors).

=================================  =========  ==========  =========
knob                               mild       moderate    severe
=================================  =========  ==========  =========
index writing error σ (×10⁻³ RIU)  0.02       0.05        0.1
  correlation (programmable px)    1          2           2
writing blur σ (µm)                1          2           5
index scale error σ (relative)     0.05       0.1         0.2
writing saturation a               0.2        0.5         1.0
input shift σ (µm)                 0.5        1           3
input tilt σ (mrad)                0.5        1           3
photons per input                  1e7        1e6         1e5
read noise (e⁻ rms)                10         30          100
in-situ field image noise (rel.)   0.001      0.01        0.03
=================================  =========  ==========  =========

Sources and reasoning. Onodera et al. fit a physics-based digital twin of the device to
measurements because the written index does not follow the design: in the authors' public
code (github.com/mcmahon-lab/2D-programmable-waveguide) the Δn-per-light calibration factor is a
fitted parameter that was rescaled by tens of percent between runs (``dn_rescale_factor``), and
the index-vs-light map is the sublinear response of a photoconductor in series with the
waveguide's capacitance (``exp_sim_converter.dn_func``), so a 10 % (moderate) to 20 % (severe)
scale error and a saturation a of 0.5–1 (g(½) = 0.6–0.67 instead of ½) are realistic for an
uncalibrated twin. A few-percent spatial non-uniformity of Δn (0.02–0.1 × 10⁻³ on a 10⁻³
range) is typical of large-area photoconductive films and projector illumination. The authors'
simulation also blurs the written pattern by a Gaussian "carrier diffusion length"; we found no
published value and take 1–5 µm, of the order of a projected micromirror and the input-spot
waist. Sub-micron to few-micron and milliradian misalignments are those of free-space or
fibre-array edge coupling to a chip without active alignment. Photon budgets as for the
diffractive network (Wang et al., Nat. Commun. 13, 123, 2022).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from physnn.physics.noise import correlated_gaussian_field
from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import DetectorNoise, MonitorNoise
from physnn.systems.base import Nuisance, System

MICRON = 1e-6
MILLIRAD = 1e-3
INDEX_UNIT = 1e-3


def _normal(sigma: float, generator: torch.Generator) -> float:
    return sigma * torch.randn((), generator=generator, dtype=torch.float64).item()


@dataclass(frozen=True)
class IndexWritingError(Perturbation):
    """Static Gaussian error of the written index, σ RIU, correlated over ℓ programmable pixels."""

    sigma: float
    correlation_px: float
    name = "index-writing-error"
    nuisance_keys = ("index_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["delta_n"].shape
        error = correlated_gaussian_field(shape, self.sigma, self.correlation_px, generator)
        if nuisance.get("index_error") is not None:
            error = error + nuisance["index_error"]
        return {**nuisance, "index_error": error}


@dataclass(frozen=True)
class WritingBlur(Perturbation):
    """Gaussian blur of the written pattern, standard deviation ``length`` metres."""

    length: float
    name = "writing-blur"
    nuisance_keys = ("blur_length",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        total = math.hypot(float(nuisance.get("blur_length", 0.0)), self.length)
        return {**nuisance, "blur_length": total}


@dataclass(frozen=True)
class IndexScaleMiscalibration(Perturbation):
    """The realized index per unit of written light is off by a factor 1 + N(0, σ²)."""

    sigma: float
    name = "index-scale-miscalibration"
    nuisance_keys = ("index_scale",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        scale = nuisance.get("index_scale", 1.0) * (1 + _normal(self.sigma, generator))
        return {**nuisance, "index_scale": max(scale, 0.0)}


@dataclass(frozen=True)
class WritingNonlinearity(Perturbation):
    """Sublinear index response g(u) = (1 + a) u / (1 + a u) of the photoconductive writing."""

    saturation: float
    name = "writing-nonlinearity"
    nuisance_keys = ("index_saturation",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "index_saturation": self.saturation}


@dataclass(frozen=True)
class InputMisalignment(Perturbation):
    """Input spots displaced by N(0, σ_x²) metres and tilted by N(0, σ_θ²) radians."""

    shift_sigma: float
    tilt_sigma: float
    name = "input-misalignment"
    nuisance_keys = ("input_shift", "input_tilt")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {
            **nuisance,
            "input_shift": nuisance.get("input_shift", 0.0) + _normal(self.shift_sigma, generator),
            "input_tilt": nuisance.get("input_tilt", 0.0) + _normal(self.tilt_sigma, generator),
        }


def _waveguide_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (
            k["index_error"],
            lambda: IndexWritingError(k["index_error"] * INDEX_UNIT, k["correlation"]),
        ),
        (k["blur"], lambda: WritingBlur(k["blur"] * MICRON)),
        (k["scale_error"], lambda: IndexScaleMiscalibration(k["scale_error"])),
        (k["saturation"], lambda: WritingNonlinearity(k["saturation"])),
        (
            k["input_shift"] or k["input_tilt"],
            lambda: InputMisalignment(k["input_shift"] * MICRON, k["input_tilt"] * MILLIRAD),
        ),
        (k["photons"], lambda: DetectorNoise(k["photons"], read_noise=k["read_noise"])),
        (k["monitor_noise"], lambda: MonitorNoise(k["monitor_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_WAVEGUIDE_LEVELS = {
    "mild": {"index_error": 0.02, "correlation": 1.0, "blur": 1.0, "scale_error": 0.05,
             "saturation": 0.2, "input_shift": 0.5, "input_tilt": 0.5, "photons": 1e7,
             "read_noise": 10.0, "monitor_noise": 0.001},
    "moderate": {"index_error": 0.05, "correlation": 2.0, "blur": 2.0, "scale_error": 0.1,
                 "saturation": 0.5, "input_shift": 1.0, "input_tilt": 1.0, "photons": 1e6,
                 "read_noise": 30.0, "monitor_noise": 0.01},
    "severe": {"index_error": 0.1, "correlation": 2.0, "blur": 5.0, "scale_error": 0.2,
               "saturation": 1.0, "input_shift": 3.0, "input_tilt": 3.0, "photons": 1e5,
               "read_noise": 100.0, "monitor_noise": 0.03},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "index_error": "static index writing error σ, in 1e-3 RIU",
        "correlation": "correlation length of the writing error, in programmable pixels",
        "blur": "Gaussian writing blur σ, µm",
        "scale_error": "relative σ of the global index-scale miscalibration",
        "saturation": "saturation a of the sublinear writing response (0: linear)",
        "input_shift": "lateral input-coupling displacement σ, µm",
        "input_tilt": "input-coupling tilt σ, mrad",
        "photons": "photons per input (0: no detector noise)",
        "read_noise": "detector read noise, electrons rms (with photons > 0)",
        "monitor_noise": "relative noise of the in-situ holographic field images (adjoint, ffm)",
    },
    levels=_WAVEGUIDE_LEVELS,
    build=_waveguide_perturbations,
)
