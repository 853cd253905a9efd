"""A toy substrate and a toy training method for physnn, registered as plug-ins.

The substrate ``toy`` is a bank of saturable amplifiers: each of m outputs sums the n inputs
through programmable weights (a resistor array, say), adds a programmable offset and saturates,

    y_j = tanh(g_j (Σ_i w_ji x_i / √n + b_j)),

with the controls ``weight`` w ∈ [-1, 1]^(m×n) and ``bias`` b ∈ [-1, 1]^m. Its only nuisance is
the gain g_j of each amplifier, 1 by design. Its reality gap (:data:`GAP_FAMILY`) has one knob:
``gain_error``, the relative spread σ of the real gains, g_j = 1 + σ ε_j with ε_j ~ N(0, 1).

The method ``toy-sign`` is signSGD on the digital twin: backpropagation through the twin, then
only the sign of each gradient is kept.

physnn finds both through the entry points in this folder's ``pyproject.toml`` and calls
:func:`register` and :func:`register_method` once, the first time it looks a substrate or a
method up. Nothing here is imported before that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.methods import METHODS, GradientEstimator, LossFn, Requirements
from physnn.methods.base import backward_on
from physnn.nets.pnn import PNN, run_twin
from physnn.reality import GapFamily, Perturbation
from physnn.substrates import Substrate
from physnn.substrates import register as register_substrate
from physnn.systems import Capabilities, Controls, ControlSpec, Nuisance, System
from physnn.systems.base import NoiseSource
from physnn.systems.encoding import UNIT_INTERVAL, as_vector


@dataclass(frozen=True)
class ToyConfig:
    """The size of the amplifier bank (a preset names a set of these values)."""

    num_inputs: int = 64  # inputs summed by every amplifier (8×8 digits)
    num_outputs: int = 32  # amplifiers, each one measured output

    def __post_init__(self) -> None:
        for name in ("num_inputs", "num_outputs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class ToyAmplifiers(System):
    """A bank of saturable amplifiers with programmable weights and offsets."""

    name = "toy"
    input_range = UNIT_INTERVAL  # input voltages, clamped to [0, 1]
    capabilities = Capabilities(
        differentiable=True, description="toy plug-in: a bank of saturable amplifiers"
    )
    config_class = ToyConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "default": {},  # 64 inputs, 32 amplifiers
        "small": {"num_outputs": 8},
    }
    learning_rate = 0.05

    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {
            "weight": ControlSpec((c.num_outputs, c.num_inputs), -1.0, 1.0),
            "bias": ControlSpec((c.num_outputs,), -1.0, 1.0),
        }

    def nominal_nuisance(self) -> Nuisance:
        return {"gain": None}  # (num_outputs,) real gains; None: all exactly 1

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        weight, bias = controls["weight"], controls["bias"]
        v = as_vector(x, self.config.num_inputs).clamp(0, 1).to(weight)
        drive = v @ weight.T / math.sqrt(self.config.num_inputs) + bias
        gain = nuisance.get("gain")
        return torch.tanh(drive if gain is None else gain.to(drive) * drive)


@dataclass(frozen=True)
class GainError(Perturbation):
    """Every amplifier's real gain is 1 + σ ε, ε ~ N(0, 1), drawn once per device."""

    sigma: float
    name = "gain-error"
    nuisance_keys = ("gain",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        size = system.num_outputs
        error = self.sigma * torch.randn(size, generator=generator, dtype=torch.float64)
        return {**nuisance, "gain": (1 + error).float()}


GAP_FAMILY = GapFamily(
    knobs={"gain_error": "relative spread σ of the amplifiers' gains (0: exact gains)"},
    levels={
        "mild": {"gain_error": 0.02},
        "moderate": {"gain_error": 0.1},
        "severe": {"gain_error": 0.3},
    },
    build=lambda system, k: (GainError(k["gain_error"]),) if k["gain_error"] else (),
)


class ToySign(GradientEstimator):
    """signSGD on the twin: backpropagation, then each gradient replaced by its sign."""

    name = "toy-sign"
    summary = "toy plug-in: signSGD on the digital twin, then deploy to the device"
    reference = "Bernstein et al., ICML 2018 (signSGD)"
    requirements = Requirements(differentiable_twin=True)

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        loss, logits = backward_on(model, run_twin, x, y, loss_fn)
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.grad.sign_()
        return loss, logits


SUBSTRATE = Substrate(
    name="toy",
    system=ToyAmplifiers,
    gap=GAP_FAMILY,
    tiny={"num_outputs": 8},
)
"""Everything physnn needs to know about the substrate, in one record."""


def register() -> None:
    """Entry point of ``physnn.substrates``: the substrate's record, named ``toy``."""
    register_substrate(SUBSTRATE)


def register_method() -> None:
    """Entry point of ``physnn.methods``: the method ``toy-sign``."""
    METHODS.register("toy-sign")(ToySign)
