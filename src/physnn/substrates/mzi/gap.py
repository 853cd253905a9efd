"""Reality gap of MZI meshes: fabrication and control errors of integrated interferometers.

=================================  =========  ==========  =========
perturbation                       mild       moderate    severe
=================================  =========  ==========  =========
coupler splitting-ratio error σ    0.01       0.03        0.06
  (also of ffm's mirrored copy)
heater gain (Vπ calibration) σ     0.01       0.03        0.05
thermal crosstalk κ (neighbour)    0.005      0.02        0.05
static phase drift σ (rad)         0.02       0.1         0.3
insertion loss per MZI (dB)        0.1        0.25        0.5
  spread between MZIs σ (dB)       0.02       0.05        0.1
photons per input                  1e7        1e6         1e5
read noise (e⁻ rms)                10         30          100
=================================  =========  ==========  =========

Sources. Directional couplers of foundry silicon photonics deviate from 50:50 by a few per cent
of power (width and gap variations; Bandyopadhyay, Hamerly & Englund, Optica 8, 1247 (2021) take
σ ≈ 1–6 % as the realistic range; Fang et al., Opt. Express 27, 14009 (2019) show ONN accuracy
collapsing over the same range). Thermo-optic heaters are calibrated to a Vπ that holds to
about 1–5 % (resistance drift, nonlinear heating). Neighbouring heaters 100 µm apart or less
share a few per cent of their phase without isolation trenches, about 1 % with them
(Milanizadeh et al., J. Lightwave Technol. 37, 1325 (2019)). A chip's phases drift by tens to
hundreds of mrad after calibration with ambient temperature (hence the periodic re-calibration
in Pai et al., Science 380, 398 (2023)); this is modelled as one static offset per heater at
deployment. Insertion loss is 0.1–0.5 dB per MZI in silicon and silicon nitride meshes (Shen et
al., Nat. Photon. 11, 441 (2017); Harris et al., Optica 5, 1623 (2018)); uniform loss only
scales the output, its spread between MZIs unbalances the interference. Detector budgets of
1e5–1e7 photons per inference bracket µW-to-mW sources at GHz rates; photodiode read noise of
tens of electrons. For coherent (homodyne) detection the shot noise of each quadrature is used
instead of the photodiode model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.reality.base import Perturbation, normal_draw
from physnn.reality.levels import GapFamily
from physnn.reality.perturbations import DetectorNoise, MonitorNoise
from physnn.systems.base import Nuisance, System


def _mzi_shape(system: System) -> tuple[int, ...]:
    """(L, K, M): one entry per MZI of every mesh."""
    return system.control_specs()["theta"].shape


def _heater_shape(system: System) -> tuple[int, ...]:
    """(L, K, 2M + N): every θ, φ and output-screen heater of every mesh."""
    specs = system.control_specs()
    *stack, m = specs["theta"].shape
    return (*stack, 2 * m + specs["screen"].shape[-1])


def _add(nuisance: Nuisance, key: str, value: Tensor) -> Nuisance:
    previous = nuisance.get(key)
    return {**nuisance, key: value if previous is None else previous + value}


@dataclass(frozen=True)
class CouplerSplittingError(Perturbation):
    """Each coupler splits r = 0.5 + δ of the power, δ ~ N(0, σ²): angle ε = asin √r − π/4."""

    sigma: float
    name = "coupler-splitting-error"
    nuisance_keys = ("coupler_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        ratio = (0.5 + normal_draw((*_mzi_shape(system), 2), self.sigma, generator)).clamp(0, 1)
        return _add(nuisance, "coupler_error", torch.asin(ratio.sqrt()) - math.pi / 4)


@dataclass(frozen=True)
class MirrorCouplerError(Perturbation):
    """The couplers of the mirrored copy that fully forward mode sends the error through: a
    second mesh fabricated apart, each coupler with its own ratio 0.5 + δ, δ ~ N(0, σ²). The
    forward map does not use them; they break the symmetry that fully forward mode relies on
    (Xue et al., Nature 632, 280 (2024)) and make ``ffm`` approximate."""

    sigma: float
    name = "mirror-coupler-error"
    nuisance_keys = ("mirror_coupler_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        ratio = (0.5 + normal_draw((*_mzi_shape(system), 2), self.sigma, generator)).clamp(0, 1)
        return _add(nuisance, "mirror_coupler_error", torch.asin(ratio.sqrt()) - math.pi / 4)


@dataclass(frozen=True)
class HeaterGainError(Perturbation):
    """Each heater imposes (1 + g) times its commanded phase, g ~ N(0, σ²) (Vπ miscalibration)."""

    sigma: float
    name = "heater-gain-error"
    nuisance_keys = ("phase_gain_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return _add(
            nuisance, "phase_gain_error", normal_draw(_heater_shape(system), self.sigma, generator)
        )


@dataclass(frozen=True)
class ThermalCrosstalk(Perturbation):
    """A fraction κ of each heater's phase appears on its neighbours in the same column."""

    fraction: float
    name = "thermal-crosstalk"
    nuisance_keys = ("crosstalk",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "crosstalk": nuisance.get("crosstalk", 0.0) + self.fraction}


@dataclass(frozen=True)
class PhaseDrift(Perturbation):
    """Static phase offset N(0, σ²) rad on every heater: drift since the last calibration."""

    sigma: float
    name = "phase-drift"
    nuisance_keys = ("phase_offset",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return _add(
            nuisance, "phase_offset", normal_draw(_heater_shape(system), self.sigma, generator)
        )


@dataclass(frozen=True)
class InsertionLoss(Perturbation):
    """Insertion loss per MZI: mean ``loss_db`` with a spread N(0, ``spread_db``²), never < 0."""

    loss_db: float
    spread_db: float = 0.0
    name = "insertion-loss"
    nuisance_keys = ("mzi_loss_db",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        spread = normal_draw(_mzi_shape(system), self.spread_db, generator)
        loss = (self.loss_db + spread).clamp_min(0)
        return {**nuisance, "mzi_loss_db": nuisance.get("mzi_loss_db", 0.0) + loss}


@dataclass(frozen=True)
class HomodyneShotNoise(Perturbation):
    """Shot noise of coherent detection: each quadrature gets N(0, 1 / (4 n)).

    A field amplitude z (|z|² = fraction of the input power) carries n |z|² photons for a
    budget of n photons per input; a coherent state's quadratures have the vacuum variance 1/4
    in units of √photons, i.e. 1 / (4 n) in units of z. Additive, hence reparameterized.
    """

    photons_per_unit: float
    name = "homodyne-shot-noise"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return y + eps / (2 * math.sqrt(self.photons_per_unit))


def _detector(system: System, k: dict[str, float]) -> Perturbation:
    if system.config.detection == "homodyne":
        return HomodyneShotNoise(k["photons"])
    return DetectorNoise(k["photons"], read_noise=k["read_noise"])


def _mzi_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["splitter"], lambda: CouplerSplittingError(k["splitter"])),
        (k["heater_gain"], lambda: HeaterGainError(k["heater_gain"])),
        (k["crosstalk"], lambda: ThermalCrosstalk(k["crosstalk"])),
        (k["drift"], lambda: PhaseDrift(k["drift"])),
        (
            k["loss_db"] or k["loss_spread_db"],
            lambda: InsertionLoss(k["loss_db"], k["loss_spread_db"]),
        ),
        (k["photons"], lambda: _detector(system, k)),
        (k["monitor_noise"], lambda: MonitorNoise(k["monitor_noise"])),
        # last, so that it leaves every other draw of the hidden device as it was
        (k["splitter"], lambda: MirrorCouplerError(k["splitter"])),
    )
    return tuple(make() for value, make in candidates if value)


_MZI_LEVELS = {
    "mild": {"splitter": 0.01, "heater_gain": 0.01, "crosstalk": 0.005, "drift": 0.02,
             "loss_db": 0.1, "loss_spread_db": 0.02, "photons": 1e7, "read_noise": 10.0,
             "monitor_noise": 0.001},
    "moderate": {"splitter": 0.03, "heater_gain": 0.03, "crosstalk": 0.02, "drift": 0.1,
                 "loss_db": 0.25, "loss_spread_db": 0.05, "photons": 1e6, "read_noise": 30.0,
                 "monitor_noise": 0.01},
    "severe": {"splitter": 0.06, "heater_gain": 0.05, "crosstalk": 0.05, "drift": 0.3,
               "loss_db": 0.5, "loss_spread_db": 0.1, "photons": 1e5, "read_noise": 100.0,
               "monitor_noise": 0.03},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "splitter": "σ of each coupler's power splitting ratio around 0.5",
        "heater_gain": "σ of the relative gain error of each phase shifter",
        "crosstalk": "fraction of a heater's phase on each neighbour in its column",
        "drift": "σ of the static phase offset of each heater, rad",
        "loss_db": "mean insertion loss per MZI, dB",
        "loss_spread_db": "σ of the insertion loss between MZIs, dB",
        "photons": "photons per input (0: no detector noise)",
        "read_noise": "photodiode read noise, electrons rms (with photons > 0)",
        "monitor_noise": "relative noise of the phase-shifter monitors read by adjoint and ffm",
    },
    levels=_MZI_LEVELS,
    build=_mzi_perturbations,
)
