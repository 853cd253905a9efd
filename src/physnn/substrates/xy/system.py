"""Layered coupled phase oscillators trained by equilibrium propagation (Wang, Wanjura &
Marquardt, 2024: XY / Kuramoto energy).

A sample is resampled to ``num_inputs`` values x ∈ [0, 1] and clamps the input oscillators at
the phases φ_0 = π x; hidden layers and ``output_oscillators`` output oscillators settle by the
gradient flow of the energy

    E(φ) = −Σ_k Σ_ij W_k,ij cos(φ_k,i − φ_{k−1,j}) − Σ_k Σ_i h_k,i cos(φ_k,i − ψ_k,i)

(controls ``weight_k`` = W_k, ``field_k`` = h_k, ``pin_k`` = ψ_k; see :mod:`physnn.physics.xy`):
Euler steps of size ``step_size`` (each oscillator's rate scaled by its mobility, the inverse of
its total coupling, which keeps the steps stable as couplings grow and leaves the fixed points
unchanged) from φ = 0 until the residual — the largest change of a phase in a step over η: the
energy gradient over each oscillator's total coupling — is at most ``tolerance``, within a
budget of ``free_steps`` (spent, it warns with a :class:`PhysnnWarning`), and a nudged or
clamped phase that continues from the free state, with a budget of ``nudged_steps``. The
residual reached is reported with the equilibrium (``Equilibrium.residual``); a tolerance of
None runs a fixed schedule of every step of the budgets. The slowest modes of the 64-32-5
network relax over hundreds to a few thousand steps, but a sample whose state passes near a
saddle can take more than 5000 (one in 96 of the digits' gradcheck batches: its unrolled gradient
was 25 times the typical norm, and the batch's cosine fell to 0.50; settled, 0.97 for that
sample); a fixed schedule of 100 + 50 steps left EP and the unrolled gradient at gradcheck
cosine ≈ 0.3. The tolerance stops every other batch long before the budgets. The outputs are
(cos φ_L, sin φ_L), so ``num_outputs`` = 2 × ``output_oscillators``. The local measurements
are ∂E/∂W_k = −cos(φ_k,i − φ_{k−1,j}), ∂E/∂h_k = −cos(φ_k − ψ_k) and ∂E/∂ψ_k = −h_k sin(φ_k −
ψ_k) (batch means). A complex nudge (holomorphic EP, Laborieux & Zenke 2022) runs the nudged
phase on complex phases: every term of the flow is analytic, so the nudged state is the
analytic continuation of the real one in the nudge. ``forward`` unrolls the free flow, so
autograd through it is backpropagation through the relaxation (the implicit gradient once it
has converged).

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
from physnn.systems.encoding import as_vector
from physnn.systems.layered import (
    LayeredConfig,
    LayeredEnergyNetwork,
    Params,
    fabricated,
    glorot,
)


@dataclass(frozen=True)
class XYConfig(LayeredConfig):
    """Layer sizes, relaxation schedule and control bounds."""

    output_field = "output_oscillators"

    num_inputs: int = 64  # clamped input oscillators (the sample is resampled to this many)
    hidden_sizes: tuple[int, ...] = (32,)  # hidden oscillator layers
    output_oscillators: int = 5  # measured oscillators (two outputs each: cos and sin)
    free_steps: int = 20000  # budget of Euler steps of the free phase, from φ = 0
    nudged_steps: int = 20000  # budget of a nudged or clamped phase, from the free state
    tolerance: float | None = 1e-6  # a phase stops once no phase moves more than this per step
    # (over η); None: a fixed schedule, every step of the budgets
    step_size: float = 1.0  # η: Euler step in units of each oscillator's relaxation time
    weight_bound: float = 1.0  # |W| ≤ weight_bound
    field_bound: float = 1.0  # |h| ≤ field_bound


class PhaseOscillators(LayeredEnergyNetwork):
    """Clamped input phases → hidden oscillators ↔ output oscillators (XY energy)."""

    name = "xy"  # input oscillators clamped at phases π·x
    capabilities = Capabilities(
        differentiable=True,
        energy_based=True,
        holomorphic=True,
        description="layered coupled phase oscillators, XY energy (Wang, Wanjura & Marquardt)",
    )
    config_class = XYConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 8×8 digits → 32 hidden → 5 output oscillators (10 outputs: cos, sin).
        "default": {},
    }

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c, layers = self.config, super().control_specs()
        specs = {}
        for k in range(1, len(c.sizes)):  # per layer: coupling, field, pinning phase
            specs[f"weight_{k}"], specs[f"field_{k}"] = layers[f"weight_{k}"], layers[f"field_{k}"]
            specs[f"pin_{k}"] = ControlSpec((c.sizes[k],), -math.pi, math.pi, periodic=True)
        return specs

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Glorot-uniform couplings, zero fields, uniformly random pinning phases (one uniform
        draw per control, in order)."""
        out = {}
        for name, spec in self.control_specs().items():
            u = torch.rand(spec.shape, generator=generator, dtype=torch.float32)
            if name.startswith("weight"):
                out[name] = glorot(spec, u)
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

    @property
    def num_outputs(self) -> int:
        return 2 * self.config.output_oscillators

    # ----------------------------------------------------------------------------- physics
    def parameters_of(self, controls: Controls, nuisance: Nuisance) -> tuple[list, list, list]:
        """The effective (W_k, h_k, ψ_k) of the device: couplings with fabrication errors."""
        errors, scale = nuisance.get("coupling_error"), nuisance.get("coupling_error_scale", 0.0)
        weights = fabricated(self.per_layer(controls, "weight"), errors, scale)
        return weights, self.per_layer(controls, "field"), self.per_layer(controls, "pin")

    def kicks(self, phases: list[Tensor], sigma: float, noise: NoiseSource | None) -> list | None:
        """Phase-noise kicks σ √η ε of one step (None without noise)."""
        if noise is None or not sigma:
            return None
        gen, scale = noise.generator, sigma * math.sqrt(self.config.step_size)
        return [
            scale * torch.randn(p.shape, generator=gen, device=gen.device, dtype=p.real.dtype).to(p)
            for p in phases[1:]
        ]

    def stopping_residual(self, sigma: float, noise: NoiseSource | None) -> float | None:
        """The residual a relaxation stops at: the tolerance τ, or with phase noise σ the
        larger of τ and 5σ/√η, the noise floor of a step's change over η (the kicks σ√η ε, of
        which the largest over the batch stays below 5σ√η): a Langevin relaxation has no
        fixed point, it settles into its stationary fluctuations. None for a fixed schedule."""
        tolerance = self.config.tolerance
        if tolerance is None or noise is None or not sigma:
            return tolerance
        return max(tolerance, 5 * sigma / math.sqrt(self.config.step_size))

    def output_state(self, clamp: Tensor) -> Tensor:
        """The output phases φ_L = atan2(sin, cos) of clamped outputs (cos φ_L, sin φ_L)."""
        return torch.atan2(*clamp.chunk(2, dim=-1)[::-1])

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
        detuning = nuisance.get("detuning")
        if detuning is not None:
            detuning = [w.to(weights[0]) for w in detuning]
        sigma = nuisance.get("phase_noise", 0.0)
        inputs = math.pi * as_vector(x, c.num_inputs).to(weights[0].dtype).clamp(0.0, 1.0)

        def step(
            phases: list[Tensor], p: Params, force: Tensor | None, held: Tensor | None
        ) -> list[Tensor]:
            w, h, psi, omega = p
            kicks = self.kicks(phases, sigma, noise)
            return xy.step(phases, w, h, psi, c.step_size, omega, force, held, kicks)

        params = (weights, fields, pins, detuning)
        steps, tolerance = (c.free_steps, c.nudged_steps), self.stopping_residual(sigma, noise)
        return self.relax_two_phases(
            self.at_rest(inputs), params, step, steps, nudge, clamp, tolerance
        )

    def local_derivatives(
        self,
        states: list[Tensor],
        controls: Controls,
        nuisance: Nuisance,
        noise: NoiseSource | None,
    ) -> Controls:
        """−cos(φ_k,i − φ_{k−1,j}), −cos(φ_k − ψ_k) and −h_k sin(φ_k − ψ_k)."""
        _, fields, pins = self.parameters_of(controls, nuisance)
        d_weights, d_fields, d_pins = xy.local_derivatives(states, fields, pins)
        return self.per_layer_controls({"weight": d_weights, "field": d_fields, "pin": d_pins})

    def outputs_of(self, states: list[Tensor]) -> Tensor:
        """(cos φ_L, sin φ_L)."""
        return xy.outputs(states[-1])
