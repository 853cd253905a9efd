"""Blockwise self-supervised learning (``blockwise-ssl``) — Siddiqui et al., "Blockwise
self-supervised learning at scale", arXiv:2302.01647 (2023); Laydevant et al., "The benefits of
self-supervised learning for training physical neural networks", NeurIPS MLNCP workshop (2023).

Each block is trained with the Barlow Twins loss (Zbontar et al. 2021) of a projector on two
augmented views, L = Σᵢ (1 − Cᵢᵢ)² + λ Σᵢ≠ⱼ Cᵢⱼ², C the cross-correlation of the
batch-standardized projections; the readout is the linear probe. The shared machinery (units,
detached inputs, readout, device queries) is described in :mod:`physnn.methods.local_learning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from physnn.methods.base import METHODS, is_int, require
from physnn.methods.local_learning import LocalLearning, check_positive


def standardize(z: Tensor, eps: float = 1e-5) -> Tensor:
    """Each feature to zero mean and unit variance over the batch."""
    return (z - z.mean(dim=0)) / (z.var(dim=0, unbiased=False) + eps).sqrt()


def barlow_twins_loss(z1: Tensor, z2: Tensor, redundancy_weight: float) -> Tensor:
    """Σᵢ (1 − Cᵢᵢ)² + λ Σᵢ≠ⱼ Cᵢⱼ², C = standardize(z1)ᵀ standardize(z2) / B."""
    c = standardize(z1).T @ standardize(z2) / len(z1)
    diagonal = c.diagonal()
    invariance = (1 - diagonal).square().sum()
    redundancy = c.square().sum() - diagonal.square().sum()
    return invariance + redundancy_weight * redundancy


def augment(x: Tensor, mask: float, noise: float, generator: torch.Generator) -> Tensor:
    """A random view: each input feature dropped with probability ``mask``, Gaussian noise added."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= mask
    jitter = torch.randn(x.shape, generator=generator, device=x.device)
    return x * keep.to(x) + noise * jitter


@dataclass(frozen=True)
class BlockwiseSSLOptions:
    redundancy_weight: float = 5e-3
    """λ of the Barlow Twins redundancy-reduction term (Zbontar et al. 2021)."""
    projector: int = 64
    """Width of each unit's projector Linear → ReLU → Linear."""
    mask: float = 0.2
    """Probability of dropping each input feature in a view."""
    noise: float = 0.1
    """Standard deviation of the Gaussian noise added to a view."""
    head_lr: float = 0.01
    """Adam learning rate of the projectors."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask < 1.0:
            raise ValueError(f"mask must be in [0, 1), got {self.mask!r}")
        require(is_int(self.projector), "projector", "a positive integer", self.projector)
        if self.redundancy_weight < 0 or self.noise < 0:
            raise ValueError("redundancy_weight and noise must be non-negative")
        check_positive(projector=self.projector, head_lr=self.head_lr)


@METHODS.register("blockwise-ssl")
class BlockwiseSSL(LocalLearning):
    """Blockwise self-supervised learning: Barlow Twins per block, then a linear probe.

    Two augmented views of every sample go through the units (physical blocks measured on the
    device); each trained unit's projector output for the two views enters the Barlow Twins
    loss, with the gradient confined to the unit and its projector. The readout (the linear
    probe) is trained meanwhile on the detached features of the clean input. The unit losses use
    no labels.
    """

    name = "blockwise-ssl"
    summary = "blockwise self-supervised learning (Barlow Twins per block) and a linear probe"
    reference = "Siddiqui et al., arXiv:2302.01647 (2023); Laydevant et al., NeurIPS MLNCP (2023)"
    options_class = BlockwiseSSLOptions

    def views(self, x: Tensor, y: Tensor) -> list[Tensor]:
        o = self.options
        return [augment(x, o.mask, o.noise, self._generator) for _ in range(2)]

    def make_head(self, width: int) -> nn.Module:
        size = self.options.projector
        return nn.Sequential(nn.Linear(width, size), nn.ReLU(), nn.Linear(size, size))

    def make_head_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.options.head_lr)

    def local_loss(self, index: int, head: nn.Module, outs: Sequence[Tensor], y: Tensor) -> Tensor:
        z1, z2 = (head(h.flatten(1)) for h in outs)
        return barlow_twins_loss(z1, z2, self.options.redundancy_weight)
