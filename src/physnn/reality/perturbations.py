"""Physical non-idealities, each in physical units (metres, radians, photons).

The spatial perturbations act on the nuisance parameters of systems that declare them
(``plane_shift``, ``plane_dz``, ``phase_error``, ``absorption``, ``phase_levels``: the
diffractive network); :class:`DetectorNoise` and :class:`CameraQuantization` act on any optical
output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.physics.noise import correlated_gaussian_field, photon_noise
from physnn.physics.quantization import quantize_ste, snap_to_levels
from physnn.reality.base import Perturbation
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class GaussianDisplacement(Perturbation):
    """Adds N(0, σ²) independently to every entry of one nuisance tensor."""

    sigma: float

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        (key,) = self.nuisance_keys
        value = nuisance[key]
        noise = self.sigma * torch.randn(value.shape, generator=generator, dtype=torch.float64)
        return {**nuisance, key: value + noise.to(value.dtype)}


@dataclass(frozen=True)
class LateralMisalignment(GaussianDisplacement):
    """Each plane displaced in x and y by N(0, σ²) metres (Mengu et al., IEEE JSTQE 2020)."""

    name = "lateral-misalignment"
    nuisance_keys = ("plane_shift",)


@dataclass(frozen=True)
class AxialMisalignment(GaussianDisplacement):
    """Each plane displaced along the optical axis by N(0, σ²) metres (Mengu et al. 2020)."""

    name = "axial-misalignment"
    nuisance_keys = ("plane_dz",)


@dataclass(frozen=True)
class FabricationPhaseError(Perturbation):
    """Spatially correlated Gaussian phase error of each mask: σ rad, correlation length ℓ metres.

    Printed or etched pixel heights deviate from design; neighbouring pixels share part of the
    error (resin flow, proximity effects), hence the correlation.
    """

    sigma: float
    correlation_length: float
    name = "fabrication-phase-error"
    nuisance_keys = ("phase_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["phase"].shape
        pitch = system.config.pitch
        error = correlated_gaussian_field(
            shape, self.sigma, self.correlation_length / pitch, generator
        )
        if nuisance.get("phase_error") is not None:
            error = error + nuisance["phase_error"]
        return {**nuisance, "phase_error": error}


@dataclass(frozen=True)
class PhaseQuantization(Perturbation):
    """The hardware realizes only K phase levels (printer height steps, SLM bit depth)."""

    levels: int
    name = "phase-quantization"
    nuisance_keys = ("phase_levels",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "phase_levels": self.levels}


@dataclass(frozen=True)
class Absorption(Perturbation):
    """Material absorption: amplitude exp(−α φ) for a pixel of phase delay φ.

    For a material of refractive index n and extinction coefficient κ, a thickness h delays the
    phase by φ = 2π (n − 1) h / λ and attenuates the amplitude by exp(−2π κ h / λ), so
    α = κ / (n − 1).
    """

    alpha: float
    name = "absorption"
    nuisance_keys = ("absorption",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "absorption": nuisance.get("absorption", 0.0) + self.alpha}


@dataclass(frozen=True)
class DetectorNoise(Perturbation):
    """Shot noise for a photon budget plus Gaussian read noise (electrons rms) per detector.

    ``photons_per_unit`` is the number of photons detected for an output value of 1 (for the
    diffractive network: all the light of one input, whose power is normalized to 1).
    """

    photons_per_unit: float
    read_noise: float = 0.0
    name = "detector-noise"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        return photon_noise(
            y, self.photons_per_unit, self.read_noise, generator, differentiable=differentiable
        )


@dataclass(frozen=True)
class CameraQuantization(Perturbation):
    """A camera (or any intensity detector) read by a ``bits``-bit ADC over [0, full_scale]:
    brighter readings saturate, the others round to the nearest of 2^bits evenly spaced codes.
    The rounding passes gradients straight through (for noise-aware training)."""

    bits: int
    full_scale: float
    name = "camera-quantization"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        codes = 2**self.bits

        def snap(v: Tensor) -> Tensor:
            return snap_to_levels(v, 0.0, self.full_scale, codes, periodic=False)

        return quantize_ste(y.clamp(0.0, self.full_scale), snap)


@dataclass(frozen=True)
class MonitorNoise(Perturbation):
    """Relative noise σ of the in-situ monitors that physical gradient procedures read (the
    phase-shifter taps of an MZI mesh, the holographic field measurements of a diffractive
    network): each reading is multiplied by (1 + σ ε). The forward outputs are unaffected."""

    sigma: float
    name = "monitor-noise"
    nuisance_keys = ("monitor_noise",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "monitor_noise": self.sigma}
