"""Composing physical and digital blocks into a physical neural network.

A :class:`PNN` is a sequence of blocks. A :class:`PhysicalBlock` holds the latent controls of
one device as ``nn.Parameter``\\ s, its twin, and its device; *how* it computes is decided by an
**executor** that the training method installs (``with model.executing(executor): ...``):

* :func:`run_twin` — the differentiable twin (in-silico training, evaluation of the twin);
* :func:`run_device` — a device query, no gradient (evaluation on the device);
* methods define their own, e.g. physics-aware training's device-forward / twin-backward.

Every write of a block's controls goes through :meth:`PhysicalBlock.commit`, which projects the
values once onto the admissible set and writes them; the device counts the write, and skips (and
does not count) one of the values it already holds. The training step commits after each update;
a device executor commits the block it is about to query, since one device can be time-shared by
the blocks of ``stack:K`` (for a device that holds the block's controls already this is the
skipped write); methods that probe explicit values commit them (``block.commit(values)``).

Digital blocks are ordinary modules and always run digitally with exact gradients.

Methods that run the physical blocks themselves ask the model where it is cut instead of
re-deriving it: :meth:`PNN.segments` (the front up to the last physical block, run on the device,
and the digital back after it), :meth:`PNN.physical_first` (the same cut, for methods that need
exactly one physical block, first) and :meth:`PNN.inputs_of` (what a given block receives).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from physnn.errors import ConfigError, option
from physnn.hardware.device import Device
from physnn.systems.base import Controls, System
from physnn.systems.energy import Equilibrium
from physnn.twins.nominal import NominalTwin, Twin


class PhysicalBlock(nn.Module):
    """One physical layer: latent controls, a twin, and (optionally) a device."""

    def __init__(
        self,
        system: System,
        controls: Controls,
        *,
        twin: Twin | None = None,
        device: Device | None = None,
    ) -> None:
        super().__init__()
        self.system = system
        self.specs = system.control_specs()
        self.controls = nn.ParameterDict({k: nn.Parameter(v.clone()) for k, v in controls.items()})
        self.twin = twin if twin is not None else NominalTwin(system)
        self.device = device

    def realized_controls(self) -> Controls:
        """Controls as the hardware would hold them, differentiable (wrap/clip, quantize by STE)."""
        return {k: self.specs[k].realize(p) for k, p in self.controls.items()}

    def hardware_controls(self, values: Controls | None = None) -> Controls:
        """The values a write sends: ``values`` (by default the latent controls) projected onto
        the admissible set (wrapped or clipped, snapped to the levels)."""
        if values is None:
            values = {k: p.detach() for k, p in self.controls.items()}
        return {k: self.specs[k].project(v) for k, v in values.items()}

    def commit(self, values: Controls | None = None) -> Controls:
        """The one way controls reach the device: project ``values`` (by default the latent
        controls; a probe passes the values it measures at) once and write them. The device
        counts the write, and skips without counting one of the values it holds. Returns the
        values written."""
        written = self.hardware_controls(values)
        self.require_device().write(written)
        return written

    def require_device(self) -> Device:
        if self.device is None:
            raise RuntimeError("this physical block has no device attached")
        return self.device


Executor = Callable[[PhysicalBlock, Tensor], Tensor]


def run_twin(block: PhysicalBlock, x: Tensor) -> Tensor:
    """Differentiable twin forward at the realized controls."""
    return block.twin(x, block.realized_controls())


def run_device(block: PhysicalBlock, x: Tensor) -> Tensor:
    """Device forward: commit the block's controls (a skipped write if the device holds them),
    then query (no gradient)."""
    block.commit()
    return block.require_device().query(x)


def relax_on_device(
    block: PhysicalBlock, x: Tensor, *, nudge: Tensor | None = None, clamp: Tensor | None = None
) -> Equilibrium:
    """Energy-based device: commit the block's controls (a skipped write if the device holds
    them), then let it settle (free, nudged or clamped) and measure (no gradient)."""
    block.commit()
    return block.require_device().relax(x, nudge=nudge, clamp=clamp)


def backward_to_latent(block: PhysicalBlock, grads: Controls) -> None:
    """Accumulate ``.grad`` of the block's latent controls from gradients with respect to the
    realized controls (through wrapping, clipping and straight-through quantization)."""
    realized = block.realized_controls()
    names = [k for k in realized if k in grads]
    torch.autograd.backward([realized[k] for k in names], [grads[k].to(realized[k]) for k in names])


def run_blocks(blocks: Iterable[nn.Module], x: Tensor, executor: Executor) -> Tensor:
    """``x`` through ``blocks`` in order: physical blocks by ``executor``, the others digitally."""
    for block in blocks:
        x = executor(block, x) if isinstance(block, PhysicalBlock) else block(x)
    return x


@dataclass(frozen=True)
class Segments:
    """A model cut after its last physical block: the ``front`` that feeds the device (digital
    blocks in it run digitally) and the digital ``back`` (the readout) after it."""

    front: tuple[nn.Module, ...]
    back: tuple[nn.Module, ...]

    @property
    def physical(self) -> PhysicalBlock:
        """The last physical block, whose measured outputs the back reads."""
        block = self.front[-1]
        assert isinstance(block, PhysicalBlock)
        return block

    @torch.no_grad()
    def measure(self, x: Tensor) -> Tensor:
        """Run the front on the device: the measured outputs of the last physical block."""
        return run_blocks(self.front, x, run_device)

    def readout(self, measured: Tensor) -> Tensor:
        """The digital back at ``measured``, differentiable in its own parameters."""
        for block in self.back:
            measured = block(measured)
        return measured

    def readout_gradient(
        self, measured: Tensor, y: Tensor, loss_fn: Callable[[Tensor, Tensor], Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The loss of the back at the measured outputs, backpropagated: fills the exact
        ``.grad`` of the back's parameters; returns (loss, logits, g = ∂L/∂measured)."""
        h = measured.detach().requires_grad_(True)
        logits = self.readout(h)
        loss = loss_fn(logits, y)
        loss.backward()
        assert h.grad is not None
        return loss.detach(), logits.detach(), h.grad


class PNN(nn.Module):
    """A sequence of physical and digital blocks executed by a swappable executor."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.executor: Executor = run_twin

    def forward(self, x: Tensor) -> Tensor:
        return run_blocks(self.blocks, x, self.executor)

    @contextmanager
    def executing(self, executor: Executor) -> Iterator[None]:
        """Run physical blocks with ``executor`` inside the block."""
        previous, self.executor = self.executor, executor
        try:
            yield
        finally:
            self.executor = previous

    def physical_blocks(self) -> list[PhysicalBlock]:
        return [b for b in self.blocks if isinstance(b, PhysicalBlock)]

    def segments(self, method: str) -> Segments:
        """The model cut after its last physical block; ``method`` (which trains physical blocks
        from device queries) is refused in one sentence on a model without one."""
        cuts = [i + 1 for i, block in enumerate(self.blocks) if isinstance(block, PhysicalBlock)]
        if not cuts:
            raise ConfigError(
                f"method {method!r} trains physical blocks from device queries, and this model "
                f"has none; use {option('model')} pnn, stack:K or hybrid:H"
            )
        return Segments(tuple(self.blocks[: cuts[-1]]), tuple(self.blocks[cuts[-1] :]))

    def physical_first(self, method: str, action: str) -> Segments:
        """:meth:`segments` of a model whose only physical block is its first block (``pnn``,
        ``post:…``); ``method``, which ``action`` (e.g. "nudges the outputs of") that block, is
        refused in one sentence on any other model."""
        physical = self.physical_blocks()
        if len(physical) != 1 or self.blocks[0] is not physical[0]:
            raise ConfigError(
                f"method {method!r} {action} one physical block that comes first; use "
                f"{option('model', 'pnn')} or {option('model', 'post:H1,...')} (not stack:K, "
                "hybrid:H or mlp)"
            )
        return self.segments(method)

    @torch.no_grad()
    def inputs_of(self, block: nn.Module, x: Tensor, executor: Executor = run_device) -> Tensor:
        """What ``block`` receives for samples ``x``: the blocks before it run in order, the
        physical ones by ``executor`` (by default measured on their device), no gradient."""
        index = next((i for i, b in enumerate(self.blocks) if b is block), None)
        if index is None:
            raise ValueError("the block is not part of the model")
        return run_blocks(self.blocks[:index], x, executor)

    def physical_parameters(self) -> list[nn.Parameter]:
        return [p for b in self.physical_blocks() for p in b.controls.values()]

    def commit(self) -> None:
        """Commit every physical block's latent controls (:meth:`PhysicalBlock.commit`)."""
        for block in self.physical_blocks():
            block.commit()
