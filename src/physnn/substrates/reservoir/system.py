"""Physical reservoir computing: a delay-loop reservoir or an echo state network.

A sample is flattened at its native length into a scalar time series u(n) (each value held for
``hold`` steps): the 64 pixels of a ``digits`` image, the formant vector of ``vowels`` or the
1000 audio samples of ``vowels3-audio``. The reservoir (:mod:`physnn.physics.reservoir`) is
driven by it, and its node states at ``readout_times`` equally spaced times (``readout =
"snapshots"``), or their means over as many equal windows (``"window-mean"``: what a slow
detector integrates; it keeps the power a node picks up from an audio signal, which a snapshot
samples at a random phase; ``"window-power"``: the mean of the squared states, what a
square-law detector integrates), are concatenated into the measured outputs (``nodes ×
readout_times``); a trainable linear readout follows —
readout-only training is reservoir computing proper (Tanaka et al., Neural Networks 115, 100
(2019)); the ``ridge`` method solves it in closed form.

Controls: the few physical hyper-controls only — the feedback gain α, the input scaling γ and
the bias φ (the modulator's bias phase for ``sin2``). They start at the configured values, not
at random. The input mask / input weights and the recurrent matrix are fixed by ``seed``.

Nuisance: the relative errors of the feedback gain and the input scaling, an additive error of
each mask entry (fabrication / DAC error), and the loop noise σ added to every node at every
step when the device passes its :class:`~physnn.systems.base.NoiseSource`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.physics.reservoir import (
    NONLINEARITIES,
    delay_loop,
    echo_state_network,
    input_mask,
    sparse_recurrent_matrix,
)
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)

KINDS = ("delay", "esn")


READOUTS = ("snapshots", "window-mean", "window-power")


@dataclass(frozen=True)
class ReservoirConfig:
    """A delay reservoir (``kind="delay"``) or an echo state network (``kind="esn"``)."""

    kind: str = "delay"
    nodes: int = 50  # virtual nodes of the delay loop, or ESN units
    nonlinearity: str = "sin2"  # delay node: "sin2" (Larger 2012) or "mackey-glass" (Appeltant)
    exponent: float = 1.0  # p of the Mackey–Glass node z / (1 + |z|^p)
    node_separation: float = 0.5  # θ: virtual-node spacing in units of the node response time
    loop_shift: int = 0  # k of τ = (N + k) θ: node i is fed back node i − k (ring coupling)
    leak: float = 0.5  # ESN leak rate a
    density: float = 0.1  # ESN fraction of non-zero recurrent weights
    spectral_radius: float = 0.9  # ESN ρ of W
    feedback: float = 1.2  # initial α (the ESN's W is multiplied by it)
    input_scaling: float = 0.5  # initial γ
    bias: float = 0.2  # initial φ (rad for sin2)
    hold: int = 1  # steps each input value is held
    readout_times: int = 8  # equally spaced times (or windows) whose states are measured
    readout: str = "snapshots"  # "snapshots", "window-mean" or "window-power"
    loop_noise: float = 0.0  # design σ of the noise added to each node per step
    seed: int = 0  # fixes the mask, the ESN input weights and W

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.nonlinearity not in NONLINEARITIES:
            valid = ", ".join(NONLINEARITIES)
            raise ValueError(f"nonlinearity must be one of {valid}, got {self.nonlinearity!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {self.readout!r}")
        for name in ("nodes", "hold", "readout_times"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("exponent", "node_separation", "spectral_radius"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("leak", "density"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.loop_noise < 0 or self.seed < 0 or self.loop_shift < 0:
            raise ValueError("loop_noise, loop_shift and seed must be non-negative")
        for name, (low, high) in _bounds(self).items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low:g}, {high:g}], got {value}")


def _bounds(config: ReservoirConfig) -> dict[str, tuple[float, float]]:
    """Physical ranges of the controls: α and γ of an amplifier / attenuator, φ one period of
    sin² (π) or a bias voltage of ±1 in node units."""
    bias = (0.0, math.pi) if _periodic_bias(config) else (-1.0, 1.0)
    return {"feedback": (0.0, 2.0), "input_scaling": (0.0, 5.0), "bias": bias}


def _periodic_bias(config: ReservoirConfig) -> bool:
    return config.kind == "delay" and config.nonlinearity == "sin2"


class Reservoir(System):
    """Time-multiplexed delay-loop reservoir or echo state network with a linear readout."""

    name = "reservoir"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,
        description="physical reservoir computing: delay loop (optoelectronic / Mackey–Glass "
        "node) or echo state network, readout-only training",
    )
    # Hundreds of unnormalized node states feed the readout: 0.05 diverges (digits).
    learning_rate = 0.005
    config_class = ReservoirConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 50 virtual sin² nodes, 8 readout times: 400 features, fast on digits.
        "default": {},
        # Appeltant et al. 2011: Mackey–Glass node (p = 1), N = 400 virtual nodes, θ = 0.2;
        # feedback and input scaling of their NARMA10 study (η = 0.5, γ = 0.05).
        "appeltant2011": {"nonlinearity": "mackey-glass", "nodes": 400, "node_separation": 0.2,
                          "exponent": 1.0, "feedback": 0.5, "input_scaling": 0.05, "bias": 0.0},
        # Larger et al. 2012: optoelectronic sin² node with N = 400 virtual nodes; α, γ, φ and
        # θ are this implementation's default operating point, not the paper's values.
        "larger2012": {"nonlinearity": "sin2", "nodes": 400},
        # A 100-unit echo state network (Jaeger 2001).
        "esn": {"kind": "esn", "nodes": 100, "feedback": 1.0, "input_scaling": 0.5, "bias": 0.0},
    }  # fmt: skip

    def __init__(self, config: ReservoirConfig) -> None:
        super().__init__(config)
        generator = torch.Generator().manual_seed(config.seed)
        mask = input_mask(config.nodes, generator)
        if config.kind == "esn":
            mask = 2 * torch.rand(config.nodes, generator=generator) - 1
            w = sparse_recurrent_matrix(
                config.nodes, config.density, config.spectral_radius, generator
            )
            self.register_buffer("recurrent", w, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        bounds = _bounds(self.config)
        units = {"feedback": "", "input_scaling": "", "bias": "rad" if self._periodic() else ""}
        return {
            name: ControlSpec(
                (), low, high, periodic=name == "bias" and self._periodic(), unit=units[name]
            )
            for name, (low, high) in bounds.items()
        }

    def _periodic(self) -> bool:
        return _periodic_bias(self.config)

    def init_controls(self, generator: torch.Generator) -> Controls:
        """The configured operating point (a reservoir is set up, not trained, in its controls)."""
        specs = self.control_specs()
        return {
            name: spec.project(torch.tensor(float(getattr(self.config, name))))
            for name, spec in specs.items()
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "feedback_error": 0.0,  # relative error of α
            "input_scaling_error": 0.0,  # relative error of γ
            "mask_error": None,  # (nodes,) additive error of every mask entry
            "loop_noise": self.config.loop_noise,  # σ per node and step (with a NoiseSource)
        }

    @property
    def num_outputs(self) -> int:
        return self.config.nodes * self.config.readout_times

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Samples → scalar input series (B, T·hold): flattened, each value held ``hold`` steps."""
        flat = x.reshape(x.shape[0], -1).float()
        return flat.repeat_interleave(self.config.hold, dim=1)

    def readout_indices(self, steps: int) -> Tensor:
        """The R = ``readout_times`` equally spaced times t_k = ⌈(k + 1) T / R⌉ − 1, k < R."""
        r = self.config.readout_times
        if steps < r:
            raise ConfigError(
                f"readout_times={r} exceeds the {steps} input steps; lower readout_times"
            )
        return torch.tensor([math.ceil((k + 1) * steps / r) - 1 for k in range(r)])

    def states(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        """All reservoir states over time, (B, T, nodes)."""
        c = self.config
        alpha = controls["feedback"] * (1 + nuisance.get("feedback_error", 0.0))
        gamma = controls["input_scaling"] * (1 + nuisance.get("input_scaling_error", 0.0))
        mask = self.mask.to(alpha.device)
        if nuisance.get("mask_error") is not None:
            mask = mask + nuisance["mask_error"].to(mask)
        u = self.encode(x).to(device=alpha.device, dtype=alpha.dtype)
        sigma = float(nuisance.get("loop_noise", 0.0)) if noise is not None else 0.0
        generator = noise.generator if noise is not None else None
        if c.kind == "esn":
            w = self.recurrent.to(alpha)
            return echo_state_network(
                u, mask.to(alpha), w, alpha, gamma, controls["bias"], c.leak, sigma, generator
            )
        return delay_loop(
            u, mask.to(alpha), alpha, gamma, controls["bias"], c.node_separation,
            c.nonlinearity, c.exponent, sigma, generator, shift=c.loop_shift,
        )  # fmt: skip

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        states = self.states(x, controls, nuisance, noise)
        batch, steps, _ = states.shape
        ends = self.readout_indices(steps)
        if self.config.readout == "snapshots":
            return states[:, ends.to(states.device)].reshape(batch, -1)
        starts = torch.cat([ends.new_zeros(1), ends[:-1] + 1]).tolist()
        if self.config.readout == "window-power":
            states = states.square()
        windows = [
            states[:, a : b + 1].mean(dim=1) for a, b in zip(starts, ends.tolist(), strict=True)
        ]
        return torch.cat(windows, dim=1)
