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

from torch import Tensor

from physnn.physics import hopfield as hop
from physnn.systems.base import Capabilities, Controls, NoiseSource, Nuisance
from physnn.systems.encoding import as_vector
from physnn.systems.layered import LayeredConfig, LayeredEnergyNetwork, Params, fabricated


@dataclass(frozen=True)
class HopfieldConfig(LayeredConfig):
    """Layer sizes, relaxation schedule and control bounds."""

    bound_fields = ("weight_bound", "bias_bound")

    num_inputs: int = 64  # clamped input units (the sample is resampled to this many)
    hidden_sizes: tuple[int, ...] = (32,)  # hidden layers
    num_outputs: int = 10  # output units (measured)
    free_steps: int = 20  # sweeps of the free phase, from s = 0
    nudged_steps: int = 10  # further sweeps of a nudged or clamped phase, from the free state
    step_size: float = 1.0  # ε: 1 is exact block-coordinate minimization, < 1 leaky dynamics
    weight_bound: float = 1.0  # |W| ≤ weight_bound
    bias_bound: float = 1.0  # |b| ≤ bias_bound


class HopfieldNetwork(LayeredEnergyNetwork):
    """Clamped inputs → hidden layers ↔ output units, settling at a minimum of the energy."""

    name = "hopfield"  # inputs clamp the units ρ(x) = clip(x, 0, 1)
    capabilities = Capabilities(
        differentiable=True,
        energy_based=True,
        holomorphic=True,
        description="layered continuous Hopfield network (Scellier & Bengio 2017)",
    )
    config_class = HopfieldConfig
    unit_control = "bias"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 8×8 digits → 32 hidden → 10 outputs; 20 exact sweeps settle it to ~1e-6.
        "default": {},
        # The paper's one-hidden-layer MNIST network: 784-500-10, 20 free and 4 weakly clamped
        # iterations of the leaky dynamics with ε = 0.5.
        "scellier2017": {"num_inputs": 784, "hidden_sizes": (500,), "num_outputs": 10,
                         "free_steps": 20, "nudged_steps": 4, "step_size": 0.5},
    }  # fmt: skip

    def nominal_nuisance(self) -> Nuisance:
        return {
            "weight_error": None,  # per layer, standard normals shaped like W_k
            "weight_error_scale": 0.0,  # relative σ of each synapse: W_eff = W ⊙ (1 + σ ε)
            "relaxation": 1.0,  # fraction of the sweeps completed in the relaxation time
            "local_noise": 0.0,  # σ of each per-sample measurement of a local derivative
        }

    # ----------------------------------------------------------------------------- physics
    def parameters_of(self, controls: Controls, nuisance: Nuisance) -> tuple[list, list]:
        """The effective (W_k, b_k) of the device: the controls with fabrication errors."""
        errors, scale = nuisance.get("weight_error"), nuisance.get("weight_error_scale", 0.0)
        weights = fabricated(self.per_layer(controls, "weight"), errors, scale)
        return weights, self.per_layer(controls, "bias")

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
        noise: NoiseSource | None = None,
    ) -> list[Tensor]:
        """The states [ρ(x), s_1, …, s_L] after the free phase and, with a nudge or a clamp,
        the nudged phase that continues from it (the relaxation itself is noiseless)."""
        c = self.config
        weights, biases = self.parameters_of(controls, nuisance)
        inputs = hop.project(as_vector(x, c.num_inputs).to(weights[0].dtype))

        def sweep(
            states: list[Tensor], p: Params, force: Tensor | None, held: Tensor | None
        ) -> list[Tensor]:
            return hop.sweep(states, *p, c.step_size, force=force, clamp=held)

        steps = (self.sweeps(c.free_steps, nuisance), self.sweeps(c.nudged_steps, nuisance))
        return self.relax_two_phases(
            self.at_rest(inputs), (weights, biases), sweep, steps, nudge, clamp
        )

    def local_derivatives(
        self,
        states: list[Tensor],
        controls: Controls,
        nuisance: Nuisance,
        noise: NoiseSource | None,
    ) -> Controls:
        """−ρ(s_k) ρ(s_{k−1})ᵀ and −ρ(s_k), each measurement with the nuisance's noise σ."""
        d_weights, d_biases = hop.local_derivatives(states)
        local = self.per_layer_controls({"weight": d_weights, "bias": d_biases})
        sigma, batch = nuisance.get("local_noise", 0.0), states[0].shape[0]
        if noise is not None and sigma:
            local = {k: v + self.mean_noise(v, sigma, batch, noise) for k, v in local.items()}
        return local

    @staticmethod
    def mean_noise(value: Tensor, sigma: float, batch: int, noise: NoiseSource) -> Tensor:
        """Noise of a batch mean of per-sample measurements with noise σ each: σ/√B · ε."""
        return sigma / math.sqrt(batch) * noise.standard_normal(value)
