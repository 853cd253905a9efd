"""Quantization with a defined derivative.

Hardware holds only discrete control levels (DAC codes, printable heights). The straight-through
estimator (Bengio, Léonard & Courville 2013, arXiv:1308.3432) uses the quantized value in the
forward pass and the identity as its derivative.
"""

from collections.abc import Callable

import torch
from torch import Tensor


def level_step(low: float, high: float, levels: int, periodic: bool) -> float:
    """Spacing of K equally spaced levels; on a circle the top level coincides with ``low``."""
    return (high - low) / levels if periodic else (high - low) / (levels - 1)


def snap_to_levels(value: Tensor, low: float, high: float, levels: int, periodic: bool) -> Tensor:
    """Nearest of ``levels`` equally spaced values in [low, high] (or on the circle [low, high))."""
    step = level_step(low, high, levels, periodic)
    k = torch.round((value - low) / step)
    k = torch.remainder(k, levels) if periodic else k.clamp(0, levels - 1)
    return low + k * step


def quantize_ste(value: Tensor, snap: Callable[[Tensor], Tensor]) -> Tensor:
    """``snap(value)`` in the forward pass, gradient 1 in the backward pass."""
    return value + (snap(value) - value).detach()
