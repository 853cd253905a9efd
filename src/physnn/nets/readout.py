"""Digital readouts from measured detector signals to class logits."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from physnn.systems.base import System


class IntensityReadout(nn.Module):
    """Logits = T · I_c / Σ_k I_k: the brightest detector wins (Lin et al. 2018).

    Normalizing by the total detected power makes the score independent of the source power;
    the temperature T (learned, log-parameterized) sets the softmax sharpness for the
    cross-entropy loss. With ``differential=True`` the 2C detectors form the contrast
    (I⁺_c − I⁻_c) / (I⁺_c + I⁻_c) (Li et al., Adv. Photonics 2019).
    """

    def __init__(self, differential: bool = False, temperature: float = 10.0) -> None:
        super().__init__()
        self.differential = differential
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))

    def forward(self, signal: Tensor) -> Tensor:
        signal = signal.clamp_min(0)
        if self.differential:
            plus, minus = signal.chunk(2, dim=-1)
            score = (plus - minus) / (plus + minus).clamp_min(1e-12)
        else:
            score = signal / signal.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return self.log_temperature.exp() * score


def readout_for(system: System, num_classes: int) -> nn.Module:
    """The natural digital readout for a system's measured outputs."""
    kind = getattr(system, "output_kind", "real")
    if kind == "intensity" and system.num_outputs == num_classes:
        return IntensityReadout(differential=False)
    if kind == "differential-intensity" and system.num_outputs == 2 * num_classes:
        return IntensityReadout(differential=True)
    return nn.Linear(system.num_outputs, num_classes)
