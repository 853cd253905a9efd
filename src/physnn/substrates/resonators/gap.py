"""The reality gap of a coupled-resonator network (rates and frequencies in units of κ).

The twin knows the calibrated design; the device differs by

* **detuning errors** — after heater calibration each resonance keeps a residual offset,
  N(0, σ²) κ per mode (fabrication scatters resonances of nominally identical silicon rings by
  many linewidths; calibration removes most of it, but not all, and not the cross-talk between
  heaters);
* **coupling errors** — every coupling deviates by a relative N(0, σ²) (coupler gaps,
  directional-coupler length and width variations);
* **extra intrinsic loss** — every mode loses γ more than designed (side-wall roughness,
  absorption), broadening and shallowing the resonances;
* **thermal drift** — the chip temperature differs from calibration, shifting all resonances
  together by one N(0, σ²) κ offset (silicon: ≈ 0.08 nm/K at 1550 nm);
* **detector noise** — homodyne quadratures with the shot noise of a coherent probe of n̄
  photons, σ = 1 / (2√n̄) per quadrature of S (``measure="field"``), or shot plus read noise
  on |S|² (``measure="intensity"``); the taps of the in-situ ``adjoint`` procedure read the
  mode amplitudes with the same 1/(2√n̄) per quadrature.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
detuning error σ              0.05 κ     0.2 κ       0.5 κ
coupling error σ (relative)   0.02       0.05        0.1
extra intrinsic loss γ        0.02 κ     0.1 κ       0.3 κ
thermal drift σ               0.05 κ     0.2 κ       0.5 κ
probe photons n̄               1e6        1e5         1e4
read noise (e⁻, intensity)    1          3           10
============================  =========  ==========  =========

Sources and reasoning: fabrication variations of silicon microrings shift their resonances by
up to nanometres across a wafer (Bogaerts et al., Laser Photonics Rev. 6, 47 (2012)), i.e. many
linewidths of a ring with Q ≈ 1e4 (κ/2π ≈ 20 GHz, ≈ 0.15 nm); after per-ring heater
calibration residuals of a few percent to half a linewidth are typical, and the drift of a
stabilized chip at 0.01–0.1 K corresponds to ≈ 0.05–0.5 κ at that Q. Directional couplers vary
by a few percent to ~10 % in coupling from gap and width variations; extra loss of 0.02–0.3 κ
corresponds to intrinsic Q-factors from 5e5 down to 3e4 at the same κ. Probe photon numbers per
measured quadrature from 1e4 to 1e6 bracket µW probes for µs integration.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import DetectorNoise
from physnn.systems.base import Nuisance, System


def _add(nuisance: Nuisance, key: str, value: Tensor) -> Nuisance:
    """The nuisance with ``value`` added to the tensor under ``key`` (None counts as zero)."""
    if nuisance.get(key) is not None:
        value = value + nuisance[key]
    return {**nuisance, key: value}


@dataclass(frozen=True)
class DetuningError(Perturbation):
    """Residual resonance offset of every mode after calibration, N(0, σ²) κ."""

    sigma: float
    name = "detuning-error"
    nuisance_keys = ("detuning_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["detuning"].shape
        return _add(
            nuisance, "detuning_error", self.sigma * torch.randn(shape, generator=generator)
        )


@dataclass(frozen=True)
class CouplingError(Perturbation):
    """Relative error of every coupling: J → J (1 + δ), δ ~ N(0, σ²)."""

    sigma: float
    name = "coupling-error"
    nuisance_keys = ("coupling_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = system.control_specs()["coupling"].shape
        return _add(
            nuisance, "coupling_error", self.sigma * torch.randn(shape, generator=generator)
        )


@dataclass(frozen=True)
class ExtraLoss(Perturbation):
    """Every mode loses ``gamma`` κ more than designed (intrinsic loss)."""

    gamma: float
    name = "extra-loss"
    nuisance_keys = ("extra_loss",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "extra_loss": nuisance.get("extra_loss", 0.0) + self.gamma}


@dataclass(frozen=True)
class ThermalDrift(Perturbation):
    """All resonances shifted together by one N(0, σ²) κ offset (chip temperature)."""

    sigma: float
    name = "thermal-drift"
    nuisance_keys = ("thermal_shift",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shift = self.sigma * torch.randn((), generator=generator).item()
        return {**nuisance, "thermal_shift": nuisance.get("thermal_shift", 0.0) + shift}


@dataclass(frozen=True)
class HomodyneNoise(Perturbation):
    """Shot noise of homodyne detection: N(0, 1/(4 n̄)) on every measured quadrature of S.

    A coherent probe of n̄ photons measured in a quadrature has vacuum noise variance 1/4 in
    photon-amplitude units, i.e. 1/(4 n̄) once divided by the probe amplitude √n̄.
    """

    photons: float
    name = "homodyne-noise"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return y + eps / (2 * self.photons**0.5)


@dataclass(frozen=True)
class TapNoise(Perturbation):
    """The taps that the in-situ ``adjoint`` procedure reads see the same probe: shot noise
    1/(2√n̄) per quadrature of every mode amplitude (in units of the probe amplitude)."""

    photons: float
    name = "tap-noise"
    nuisance_keys = ("tap_noise",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "tap_noise": 1 / (2 * self.photons**0.5)}


def _detector_noise(system: System, k: dict[str, float]) -> Perturbation:
    """Homodyne shot noise on Re/Im of S, or photon counting noise on |S|²."""
    if system.config.measure == "field":
        return HomodyneNoise(k["photons"])
    return DetectorNoise(k["photons"], read_noise=k["read_noise"])


def _resonator_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["detuning_error"], lambda: DetuningError(k["detuning_error"])),
        (k["coupling_error"], lambda: CouplingError(k["coupling_error"])),
        (k["extra_loss"], lambda: ExtraLoss(k["extra_loss"])),
        (k["thermal_drift"], lambda: ThermalDrift(k["thermal_drift"])),
        (k["photons"], lambda: _detector_noise(system, k)),
        (k["photons"], lambda: TapNoise(k["photons"])),
    )
    return tuple(make() for value, make in candidates if value)


_RESONATOR_LEVELS = {
    "mild": {"detuning_error": 0.05, "coupling_error": 0.02, "extra_loss": 0.02,
             "thermal_drift": 0.05, "photons": 1e6, "read_noise": 1.0},
    "moderate": {"detuning_error": 0.2, "coupling_error": 0.05, "extra_loss": 0.1,
                 "thermal_drift": 0.2, "photons": 1e5, "read_noise": 3.0},
    "severe": {"detuning_error": 0.5, "coupling_error": 0.1, "extra_loss": 0.3,
               "thermal_drift": 0.5, "photons": 1e4, "read_noise": 10.0},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "detuning_error": "residual detuning σ of each mode after calibration, κ",
        "coupling_error": "relative error σ of each coupling",
        "extra_loss": "extra intrinsic loss of every mode, κ",
        "thermal_drift": "common thermal shift σ of all detunings, κ",
        "photons": "probe photons per measurement (0: no detector noise)",
        "read_noise": "read noise, electrons rms (measure=intensity, with photons > 0)",
    },
    levels=_RESONATOR_LEVELS,
    build=_resonator_perturbations,
)
