"""The reality gap of a physical reservoir (delay loop or echo state network).

The twin assumes the set feedback gain, input scaling and mask; the device differs by

* **gain miscalibration** — the loop gain α (amplifier, photodiode responsivity, coupler ratio)
  and the input scaling γ (modulator drive) are off by a static relative error, N(0, σ²);
* **mask error** — every mask entry (or ESN input weight) is realized with an additive error
  N(0, σ²) (arbitrary-waveform-generator resolution and bandwidth smear the ±1 steps);
* **loop noise** — electronic and optical noise added to every virtual node in every round trip,
  σ in node units (drawn from the device's measurement generator);
* **detector noise** — the photodiode that reads the loop, shot + read noise with ``photons``
  per unit of node state. Node states may be negative (ESN, Mackey–Glass node: the detector
  reads an offset signal), so :class:`~physnn.reality.perturbations.DetectorNoise`, which clamps
  at zero, does not fit; :class:`StateDetectorNoise` adds its Gaussian limit,
  y + ε √(|y| / P + (r / P)²).

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
gain / scaling error σ        1 %        3 %         10 %
mask error σ                  0.01       0.05        0.15
loop noise σ                  1e-3       5e-3        2e-2
photons per unit state        1e6        1e5         1e4
read noise (e⁻ rms)           5          10          30
============================  =========  ==========  =========

Reasoning (assumptions, not values measured on one set-up): electronic gains drift by a few per
cent between calibrations; an 8-bit AWG mask with finite bandwidth is a few per cent off its
levels; Appeltant et al. (2011) and Larger et al. (2012) operate with signal-to-noise ratios of
roughly 30–60 dB in the loop, i.e. noise of 1e-3 to 3e-2 of the signal range, which the
loop-noise levels bracket.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class GainMiscalibration(Perturbation):
    """Static relative errors of the feedback gain and the input scaling, N(0, σ²) each."""

    sigma: float
    name = "gain-miscalibration"
    nuisance_keys = ("feedback_error", "input_scaling_error")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        errors = self.sigma * torch.randn(2, generator=generator, dtype=torch.float64)
        return {
            **nuisance,
            "feedback_error": nuisance.get("feedback_error", 0.0) + float(errors[0]),
            "input_scaling_error": nuisance.get("input_scaling_error", 0.0) + float(errors[1]),
        }


@dataclass(frozen=True)
class MaskError(Perturbation):
    """Additive N(0, σ²) error of every mask entry (ESN: every input weight)."""

    sigma: float
    name = "mask-error"
    nuisance_keys = ("mask_error",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = (system.config.nodes,)
        error = self.sigma * torch.randn(shape, generator=generator, dtype=torch.float64)
        if nuisance.get("mask_error") is not None:
            error = error + nuisance["mask_error"]
        return {**nuisance, "mask_error": error.float()}


@dataclass(frozen=True)
class LoopNoise(Perturbation):
    """Noise σ added to every node at every round trip of the loop."""

    sigma: float
    name = "loop-noise"
    nuisance_keys = ("loop_noise",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "loop_noise": nuisance.get("loop_noise", 0.0) + self.sigma}


@dataclass(frozen=True)
class StateDetectorNoise(Perturbation):
    """Shot + read noise on signed node states, in its Gaussian limit:
    y + ε √(|y| / P + (r / P)²) with P photons per unit state and r electrons read noise."""

    photons_per_unit: float
    read_noise: float = 0.0
    name = "detector-noise"

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        p = self.photons_per_unit
        std = (y.abs() / p + (self.read_noise / p) ** 2).clamp_min(1e-24).sqrt()
        eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
        return y + std * eps


def _reservoir_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["gain_error"], lambda: GainMiscalibration(k["gain_error"])),
        (k["mask_error"], lambda: MaskError(k["mask_error"])),
        (k["loop_noise"], lambda: LoopNoise(k["loop_noise"])),
        (k["photons"], lambda: StateDetectorNoise(k["photons"], read_noise=k["read_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_RESERVOIR_LEVELS = {
    "mild": {"gain_error": 0.01, "mask_error": 0.01, "loop_noise": 1e-3, "photons": 1e6,
             "read_noise": 5.0},
    "moderate": {"gain_error": 0.03, "mask_error": 0.05, "loop_noise": 5e-3, "photons": 1e5,
                 "read_noise": 10.0},
    "severe": {"gain_error": 0.1, "mask_error": 0.15, "loop_noise": 2e-2, "photons": 1e4,
               "read_noise": 30.0},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "gain_error": "relative σ of the feedback-gain and input-scaling miscalibration",
        "mask_error": "additive σ of every mask entry / input weight",
        "loop_noise": "noise σ added to every node per round trip, node units",
        "photons": "detected photons per unit of node state (0: no detector noise)",
        "read_noise": "detector read noise, electrons rms (with photons > 0)",
    },
    levels=_RESERVOIR_LEVELS,
    build=_reservoir_perturbations,
)
