"""The layered continuous Hopfield network of Scellier & Bengio (Front. Comput. Neurosci. 11, 24,
2017), as a relaxing physical system.

Layers ``s_0 = x`` (clamped inputs), ``s_1 … s_L`` (hidden layers, then the outputs) with units
in [0, 1], the hard sigmoid ρ(s) = clip(s, 0, 1), weights W_k (n_k × n_{k−1}) between adjacent
layers and biases b_k. The energy is

    E(s) = ½ Σ_{k≥1} ‖s_k‖² − Σ_k ρ(s_k)ᵀ W_k ρ(s_{k−1}) − Σ_k b_kᵀ ρ(s_k).

Inside the box [0, 1] ρ is the identity, so E restricted to one layer (the others fixed) is the
separable quadratic ½‖s_k‖² − a_kᵀ s_k with the *pre-activation*
a_k = W_k ρ(s_{k−1}) + W_{k+1}ᵀ ρ(s_{k+1}) + b_k, whose minimum over the box is clip(a_k). One
relaxation step sweeps the layers in order (Gauss–Seidel),

    s_k ← (1 − ε) s_k + ε clip(a_k),

which for ε = 1 is exact block-coordinate descent: E never increases, and a fixed point is a
stationary point of E on the box (its projected gradient vanishes). ε < 1 is the discretized
leaky dynamics ds/dt = −∂E/∂s of the paper, step size ε. A force f on the outputs (the nudge of
equilibrium propagation, energy E − ⟨f, s_L⟩) adds f to a_L; clamping holds s_L fixed.

The local energy derivatives a device measures at each synapse and unit are

    ∂E/∂W_k = −ρ(s_k) ρ(s_{k−1})ᵀ,        ∂E/∂b_k = −ρ(s_k)        (batch means).

Complex states (holomorphic EP, Laborieux & Zenke, NeurIPS 2022) use the holomorphic extension
of the projection: a unit whose pre-activation has real part outside [0, 1] sits at that bound,
otherwise it follows a. Near a real fixed point with no unit exactly at a bound this is the
analytic continuation of the fixed point as a function of the nudge.
"""

from __future__ import annotations

import torch
from torch import Tensor

from physnn.physics.layered import gauss_seidel, local_field


def project(a: Tensor) -> Tensor:
    """clip(a, 0, 1); for complex a, the bound where Re a leaves [0, 1] and a elsewhere."""
    if not a.is_complex():
        return a.clamp(0.0, 1.0)
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.where(a.real < 0, zero, torch.where(a.real > 1, one, a))


def sweep(
    states: list[Tensor],
    weights: list[Tensor],
    biases: list[Tensor],
    step: float,
    force: Tensor | None = None,
    clamp: Tensor | None = None,
) -> list[Tensor]:
    """One Gauss–Seidel pass s_k ← (1 − ε) s_k + ε clip(a_k) over k = 1 … L (new list; see
    :func:`physnn.physics.layered.gauss_seidel`); all tensors share one dtype (complex for
    holomorphic states). The states stay in the box, where ρ(s) = s, so a_k is the local field
    of the states themselves."""

    def relax(s: Tensor, a: Tensor) -> Tensor:
        target = project(a)
        return target if step == 1.0 else (1 - step) * s + step * target

    return gauss_seidel(states, weights, biases, relax, force, clamp)


def energy(states: list[Tensor], weights: list[Tensor], biases: list[Tensor]) -> Tensor:
    """E per sample (B,), with ρ(s) = clip(s, 0, 1) (the states are kept in the box)."""
    rho = [project(s) for s in states]
    e = sum(0.5 * (s * s).sum(dim=1) for s in states[1:])
    for k in range(1, len(states)):
        e = e - ((rho[k] @ weights[k - 1]) * rho[k - 1]).sum(dim=1) - rho[k] @ biases[k - 1]
    return e


def projected_gradient(
    states: list[Tensor], weights: list[Tensor], biases: list[Tensor]
) -> list[Tensor]:
    """s_k − clip(a_k) per hidden/output layer: zero exactly at a stationary point of E on the
    box (the fixed-point residual of the projected dynamics)."""
    return [
        states[k] - project(local_field(k, states, weights, biases)) for k in range(1, len(states))
    ]


def local_derivatives(states: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Batch means of ∂E/∂W_k = −ρ(s_k) ρ(s_{k−1})ᵀ and ∂E/∂b_k = −ρ(s_k)."""
    rho = [project(s) for s in states]
    batch = states[0].shape[0]
    d_weights = [-(rho[k].T @ rho[k - 1]) / batch for k in range(1, len(rho))]
    d_biases = [-rho[k].mean(dim=0) for k in range(1, len(rho))]
    return d_weights, d_biases
