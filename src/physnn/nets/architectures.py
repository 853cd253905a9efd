"""Model architectures around a substrate, named by a short spec (``TrainConfig.model``).

=================  ==========================================================================
spec               model
=================  ==========================================================================
``pnn``            one physical block and its readout (the default)
``stack:K``        K physical blocks in series, each with its own controls, run on the same
                   device one after the other (time-multiplexed, as the multi-layer SHG network
                   of Wright et al. 2022), outputs rescaled to [0, 1] between them
``hybrid:H``       a trainable digital layer to H features (sigmoid into [0, 1]), the physical
                   block, and its readout: the "trainable input layer + physical transformation"
                   block of Nakajima et al. 2022 and Momeni et al. 2023
``post:H1,H2,…``   the physical block first, its outputs rescaled to [0, 1], then a digital
                   tanh MLP and a linear readout: the "physical layer + trainable layer" layout
                   of Momeni et al. 2023 (PhyLL) and Oguz et al. 2023 (optical forward-forward)
``mlp:H1,H2,…``    a digital multilayer perceptron (tanh), no physics: the substrate-free
                   reference of the training methods
=================  ==========================================================================
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor, nn

from physnn.errors import ConfigError
from physnn.hardware.device import Device
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.nets.readout import readout_for
from physnn.systems.base import Controls, System

ARCHITECTURES = ("pnn", "stack", "hybrid", "post", "mlp")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed architecture spec: its kind and its integer arguments."""

    kind: str
    sizes: tuple[int, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        kind, _, args = str(spec).partition(":")
        usage = "use pnn, stack:K, hybrid:H, post:H1,H2,... or mlp:H1,H2,... (positive integers)"
        if kind not in ARCHITECTURES:
            raise ConfigError(f"unknown model {spec!r}; {usage}")
        try:
            sizes = tuple(int(a) for a in args.split(",")) if args else ()
        except ValueError:
            raise ConfigError(f"model {spec!r}: {usage}") from None
        wanted = {
            "pnn": (0, 0),
            "stack": (1, 1),
            "hybrid": (1, 1),
            "post": (1, 64),
            "mlp": (1, 64),
        }[kind]
        if not wanted[0] <= len(sizes) <= wanted[1] or any(n < 1 for n in sizes):
            raise ConfigError(f"model {spec!r}: {usage}")
        return cls(kind, sizes)

    @property
    def uses_physics(self) -> bool:
        return self.kind != "mlp"


def _tanh_mlp(widths: tuple[int, ...], num_classes: int) -> list[nn.Module]:
    """Linear + tanh for each consecutive pair of ``widths``, then a Linear to the classes."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return [*layers, nn.Linear(widths[-1], num_classes)]


class RescaleToUnit(nn.Module):
    """Divide each sample by its largest absolute value, so the next block gets inputs in [0, 1]
    (intensities are non-negative) whatever the optical power."""

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        return flat / flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)


class Flatten(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)


def build_model(
    spec: str,
    system: System,
    device: Device,
    init_controls: Callable[[int], Controls],
    sample_shape: tuple[int, ...],
    num_classes: int,
) -> PNN:
    """The PNN of ``spec`` for samples of ``sample_shape``; ``init_controls(k)`` gives the
    initial controls of the k-th physical block."""
    parsed = ModelSpec.parse(spec)
    inputs = math.prod(sample_shape)

    def physical(k: int) -> PhysicalBlock:
        return PhysicalBlock(system, init_controls(k), device=device)

    if parsed.kind == "mlp":
        return PNN([Flatten(), *_tanh_mlp((inputs, *parsed.sizes), num_classes)])
    if parsed.kind == "post":
        widths = (system.num_outputs, *parsed.sizes)
        return PNN([physical(0), RescaleToUnit(), *_tanh_mlp(widths, num_classes)])
    if parsed.kind == "hybrid":
        (width,) = parsed.sizes
        encoder = [Flatten(), nn.Linear(inputs, width), nn.Sigmoid()]
        return PNN([*encoder, physical(0), readout_for(system, num_classes)])
    depth = parsed.sizes[0] if parsed.kind == "stack" else 1
    blocks: list[nn.Module] = []
    for k in range(depth):
        if k:
            blocks.append(RescaleToUnit())
        blocks.append(physical(k))
    return PNN([*blocks, readout_for(system, num_classes)])
