"""The reality gap of a Fourier-plane SLM classifier: a camera that is not where the design puts
it, a beam and a wavefront that are not the design's, an SLM whose grey-level → phase response
is off, quantized grey levels and detector noise.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
camera offset σ (camera px)   0.3        1.0         2.0
focal-length error σ          0.5 %      2 %         5 %
camera rotation σ (rad)       0.002      0.01        0.03
beam waist error σ            3 %        10 %        20 %
defocus σ (rad, Zernike Z4)   0.2        0.5         1.0
astigmatism σ (rad, Z5, Z6)   0.1        0.3         0.6
phase-response scale σ        2 %        5 %         10 %
phase-response curvature σ    0.02       0.05        0.1
SLM grey levels               256        256         64
photons per measurement       1e7        1e6         1e5
read noise (e⁻ rms)           10         30          100
============================  =========  ==========  =========

Sources and reasoning: a camera is placed in the back focal plane to within a pixel or two
(slmsuite's Fourier calibration exists because this placement, the magnification and the
rotation must be measured: its ``fourier_calibrate`` fits them as an affine map); stock lenses
are specified to ±1–2 % in focal length, and the lens–camera distance adds to that. Liquid-
crystal-on-silicon SLMs are flat to about λ/2–2λ before their wavefront correction (vendor
specifications, e.g. Meadowlark and Holoeye flatness data; Jesacher et al., Opt. Express 15,
5801 (2007)), dominated by defocus and astigmatism: 0.2–1 rad of Z4 at the mild to severe end
are well within that. An SLM's factory look-up table is calibrated at one wavelength; used at
another, or drifting with temperature, its 2π range is off by several per cent and its response
curved (Engström et al., Opt. Express 16, 18275 (2008); slmsuite's ``gamma`` calibration
measures this). 8-bit LCOS SLMs show 256 grey levels; a 6-bit (64-level) response is what a
coarsely driven or older modulator realizes. Photon budgets and read noise are those of a
scientific CMOS camera (1e5–1e7 photoelectrons in the ROIs, 10–100 e⁻ read noise summed over
an ROI's pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation, normal_draw
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import DetectorNoise, PhaseQuantization
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class CameraPlacement(Perturbation):
    """The camera offset by N(0, σ_o²) camera pixels in x and y, its magnification off by a
    relative N(0, σ_f²) (focal length) and rotated by N(0, σ_r²) rad."""

    offset: float
    focal: float
    rotation: float
    name = "camera-placement"
    nuisance_keys = ("camera_offset", "focal_scale", "camera_rotation")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        offset = torch.as_tensor(nuisance["camera_offset"]) + normal_draw(
            (2,), self.offset, generator
        )
        focal = float(nuisance["focal_scale"]) + float(normal_draw((), self.focal, generator))
        rotation = float(nuisance["camera_rotation"]) + float(
            normal_draw((), self.rotation, generator)
        )
        return {**nuisance, "camera_offset": offset, "focal_scale": focal,
                "camera_rotation": rotation}  # fmt: skip


@dataclass(frozen=True)
class BeamWaistError(Perturbation):
    """The beam's 1/e² radius off by a relative N(0, σ²) (clipped at −50 %)."""

    sigma: float
    name = "beam-waist-error"
    nuisance_keys = ("beam_waist",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        waist = nuisance["beam_waist"]
        if waist is None:  # a flat-top beam has no waist to be wrong
            return nuisance
        factor = max(0.5, 1 + float(normal_draw((), self.sigma, generator)))
        return {**nuisance, "beam_waist": float(waist) * factor}


@dataclass(frozen=True)
class WavefrontAberration(Perturbation):
    """Defocus (Z4) ~ N(0, σ_d²) and the two astigmatisms (Z6, Z5) ~ N(0, σ_a²), in rad."""

    defocus: float
    astigmatism: float
    name = "wavefront-aberration"
    nuisance_keys = ("defocus", "astigmatism")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        defocus = float(nuisance["defocus"]) + float(normal_draw((), self.defocus, generator))
        astig = torch.as_tensor(nuisance["astigmatism"]) + normal_draw(
            (2,), self.astigmatism, generator
        )
        return {**nuisance, "defocus": defocus, "astigmatism": astig}


@dataclass(frozen=True)
class PhaseResponseError(Perturbation):
    """The SLM's response 2π h(u), h(u) = (1 + s) u + c u (1 − u): s ~ N(0, σ_s²) (scale of
    its 2π range), c ~ N(0, σ_c²) (curvature)."""

    scale: float
    curvature: float
    name = "phase-response-error"
    nuisance_keys = ("phase_scale", "phase_curvature")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        scale = float(nuisance["phase_scale"]) + float(normal_draw((), self.scale, generator))
        curve = float(nuisance["phase_curvature"]) + float(
            normal_draw((), self.curvature, generator)
        )
        return {**nuisance, "phase_scale": scale, "phase_curvature": curve}


def _fourier_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    placement = k["offset"] or k["focal"] or k["rotation"]
    candidates = (
        (placement, lambda: CameraPlacement(k["offset"], k["focal"], k["rotation"])),
        (k["waist"], lambda: BeamWaistError(k["waist"])),
        (k["defocus"] or k["astigmatism"],
         lambda: WavefrontAberration(k["defocus"], k["astigmatism"])),
        (k["phase_scale"] or k["phase_curvature"],
         lambda: PhaseResponseError(k["phase_scale"], k["phase_curvature"])),
        (k["phase_levels"], lambda: PhaseQuantization(levels=int(k["phase_levels"]))),
        (k["photons"], lambda: DetectorNoise(k["photons"], read_noise=k["read_noise"])),
    )  # fmt: skip
    return tuple(make() for value, make in candidates if value)


_FOURIER_LEVELS = {
    "mild": {"offset": 0.3, "focal": 0.005, "rotation": 0.002, "waist": 0.03, "defocus": 0.2,
             "astigmatism": 0.1, "phase_scale": 0.02, "phase_curvature": 0.02,
             "phase_levels": 256, "photons": 1e7, "read_noise": 10.0},
    "moderate": {"offset": 1.0, "focal": 0.02, "rotation": 0.01, "waist": 0.1, "defocus": 0.5,
                 "astigmatism": 0.3, "phase_scale": 0.05, "phase_curvature": 0.05,
                 "phase_levels": 256, "photons": 1e6, "read_noise": 30.0},
    "severe": {"offset": 2.0, "focal": 0.05, "rotation": 0.03, "waist": 0.2, "defocus": 1.0,
               "astigmatism": 0.6, "phase_scale": 0.1, "phase_curvature": 0.1,
               "phase_levels": 64, "photons": 1e5, "read_noise": 100.0},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "offset": "camera offset σ in x and y, camera pixels",
        "focal": "relative focal-length (magnification) error σ",
        "rotation": "camera rotation σ, rad",
        "waist": "relative beam-waist error σ",
        "defocus": "defocus aberration σ (Zernike Z4), rad",
        "astigmatism": "astigmatism σ of each of Z5 and Z6, rad",
        "phase_scale": "relative error σ of the SLM's 2π phase range",
        "phase_curvature": "nonlinearity σ of the SLM's grey-level → phase response",
        "phase_levels": "grey levels the SLM realizes (0: continuous)",
        "photons": "photons detected in the ROIs per measurement (0: no detector noise)",
        "read_noise": "detector read noise, electrons rms (with photons > 0)",
    },
    levels=_FOURIER_LEVELS,
    build=_fourier_perturbations,
)
