"""Readout-only training in closed form: ridge regression on measured device features.

Reservoir computing trains only the linear readout (Jaeger, GMD Report 148 (2001); Lukoševičius
& Jaeger, Computer Science Review 3, 127 (2009)). Each batch is measured on the device (the
physical controls are never changed); the features X entering the model's final ``nn.Linear``
(with a bias column of ones) and the one-hot targets Y are accumulated in float64,

    A ← A + Xᵀ X,        B ← B + Xᵀ Y,

and the readout is set to the ridge solution over the samples seen so far in this epoch,

    [Wᵀ; bᵀ] = (A + λ I′)⁻¹ B,      I′ = I with the bias entry zeroed (the bias is not penalized).

The accumulators restart at the start of every epoch. Digital blocks upstream of the readout
keep their values; the twin is never called; each step costs B device queries and no writes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physnn.errors import ConfigError, option
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    is_number,
    require,
)
from physnn.nets.pnn import PNN


@dataclass(frozen=True)
class RidgeOptions:
    alpha: float = 1e-3
    """Ridge penalty λ per accumulated sample (scaled by the sample count, so that it does not
    fade as the epoch goes on)."""

    def __post_init__(self) -> None:
        require(is_number(self.alpha) and self.alpha >= 0, "alpha", "a number ≥ 0", self.alpha)


def ridge_solution(gram: Tensor, cross: Tensor, penalty: float) -> Tensor:
    """Solve (A + λ I′) β = B for the augmented weights β (features + 1, outputs); the last
    row is the bias, which is not penalized."""
    reg = torch.full((gram.shape[0],), penalty, dtype=gram.dtype, device=gram.device)
    reg[-1] = 0.0
    system = gram + torch.diag(reg)
    factor, info = torch.linalg.cholesky_ex(system)
    if int(info) == 0:  # positive definite: the fast solve
        return torch.cholesky_solve(cross, factor)
    return torch.linalg.lstsq(system, cross).solution  # singular (alpha = 0, few samples)


def symmetric_gram(x: Tensor, blocks: int = 4) -> Tensor:
    """XᵀX (N, N) from its upper block triangle, mirrored: (k + 1) / 2k of the product's flops
    for k column blocks (a BLAS syrk, which torch does not expose, computes half)."""
    n = x.shape[1]
    edges = [round(i * n / blocks) for i in range(blocks + 1)]
    gram = x.new_empty(n, n)
    for a, b in itertools.pairwise(edges):
        block = x[:, a:b].T @ x[:, a:]
        gram[a:b, a:] = block
        gram[b:, a:b] = block[:, b - a :].T
    return gram


def normal_equations(features: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """A = [X 1]ᵀ[X 1] and B = [X 1]ᵀ Y, the augmented normal equations of a readout with a bias
    (the last row), without forming [X 1]."""
    x = features.reshape(features.shape[0], -1).double()
    y = targets.double().reshape(features.shape[0], -1)
    n = x.shape[1]
    sums = x.sum(dim=0)
    gram = x.new_empty(n + 1, n + 1)
    gram[:n, :n] = symmetric_gram(x)
    gram[:n, n] = sums
    gram[n, :n] = sums
    gram[n, n] = x.shape[0]
    cross = torch.cat([x.T @ y, y.sum(dim=0, keepdim=True)])
    return gram, cross


@METHODS.register("ridge")
class Ridge(GradientEstimator):
    name = "ridge"
    summary = "readout-only training: closed-form ridge regression on device-measured features"
    reference = "Jaeger, GMD Report 148 (2001); Lukoševičius & Jaeger, Comput. Sci. Rev. (2009)"
    requirements = Requirements(device_forward=True, linear_readout=True)
    options_class = RidgeOptions

    def bind(self, model: PNN, seed: int) -> None:
        self.readout(model)
        self._reset()

    def _reset(self) -> None:
        self._gram: Tensor | None = None
        self._cross: Tensor | None = None
        self._count = 0

    @staticmethod
    def readout(model: PNN) -> nn.Linear:
        last = model.blocks[-1]
        if not isinstance(last, nn.Linear):
            raise ConfigError(
                "method 'ridge' solves a final linear readout and this model ends in "
                f"{type(last).__name__}; use {option('model')} pnn, stack:K or hybrid:H with a "
                "system whose "
                "readout is linear (output_kind 'real')"
            )
        return last

    @staticmethod
    def features(model: PNN, readout: nn.Linear, x: Tensor) -> Tensor:
        """The device-measured input to the final readout (digital blocks run digitally)."""
        return model.inputs_of(readout, x)

    @torch.no_grad()
    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        readout = self.readout(model)
        features = self.features(model, readout, x)
        logits = readout(features)  # before this batch's update: a prediction, not a fit
        loss = loss_fn(logits, y)
        targets = F.one_hot(y, readout.out_features)
        gram, cross = normal_equations(features, targets)
        self._gram = gram if self._gram is None else self._gram + gram
        self._cross = cross if self._cross is None else self._cross + cross
        self._count += len(y)
        beta = ridge_solution(self._gram, self._cross, self.options.alpha * self._count)
        readout.weight.copy_(beta[:-1].T.to(readout.weight))
        readout.bias.copy_(beta[-1].to(readout.bias))
        return loss.detach(), logits

    def start_epoch(self, epoch: int) -> None:
        self._reset()

    def epoch_diagnostics(self) -> dict[str, float]:
        """The number of samples the readout was fitted on this epoch."""
        return {"ridge_samples": float(self._count)}

    def state_dict(self) -> dict[str, Any]:
        return {"gram": self._gram, "cross": self._cross, "count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._gram, self._cross, self._count = state["gram"], state["cross"], state["count"]
