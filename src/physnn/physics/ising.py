"""A layered Ising machine (Laydevant et al., Nat. Commun. 15, 3671 (2024): equilibrium
propagation on a D-Wave quantum annealer used as a sampler of low-energy states).

Layers ``u = s_0`` (the inputs, held fixed: continuous "clamped spins" in [−1, 1], i.e. the
fixed fields W_1 u on the first hidden layer), then binary spins ``s_1 … s_L ∈ {−1, +1}``
(hidden layers, then the outputs), couplings J_k = W_k (n_k × n_{k−1}) between adjacent layers
and fields h_k. The energy is

    E(s) = −Σ_k s_kᵀ W_k s_{k−1} − Σ_k h_kᵀ s_k,

and a nudge f on the outputs adds −fᵀ s_L. The physical annealer is stood in for by a stochastic
sampler: block Gibbs sweeps over the layers (given its neighbours, each layer's spins are
independent, P(s_i = +1) = σ(2 a_i / T) with the local field a_k = W_k s_{k−1} + W_{k+1}ᵀ s_{k+1}
+ h_k) at temperatures lowered geometrically from ``T_start`` to the final T in the first half of
the sweeps and held there in the second half. Several reads
(independent anneals) per sample give the spin averages a real annealer returns. At the final
temperature the stationary distribution of the sweeps is Boltzmann, p(s) ∝ exp(−E(s)/T).

The local energy derivatives at each coupler and spin are

    ∂E/∂W_k = −⟨s_k s_{k−1}ᵀ⟩,        ∂E/∂h_k = −⟨s_k⟩        (means over reads and batch).

The differentiable twin is the naive mean-field relaxation m_k = tanh(a_k(m) / T): the
stationary point of the mean-field free energy F(m) = E(m) − T Σ H((1 + m)/2) (H the binary
entropy), reached by Gauss–Seidel layer sweeps, each an exact minimization of F over one layer
(F is strictly convex in one layer given its neighbours), so F never increases. Its local
derivatives are ∂F/∂W_k = −m_k m_{k−1}ᵀ and ∂F/∂h_k = −m_k, so EP on the twin is exact as β → 0.

With few free spins the sampler's exact spin means follow by enumerating the 2^N configurations
(:func:`boltzmann_means`): the reference its gradients are checked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from physnn.physics.layered import gauss_seidel


def temperatures(start: float, final: float, sweeps: int) -> list[float]:
    """The annealing schedule of ``sweeps`` sweeps: the first half geometric from ``start`` down
    to ``final``, the second half held at ``final`` (where the sweeps sample the Boltzmann
    distribution at the final temperature)."""
    cooling = sweeps // 2
    ratio = start / final
    return [final * ratio ** (1 - s / cooling) for s in range(cooling)] + [final] * (
        sweeps - cooling
    )


def gibbs_sweep(
    states: list[Tensor],
    weights: list[Tensor],
    fields: list[Tensor],
    temperature: float,
    generator: torch.Generator,
    force: Tensor | None = None,
    clamp: Tensor | None = None,
) -> list[Tensor]:
    """One block Gibbs pass over k = 1 … L at ``temperature`` (new list): each layer's spins are
    drawn from their conditional, P(s_i = +1) = σ(2 a_i / T); the output layer feels the extra
    field ``force`` or is held at ``clamp`` (:func:`physnn.physics.layered.gauss_seidel`)."""

    def draw(s: Tensor, a: Tensor) -> Tensor:
        up = torch.sigmoid(2 * a / temperature)
        u = torch.rand(up.shape, generator=generator, device=generator.device, dtype=up.dtype)
        return torch.where(u.to(up.device) < up, 1.0, -1.0).to(up.dtype)

    return gauss_seidel(states, weights, fields, draw, force, clamp)


def mean_field_sweep(
    states: list[Tensor],
    weights: list[Tensor],
    fields: list[Tensor],
    temperature: float,
    force: Tensor | None = None,
    clamp: Tensor | None = None,
) -> list[Tensor]:
    """One Gauss–Seidel pass m_k ← tanh(a_k / T) over k = 1 … L (new list)."""
    return gauss_seidel(
        states, weights, fields, lambda s, a: torch.tanh(a / temperature), force, clamp
    )


def energy(states: list[Tensor], weights: list[Tensor], fields: list[Tensor]) -> Tensor:
    """E = −Σ_k s_kᵀ W_k s_{k−1} − Σ_k h_kᵀ s_k per configuration (leading dims kept)."""
    e = torch.zeros(states[0].shape[:-1], dtype=states[0].dtype, device=states[0].device)
    for k in range(1, len(states)):
        e = e - ((states[k] @ weights[k - 1]) * states[k - 1]).sum(-1) - states[k] @ fields[k - 1]
    return e


def all_spins(count: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Every configuration of ``count`` spins, (2^count, count) of ±1 (binary counting order)."""
    powers = 2 ** torch.arange(count - 1, -1, -1, device=device)
    bits = (torch.arange(2**count, device=device)[:, None] // powers) % 2
    return (2 * bits - 1).to(dtype)


def boltzmann_means(
    inputs: Tensor, weights: list[Tensor], fields: list[Tensor], temperature: float
) -> list[Tensor]:
    """The exact Boltzmann means ⟨s_k⟩ (B, n_k), k = 1 … L, of p(s | u) ∝ exp(−E(s)/T) with the
    inputs u (B, n_0) held, by enumerating all 2^N configurations of the N = n_1 + … + n_L free
    spins (what block Gibbs sampling at T converges to); differentiable in u, W and h.

    E splits into the inputs' term −s_1ᵀ W_1 u (per sample) and the rest (per configuration)."""
    sizes = [w.shape[0] for w in weights]
    configs = all_spins(sum(sizes), inputs.dtype, inputs.device)
    layers = list(configs.split(sizes, dim=1))
    unfed = torch.zeros(1, inputs.shape[-1], dtype=inputs.dtype, device=inputs.device)
    internal = energy([unfed, *layers], weights, fields)  # (2^N,): E without the inputs' term
    drive = (inputs @ weights[0].T) @ layers[0].T  # (B, 2^N): s_1ᵀ W_1 u
    p = torch.softmax((drive - internal) / temperature, dim=-1)
    return [p @ s for s in layers]


def local_derivatives(states: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """−⟨s_k s_{k−1}ᵀ⟩ and −⟨s_k⟩, averaged over every leading dimension (batch, reads)."""
    flat = [s.reshape(-1, s.shape[-1]) for s in states]
    count = flat[0].shape[0]
    d_weights = [-(flat[k].T @ flat[k - 1]) / count for k in range(1, len(flat))]
    d_fields = [-flat[k].mean(dim=0) for k in range(1, len(flat))]
    return d_weights, d_fields


def random_spins(shape: tuple[int, ...], generator: torch.Generator, like: Tensor) -> Tensor:
    """Uniformly random ±1 spins (the annealer's initial state at high temperature)."""
    u = torch.rand(shape, generator=generator, device=generator.device, dtype=like.dtype)
    return torch.where(u.to(like.device) < 0.5, 1.0, -1.0).to(like.dtype)


def quantize(value: Tensor, bound: float, bits: int) -> Tensor:
    """Round to the 2^bits equally spaced levels of [−bound, bound] (coefficient precision)."""
    step = 2 * bound / (2**bits - 1)
    clipped = value.clamp(-bound, bound)
    return clipped + ((-bound + step * torch.round((clipped + bound) / step)) - clipped).detach()


def binary_entropy_free_energy(
    states: list[Tensor], weights: list[Tensor], fields: list[Tensor], temperature: float
) -> Tensor:
    """The mean-field free energy F(m) = E(m) − T Σ H((1 + m)/2) (natural-log entropy)."""
    f = energy(states, weights, fields)
    for m in states[1:]:
        p = ((1 + m) / 2).clamp(1e-12, 1 - 1e-12)
        entropy = -(p * torch.log(p) + (1 - p) * torch.log(1 - p)).sum(-1)
        f = f - temperature * entropy
    return f
