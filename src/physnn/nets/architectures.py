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
``ffnet:H1,H2,…``  the network of forward-forward (Hinton 2022), no physics: ReLU layers, the
                   hidden vector length-normalized before each next layer (so that a layer
                   sees only the direction, not the goodness, of the one before it)
=================  ==========================================================================
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from torch import Tensor, nn

from physnn.hardware.device import Device
from physnn.model_spec import ModelSpec
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.nets.readout import readout_for
from physnn.systems.base import Controls, System


def _tanh_mlp(widths: tuple[int, ...], num_classes: int) -> list[nn.Module]:
    """Linear + tanh for each consecutive pair of ``widths``, then a Linear to the classes."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.Tanh()]
    return [*layers, nn.Linear(widths[-1], num_classes)]


class LengthNormalize(nn.Module):
    """h · √n / ‖h‖ for each sample of n features: unit mean square, direction kept (Hinton
    2022 normalizes the length to 1; the √n keeps the next layer's default initialization
    well scaled)."""

    def forward(self, h: Tensor) -> Tensor:
        return h * math.sqrt(h.shape[1]) / h.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _normalized_relu_net(widths: tuple[int, ...], num_classes: int) -> list[nn.Module]:
    """Linear + ReLU for each consecutive pair of ``widths``, a :class:`LengthNormalize` in
    front of every hidden layer after the first, then a Linear to the classes."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(itertools.pairwise(widths)):
        layers += [*([LengthNormalize()] if k else []), nn.Linear(a, b), nn.ReLU()]
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
    if parsed.kind == "ffnet":
        return PNN([Flatten(), *_normalized_relu_net((inputs, *parsed.sizes), num_classes)])
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
