"""A layered continuous Hopfield network (Scellier & Bengio, Front. Comput. Neurosci. 11, 24,
2017): the reference energy-based substrate for equilibrium propagation.

A sample is resampled to ``num_inputs`` values and clipped to [0, 1] (the clamped input layer
ρ(x)); hidden layers and ``num_outputs`` output units, all in [0, 1], settle at a minimum of

    E(s) = ½ Σ ‖s_k‖² − Σ_k ρ(s_k)ᵀ W_k ρ(s_{k−1}) − Σ_k b_kᵀ ρ(s_k),   ρ = hard sigmoid,

by Gauss–Seidel sweeps s_k ← (1 − ε) s_k + ε clip(a_k) from s = 0 (see
:mod:`physnn.physics.hopfield`) until the residual — the largest change of a unit in a sweep,
over ε: the projected energy gradient, in units of the [0, 1] range — is at most ``tolerance``,
within a budget of ``free_steps`` sweeps (spent, it warns with a :class:`PhysnnWarning`). Nudged
(a force f on the outputs) or clamped phases continue from that free state, with a budget of
``nudged_steps``, as a physical network does when the nudge is switched on after it settled.
The residual reached is reported with the equilibrium (``Equilibrium.residual``). A tolerance
of None runs a fixed schedule of every sweep of the budgets (the paper's preset). The outputs
are the output units (``output_kind`` "real"); the local measurements are
∂E/∂W_k = −ρ(s_k) ρ(s_{k−1})ᵀ and ∂E/∂b_k = −ρ(s_k) (batch means). ``forward`` unrolls the free
relaxation, so autograd through it is recurrent backpropagation through the relaxation (the
implicit gradient once it has converged).

Nuisance (see :mod:`physnn.substrates.hopfield.gap`): standard normal draws of every synapse's
fabrication error and its relative scale (W_eff = W ⊙ (1 + σ ε)), the fraction f of its
relaxation the device completes in its relaxation time (of a fixed schedule's sweeps; a
converging relaxation stops at the residual τ^f instead of τ), and the noise σ of each
per-sample local correlation measurement.
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
    free_steps: int = 1000  # budget of sweeps of the free phase, from s = 0
    nudged_steps: int = 1000  # budget of a nudged or clamped phase, from the free state
    tolerance: float | None = 1e-6  # a phase stops once no unit moves more than this per sweep
    # (over ε); None: a fixed schedule, every sweep of the budgets
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
        # 8×8 digits → 32 hidden → 10 outputs; exact sweeps until no unit moves by 1e-6
        # (about 150 free sweeps from rest at the Glorot initialization, fewer nudged ones).
        "default": {},
        # The paper's one-hidden-layer MNIST network: 784-500-10, 20 free and 4 weakly clamped
        # iterations of the leaky dynamics with ε = 0.5: the paper's fixed schedule, kept as it
        # is (short of convergence; the residual it reaches is reported, not warned about).
        "scellier2017": {"num_inputs": 784, "hidden_sizes": (500,), "num_outputs": 10,
                         "free_steps": 20, "nudged_steps": 4, "step_size": 0.5,
                         "tolerance": None},
    }  # fmt: skip

    def nominal_nuisance(self) -> Nuisance:
        return {
            "weight_error": None,  # per layer, standard normals shaped like W_k
            "weight_error_scale": 0.0,  # relative σ of each synapse: W_eff = W ⊙ (1 + σ ε)
            "relaxation": 1.0,  # fraction of the sweep budgets completed in the relaxation time
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

    def stopping_residual(self, nuisance: Nuisance) -> float | None:
        """The residual the device's relaxation stops at: the tolerance τ, or τ^f when it
        completes only the fraction f of its relaxation (a relaxation converging geometrically
        from a residual of about 1, the unit range, reaches τ^f after the fraction f of the
        sweeps it needs to reach τ). None for a fixed schedule."""
        tolerance = self.config.tolerance
        return None if tolerance is None else tolerance ** nuisance.get("relaxation", 1.0)

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
        params, tolerance = (weights, biases), self.stopping_residual(nuisance)
        return self.relax_two_phases(
            self.at_rest(inputs), params, sweep, steps, nudge, clamp, tolerance
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
