"""Forward-forward training — Hinton, "The forward-forward algorithm: some preliminary
investigations", arXiv:2212.13345 (2022); optical form: Oguz et al., "Forward–forward training
of an optical neural network", Opt. Lett. 48, 5249 (2023).

Positive data are samples with their true label embedded in the input, negative data the same
samples with a wrong label (drawn uniformly among the others). Every digital layer k has its own
goodness of its activity h, G = Σᵢ hᵢ² (``goodness="sum"``) or its mean over the units
(``"mean"``, the default: the digital layers of physnn have bounded sigmoid/tanh activities, so a
threshold below 1 fits every width), and its own loss

    L_k = softplus(−(G⁺ − θ)) + softplus(G⁻ − θ),

minimized by gradient descent on that layer's weights only: two forward passes, no backward pass
between layers (each layer's input is detached).

Optical form. The physical block is a fixed black-box nonlinearity queried on the device (the
multimode fibre of Oguz et al.); its controls are never written. The digital layers around it
are the ones trained: a layer after a physical block learns from the goodness of its own
activity computed from the block's *measured* outputs for the positive and negative data, so
neither a model nor a derivative of the physical block is ever needed.

Inference. By default (``inference="readout"``) a linear readout answers: the model's last
block is trained with the task loss on the detached features of the unlabelled input. The
embedded label code has zero mean over the classes, so the unlabelled input is Hinton's "neutral
label" and the deployed network ``model(x)`` needs no label at all. With ``inference="goodness"``
the run is evaluated as the paper does: every sample goes through the network once per class
with that label embedded (C queries per sample on a physical block), and the label whose summed
goodness over the trained layers (all but the first when there are several) is highest is the
answer; the readout is still trained, and tools that deploy ``model(x)`` (robustness, serve) use
it. The shared machinery (units, detached inputs, readout) is described in
:mod:`physnn.methods.local_learning`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physnn.errors import ConfigError
from physnn.methods.base import METHODS
from physnn.methods.local_learning import LabelContrastive, embed_label
from physnn.nets.pnn import PNN, run_blocks

GOODNESS = ("mean", "sum")
INFERENCE = ("readout", "goodness")


def goodness_of(h: Tensor, kind: str = "mean") -> Tensor:
    """G = Σᵢ hᵢ² ("sum") or its mean over the features ("mean"), for each row of h."""
    squares = h.flatten(1).square()
    return squares.sum(dim=1) if kind == "sum" else squares.mean(dim=1)


def forward_forward_loss(positive: Tensor, negative: Tensor, threshold: float) -> Tensor:
    """Mean over the batch of softplus(−(G⁺ − θ)) + softplus(G⁻ − θ)."""
    return (F.softplus(threshold - positive) + F.softplus(negative - threshold)).mean()


@dataclass(frozen=True)
class ForwardForwardOptions:
    threshold: float = 0.5
    """θ: goodness above it means "positive" (for ``goodness="sum"`` scale it with the width)."""
    goodness: str = "mean"
    """"mean" (mean square activity) or "sum" (sum of squares, Hinton 2022)."""
    label_scale: float = 1.0
    """Amplitude s of the embedded label (data in [0, 1])."""
    inference: str = "readout"
    """"readout" (the trained linear readout, one pass) or "goodness" (the label of highest
    summed goodness, C passes: Hinton 2022)."""

    def __post_init__(self) -> None:
        if self.goodness not in GOODNESS:
            raise ValueError(f"goodness must be mean or sum, got {self.goodness!r}")
        if self.inference not in INFERENCE:
            raise ValueError(f"inference must be readout or goodness, got {self.inference!r}")
        if not self.threshold > 0 or not self.label_scale > 0:
            raise ValueError("threshold and label_scale must be positive")


@METHODS.register("ff")
class ForwardForward(LabelContrastive):
    """Forward-forward: per-layer goodness on positive and negative data, no backward pass.

    Per trained digital layer: L = softplus(−(G⁺ − θ)) + softplus(G⁻ − θ), G the (mean) sum of
    squared activities; physical blocks are fixed black boxes measured on the device.
    """

    name = "ff"
    summary = "forward-forward: per-layer goodness of positive vs negative (label-embedded) data"
    reference = "Hinton, arXiv:2212.13345 (2022); Oguz et al., Opt. Lett. 48, 5249 (2023)"
    options_class = ForwardForwardOptions

    def goodness(self, head: nn.Module, h: Tensor) -> Tensor:
        return goodness_of(h, self.options.goodness)

    def predictor(self, model: PNN) -> Callable[[Tensor], Tensor]:
        if self.options.inference == "readout":
            return model
        if not self._trained:
            raise ConfigError(
                "forward-forward's goodness inference needs trained digital layers; this model "
                "has none before its readout (use inference='readout')"
            )
        return lambda x: self.label_goodness(model, x)

    @torch.no_grad()
    def label_goodness(self, model: PNN, x: Tensor) -> Tensor:
        """Hinton's inference: the summed goodness of the trained units for each candidate label.

        Every sample goes through the units once per class c with c embedded; the score of c is
        Σ_k G_k over the trained units k — all but the first when there are several (Hinton
        2022: the first hidden layer's goodness is left out). Physical blocks run with the
        model's executor (device or twin). Returns (B, C) scores whose argmax is the label.
        """
        classes = self._num_classes
        labels = torch.arange(classes, device=x.device).repeat_interleave(len(x))
        h = embed_label(
            x.repeat(classes, *([1] * (x.dim() - 1))), labels, classes, self.options.label_scale
        )
        scored = self._trained[1:] if len(self._trained) > 1 else self._trained
        score = h.new_zeros(len(h))
        for k, unit in enumerate(self._units[: self._trained[-1] + 1]):
            h = run_blocks(unit.modules, h, model.executor)
            if k in scored:
                head = self._heads[self._trained.index(k)]
                score += self.goodness(head, h.flatten(1))
        return score.view(classes, len(x)).T

    def contrast(self, positive: Tensor, negative: Tensor) -> Tensor:
        return forward_forward_loss(positive, negative, self.options.threshold)
