"""A layered continuous Hopfield network (Scellier & Bengio, Front. Comput. Neurosci. 11, 24,
2017): the reference energy-based substrate for equilibrium propagation.

A sample is resampled to ``num_inputs`` values and clipped to [0, 1] (the clamped input layer
ρ(x)); hidden layers and ``num_outputs`` output units, all in [0, 1], settle at a minimum of

    E(s) = ½ Σ ‖s_k‖² − Σ_k ρ(s_k)ᵀ W_k ρ(s_{k−1}) − Σ_k b_kᵀ ρ(s_k),   ρ = hard sigmoid,

by ``free_steps`` Gauss–Seidel sweeps s_k ← (1 − ε) s_k + ε clip(a_k) from s = 0 (see
:mod:`physnn.physics.hopfield`). Nudged (a force f on the outputs) or clamped phases continue
from that free state for ``nudged_steps`` more sweeps, as a physical network does when the
nudge is switched on after it settled. The outputs are the output units (``output_kind``
"real"); the local measurements are ∂E/∂W_k = −ρ(s_k) ρ(s_{k−1})ᵀ and ∂E/∂b_k = −ρ(s_k)
(batch means). ``forward`` unrolls the free relaxation, so autograd through it is recurrent
backpropagation through the relaxation (the implicit gradient once it has converged).

Nuisance (see :mod:`physnn.substrates.hopfield.gap`): standard normal draws of every synapse's
fabrication error and its relative scale (W_eff = W ⊙ (1 + σ ε)), the fraction of the sweeps the
device completes in its relaxation time, and the noise σ of each per-sample local correlation
measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import hopfield as hop
from physnn.systems.base import Capabilities, Controls, ControlSpec, NoiseSource, Nuisance
from physnn.systems.encoding import UNIT_INTERVAL, as_vector
from physnn.systems.energy import (
    EnergySystem,
    Equilibrium,
    check_layers,
    check_relaxation,
    glorot_weights_zero_biases,
    layered_specs,
)


@dataclass(frozen=True)
class HopfieldConfig:
    """Layer sizes, relaxation schedule and control bounds."""

    num_inputs: int = 64  # clamped input units (the sample is resampled to this many)
    hidden_sizes: tuple[int, ...] = (32,)  # hidden layers
    num_outputs: int = 10  # output units (measured)
    free_steps: int = 20  # sweeps of the free phase, from s = 0
    nudged_steps: int = 10  # further sweeps of a nudged or clamped phase, from the free state
    step_size: float = 1.0  # ε: 1 is exact block-coordinate minimization, < 1 leaky dynamics
    weight_bound: float = 1.0  # |W| ≤ weight_bound
    bias_bound: float = 1.0  # |b| ≤ bias_bound

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))
        sizes = (self.num_inputs, *self.hidden_sizes, self.num_outputs)
        check_layers(sizes)
        check_relaxation(self.free_steps, self.nudged_steps, self.step_size)
        if not (self.weight_bound > 0 and self.bias_bound > 0):
            raise ValueError("weight_bound and bias_bound must be positive")

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.num_inputs, *self.hidden_sizes, self.num_outputs)


class HopfieldNetwork(EnergySystem):
    """Clamped inputs → hidden layers ↔ output units, settling at a minimum of the energy."""

    name = "hopfield"
    input_range = UNIT_INTERVAL  # the clamped input units ρ(x) = clip(x, 0, 1)
    capabilities = Capabilities(
        differentiable=True,
        energy_based=True,
        holomorphic=True,
        description="layered continuous Hopfield network (Scellier & Bengio 2017)",
    )
    learning_rate = 0.01
    config_class = HopfieldConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 8×8 digits → 32 hidden → 10 outputs; 20 exact sweeps settle it to ~1e-6.
        "default": {},
        # The paper's one-hidden-layer MNIST network: 784-500-10, 20 free and 4 weakly clamped
        # iterations of the leaky dynamics with ε = 0.5.
        "scellier2017": {"num_inputs": 784, "hidden_sizes": (500,), "num_outputs": 10,
                         "free_steps": 20, "nudged_steps": 4, "step_size": 0.5},
    }  # fmt: skip

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return layered_specs(c.sizes, c.weight_bound, c.bias_bound, "bias")

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Glorot-uniform weights and zero biases, as in the paper."""
        return glorot_weights_zero_biases(self.control_specs(), generator)

    def nominal_nuisance(self) -> Nuisance:
        return {
            "weight_error": None,  # per layer, standard normals shaped like W_k
            "weight_error_scale": 0.0,  # relative σ of each synapse: W_eff = W ⊙ (1 + σ ε)
            "relaxation": 1.0,  # fraction of the sweeps completed in the relaxation time
            "local_noise": 0.0,  # σ of each per-sample measurement of a local derivative
        }

    output_kind = "real"

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    # ----------------------------------------------------------------------------- physics
    def parameters_of(self, controls: Controls, nuisance: Nuisance) -> tuple[list, list]:
        """The effective (W_k, b_k) of the device: the controls with fabrication errors."""
        layers = len(self.config.sizes) - 1
        weights = [controls[f"weight_{k}"] for k in range(1, layers + 1)]
        biases = [controls[f"bias_{k}"] for k in range(1, layers + 1)]
        errors, scale = nuisance.get("weight_error"), nuisance.get("weight_error_scale", 0.0)
        if errors is not None and scale:
            weights = [w * (1 + scale * e.to(w)) for w, e in zip(weights, errors, strict=True)]
        return weights, biases

    def sweeps(self, steps: int, nuisance: Nuisance) -> int:
        """The sweeps the device completes of ``steps`` (limited relaxation time)."""
        return max(1, round(steps * nuisance.get("relaxation", 1.0)))

    def settle(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
    ) -> list[Tensor]:
        """The states [ρ(x), s_1, …, s_L] after the free phase and, with a nudge or a clamp,
        the nudged phase that continues from it."""
        c = self.config
        weights, biases = self.parameters_of(controls, nuisance)
        dtype = weights[0].dtype
        states = [hop.project(as_vector(x, c.num_inputs).to(dtype))]
        states += [torch.zeros(x.shape[0], n, dtype=dtype, device=x.device) for n in c.sizes[1:]]
        for _ in range(self.sweeps(c.free_steps, nuisance)):
            states = hop.sweep(states, weights, biases, c.step_size)
        if nudge is None and clamp is None:
            return states
        if nudge is not None and nudge.is_complex():
            dtype = torch.promote_types(dtype, nudge.dtype)
            weights = [w.to(dtype) for w in weights]
            biases = [b.to(dtype) for b in biases]
            states = [s.to(dtype) for s in states]
        force = None if nudge is None else nudge.to(dtype)
        held = None if clamp is None else clamp.to(dtype)
        for _ in range(self.sweeps(c.nudged_steps, nuisance)):
            states = hop.sweep(states, weights, biases, c.step_size, force=force, clamp=held)
        return states

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
        states = self.settle(x, controls, nuisance, nudge, clamp)
        d_weights, d_biases = hop.local_derivatives(states)
        local = {}
        for k, (dw, db) in enumerate(zip(d_weights, d_biases, strict=True), start=1):
            local[f"weight_{k}"], local[f"bias_{k}"] = dw, db
        sigma = nuisance.get("local_noise", 0.0)
        if noise is not None and sigma:
            local = {k: v + self.mean_noise(v, sigma, x.shape[0], noise) for k, v in local.items()}
        return Equilibrium(states[-1], local)

    @staticmethod
    def mean_noise(value: Tensor, sigma: float, batch: int, noise: NoiseSource) -> Tensor:
        """Noise of a batch mean of per-sample measurements with noise σ each: σ/√B · ε."""
        return sigma / math.sqrt(batch) * noise.standard_normal(value)

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        return self.settle(x, controls, nuisance)[-1]
