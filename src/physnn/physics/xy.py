"""Layered coupled phase oscillators with an XY (Kuramoto) energy (Wang, Wanjura & Marquardt,
"Training coupled phase oscillators as a neuromorphic platform using equilibrium propagation",
2024).

Layers of phases ``φ_0`` (the inputs, clamped), ``φ_1 … φ_L`` (hidden layers, then the outputs),
couplings W_k (n_k × n_{k−1}) between adjacent layers and, on every free oscillator, a pinning
field of strength h_k towards the phase ψ_k. The energy is

    E(φ) = −Σ_k Σ_ij W_k,ij cos(φ_k,i − φ_{k−1,j}) − Σ_k Σ_i h_k,i cos(φ_k,i − ψ_k,i).

The oscillators settle by the gradient flow dφ/dt = r ⊙ (ω − ∂E/∂φ) (ω: frequency detunings,
zero in the ideal device; r: each oscillator's mobility, the inverse of its total coupling, see
:func:`rates`), integrated with explicit Euler steps of size η, all layers at once; with phase
noise σ each step adds σ √η ε (Langevin). For ω = 0 the flow descends E, and a fixed point
is a stationary point; ω ≠ 0 breaks the gradient structure (a phase-locked state with ∂E/∂φ = ω).
A nudge f = (f_c, f_s) on the outputs y = (cos φ_L, sin φ_L) adds −⟨f_c, cos φ_L⟩ − ⟨f_s,
sin φ_L⟩ to the energy; a clamp holds φ_L.

With sin(a − b) = sin a cos b − cos a sin b the force on layer k is vectorized as

    ∂E/∂φ_k = sin φ_k ⊙ (W_k cos φ_{k−1}) − cos φ_k ⊙ (W_k sin φ_{k−1})
              + (the same with W_{k+1}ᵀ and φ_{k+1}) + h_k ⊙ sin(φ_k − ψ_k),

and the local derivatives are ∂E/∂W_k = −cos(φ_k,i − φ_{k−1,j}), ∂E/∂h_k = −cos(φ_k − ψ_k) and
∂E/∂ψ_k = −h_k ⊙ sin(φ_k − ψ_k) (batch means).
"""

from __future__ import annotations

import torch
from torch import Tensor


def coupling_force(phase: Tensor, neighbour: Tensor, weight: Tensor) -> Tensor:
    """Σ_j W_ij sin(φ_i − θ_j) for phases φ (B, n) and neighbours θ (B, m), W (n, m)."""
    return torch.sin(phase) * (torch.cos(neighbour) @ weight.T) - torch.cos(phase) * (
        torch.sin(neighbour) @ weight.T
    )


def energy_gradient(
    phases: list[Tensor], weights: list[Tensor], fields: list[Tensor], pins: list[Tensor]
) -> list[Tensor]:
    """∂E/∂φ_k for k = 1 … L."""
    grads = []
    for k in range(1, len(phases)):
        g = coupling_force(phases[k], phases[k - 1], weights[k - 1])
        if k < len(phases) - 1:
            g = g + coupling_force(phases[k], phases[k + 1], weights[k].T)
        grads.append(g + fields[k - 1] * torch.sin(phases[k] - pins[k - 1]))
    return grads


def nudge_force(phase: Tensor, force: Tensor) -> Tensor:
    """∂/∂φ of −⟨f_c, cos φ⟩ − ⟨f_s, sin φ⟩ with f = (f_c, f_s) concatenated."""
    f_cos, f_sin = force.chunk(2, dim=-1)
    return f_cos * torch.sin(phase) - f_sin * torch.cos(phase)


def rates(weights: list[Tensor], fields: list[Tensor]) -> list[Tensor]:
    """Per free oscillator, 1 / (Σ_j |W_ij| over all its couplings + |h_i|): a bound on the
    diagonal and the row sums of the Hessian of E (Gershgorin), so that Euler steps
    φ ← φ + η r ⊙ (ω − ∂E/∂φ) with η ≤ 1 are stable. A positive rate per oscillator (its
    mobility) changes how fast it relaxes, not where it settles."""
    out = []
    for k in range(1, len(weights) + 1):
        total = weights[k - 1].abs().sum(1) + fields[k - 1].abs()
        if k < len(weights):
            total = total + weights[k].abs().sum(0)
        out.append(1.0 / total.detach().clamp_min(1e-3))
    return out


def step(
    phases: list[Tensor],
    weights: list[Tensor],
    fields: list[Tensor],
    pins: list[Tensor],
    eta: float,
    detuning: list[Tensor] | None = None,
    force: Tensor | None = None,
    clamp: Tensor | None = None,
    kicks: list[Tensor] | None = None,
) -> list[Tensor]:
    """One Euler step φ ← φ + η r ⊙ (ω − ∂E/∂φ) (+ kicks, the phase noise) of every free
    layer, with the mobilities r of :func:`rates`."""
    grads = energy_gradient(phases, weights, fields, pins)
    mobility = rates(weights, fields)
    last = len(phases) - 1
    if force is not None:
        grads[-1] = grads[-1] + nudge_force(phases[last], force)
    new = [phases[0]]
    for k in range(1, last + 1):
        drift = -grads[k - 1] if detuning is None else detuning[k - 1] - grads[k - 1]
        phase = phases[k] + eta * mobility[k - 1] * drift
        if kicks is not None:
            phase = phase + kicks[k - 1]
        new.append(phase)
    if clamp is not None:
        new[last] = clamp
    return new


def energy(
    phases: list[Tensor], weights: list[Tensor], fields: list[Tensor], pins: list[Tensor]
) -> Tensor:
    """E per sample (B,)."""
    e = torch.zeros(phases[0].shape[0], dtype=phases[0].dtype, device=phases[0].device)
    for k in range(1, len(phases)):
        diff = phases[k][:, :, None] - phases[k - 1][:, None, :]
        e = e - (weights[k - 1] * torch.cos(diff)).sum((1, 2))
        e = e - (fields[k - 1] * torch.cos(phases[k] - pins[k - 1])).sum(1)
    return e


def outputs(phase: Tensor) -> Tensor:
    """y = (cos φ_L, sin φ_L), concatenated."""
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1)


def local_derivatives(
    phases: list[Tensor], fields: list[Tensor], pins: list[Tensor]
) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """Batch means of ∂E/∂W_k, ∂E/∂h_k and ∂E/∂ψ_k."""
    batch = phases[0].shape[0]
    cos, sin = [torch.cos(p) for p in phases], [torch.sin(p) for p in phases]
    d_weights = [
        -(cos[k].T @ cos[k - 1] + sin[k].T @ sin[k - 1]) / batch for k in range(1, len(phases))
    ]
    d_fields = [-torch.cos(phases[k] - pins[k - 1]).mean(0) for k in range(1, len(phases))]
    d_pins = [
        -fields[k - 1] * torch.sin(phases[k] - pins[k - 1]).mean(0) for k in range(1, len(phases))
    ]
    return d_weights, d_fields, d_pins
