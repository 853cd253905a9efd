"""Feedback alignment (FA) and direct feedback alignment (DFA), with a digital or optical projector.

Both methods run the forward pass on the device (one query per sample and physical block) and
replace the backward pass by fixed random feedback matrices, so they need no model of the device
and never touch the twin.

**Layers.** The network is cut in front of every *mixing* block (a digital ``nn.Linear`` or a
physical block) after the first. Layer k starts at its mixing block M_k, whose input is h_k and
output a_k, and continues with the digital blocks that follow it (activations, flatten,
rescaling, the intensity readout), which are differentiated exactly: they transport no weights.
With the output error ``e = ∂L/∂logits``, the top layer receives ``e`` itself; the signal δh_k
that replaces ``∂L/∂h_k`` at the input of layer k is

* FA (Lillicrap et al., Nat. Commun. 7, 13276 (2016)): ``δh_k = B_k δa_k``, with a fixed random
  ``B_k`` (in_k × out_k) in place of ``W_kᵀ``; the error is passed down layer by layer,
* DFA (Nøkland, NeurIPS 2016, arXiv:1609.01596): ``δh_k = B_k e``, with ``B_k`` (in_k × classes):
  the output error is broadcast to every layer at once.

Inside layer k−1 the signal is then backpropagated exactly through its digital blocks down to its
mixing block: for ``h = f(W x + b)``, ``δa = δh ⊙ f'(a)``, ``∂L/∂W ≈ δa xᵀ``, ``∂L/∂b ≈ Σ δa``.
With ``B_k = W_kᵀ`` for every k, FA is backpropagation exactly.

**Physical blocks** are black boxes: their output is the measured one and their Jacobian is
unknown. Following the augmented DFA of Nakajima et al., Nat. Commun. 13, 7847 (2022), the
block's transposed Jacobian is replaced by its random feedback matrix and its derivative by a
fixed function ``g`` of its (measured, here: commanded) input: ``δh_k = (B_k ·) ⊙ g(h_k)``
(option ``surrogate``: ``one``, g ≡ 1, or ``cos``). The digital layers around the physical
blocks are trained this way. The physical block's *own controls are not trained*: they stay at
their initial values, so the block is a fixed random physical feature map (the reservoirs of
Nakajima et al. are fixed too) and the device is written once, when it is first queried. A
model-free estimate of ``∂y/∂θ`` would need perturbative queries (zeroth-order methods). On the
``pnn`` model (one physical block and its readout) FA and DFA therefore train the readout only,
with its exact gradient at the measured outputs.

**Optical projector** (DFA option ``projector="scattering"``): the random projection ``B e`` is
measured on a second device, the registered ``scattering`` substrate (an optical processing unit:
DMD/SLM → scattering medium → camera), as in LightOn's photonic co-processor (Launay et al.,
arXiv:2012.06373 (2020) and arXiv:2006.01475 (2020)); see
:class:`physnn.train.auxiliary.ScatteringProjector`, which the run's setup builds and hands over
(:class:`~physnn.methods.base.Auxiliaries`). Its queries and writes are counted on that device
and reported per epoch (``projector_queries``, ``projector_writes``), apart from the network's
device.

**Alignment.** With ``track_alignment`` on, the angle between the estimate and the exact gradient
of the same parameters (autograd through the simulated device's noise-free hidden physics: the
oracle that setup hands over, as in gradcheck; no query is counted) is averaged over the first
``alignment_batches`` batches of every epoch and reported as ``alignment_deg`` (all trained
parameters) and ``alignment_hidden_deg`` (those below the top layer, where FA and DFA differ
from backpropagation).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from physnn.errors import ConfigError
from physnn.labels import LEVELS
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Projector,
    Requirements,
    generator_for,
    is_int,
    require,
)
from physnn.nets.pnn import PNN, PhysicalBlock, run_blocks, run_device
from physnn.seeds import derived_seed

SURROGATES: dict[str, Callable[[Tensor], Tensor]] = {"one": torch.ones_like, "cos": torch.cos}
"""Fixed functions g(h) that replace the unknown derivative of a physical block."""

PROJECTORS = ("digital", "scattering")


def _check_choice(name: str, value: Any, choices: Any) -> None:
    require(value in choices, name, f"one of {', '.join(choices)}", value)


@dataclass(frozen=True)
class FeedbackAlignmentOptions:
    surrogate: str = "one"
    """g(h) replacing a physical block's derivative: "one" (g = 1) or "cos" (g = cos h)."""
    track_alignment: bool = False
    """Report the angle to the exact gradient (needs a simulated device's oracle)."""
    alignment_batches: int = 3
    """Batches at the start of every epoch over which the angle is averaged."""

    def __post_init__(self) -> None:
        _check_choice("surrogate", self.surrogate, SURROGATES)
        require(
            isinstance(self.track_alignment, bool),
            "track_alignment",
            "true or false",
            self.track_alignment,
        )
        batches = self.alignment_batches
        require(
            is_int(batches) and batches >= 1, "alignment_batches", "a positive integer", batches
        )


@dataclass(frozen=True)
class DirectFeedbackAlignmentOptions(FeedbackAlignmentOptions):
    projector: str = "digital"
    """Who computes B e: "digital" (a matrix product) or "scattering" (an optical device)."""
    projector_gap: str = "moderate"
    """Camera noise and quantization level of the optical projector (none … severe); it is a
    device of its own, independent of the network's gap."""

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("projector", self.projector, PROJECTORS)
        _check_choice("projector_gap", self.projector_gap, LEVELS)


# --------------------------------------------------------------------------------- the network
def _is_mixing(block: nn.Module) -> bool:
    return isinstance(block, nn.Linear | PhysicalBlock)


def _width(block: nn.Module) -> int:
    """Features per sample out of a mixing block."""
    if isinstance(block, nn.Linear):
        return block.out_features
    return block.system.num_outputs


@dataclass
class Layer:
    """Blocks up to and including the layer's mixing block (``head``), then the digital rest."""

    head: list[nn.Module]
    rest: list[nn.Module]
    input_width: int = 0  # features per sample entering the mixing block (layers above the first)

    @property
    def mixing(self) -> nn.Module:
        return self.head[-1]

    @property
    def physical(self) -> bool:
        return isinstance(self.mixing, PhysicalBlock)


def split_layers(model: PNN) -> tuple[list[Layer], int]:
    """Cut the network in front of every mixing block after the first; also return the number
    of outputs. Widths are found by running the digital blocks on zeros (no device query)."""
    blocks = list(model.blocks)
    cuts = [i for i, block in enumerate(blocks) if _is_mixing(block)]
    if not cuts:
        raise ConfigError(
            "feedback alignment needs a model with a digital Linear layer or a physical block"
        )
    starts = [0, *cuts[1:]]
    ends = [*cuts[1:], len(blocks)]
    layers = [
        Layer(blocks[start : cut + 1], blocks[cut + 1 : end])
        for start, cut, end in zip(starts, cuts, ends, strict=True)
    ]
    probe = next(model.parameters()).new_zeros(1, _width(layers[0].mixing))
    with torch.no_grad():
        for k, layer in enumerate(layers):
            if k:
                layer.input_width = probe[0].numel()
                probe = probe.new_zeros(1, _width(layer.mixing))
            probe = run_blocks(layer.rest, probe, run_device)
    return layers, probe[0].numel()


@dataclass
class _Pass:
    """One layer's forward record: its input, mixing output (with graph) and detached output."""

    inputs: Tensor
    mixed: Tensor
    mixed_leaf: Tensor
    output: Tensor


def _angle_deg(a: Tensor, b: Tensor) -> float | None:
    """The angle between two vectors in degrees (None if either is zero)."""
    norm = float(a.norm() * b.norm())
    if norm == 0.0:
        return None
    return math.degrees(math.acos(max(-1.0, min(1.0, float(a @ b) / norm))))


def _flat(grads: Sequence[Tensor | None], params: list[nn.Parameter], indices: list[int]) -> Tensor:
    """The gradients of ``params[indices]`` as one float64 vector (a missing one counts as 0)."""
    parts = [grads[i] if grads[i] is not None else torch.zeros_like(params[i]) for i in indices]
    return torch.cat([g.flatten().double() for g in parts])


class _FeedbackAlignment(GradientEstimator):
    """Shared machinery: device forward per layer, exact digital backward inside each layer,
    random feedback between layers (:meth:`_signal`)."""

    requirements = Requirements(device_forward=True)
    options_class = FeedbackAlignmentOptions

    def bind(self, model: PNN, seed: int) -> None:
        self.layers, self.num_classes = split_layers(model)
        physical = {id(p) for p in model.physical_parameters()}
        self._trained = [p for p in model.parameters() if id(p) not in physical]
        trained = {id(p) for p in self._trained}
        owners = [
            {id(p) for block in layer.head + layer.rest for p in block.parameters()} & trained
            for layer in self.layers
        ]
        self.lowest = min((k for k, own in enumerate(owners) if own), default=len(self.layers) - 1)
        """The lowest layer with trainable weights; the backward pass stops there."""
        self.fed = list(range(self.lowest + 1, len(self.layers)))
        """Layers whose input receives a feedback signal δh_k: those above ``lowest``."""
        self._surrogate = SURROGATES[self.options.surrogate]
        self._draw_feedback(model, seed)
        hidden = [i for i, p in enumerate(self._trained) if id(p) not in owners[-1]]
        self._groups = {"alignment_deg": list(range(len(self._trained)))}
        if hidden:
            self._groups["alignment_hidden_deg"] = hidden
        self._angles: list[dict[str, float]] = []
        self._tracked_batches = 0
        if self.options.track_alignment and self.auxiliaries.oracle is None:
            raise ConfigError(
                f"method {self.name!r}: track_alignment needs a simulated device (its hidden "
                "physics gives the exact gradient); set track_alignment=false"
            )

    def _draw_feedback(self, model: PNN, seed: int) -> None:
        """B_k for every fed layer, entries N(0, 1/columns)."""
        generator = generator_for(model, derived_seed(seed, f"{self.name}-feedback"))
        self.feedback: dict[int, Tensor] = {
            k: torch.randn(rows, cols, generator=generator, device=generator.device)
            / math.sqrt(cols)
            for k in self.fed
            for rows, cols in [self._feedback_shape(k)]
        }

    @abstractmethod
    def _feedback_shape(self, k: int) -> tuple[int, int]:
        """Shape of B_k: (input width of layer k, width of the signal it multiplies)."""

    @abstractmethod
    def _signal(self, k: int, delta_a: Tensor, error: Tensor) -> Tensor:
        """``B_k · signal`` for layer k ≥ 1, (N, input width of layer k)."""

    def _prepare(self, error: Tensor) -> None:
        """Work done once per batch with the output error (DFA: project it)."""

    # ----------------------------------------------------------------------------- estimate
    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        passes = self._forward(x)
        logits = passes[-1].output.detach().requires_grad_(True)
        loss = loss_fn(logits, y)
        (error,) = torch.autograd.grad(loss, logits)
        self._prepare(error)
        delta = error
        for k in reversed(range(self.lowest, len(passes))):
            record = passes[k]
            record.output.backward(delta)  # exact through the digital rest of the layer
            delta_a = record.mixed_leaf.grad
            assert delta_a is not None
            if record.mixed.requires_grad:
                record.mixed.backward(delta_a)  # local gradient of the mixing block's weights
            if k > self.lowest:
                delta = self._into_layer(k, record.inputs, delta_a, error)
        if self._tracking():
            self._track(model, x, y, loss_fn)
        return loss.detach(), logits.detach()

    def _forward(self, x: Tensor) -> list[_Pass]:
        passes, h = [], x
        for layer in self.layers:
            mixed = run_blocks(layer.head, h, run_device)
            leaf = mixed.detach().requires_grad_(True)
            output = run_blocks(layer.rest, leaf, run_device)
            passes.append(_Pass(h, mixed, leaf, output))
            h = output.detach()
        return passes

    def _into_layer(self, k: int, inputs: Tensor, delta_a: Tensor, error: Tensor) -> Tensor:
        """δh_k = B_k · signal, times g(h_k) at the input of a physical block."""
        delta = self._signal(k, delta_a, error)
        if self.layers[k].physical:
            delta = delta * self._surrogate(inputs.flatten(1))
        return delta.reshape(inputs.shape)

    # ----------------------------------------------------------------------------- alignment
    def _tracking(self) -> bool:
        return (
            self.options.track_alignment and self._tracked_batches < self.options.alignment_batches
        )

    def _track(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> None:
        """Angles between the estimate (in .grad) and the exact gradient on the true device."""
        self._tracked_batches += 1
        oracle = self.auxiliaries.oracle
        assert oracle is not None  # checked by bind
        with model.executing(oracle):
            loss = loss_fn(model(x), y)
        exact = torch.autograd.grad(loss, self._trained, allow_unused=True)
        estimate = [p.grad for p in self._trained]
        angles = {}
        for key, indices in self._groups.items():
            angle = _angle_deg(
                _flat(estimate, self._trained, indices), _flat(exact, self._trained, indices)
            )
            if angle is not None:
                angles[key] = angle
        self._angles.append(angles)

    def epoch_diagnostics(self) -> dict[str, float]:
        """Mean alignment angles over the tracked batches of the epoch (then reset)."""
        angles, self._angles, self._tracked_batches = self._angles, [], 0
        row = {}
        for key in self._groups:
            values = [a[key] for a in angles if key in a]
            if values:
                row[key] = sum(values) / len(values)
        return row

    def state_dict(self) -> dict[str, Any]:
        return {"angles": list(self._angles), "tracked_batches": self._tracked_batches}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._angles = [dict(a) for a in state["angles"]]
        self._tracked_batches = state["tracked_batches"]


@METHODS.register("fa")
class FeedbackAlignment(_FeedbackAlignment):
    name = "fa"
    summary = "feedback alignment: device forward, fixed random matrices in place of Wᵀ"
    reference = "Lillicrap et al., Nat. Commun. 7, 13276 (2016)"

    def _feedback_shape(self, k: int) -> tuple[int, int]:
        return self.layers[k].input_width, _width(self.layers[k].mixing)

    def _signal(self, k: int, delta_a: Tensor, error: Tensor) -> Tensor:
        return delta_a.flatten(1) @ self.feedback[k].T


@METHODS.register("dfa")
class DirectFeedbackAlignment(_FeedbackAlignment):
    name = "dfa"
    summary = (
        "direct feedback alignment: output error projected to every layer, digitally or optically"
    )
    reference = "Nøkland, NeurIPS 2016; Launay et al., arXiv:2012.06373 (2020)"
    options_class = DirectFeedbackAlignmentOptions

    def _feedback_shape(self, k: int) -> tuple[int, int]:
        return self.layers[k].input_width, self.num_classes

    def _draw_feedback(self, model: PNN, seed: int) -> None:
        self.projector: Projector | None = None
        self._projections: dict[int, Tensor] = {}
        if self.options.projector == "digital":
            super()._draw_feedback(model, seed)
            return
        self.feedback = {}
        if self.fed:
            make_projector = self.auxiliaries.make_projector
            if make_projector is None:
                raise ConfigError(
                    f"method {self.name!r}: the optical projector is a device of its own, which "
                    "the run's setup builds (physnn.train.setup); set projector=digital"
                )
            width = sum(self.layers[k].input_width for k in self.fed)
            self.projector = make_projector(self.num_classes, width, self.options.projector_gap)

    def _prepare(self, error: Tensor) -> None:
        """B_k e for every fed layer at once: matrix products, or one optical batch."""
        if self.projector is None:
            self._projections = {k: error @ b.T for k, b in self.feedback.items()}
        else:
            widths = [self.layers[k].input_width for k in self.fed]
            parts = self.projector.project(error).split(widths, dim=1)
            self._projections = dict(zip(self.fed, parts, strict=True))

    def _signal(self, k: int, delta_a: Tensor, error: Tensor) -> Tensor:
        return self._projections[k]

    def epoch_diagnostics(self) -> dict[str, float]:
        row = super().epoch_diagnostics()
        if self.projector is not None:
            stats = self.projector.device.stats("train")
            row |= {"projector_queries": stats.queries, "projector_writes": stats.writes}
        return row

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.projector is not None:
            state["projector"] = self.projector.device.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.projector is not None:
            self.projector.device.load_state_dict(state["projector"])
