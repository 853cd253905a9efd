"""Input encodings shared by substrates: any dataset sample → the shape a system launches.

Datasets give images ``(B, h, w)`` or feature vectors ``(B, F)``. A substrate with a 2-D input
plane (a diffractive network, a waveguide) asks for a square image; one with ``n`` input modes,
spectral bins or resonators asks for ``n`` numbers. These resamplings are fixed (no trainable
parameters), so the comparison between substrates stays about the physics. They clip nothing:
every resampled value is an average of sample values (or a zero of padding).

What a substrate then does with the values is its physics: an amplitude cannot be negative, an
attenuator transmits between 0 and 1, a DAC has a full scale. Each system declares the values it
represents as ``System.input_range`` (:data:`UNIT_INTERVAL`, :data:`NON_NEGATIVE`, a DAC's
±full scale, or None for any real value); its encoding clamps what lies beyond, and building an
experiment warns (:class:`~physnn.errors.InputRangeWarning`) when a dataset's values do.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

UNIT_INTERVAL = (0.0, 1.0)  # intensities, attenuations, normalized pixels: values beyond clamped
NON_NEGATIVE = (0.0, math.inf)  # amplitudes normalized to unit power: negative values dropped


def as_image(x: Tensor, side: int) -> Tensor:
    """Samples → ``(B, side, side)`` by bilinear resampling.

    A feature vector of F numbers is first laid out row by row on the smallest square that holds
    it (zero-padded), so that tabular data can be launched by a 2-D system too.
    """
    if x.dim() == 2:
        width = math.isqrt(x.shape[1] - 1) + 1
        x = F.pad(x, (0, width * width - x.shape[1])).reshape(x.shape[0], width, width)
    if x.dim() != 3:
        raise ValueError(f"expected samples of shape (B, h, w) or (B, F), got {tuple(x.shape)}")
    if tuple(x.shape[1:]) == (side, side):
        return x.float()
    return F.interpolate(
        x[:, None].float(), size=(side, side), mode="bilinear", align_corners=False
    )[:, 0]


def as_vector(x: Tensor, n: int) -> Tensor:
    """Samples → ``(B, n)``.

    Images become a √n × √n thumbnail (area averaging) when n is a perfect square, so that
    neighbouring inputs stay neighbours; otherwise the flattened sample is resampled to n values
    (area averaging when shrinking, linear interpolation when growing).
    """
    side = math.isqrt(n)
    if x.dim() == 3 and side * side == n and tuple(x.shape[1:]) != (side, side):
        return F.adaptive_avg_pool2d(x[:, None].float(), side).reshape(x.shape[0], n)
    flat = x.reshape(x.shape[0], -1).float()
    if flat.shape[1] == n:
        return flat
    if flat.shape[1] > n:
        return F.adaptive_avg_pool1d(flat[:, None], n)[:, 0]
    return F.interpolate(flat[:, None], size=n, mode="linear", align_corners=True)[:, 0]
