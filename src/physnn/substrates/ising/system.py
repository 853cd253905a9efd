"""A layered Ising machine trained by equilibrium propagation (Laydevant et al., Nat. Commun. 15,
3671 (2024), on a D-Wave annealer).

A sample is resampled to ``num_inputs`` values x ∈ [0, 1] and enters as fixed input "spins"
u = 2x − 1 (equivalently the fixed fields W_1 u on the first hidden layer); hidden layers and
``num_outputs`` output spins σ = ±1 settle in the Ising energy

    E(σ) = −Σ_k σ_kᵀ J_k σ_{k−1} − Σ_k h_kᵀ σ_k          (J_k = ``weight_k``, h_k = ``field_k``),

see :mod:`physnn.physics.ising`. The *device* (called with a :class:`NoiseSource`) is a stochastic
sampler standing in for the annealer: ``samples`` independent reads per input, each an anneal of
``sweeps`` block-Gibbs sweeps from random spins at temperatures lowered geometrically from
``start_temperature`` to ``temperature`` in the first half of the sweeps and held at
``temperature`` in the second. Its outputs are the output spins averaged over the
reads (what an annealer returns), and its local measurements are ∂E/∂J_k = −⟨σ_k σ_{k−1}ᵀ⟩ and
∂E/∂h_k = −⟨σ_k⟩ (means over reads and batch). A nudge f is an extra field on the output spins
(E − fᵀσ_L); a clamp holds them. Every relaxation is an independent anneal (forward annealing
of each phase, as one programs an annealer per phase).

The *twin* (no noise source) is the naive mean-field relaxation m_k = tanh(a_k / T), unrolled for
``mean_field_steps`` Gauss–Seidel layer sweeps from m = 0 (nudged and clamped phases continue
from the free state); ``forward`` is differentiable through it. It approximates the sampler's
spin means: exactly for a single layer of spins, poorly once spins interact through hidden
layers at T ≈ the coupling scale (naive mean field orders where the finite system does not: at
the default preset's initialization it gives mean |m| ≈ 0.8 where the sampler gives ≈ 0.4, and
its gradient has cosine ≈ 0.3 with the sampler's EP estimate). EP on it is exact as β → 0
(it is the stationary point of the mean-field free energy). EP on the sampler estimates, up to
sampling error, the gradient of the loss of the exact Boltzmann means: for a nudge linear in the
output spins, d⟨∂E/∂θ⟩_β/dβ at β = 0 equals ∂⟨fᵀσ_L⟩/∂θ (fluctuation–response), provided the
anneal equilibrates (checked against enumeration at the default coupling scale; strong
couplings need more sweeps).

The *exact reference* (:meth:`IsingMachine.exact_forward`, the oracle of ``physnn gradcheck``) is
what the sampler estimates: the Boltzmann means of the output spins at the effective temperature,
by enumerating the 2^N configurations of the N free (hidden and output) spins, differentiable
through the Boltzmann weights; it is refused above N = 20 (the ``small`` preset has 18). Against
it, EP on the sampler needs a nudge of about T (``ep``'s ``beta`` ≈ 1): the reads' sampling noise
enters its contrast as 1/β (``small`` preset, gap ``none``: cosine 0.07 at β = 10⁻³ and 0.78 at
β = 1 with 8 reads, 0.989 with 512; docs/methods.md).

Nuisance (see :mod:`physnn.substrates.ising.gap`): a mask of the couplers the hardware graph lacks,
the coefficient precision (J and h rounded to 2^bits levels of their range), the σ of the
integrated control error (Gaussian noise on every J and h, drawn each time the problem is
programmed, i.e. once per relaxation), and the ratio of the effective to the nominal
temperature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import IncompatibleError
from physnn.physics import ising
from physnn.systems.base import Capabilities, Controls, NoiseSource, Nuisance
from physnn.systems.encoding import as_vector
from physnn.systems.layered import LayeredConfig, LayeredEnergyNetwork, Params

MAX_ENUMERATED_SPINS = 20
"""The most free spins the exact reference enumerates (2^20 configurations per sample)."""


@dataclass(frozen=True)
class IsingConfig(LayeredConfig):
    """Layer sizes, annealing schedule, mean-field twin and coefficient ranges."""

    num_inputs: int = 64  # fixed input spins (the sample is resampled to this many)
    hidden_sizes: tuple[int, ...] = (32,)  # hidden spin layers
    num_outputs: int = 10  # output spins (measured)
    temperature: float = 1.0  # T of the final sweeps (the sampler's Boltzmann temperature)
    start_temperature: float = 10.0  # T of the first sweep of every anneal
    sweeps: int = 20  # block-Gibbs sweeps per anneal
    samples: int = 8  # reads (independent anneals) per input
    mean_field_steps: int = 30  # Gauss–Seidel sweeps of the mean-field twin
    weight_bound: float = 1.0  # |J| ≤ weight_bound (D-Wave: [−1, 1])
    field_bound: float = 2.0  # |h| ≤ field_bound (D-Wave: [−2, 2] on older chips)

    def check_schedule(self) -> None:
        """Raise ValueError unless the anneal, the reads and the twin's sweeps are valid."""
        for name in ("sweeps", "samples", "mean_field_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.temperature <= self.start_temperature:
            raise ValueError(
                f"temperature must be positive and at most start_temperature, got "
                f"{self.temperature} and {self.start_temperature}"
            )


class IsingMachine(LayeredEnergyNetwork):
    """Fixed input spins → hidden spins ↔ output spins, sampled by an annealer."""

    name = "ising"  # input spins u = 2x − 1 ∈ [−1, 1]
    capabilities = Capabilities(
        differentiable=True,
        energy_based=True,
        description="layered Ising machine, annealer sampler, mean-field twin (Laydevant 2024)",
    )
    config_class = IsingConfig
    nudge = 0.5  # EP's default largest nudge force: sampled equilibria need a strong signal
    exact_reference = "autograd through the Boltzmann means, by enumerating the free spins"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 8×8 digits → 32 hidden spins → 10 output spins, 8 reads of 20-sweep anneals.
        "default": {},
        # The paper's fully connected MNIST network on the D-Wave chip: 784 inputs entering as
        # fields, 120 hidden and 40 output spins (4 per class, averaged by the readout).
        "laydevant2024": {"num_inputs": 784, "hidden_sizes": (120,), "num_outputs": 40},
        # 8×8 digits → 8 hidden → 10 output spins: 18 free spins, few enough for the exact
        # (enumerated) reference of gradcheck.
        "small": {"hidden_sizes": (8,)},
    }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "coupling_mask": None,  # per layer, 1 where the hardware graph has the coupler
            "precision_bits": None,  # J and h rounded to 2^bits levels of their range
            "control_noise": 0.0,  # σ of the integrated control error on every J and h
            "temperature_scale": 1.0,  # effective / nominal temperature of the sampler
        }

    # ----------------------------------------------------------------------------- physics
    def parameters_of(
        self, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> tuple[list[Tensor], list[Tensor]]:
        """The (J_k, h_k) the machine realizes: missing couplers removed, coefficients rounded
        to the hardware's precision, and (with a noise source) the control error of this
        programming added."""
        c = self.config
        weights, fields = self.per_layer(controls, "weight"), self.per_layer(controls, "field")
        mask = nuisance.get("coupling_mask")
        if mask is not None:
            weights = [w * m.to(w) for w, m in zip(weights, mask, strict=True)]
        bits = nuisance.get("precision_bits")
        if bits:
            weights = [ising.quantize(w, c.weight_bound, bits) for w in weights]
            fields = [ising.quantize(h, c.field_bound, bits) for h in fields]
        sigma = nuisance.get("control_noise", 0.0)
        if noise is not None and sigma:
            weights = [w + sigma * noise.standard_normal(w) for w in weights]
            fields = [h + sigma * noise.standard_normal(h) for h in fields]
        return weights, fields

    def effective_temperature(self, nuisance: Nuisance) -> float:
        return self.config.temperature * nuisance.get("temperature_scale", 1.0)

    def inputs(self, x: Tensor, dtype: torch.dtype) -> Tensor:
        """u = 2x − 1 with x resampled to ``num_inputs`` values and clipped to [0, 1]."""
        return 2 * as_vector(x, self.config.num_inputs).to(dtype).clamp(0.0, 1.0) - 1

    def mean_field(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
    ) -> list[Tensor]:
        """The twin: magnetizations [u, m_1, …, m_L] after the free mean-field relaxation and,
        with a nudge or a clamp, the phase that continues from it."""
        weights, fields = self.parameters_of(controls, nuisance)
        t = self.effective_temperature(nuisance)

        def sweep(
            states: list[Tensor], p: Params, force: Tensor | None, held: Tensor | None
        ) -> list[Tensor]:
            return ising.mean_field_sweep(states, *p, t, force=force, clamp=held)

        steps = (self.config.mean_field_steps,) * 2
        states = self.at_rest(self.inputs(x, weights[0].dtype))
        return self.relax_two_phases(states, (weights, fields), sweep, steps, nudge, clamp)

    def anneal(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        noise: NoiseSource,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
    ) -> list[Tensor]:
        """The device: ``samples`` reads per input, spins [u, σ_1, …, σ_L] shaped
        (B, samples, n_k), each an anneal from random spins."""
        c, batch = self.config, x.shape[0]
        if nudge is not None and nudge.is_complex():
            raise IncompatibleError(
                "the Ising sampler draws ±1 spins and cannot hold a complex nudge (holomorphic "
                "EP); use method 'ep'"
            )
        weights, fields = self.parameters_of(controls, nuisance, noise)
        dtype, t = weights[0].dtype, self.effective_temperature(nuisance)
        u = self.inputs(x, dtype)[:, None].expand(batch, c.samples, c.num_inputs)
        states = [u] + [
            ising.random_spins((batch, c.samples, n), noise.generator, u) for n in c.sizes[1:]
        ]
        force = None if nudge is None else nudge.to(dtype)[:, None]
        held = None if clamp is None else clamp.to(dtype)[:, None].expand_as(states[-1])
        for temp in ising.temperatures(c.start_temperature * t / c.temperature, t, c.sweeps):
            states = ising.gibbs_sweep(
                states, weights, fields, temp, noise.generator, force=force, clamp=held
            )
        return states

    def settle(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        noise: NoiseSource | None = None,
    ) -> list[Tensor]:
        """The device's reads (:meth:`anneal`) with a noise source, the twin's magnetizations
        (:meth:`mean_field`) without."""
        if noise is None:
            return self.mean_field(x, controls, nuisance, nudge, clamp)
        return self.anneal(x, controls, nuisance, noise, nudge, clamp)

    def exact_forward(self, x: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The sampler's expected outputs: the Boltzmann means of the output spins at the
        effective temperature, by exact enumeration of the free spins (differentiable; the
        coefficients as :meth:`parameters_of` realizes them, without control error)."""
        free = sum(self.config.sizes[1:])
        if free > MAX_ENUMERATED_SPINS:
            raise IncompatibleError(
                f"the exact Ising reference enumerates all 2^N states of the N free spins and "
                f"allows N ≤ {MAX_ENUMERATED_SPINS}, but this configuration has {free} "
                "(hidden_sizes plus num_outputs): use the 'small' preset or fewer spins"
            )
        weights, fields = self.parameters_of(controls, nuisance)
        u = self.inputs(x, weights[0].dtype)
        return ising.boltzmann_means(u, weights, fields, self.effective_temperature(nuisance))[-1]

    def local_derivatives(
        self,
        states: list[Tensor],
        controls: Controls,
        nuisance: Nuisance,
        noise: NoiseSource | None,
    ) -> Controls:
        """−⟨σ_k σ_{k−1}ᵀ⟩ and −⟨σ_k⟩ over reads and batch (the twin: −m_k m_{k−1}ᵀ, −m_k)."""
        d_weights, d_fields = ising.local_derivatives(states)
        return self.per_layer_controls({"weight": d_weights, "field": d_fields})

    def outputs_of(self, states: list[Tensor]) -> Tensor:
        """The output spins averaged over the reads (B, samples, n_L); the twin's
        magnetizations (B, n_L) are already means."""
        spins = states[-1]
        return spins.mean(dim=1) if spins.dim() == 3 else spins
