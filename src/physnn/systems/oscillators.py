"""A chain of coupled, driven, damped nonlinear oscillators (Wright et al., Nature 2022).

N Duffing oscillators (or pendula) in an open chain (:mod:`physnn.physics.oscillators`):

    q̈_i = −ω_i² q_i − β q_i³ − γ q̇_i + J_i (q_{i+1} − q_i) − J_{i−1} (q_i − q_{i−1})
          + F_i cos(Ω t),

time in units of 1/ω₀. As in the Physics-Aware-Training example of Wright, Onodera et al.,
"Deep physical neural networks trained with backpropagation", Nature 601, 549 (2022)
(github.com/mcmahon-lab/Physics-Aware-Training, "Coupled Pendula"), an input sample sets the
initial displacements,

    q_i(0) = s · x_i + θ_i,        q̇_i(0) = 0,        x ∈ [0, 1]ᴺ,

(``input_scale`` s, trainable offsets θ), the chain evolves for a time T, and the measured
output is the displacement of every oscillator at T (or at ``num_samples`` equally spaced
times up to T). The trainable controls are the offsets θ, the spring constants ``J`` and the
drive amplitudes ``F``; a trainable linear readout follows.

Nuisance (design values in :meth:`OscillatorChain.nominal_nuisance`): relative errors of every
natural frequency and spring constant after calibration, a common relative drift of all
frequencies (temperature, ageing: slow compared with a training run, so static per device)
and the rms noise of the actuators that set the initial displacements, drawn per sample from
the :class:`~physnn.systems.base.NoiseSource` (:mod:`physnn.reality.oscillators`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics.oscillators import KINDS, Chain, integrate
from physnn.systems import SYSTEMS
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import as_vector

MAX_PHASE_PER_STEP = 0.5  # largest ω_max · dt allowed (RK4 is stable up to 2.8, accurate below)


@dataclass(frozen=True)
class OscillatorsConfig:
    """A chain of N oscillators; frequencies and rates in units of ω₀, times in 1/ω₀."""

    num_oscillators: int = 64  # N (one per input feature; 8×8 digits)
    kind: str = "duffing"  # "duffing" or "pendulum"
    nonlinearity: float = 1.0  # β of the Duffing force −β q³ (hardening)
    damping: float = 0.1  # γ
    drive_frequency: float = 1.0  # Ω
    duration: float = 6.0  # T: time after which the displacements are measured
    num_steps: int = 60  # RK4 steps over T
    num_samples: int = 1  # measured times (T k / S, k = 1 … S)
    input_scale: float = 1.0  # s: displacement of a fully lit input
    max_coupling: float = 1.0  # spring constants J ∈ [0, max_coupling]
    max_drive: float = 1.0  # drive amplitudes F ∈ [−max_drive, max_drive]
    max_offset: float = 1.0  # initial-displacement offsets θ ∈ [−max_offset, max_offset]

    def __post_init__(self) -> None:
        for name in ("num_oscillators", "num_steps", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_oscillators < 2:
            raise ValueError(f"num_oscillators must be at least 2, got {self.num_oscillators}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("nonlinearity", "damping", "drive_frequency", "max_coupling", "max_drive",
                     "max_offset"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        for name in ("duration", "input_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_steps % self.num_samples:
            raise ValueError(
                f"num_steps ({self.num_steps}) must be a multiple of num_samples "
                f"({self.num_samples})"
            )
        needed = math.ceil(self.duration * self.max_frequency / MAX_PHASE_PER_STEP)
        if self.num_steps < needed:
            raise ValueError(
                f"num_steps={self.num_steps} is too few for an accurate RK4 step (the fastest "
                f"oscillation, ω_max ≈ {self.max_frequency:.3g}, needs num_steps ≥ {needed})"
            )

    @property
    def max_frequency(self) -> float:
        """Upper bound of the chain's fastest local frequency (springs and Duffing stiffening)."""
        amplitude = self.input_scale + self.max_offset
        stiffening = 3 * self.nonlinearity * amplitude**2 if self.kind == "duffing" else 0.0
        return math.sqrt(1.0 + 4 * self.max_coupling + stiffening)


@SYSTEMS.register("oscillators")
class OscillatorChain(System):
    """Inputs in initial displacements → nonlinear chain dynamics → displacements at time T."""

    name = "oscillators"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # Duffing / pendulum restoring forces
        reciprocal=False,
        time_reversible=False,  # damped (Hamiltonian only for damping = 0, no drive)
        description="chain of coupled driven damped Duffing oscillators or pendula (Wright 2022)",
    )
    config_class = OscillatorsConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 64 Duffing oscillators (one per 8×8 pixel), 60 RK4 steps over T = 6/ω₀.
        "default": {},
        # Wright et al. 2022, Physics-Aware-Training example: a chain of driven, damped coupled
        # pendula whose initial angles carry the input and whose angles at T are the output.
        # MNIST downsampled to 14×14 = 196 oscillators; the paper's mechanical PNN is a driven
        # multimode plate, not a chain, so this preset is a stand-in of the same kind of physics.
        "wright2022": {"num_oscillators": 196, "kind": "pendulum", "duration": 10.0,
                       "num_steps": 100, "input_scale": 1.5},
    }  # fmt: skip

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        n = c.num_oscillators
        unit = "rad" if c.kind == "pendulum" else "length"
        return {
            "offset": ControlSpec((n,), -c.max_offset, c.max_offset, unit=unit),
            "coupling": ControlSpec((n - 1,), 0.0, c.max_coupling, unit="ω₀²"),
            "drive": ControlSpec((n,), -c.max_drive, c.max_drive, unit="ω₀² · length"),
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "frequency_error": None,  # (N,) relative error of each natural frequency ω_i
            "coupling_error": None,  # (N − 1,) relative error of each spring constant J_i
            "frequency_drift": 0.0,  # common relative shift of every ω_i since calibration
            "input_noise": 0.0,  # rms noise of each initial displacement (with a NoiseSource)
        }

    @property
    def num_outputs(self) -> int:
        return self.config.num_oscillators * self.config.num_samples

    # ----------------------------------------------------------------------------- physics
    def initial_positions(
        self, x: Tensor, offset: Tensor, nuisance: Nuisance, noise: NoiseSource | None
    ) -> Tensor:
        """q(0) = s x + θ (B, N), plus actuator noise σ ε drawn from the noise source."""
        c = self.config
        pixels = as_vector(x, c.num_oscillators).clamp(0, 1).to(offset)
        q0 = c.input_scale * pixels + offset
        sigma = nuisance.get("input_noise", 0.0)
        if noise is None or not sigma:
            return q0
        eps = torch.randn(q0.shape, generator=noise.generator, dtype=q0.dtype, device=q0.device)
        return q0 + sigma * eps

    def chain(self, controls: Controls, nuisance: Nuisance) -> Chain:
        """The chain the device realizes: design values with calibration errors and drift."""
        c = self.config
        coupling = controls["coupling"]
        frequency = torch.ones_like(controls["offset"]) * (1 + nuisance.get("frequency_drift", 0.0))
        if nuisance.get("frequency_error") is not None:
            frequency = frequency * (1 + nuisance["frequency_error"].to(frequency))
        if nuisance.get("coupling_error") is not None:
            coupling = coupling * (1 + nuisance["coupling_error"].to(coupling))
        return Chain(
            omega_sq=frequency.square(),
            coupling=coupling,
            drive=controls["drive"],
            nonlinearity=c.nonlinearity,
            damping=c.damping,
            drive_frequency=c.drive_frequency,
            kind=c.kind,
        )

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config
        q0 = self.initial_positions(x, controls["offset"], nuisance, noise)
        positions, _ = integrate(
            q0, torch.zeros_like(q0), self.chain(controls, nuisance), c.duration, c.num_steps,
            c.num_samples,
        )  # fmt: skip
        return positions.flatten(1)
