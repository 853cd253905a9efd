"""Layered networks whose layers interact only with their neighbours (the Hopfield network of
:mod:`physnn.physics.hopfield`, the Ising machine of :mod:`physnn.physics.ising`).

Layers s_0 (the inputs, held), s_1 … s_L (hidden layers, then the outputs), couplings W_k
(n_k × n_{k−1}) between adjacent layers and per-unit terms b_k. Given its two neighbours, layer k
feels the local field

    a_k = W_k s_{k−1} + W_{k+1}ᵀ s_{k+1} + b_k,

and one Gauss–Seidel pass updates the layers k = 1 … L in order, each from the layers already
updated below it and the old ones above it. A force f on the outputs (the nudge of equilibrium
propagation, energy E − ⟨f, s_L⟩) adds f to a_L; a clamp holds s_L. What a layer becomes given its
local field is each network's physics (the box projection of a Hopfield unit, a Gibbs draw or the
mean-field magnetization of a spin).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor


def local_field(
    k: int, states: list[Tensor], weights: list[Tensor], biases: list[Tensor]
) -> Tensor:
    """a_k = W_k s_{k−1} + W_{k+1}ᵀ s_{k+1} + b_k for layer k ≥ 1 (states[0] = inputs)."""
    a = states[k - 1] @ weights[k - 1].T + biases[k - 1]
    if k < len(states) - 1:
        a = a + states[k + 1] @ weights[k]
    return a


def gauss_seidel(
    states: list[Tensor],
    weights: list[Tensor],
    biases: list[Tensor],
    update: Callable[[Tensor, Tensor], Tensor],
    force: Tensor | None = None,
    clamp: Tensor | None = None,
) -> list[Tensor]:
    """One pass s_k ← update(s_k, a_k) over k = 1 … L (new list); the output layer feels the
    extra field ``force`` or is held at ``clamp``."""
    states = list(states)
    last = len(states) - 1
    for k in range(1, last + 1):
        if k == last and clamp is not None:
            states[k] = clamp
            continue
        a = local_field(k, states, weights, biases)
        if k == last and force is not None:
            a = a + force
        states[k] = update(states[k], a)
    return states
