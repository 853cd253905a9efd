"""The reality gap of a PCM crossbar: programming noise, conductance drift and 1/f read noise.

The twin computes with the target conductances G_T; the device differs by the PCM statistics of
Nandakumar et al. (ICECS 2019) / Joshi et al. (Nat. Commun. 11, 2473, 2020), as in
:mod:`physnn.physics.crossbar`:

* **programming noise** — every device is written with error N(0, (s · σ_P(g_T))²); one draw
  per device, whatever weight is later written on it (s = 1: the fitted model);
* **drift** — every device drifts as ((t + t₀)/t₀)^(−ν) with its own exponent ν(g_T); the
  inference time t after programming is the knob (the gap grows with it; global drift
  compensation, a design option of the system, removes its mean);
* **read noise** — every read fluctuates by s · σ_nG(t) (1/f noise), drawn inside the forward
  pass for every sample (so it reaches noise-aware training as a reparameterized draw);
* **additive Gaussian noise** (off at every level; set with ``--gap-option``) — the simpler
  model of hardware-aware training (Joshi et al. 2020; Rasch et al., Nat. Commun. 14, 5282
  (2023), aihwkit's ``ADD_NORMAL`` weight modifier and ``out_noise``): ``weight_noise`` σ_w adds
  one N(0, σ_w²) error to every weight W (units of g_max), ``output_noise`` σ_y adds N(0, σ_y²)
  to every column current before the ADC at every read;
* **pulsed updates** (in-situ training on RRAM, off at every level: the levels model a chip
  programmed with verify) — with ``pulse_step`` Δw_min > 0 every write is sent as pulses whose
  steps follow :func:`physnn.physics.crossbar.apply_pulses`, with ``update_nonlinearity`` γ,
  ``update_asymmetry``, ``device_variation`` σ_d and ``cycle_variation`` σ_c. In-memory SGD
  (``analog-sgd``) writes its pulse coincidences through them: set its ``dw_min`` to
  ``pulse_step`` so that one coincidence is one pulse. A crossbar with ``tiki_taka`` has a
  second array A (control ``"fast"``) whose devices draw their own step scales and are read
  against references at their symmetry point (zero-shifting, Kim et al., arXiv:1907.10228):
  pulses act on A + w*, w* the symmetry point of each device.

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
programming noise scale s     0.5        1           2
inference time t              1 h        1 day       1 year
read noise scale s            0.5        1           2
============================  =========  ==========  =========

Sources and reasoning: s = 1 is the model fitted on 1 million PCM devices of IBM's 90 nm chip
(Joshi et al. 2020); 0.5 and 2 bracket a better-tuned iterative programming and a worse device
(an assumption, not a measurement). The inference times 1 h, 1 day and 1 year are those at which
Joshi et al. 2020 and the issue evaluate PCM inference accuracy. For pulsed RRAM updates, values
of the order of aihwkit's soft-bounds RRAM presets are a starting point: Δw_min ≈ 0.002 (about
1000 steps over the range), γ = 1, asymmetry ≈ 0.1, σ_d ≈ 0.3, σ_c ≈ 0.3 (set with
``--gap-option``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.errors import ConfigError
from physnn.physics import crossbar as pcm
from physnn.reality.base import Perturbation
from physnn.reality.levels import GapFamily
from physnn.systems.base import Controls, Nuisance, System

HOUR, DAY, YEAR = 3600.0, 86400.0, 365.25 * 86400.0


def _step_scales(
    system: System, generator: torch.Generator, asymmetry: float, variation: float
) -> torch.Tensor:
    """Up and down step scales of every device, (2, m, n): (1 ± a)(1 + σ_d ε)."""
    eps = _device_draws(system, generator)
    signs = torch.tensor([1.0, -1.0]).reshape(2, 1, 1)
    return (1 + signs * asymmetry) * (1 + variation * eps).clamp_min(0.0)


def _device_draws(system: System, generator: torch.Generator) -> torch.Tensor:
    """One standard normal per device of the differential pairs, (2, m, n)."""
    shape = system.control_specs()["weight"].shape
    return torch.randn((2, *shape), generator=generator)


@dataclass(frozen=True)
class ProgrammingNoise(Perturbation):
    """Each device is programmed with error N(0, (scale · σ_P(g_T))²)."""

    scale: float
    name = "pcm-programming-noise"
    nuisance_keys = ("programming_noise", "programming_noise_scale")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        eps = _device_draws(system, generator)
        return {**nuisance, "programming_noise": eps, "programming_noise_scale": self.scale}


@dataclass(frozen=True)
class ConductanceDrift(Perturbation):
    """Inference at ``time`` seconds after programming: each device drifts with its own ν."""

    time: float
    name = "pcm-drift"
    nuisance_keys = ("drift_noise", "inference_time")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        eps = _device_draws(system, generator)
        return {**nuisance, "drift_noise": eps, "inference_time": self.time}


@dataclass(frozen=True)
class ReadNoise(Perturbation):
    """1/f read noise of scale · σ_nG(t) on every device at every read."""

    scale: float
    name = "pcm-read-noise"
    nuisance_keys = ("read_noise_scale",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "read_noise_scale": self.scale}


@dataclass(frozen=True)
class WeightNoise(Perturbation):
    """Every weight is realized with an additive error N(0, std²), std in units of g_max."""

    std: float
    name = "gaussian-weight-noise"
    nuisance_keys = ("weight_noise", "weight_noise_std")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        eps = torch.randn(system.control_specs()["weight"].shape, generator=generator)
        return {**nuisance, "weight_noise": eps, "weight_noise_std": self.std}


@dataclass(frozen=True)
class OutputNoise(Perturbation):
    """Every read adds N(0, std²) to each column current before the ADC."""

    std: float
    name = "gaussian-output-noise"
    nuisance_keys = ("output_noise_std",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        return {**nuisance, "output_noise_std": self.std}


@dataclass(frozen=True)
class PulsedUpdates(Perturbation):
    """Writes as identical pulses with nonlinear, asymmetric, variable steps (RRAM in situ)."""

    step: float  # Δw_min: weight change of one pulse at w = 0
    nonlinearity: float = 1.0  # γ
    asymmetry: float = 0.0  # a: up steps × (1 + a), down steps × (1 − a)
    device_variation: float = 0.0  # σ_d of each device's step scales
    cycle_variation: float = 0.0  # σ_c of each pulse
    name = "rram-pulsed-updates"
    nuisance_keys = ("pulse_scales", "fast_pulse_scales")

    def __post_init__(self) -> None:
        if not 0 <= self.asymmetry < 1:
            raise ConfigError(f"update_asymmetry must be in [0, 1), got {self.asymmetry}")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        scales = _step_scales(system, generator, self.asymmetry, self.device_variation)
        if "fast" not in system.control_specs():
            return {**nuisance, "pulse_scales": scales}
        fast = _step_scales(system, generator, self.asymmetry, self.device_variation)
        return {**nuisance, "pulse_scales": scales, "fast_pulse_scales": fast}

    def write(
        self,
        nuisance: Nuisance,
        held: Controls,
        previous: Controls,
        requested: Controls,
        generator: torch.Generator,
    ) -> Controls:
        new = {**requested, "weight": self._pulse(held, previous, requested, "weight",
                                                 nuisance["pulse_scales"], generator)}  # fmt: skip
        if "fast" in held:
            new["fast"] = self._pulse(held, previous, requested, "fast",
                                      nuisance["fast_pulse_scales"], generator)  # fmt: skip
        return new

    def _pulse(
        self,
        held: Controls,
        previous: Controls,
        requested: Controls,
        name: str,
        scales: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Control ``name`` after the pulses of its requested change. The fast array is held
        relative to its devices' symmetry points w* (0 for the slow one)."""
        w, scales = held[name], scales.to(held[name])
        pulses = torch.round((requested[name] - previous[name]) / self.step)
        shift = w.new_zeros(())
        if name == "fast":
            shift = pcm.symmetry_point(scales[0], scales[1], self.nonlinearity)
        new = pcm.apply_pulses(w + shift, pulses, self.step, scales[0], scales[1],
                               self.nonlinearity, self.cycle_variation, generator)  # fmt: skip
        return new - shift


def _crossbar_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    pulsed = PulsedUpdates(
        k["pulse_step"],
        k["update_nonlinearity"],
        k["update_asymmetry"],
        k["device_variation"],
        k["cycle_variation"],
    )
    candidates = (
        (k["programming_noise"], lambda: ProgrammingNoise(k["programming_noise"])),
        (k["inference_time"], lambda: ConductanceDrift(k["inference_time"])),
        (k["read_noise"], lambda: ReadNoise(k["read_noise"])),
        (k["weight_noise"], lambda: WeightNoise(k["weight_noise"])),
        (k["output_noise"], lambda: OutputNoise(k["output_noise"])),
        (k["pulse_step"], lambda: pulsed),
    )
    return tuple(make() for value, make in candidates if value)


_WRITE_VERIFIED = {"pulse_step": 0.0, "update_nonlinearity": 0.0, "update_asymmetry": 0.0,
                   "device_variation": 0.0, "cycle_variation": 0.0,
                   "weight_noise": 0.0, "output_noise": 0.0}  # fmt: skip
_CROSSBAR_LEVELS = {
    "mild": {"programming_noise": 0.5, "inference_time": HOUR, "read_noise": 0.5,
             **_WRITE_VERIFIED},
    "moderate": {"programming_noise": 1.0, "inference_time": DAY, "read_noise": 1.0,
                 **_WRITE_VERIFIED},
    "severe": {"programming_noise": 2.0, "inference_time": YEAR, "read_noise": 2.0,
               **_WRITE_VERIFIED},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "programming_noise": "PCM programming noise, multiple of the model's σ_P(g_T)",
        "inference_time": "time of inference after programming, s (0: no drift)",
        "read_noise": "PCM 1/f read noise, multiple of the model's σ_nG(t)",
        "weight_noise": "additive Gaussian weight error σ_w, g_max units (0: none)",
        "output_noise": "additive Gaussian noise σ_y on each column current before the ADC",
        "pulse_step": "RRAM in-situ updates: weight step Δw_min of one pulse (0: writes are "
        "programmed with verify)",
        "update_nonlinearity": "RRAM pulse nonlinearity γ (0: constant steps, 1: soft bounds)",
        "update_asymmetry": "RRAM up/down step asymmetry a (up × (1 + a), down × (1 − a))",
        "device_variation": "RRAM device-to-device variation σ_d of the step size",
        "cycle_variation": "RRAM cycle-to-cycle variation σ_c of each pulse",
    },
    levels=_CROSSBAR_LEVELS,
    build=_crossbar_perturbations,
)
