"""Layered coupled phase oscillators trained by equilibrium propagation (Wang, Wanjura &
Marquardt, 2024: XY / Kuramoto energy).

A sample is resampled to ``num_inputs`` values x ∈ [0, 1] and clamps the input oscillators at
the phases φ_0 = π x; hidden layers and ``output_oscillators`` output oscillators settle by the
gradient flow of the energy

    E(φ) = −Σ_k Σ_ij W_k,ij cos(φ_k,i − φ_{k−1,j}) − Σ_k Σ_i h_k,i cos(φ_k,i − ψ_k,i)

(controls ``weight_k`` = W_k, ``field_k`` = h_k, ``pin_k`` = ψ_k; see :mod:`physnn.physics.xy`):
``free_steps`` Euler steps of size ``step_size`` (each oscillator's rate scaled by its
mobility, the inverse of its total coupling, which keeps the steps stable as couplings grow
and leaves the fixed points unchanged) from φ = 0, and a nudged or clamped phase that
continues from the free state for ``nudged_steps`` more. The outputs are (cos φ_L, sin φ_L), so
``num_outputs`` = 2 × ``output_oscillators``. The local measurements are ∂E/∂W_k =
−cos(φ_k,i − φ_{k−1,j}), ∂E/∂h_k = −cos(φ_k − ψ_k) and ∂E/∂ψ_k = −h_k sin(φ_k − ψ_k) (batch
means). A complex nudge (holomorphic EP, Laborieux & Zenke 2022) runs the nudged phase on
complex phases: every term of the flow is analytic, so the nudged state is the analytic
continuation of the real one in the nudge. ``forward`` unrolls the free flow, so autograd
through it is backpropagation through the relaxation (the implicit gradient once it has
converged). The default 100 + 50 steps do not fully converge the 64-32-5 network (slowest
modes relax over a few hundred steps): EP and the unrolled gradient then differ (gradcheck
cosine ≈ 0.3 at gap none); with 3000 steps they agree to cosine 0.99999 at β = 0.01.

Nuisance (see :mod:`physnn.substrates.xy.gap`): the fabrication error of every coupling
(W ⊙ (1 + σ ε), drawn once), the frequency detunings ω of the free oscillators (which turn the
flow into dφ/dt = ω − ∂E/∂φ, no longer a gradient flow: the phase-locked state is not an energy
minimum), and the phase noise σ of the Langevin kicks σ √η ε per step (drawn from the device's
noise source).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import xy
from physnn.systems.base import Capabilities, Controls, ControlSpec, NoiseSource, Nuisance
from physnn.systems.encoding import UNIT_INTERVAL, as_vector
from physnn.systems.energy import (
    EnergySystem,
    Equilibrium,
    check_layers,
    check_relaxation,
    layered_specs,
)


@dataclass(frozen=True)
class XYConfig:
    """Layer sizes, relaxation schedule and control bounds."""

    num_inputs: int = 64  # clamped input oscillators (the sample is resampled to this many)
    hidden_sizes: tuple[int, ...] = (32,)  # hidden oscillator layers
    output_oscillators: int = 5  # measured oscillators (two outputs each: cos and sin)
    free_steps: int = 100  # Euler steps of the free phase, from φ = 0
    nudged_steps: int = 50  # further steps of a nudged or clamped phase, from the free state
    step_size: float = 1.0  # η: Euler step in units of each oscillator's relaxation time
    weight_bound: float = 1.0  # |W| ≤ weight_bound
    field_bound: float = 1.0  # |h| ≤ field_bound

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        sizes = (self.num_inputs, *self.hidden_sizes, self.output_oscillators)
        check_layers(sizes)
        check_relaxation(self.free_steps, self.nudged_steps, self.step_size)
        if not (self.weight_bound > 0 and self.field_bound > 0):
            raise ValueError("weight_bound and field_bound must be positive")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.num_inputs, *self.hidden_sizes, self.output_oscillators)


class PhaseOscillators(EnergySystem):
    """Clamped input phases → hidden oscillators ↔ output oscillators (XY energy)."""

    name = "xy"
    input_range = UNIT_INTERVAL  # input oscillators clamped at phases π·x
    capabilities = Capabilities(
        differentiable=True,
        energy_based=True,
        holomorphic=True,
        description="layered coupled phase oscillators, XY energy (Wang, Wanjura & Marquardt)",
    )
    learning_rate = 0.01
    config_class = XYConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 8×8 digits → 32 hidden → 5 output oscillators (10 outputs: cos, sin).
        "default": {},
    }

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        layers = layered_specs(c.sizes, c.weight_bound, c.field_bound, "field")
        specs = {}
        for k in range(1, len(c.sizes)):  # per layer: coupling, field, pinning phase
            specs[f"weight_{k}"], specs[f"field_{k}"] = layers[f"weight_{k}"], layers[f"field_{k}"]
            specs[f"pin_{k}"] = ControlSpec((c.sizes[k],), -math.pi, math.pi, periodic=True)
        return specs

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Glorot-uniform couplings, zero fields, uniformly random pinning phases."""
        out = {}
        for name, spec in self.control_specs().items():
            u = torch.rand(spec.shape, generator=generator, dtype=torch.float32)
            if name.startswith("weight"):
                out[name] = spec.project(math.sqrt(6.0 / sum(spec.shape)) * (2 * u - 1))
            elif name.startswith("field"):
                out[name] = torch.zeros(spec.shape)
            else:
                out[name] = spec.project(math.pi * (2 * u - 1))
        return out

    def nominal_nuisance(self) -> Nuisance:
        return {
            "coupling_error": None,  # per layer, standard normals shaped like W_k
            "coupling_error_scale": 0.0,  # relative σ of each coupling: W ⊙ (1 + σ ε)
            "detuning": None,  # per free layer, the frequency detunings ω (B-independent)
            "phase_noise": 0.0,  # σ of the Langevin kicks σ √η ε per step
        }

    output_kind = "real"

    @property
    def num_outputs(self) -> int:
        return 2 * self.config.output_oscillators

    # ----------------------------------------------------------------------------- physics
    def parameters_of(self, controls: Controls, nuisance: Nuisance) -> tuple[list, list, list]:
        """The effective (W_k, h_k, ψ_k) of the device: couplings with fabrication errors."""
        layers = len(self.config.sizes) - 1
        weights = [controls[f"weight_{k}"] for k in range(1, layers + 1)]
        fields = [controls[f"field_{k}"] for k in range(1, layers + 1)]
        pins = [controls[f"pin_{k}"] for k in range(1, layers + 1)]
        errors, scale = nuisance.get("coupling_error"), nuisance.get("coupling_error_scale", 0.0)
        if errors is not None and scale:
            weights = [w * (1 + scale * e.to(w)) for w, e in zip(weights, errors, strict=True)]
        return weights, fields, pins

    def kicks(self, phases: list[Tensor], sigma: float, noise: NoiseSource | None) -> list | None:
        """Phase-noise kicks σ √η ε of one step (None without noise)."""
        if noise is None or not sigma:
            return None
        gen, scale = noise.generator, sigma * math.sqrt(self.config.step_size)
        return [
            scale * torch.randn(p.shape, generator=gen, device=gen.device, dtype=p.real.dtype).to(p)
            for p in phases[1:]
        ]

    def settle(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        noise: NoiseSource | None = None,
    ) -> list[Tensor]:
        """The phases [φ_0, …, φ_L] after the free flow and, with a nudge or a clamp, the phase
        that continues from it."""
        c = self.config
        weights, fields, pins = self.parameters_of(controls, nuisance)
        dtype = weights[0].dtype
        detuning = nuisance.get("detuning")
        if detuning is not None:
            detuning = [w.to(weights[0]) for w in detuning]
        sigma = nuisance.get("phase_noise", 0.0)
        inputs = math.pi * as_vector(x, c.num_inputs).to(dtype).clamp(0.0, 1.0)
        phases = [inputs] + [
            torch.zeros(x.shape[0], n, dtype=dtype, device=x.device) for n in c.sizes[1:]
        ]
        args = (weights, fields, pins, c.step_size, detuning)
        for _ in range(c.free_steps):
            phases = xy.step(phases, *args, kicks=self.kicks(phases, sigma, noise))
        if nudge is None and clamp is None:
            return phases
        if nudge is not None and nudge.is_complex():
            dtype = torch.promote_types(dtype, nudge.dtype)
            weights, fields, pins = ([t.to(dtype) for t in ts] for ts in (weights, fields, pins))
            detuning = None if detuning is None else [w.to(dtype) for w in detuning]
            phases = [p.to(dtype) for p in phases]
            args = (weights, fields, pins, c.step_size, detuning)
        force = None if nudge is None else nudge.to(dtype)
        held = None if clamp is None else torch.atan2(*clamp.to(dtype).chunk(2, dim=-1)[::-1])
        for _ in range(c.nudged_steps):
            kicks = self.kicks(phases, sigma, noise)
            phases = xy.step(phases, *args, force=force, clamp=held, kicks=kicks)
        return phases

    def relax(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        *,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        noise: NoiseSource | None = None,
    ) -> Equilibrium:
        phases = self.settle(x, controls, nuisance, nudge, clamp, noise)
        _, fields, pins = self.parameters_of(controls, nuisance)
        d_weights, d_fields, d_pins = xy.local_derivatives(phases, fields, pins)
        local = {}
        for k in range(1, len(phases)):
            local[f"weight_{k}"] = d_weights[k - 1]
            local[f"field_{k}"] = d_fields[k - 1]
            local[f"pin_{k}"] = d_pins[k - 1]
        return Equilibrium(xy.outputs(phases[-1]), local)

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        return xy.outputs(self.settle(x, controls, nuisance, noise=noise)[-1])
