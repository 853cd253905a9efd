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

Without damping (γ = 0) the chain is Hamiltonian and time-reversible (a drive is undone by
playing its waveform backwards), and the device offers the ``"echo"`` gradient procedure of
Hamiltonian echo backpropagation (López-Pastor & Marquardt, Phys. Rev. X 13, 031020 (2023);
:meth:`OscillatorChain.measured_gradient`, :mod:`physnn.physics.echo`); with damping it refuses.

Nuisance (design values in :meth:`OscillatorChain.nominal_nuisance`): relative errors of every
natural frequency and spring constant after calibration, a common relative drift of all
frequencies (temperature, ageing: slow compared with a training run, so static per device)
and the rms noise of the actuators that set the initial displacements, drawn per sample from
the :class:`~physnn.systems.base.NoiseSource` (:mod:`physnn.substrates.oscillators.gap`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.compiling import compile_unavailable
from physnn.errors import ConfigError, IncompatibleError
from physnn.physics import echo
from physnn.physics.oscillators import KINDS, Chain, integrate
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import UNIT_INTERVAL, as_vector

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
    echo_kick: float = 0.01  # η: size ‖δp‖ of the error kick of the "echo" gradient procedure
    compile: bool = False  # each RK4 step under torch.compile (≈ 5× faster on CPU; compiles first)

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
        for name in ("duration", "input_scale", "echo_kick"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_steps % self.num_samples:
            raise ValueError(
                f"num_steps ({self.num_steps}) must be a multiple of num_samples "
                f"({self.num_samples})"
            )
        if self.compile and (reason := compile_unavailable()):
            raise ValueError(f"compile=true needs a working torch.compile here: {reason}")
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


class OscillatorChain(System):
    """Inputs in initial displacements → nonlinear chain dynamics → displacements at time T."""

    name = "oscillators"
    input_range = UNIT_INTERVAL  # initial displacements s·x
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # Duffing / pendulum restoring forces
        reciprocal=False,
        time_reversible=True,  # Hamiltonian for damping = 0 (the echo refuses damped chains)
        gradient_procedures=("echo",),
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

    def _check_compile(self, device: torch.device) -> None:
        """With ``compile``: refuse, in a sentence, a device type torch.compile fails on (the
        configuration probed the CPU; e.g. CUDA without Triton)."""
        if self.config.compile and (reason := compile_unavailable(device.type)):
            kind = device.type
            raise ConfigError(f"compile=true needs a working torch.compile on {kind}: {reason}")

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config
        q0 = self.initial_positions(x, controls["offset"], nuisance, noise)
        self._check_compile(q0.device)
        positions, _ = integrate(
            q0, torch.zeros_like(q0), self.chain(controls, nuisance), c.duration, c.num_steps,
            c.num_samples, compiled=c.compile,
        )  # fmt: skip
        return positions.flatten(1)

    # ----------------------------------------------------------------------------- in situ
    def check_procedure(self, procedure: str) -> None:
        super().check_procedure(procedure)
        if self.config.damping > 0:
            raise IncompatibleError(
                f"the echo procedure needs time-reversible dynamics, but "
                f"damping={self.config.damping:g} dissipates energy; set the system option "
                "damping=0 (-S damping=0)"
            )

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """Hamiltonian echo backpropagation (López-Pastor & Marquardt, Phys. Rev. X 13, 031020
        (2023)), see :mod:`physnn.physics.echo`: for the loss Σ_b ⟨g_b, y_b⟩ (g the
        ``output_gradient``), every sample's trajectory gets momentum kicks δp(t_k) = ∓ε_b g_b(t_k)
        at the measured times inside two echoes, ε_b = η / ‖g_b‖ (η = ``echo_kick``), and

            ∂L/∂θ_offset = −Σ_b (p⁺(0) − p⁻(0)) / (2 ε_b),
            ∂L/∂J_i = −Σ_b [∫ (q_{i+1} − q_i)²/2 dt]⁺₋ / (2 ε_b),
            ∂L/∂F_i = −Σ_b [∫ −q_i cos(Ω t + φ) dt]⁺₋ / (2 ε_b)

        from the echoes' final momenta and the springs' and drives' integrated local readings.
        Passes per sample: the forward evolution (outputs y, then the state at T is held) and
        the two echoes — three. The spring sensors read ∂H/∂J of the *realized* spring
        constants: coupler gain errors are not undone. The echo's sensors are noise-free here;
        the actuator noise of the initial displacements enters through the forward pass.
        The chain is simulated in float64 (the analog device has no rounding error).
        """
        c = self.config
        self.check_procedure(procedure)
        dtype = controls["offset"].dtype
        exact = {name: value.to(torch.float64) for name, value in controls.items()}
        chain = self.chain(exact, nuisance)
        q0 = self.initial_positions(x, exact["offset"], nuisance, noise)
        self._check_compile(q0.device)
        every = c.num_steps // c.num_samples
        q_end, v_end, positions, _ = echo.evolve(
            q0, torch.zeros_like(q0), chain, c.duration, c.num_steps, every, compiled=c.compile
        )
        g = output_gradient.to(q0).reshape(positions.shape)
        norm = g.flatten(1).norm(dim=1)
        epsilon = torch.where(norm > 0, c.echo_kick / norm, torch.zeros_like(norm))
        kicks = -epsilon[:, None, None] * g
        args = (q_end, v_end, chain, c.duration, c.num_steps)
        _, p_plus, work_plus = echo.echo(*args, kicks, compiled=c.compile)
        _, p_minus, work_minus = echo.echo(*args, -kicks, compiled=c.compile)
        weight = (-norm / (2 * c.echo_kick))[:, None]  # −1 / (2 ε_b)
        grads = {
            "offset": weight * (p_plus - p_minus),
            **{name: weight * (work_plus[name] - work_minus[name]) for name in work_plus},
        }
        return (
            positions.flatten(1).to(dtype),
            {name: grad.sum(0).to(dtype) for name, grad in grads.items()},
            3,
        )
