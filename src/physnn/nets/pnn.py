"""Composing physical and digital blocks into a physical neural network.

A :class:`PNN` is a sequence of blocks. A :class:`PhysicalBlock` holds the latent controls of
one device as ``nn.Parameter``\\ s, its twin, and its device; *how* it computes is decided by an
**executor** that the training method installs (``with model.executing(executor): ...``):

* :func:`run_twin` — the differentiable twin (in-silico training, evaluation of the twin);
* :func:`run_device` — a device query, no gradient (evaluation on the device);
* methods define their own, e.g. physics-aware training's device-forward / twin-backward.

Digital blocks are ordinary modules and always run digitally with exact gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

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

    def hardware_controls(self) -> Controls:
        """The values a write sends: the latent controls projected onto the admissible set."""
        return {k: self.specs[k].project(p.detach()) for k, p in self.controls.items()}

    def deploy(self) -> None:
        """Write the current controls to the device (a no-op write is not counted)."""
        self.require_device().write(self.hardware_controls())

    def require_device(self) -> Device:
        if self.device is None:
            raise RuntimeError("this physical block has no device attached")
        return self.device


Executor = Callable[[PhysicalBlock, Tensor], Tensor]


def run_twin(block: PhysicalBlock, x: Tensor) -> Tensor:
    """Differentiable twin forward at the realized controls."""
    return block.twin(x, block.realized_controls())


def run_device(block: PhysicalBlock, x: Tensor) -> Tensor:
    """Device forward: deploy the current controls if they changed, then query (no gradient)."""
    block.deploy()
    return block.require_device().query(x)


def relax_on_device(
    block: PhysicalBlock, x: Tensor, *, nudge: Tensor | None = None, clamp: Tensor | None = None
) -> Equilibrium:
    """Energy-based device: deploy the current controls if they changed, then let it settle
    (free, nudged or clamped) and measure (no gradient)."""
    block.deploy()
    return block.require_device().relax(x, nudge=nudge, clamp=clamp)


def backward_to_latent(block: PhysicalBlock, grads: Controls) -> None:
    """Accumulate ``.grad`` of the block's latent controls from gradients with respect to the
    realized controls (through wrapping, clipping and straight-through quantization)."""
    realized = block.realized_controls()
    names = [k for k in realized if k in grads]
    torch.autograd.backward([realized[k] for k in names], [grads[k].to(realized[k]) for k in names])


class PNN(nn.Module):
    """A sequence of physical and digital blocks executed by a swappable executor."""

    def __init__(self, blocks: list[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.executor: Executor = run_twin

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = self.executor(block, x) if isinstance(block, PhysicalBlock) else block(x)
        return x

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

    def physical_parameters(self) -> list[nn.Parameter]:
        return [p for b in self.physical_blocks() for p in b.controls.values()]

    def deploy(self) -> None:
        for block in self.physical_blocks():
            block.deploy()
