"""Local learning: every block of the network is trained by a loss of its own, no global backward.

Methods registered here:

* ``phyll`` — physical local learning, Momeni et al., "Backpropagation-free training of deep
  physical neural networks", Science 382, 1297 (2023), arXiv:2304.11042. Positive data carry the
  true label, negative data a wrong one; the goodness of a layer's output h is its cosine
  similarity to a fixed random unit vector p, G = cos(h, p), and the loss is
  L = softplus(−α (G⁺ − G⁻)) (α = 4 in the authors' code, github.com/MomeniAli/PhyLL).
* ``local-losses`` — Nøkland & Eidnes, "Training neural networks with local error signals",
  ICML 2019, arXiv:1901.06656: L = (1 − β) CE(W h, y) + β ‖S(V h) − S(Y)‖²/B² with an auxiliary
  linear classifier W (zero-initialized), a linear map V and S the cosine-similarity matrix of
  the mean-centred rows of a batch (β = 0.99, "predsim").

Forward-forward (``ff``, :mod:`physnn.methods.forward_forward`) and blockwise self-supervised
learning (``blockwise-ssl``, :mod:`physnn.methods.blockwise_ssl`) run on the same machinery.

How a PNN is split. The last block is the readout; the blocks before it form *units*: a digital
unit is a stretch of digital modules ending after the activation of a parametrized layer
(``Flatten → Linear → Sigmoid``); a physical unit is a physical block with the parameter-free
digital modules before it (``RescaleToUnit → PhysicalBlock``). Every unit receives its input
detached, so no gradient ever crosses a unit boundary: each digital unit learns only from its
own local loss on its own outputs.

Physical blocks are black boxes: they run on the device (every query counted) and none of these
methods writes their controls, which stay at their initial values — none of the papers trains
the physical layer, and a gradient through it would need a model of it (the twin, which these
model-free methods never call) or perturbations. What trains are the digital layers: a digital
unit after a physical one learns from the *measured* outputs of the physical unit (as in PhyLL,
where each trainable layer reads the physical layer before it). The views a method needs (e.g.
positive and negative data) go through the device only up to the last digital unit that learns
from them; the plain input goes through the whole network once per batch, and the readout is
trained on its detached features with the task loss. Inference is therefore always by the
network's own readout (``model(x)``), which is what physnn deploys and evaluates on the device.

Device queries per batch of B samples: a physical unit before the last trained digital unit
measures the V views and the plain input in one query call, (V + 1)·B samples (ff, phyll,
blockwise-ssl: V = 2; local-losses: its one view is the plain input, B samples); a physical unit
after it measures the plain input only, B samples.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physnn.errors import ConfigError
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    generator_for,
    is_number,
    require,
)
from physnn.nets.pnn import PNN, PhysicalBlock, run_blocks, run_device
from physnn.seeds import derived_seed


def _has_parameters(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


class Unit:
    """A stretch of consecutive blocks trained (or executed) as one local block."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        self.modules = tuple(modules)
        self.physical = next((m for m in self.modules if isinstance(m, PhysicalBlock)), None)
        self.trainable = self.physical is None and any(_has_parameters(m) for m in self.modules)

    def __call__(self, h: Tensor) -> Tensor:
        """The unit's output for a detached input (physical blocks are queried on the device)."""
        return run_blocks(self.modules, h.detach(), run_device)

    def width(self, previous: int | None) -> int | None:
        """Number of output features, given the width of the unit's input."""
        if self.physical is not None:
            return self.physical.system.num_outputs
        linears = [m for m in self.modules if isinstance(m, nn.Linear)]
        return linears[-1].out_features if linears else previous


def split_units(model: PNN) -> tuple[list[Unit], nn.Module]:
    """The model's hidden units and its readout (the last block, which must be digital)."""
    *hidden, readout = model.blocks
    if isinstance(readout, PhysicalBlock):
        raise ConfigError(
            "local learning needs a digital readout as the model's last block; "
            "use an architecture that ends with a readout (pnn, stack:K, hybrid:H, mlp:...)"
        )
    units: list[Unit] = []
    current: list[nn.Module] = []

    def close() -> None:
        if current:
            units.append(Unit(current))
            current.clear()

    for block in hidden:
        learns = any(_has_parameters(m) for m in current)
        if isinstance(block, PhysicalBlock):
            if learns:
                close()
            current.append(block)
            close()
        elif learns and _has_parameters(block):
            close()
            current.append(block)
        else:
            current.append(block)
            if learns:  # the activation after a parametrized layer ends a digital unit
                close()
    close()
    return units, readout


class LocalLearning(GradientEstimator):
    """Shared machinery: units with detached inputs, local losses, readout on the plain input.

    Subclasses give the input views their local loss compares (:meth:`views`), an optional head
    per trained unit (:meth:`make_head`: auxiliary classifier, projector, reference vector) and
    the local loss of a unit's outputs for those views (:meth:`local_loss`).
    """

    requirements = Requirements(device_forward=True)
    plain_is_first_view: ClassVar[bool] = False
    """True when the first view is the plain input itself (no separate pass for the readout)."""

    def optimized_parameters(self, model: PNN) -> list[nn.Parameter]:
        """Digital parameters only: the physical controls are never updated."""
        physical = {id(p) for p in model.physical_parameters()}
        return [p for p in model.parameters() if id(p) not in physical]

    def bind(self, model: PNN, seed: int) -> None:
        self._units, self._readout = split_units(model)
        self._trained = [k for k, unit in enumerate(self._units) if unit.trainable]
        self._widths: list[int | None] = []
        for unit in self._units:
            self._widths.append(unit.width(self._widths[-1] if self._widths else None))
        self._device = next(model.parameters()).device
        self._generator = generator_for(model, derived_seed(seed, self.name))
        self._num_classes = self._count_classes()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, f"{self.name}-heads"))
            heads = [self.make_head(self._known_width(k)) for k in self._trained]
        self._heads = nn.ModuleList(heads).to(self._device)
        params = list(self._heads.parameters())
        self._head_optimizer = self.make_head_optimizer(params) if params else None
        self._sums: dict[str, tuple[float, int]] = {}

    def _known_width(self, k: int) -> int:
        width = self._widths[k]
        if width is None:
            raise ConfigError(
                f"method {self.name!r} cannot tell the output width of digital unit {k + 1}; "
                "its trainable layers must be nn.Linear (as in the hybrid and mlp models)"
            )
        return width

    def _count_classes(self) -> int:
        """Number of classes: the readout's output size for one dummy feature vector."""
        width = self._widths[-1] if self._widths else getattr(self._readout, "in_features", None)
        if width is None:
            raise ConfigError(f"method {self.name!r} cannot tell the input width of the readout")
        with torch.no_grad():
            return int(self._readout(torch.zeros(1, width, device=self._device)).shape[-1])

    # ----------------------------------------------------------------------------- hooks
    @abstractmethod
    def views(self, x: Tensor, y: Tensor) -> list[Tensor]:
        """The inputs whose unit outputs the local losses compare (each like ``x``)."""

    def make_head(self, width: int) -> nn.Module:
        """The method's own module attached to a trained unit of ``width`` outputs."""
        return nn.Identity()

    def make_head_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        """The optimizer of the heads' parameters (the loop's optimizer sees only the model)."""
        raise NotImplementedError(f"method {self.name!r} has no trainable heads")

    @abstractmethod
    def local_loss(self, index: int, head: nn.Module, outs: Sequence[Tensor], y: Tensor) -> Tensor:
        """Local loss of trained unit ``index`` (1-based) from its outputs for each view."""

    # ----------------------------------------------------------------------------- estimate
    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        """Local losses of the trained units plus the readout's task loss; returns the latter."""
        views = self.views(x, y)
        inputs = views if self.plain_is_first_view else [*views, x]
        stop = self._trained[-1] + 1 if self._trained else 0
        h = torch.cat(inputs)
        local = h.new_zeros(())
        for k, unit in enumerate(self._units[:stop]):
            h = unit(h)
            if unit.trainable:
                index = self._trained.index(k) + 1
                outs = h.split(len(x))[: len(views)]
                loss = self.local_loss(index, self._heads[index - 1], outs, y)
                self._record(f"local_loss_{index}", loss)
                local = local + loss
        plain = h.split(len(x))[0 if self.plain_is_first_view else -1]
        for unit in self._units[stop:]:
            plain = unit(plain)
        logits = self._readout(plain.detach())
        task = loss_fn(logits, y)
        total = local + task
        if self._head_optimizer is not None:
            self._head_optimizer.zero_grad(set_to_none=True)
        if total.requires_grad:
            total.backward()
        if self._head_optimizer is not None:
            self._head_optimizer.step()
        return task.detach(), logits.detach()

    # ----------------------------------------------------------------------------- bookkeeping
    def _record(self, name: str, value: Tensor) -> None:
        total, count = self._sums.get(name, (0.0, 0))
        self._sums[name] = (total + float(value.detach()), count + 1)

    def epoch_diagnostics(self) -> dict[str, float]:
        """Mean of every local loss (and method figure) over the epoch's batches."""
        means = {name: total / count for name, (total, count) in self._sums.items()}
        self._sums = {}
        return means

    def state_dict(self) -> dict[str, Any]:
        optimizer = self._head_optimizer
        return {
            "generator": self._generator.get_state(),
            "heads": self._heads.state_dict(),
            "head_optimizer": optimizer.state_dict() if optimizer is not None else None,
            "sums": dict(self._sums),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["generator"])
        self._heads.load_state_dict(state["heads"])
        if self._head_optimizer is not None:
            self._head_optimizer.load_state_dict(state["head_optimizer"])
        self._sums = dict(state["sums"])


# --------------------------------------------------------------------------- label contrast
def embed_label(x: Tensor, labels: Tensor, num_classes: int, scale: float) -> Tensor:
    """Add the label to the first C input features: x_c += s (δ_{c,label} − 1/C).

    The one-hot code of Hinton (2022) minus its mean, so that the "neutral label" (all C slots
    equal) is the unchanged sample — which is what the deployed network sees at inference.
    """
    flat = x.reshape(len(x), -1)
    if flat.shape[1] < num_classes:
        raise ConfigError(
            f"the label is embedded in the first {num_classes} input features, but samples have "
            f"only {flat.shape[1]}; use a dataset with at least as many features as classes"
        )
    code = scale * (F.one_hot(labels, num_classes).to(flat) - 1.0 / num_classes)
    return torch.cat([flat[:, :num_classes] + code, flat[:, num_classes:]], dim=1).view_as(x)


def wrong_labels(y: Tensor, num_classes: int, generator: torch.Generator) -> Tensor:
    """A label drawn uniformly among the C − 1 wrong ones for every sample."""
    shift = torch.randint(1, num_classes, y.shape, generator=generator, device=y.device)
    return (y + shift) % num_classes


class LabelContrastive(LocalLearning):
    """Positive data carry the true label, negative data a wrong one; a unit's goodness should be
    high on positive and low on negative data (Hinton 2022).

    Subclasses define the goodness G(h) of a unit's output and the contrast of G⁺ and G⁻.
    """

    def views(self, x: Tensor, y: Tensor) -> list[Tensor]:
        wrong = wrong_labels(y, self._num_classes, self._generator)
        scale = self.options.label_scale
        return [
            embed_label(x, y, self._num_classes, scale),
            embed_label(x, wrong, self._num_classes, scale),
        ]

    @abstractmethod
    def goodness(self, head: nn.Module, h: Tensor) -> Tensor:
        """Goodness of each sample's unit output, shape (B,)."""

    @abstractmethod
    def contrast(self, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss that raises the positive goodness and lowers the negative one."""

    def local_loss(self, index: int, head: nn.Module, outs: Sequence[Tensor], y: Tensor) -> Tensor:
        positive, negative = (self.goodness(head, h.flatten(1)) for h in outs)
        self._record(f"goodness_gap_{index}", (positive - negative).mean())
        return self.contrast(positive, negative)


def check_positive(**values: float) -> None:
    """Option check: raise a ValueError naming the first value that is not a positive number."""
    for name, value in values.items():
        require(is_number(value) and value > 0, name, "positive", value)


# --------------------------------------------------------------------------- PhyLL
class ReferenceVector(nn.Module):
    """A fixed random unit vector p (a buffer, never trained)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        p = torch.randn(width)
        self.register_buffer("vector", p / p.norm())


def cosine_goodness(h: Tensor, reference: Tensor) -> Tensor:
    """PhyLL's goodness: G = cos(h, p) for each row of h."""
    return F.cosine_similarity(h, reference.unsqueeze(0), dim=1)


def phyll_loss(positive: Tensor, negative: Tensor, scale: float) -> Tensor:
    """L = mean softplus(−α (G⁺ − G⁻)) = mean log(1 + exp(−α (G⁺ − G⁻)))."""
    return F.softplus(-scale * (positive - negative)).mean()


@dataclass(frozen=True)
class PhyLLOptions:
    scale: float = 4.0
    """α of softplus(−α (G⁺ − G⁻)) (the authors' code: 4; 5 for the optical experiment)."""
    label_scale: float = 1.0
    """Amplitude s of the embedded label (data in [0, 1])."""

    def __post_init__(self) -> None:
        check_positive(scale=self.scale, label_scale=self.label_scale)


@METHODS.register("phyll")
class PhysicalLocalLearning(LabelContrastive):
    """PhyLL: model-free contrastive local learning of the digital layers around physical blocks.

    Per trained unit k with output h and fixed random unit vector p_k: G = cos(h, p_k) on positive
    (true label embedded) and negative (wrong label) data, loss softplus(−α (G⁺ − G⁻)), gradient
    only into the unit's own parameters. A unit after a physical block reads that block's
    measured outputs for the positive and negative data; the physical block is never modelled.
    """

    name = "phyll"
    summary = "physical local learning: per-block contrastive cosine goodness, no physical model"
    reference = "Momeni et al., Science 382, 1297 (2023)"
    options_class = PhyLLOptions

    def make_head(self, width: int) -> nn.Module:
        return ReferenceVector(width)

    def goodness(self, head: nn.Module, h: Tensor) -> Tensor:
        return cosine_goodness(h, head.vector)

    def contrast(self, positive: Tensor, negative: Tensor) -> Tensor:
        return phyll_loss(positive, negative, self.options.scale)


# --------------------------------------------------------------------------- local losses
def similarity_matrix(h: Tensor) -> Tensor:
    """S(H): cosine similarities of the mean-centred rows of a batch, shape (B, B)."""
    centred = h - h.mean(dim=1, keepdim=True)
    unit = centred / centred.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return (unit @ unit.T).clamp(-1, 1)


def predsim_loss(logits: Tensor, projected: Tensor, y: Tensor, beta: float) -> Tensor:
    """Nøkland & Eidnes' predsim: (1 − β) CE(W h, y) + β mean (S(V h) − S(Y))²."""
    targets = F.one_hot(y, logits.shape[-1]).to(projected)
    similarity = F.mse_loss(similarity_matrix(projected), similarity_matrix(targets))
    return (1 - beta) * F.cross_entropy(logits, y) + beta * similarity


class PredSimHead(nn.Module):
    """The two single-layer sub-networks of a unit: classifier W (zero-initialized) and V."""

    def __init__(self, width: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(width, num_classes)
        nn.init.zeros_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)
        self.projection = nn.Linear(width, width, bias=False)


@dataclass(frozen=True)
class LocalLossesOptions:
    beta: float = 0.99
    """Weight β of the similarity-matching loss (1 − β for the prediction loss)."""
    head_lr: float = 0.01
    """Adam learning rate of the auxiliary classifiers and similarity projections."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta!r}")
        check_positive(head_lr=self.head_lr)


@METHODS.register("local-losses")
class LocalLosses(LocalLearning):
    """Local error signals: every digital unit learns from its own prediction and similarity loss.

    Per trained unit with output h: L = (1 − β) CE(W h, y) + β mean (S(V h) − S(Y))², with W and
    V the unit's auxiliary sub-networks (updated by the method's own Adam); a unit after a
    physical block learns from the block's measured outputs.
    """

    name = "local-losses"
    summary = "local error signals: per-layer prediction and similarity-matching losses"
    reference = "Nøkland & Eidnes, ICML 2019 (arXiv:1901.06656)"
    options_class = LocalLossesOptions
    plain_is_first_view = True

    def views(self, x: Tensor, y: Tensor) -> list[Tensor]:
        return [x]

    def make_head(self, width: int) -> nn.Module:
        return PredSimHead(width, self._num_classes)

    def make_head_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.options.head_lr)

    def local_loss(self, index: int, head: nn.Module, outs: Sequence[Tensor], y: Tensor) -> Tensor:
        h = outs[0].flatten(1)
        return predsim_loss(head.classifier(h), head.projection(h), y, self.options.beta)
