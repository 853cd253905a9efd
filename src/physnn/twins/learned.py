"""Learned twin: a neural surrogate of the device, trained on its measured input–output pairs.

Wright et al. (Nature 601, 549 (2022)) found the physics models of their physical neural
networks not exact enough and trained a deep neural network on (input, parameters) → output
data measured on the device; physics-aware training then uses it only for the backward pass.
This twin does the same and knows no physics:

    ŷ = μ_y + σ_y ⊙ MLP([ (x − μ_x) / σ_x ,  e(θ) ]),

with x the block's input (flattened), e(θ) the controls scaled to [−1, 1] by their bounds —
periodic ones (phases) as (cos, sin) so that 0 and 2π coincide — μ, σ the mean and standard
deviation of the acquired data, and an MLP of ``depth`` hidden layers of ``width`` SiLU units
(smooth, so that its Jacobian, which is all PAT uses, is smooth too) plus an affine shortcut
from its inputs to its outputs (many physical maps are nearly affine over the range a device
is driven in; the hidden layers then learn what the affine part misses). It is fitted by Adam on
minibatches of the acquired samples (mean squared error in standardized outputs). Its weights
are buffers of the module: the training optimizer never sees them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.systems.base import Controls, System
from physnn.twins.acquisition import FitData, FitOptions, flatten_controls
from physnn.twins.fitted import FittedTwin


@dataclass(frozen=True)
class LearnedOptions(FitOptions):
    settings: int = 512  # a surrogate learns how controls act only from many settings
    samples_per_setting: int = 8
    width: int = 256  # units per hidden layer
    depth: int = 2  # hidden layers
    steps: int = 3000
    lr: float = 1e-3
    batch_size: int = 256  # samples per optimizer step

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("width", "depth", "batch_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


class LearnedTwin(FittedTwin):
    """A multilayer perceptron from (input, controls) to the measured outputs."""

    kind = "learned"

    def __init__(self, system: System, options: LearnedOptions) -> None:
        super().__init__(system, options)
        for name in ("input_mean", "input_std", "output_mean", "output_std", *self.names()):
            self.register_buffer(name, torch.empty(0))

    # ----------------------------------------------------------------------------- network
    def names(self) -> list[str]:
        """The network's weights: each layer's matrix and bias, and the affine shortcut."""
        layers = range(self.options.depth + 1)
        return [f"{kind}_{k}" for k in layers for kind in ("weight", "bias")] + ["shortcut"]

    def encode_controls(self, flat: Tensor) -> Tensor:
        """Controls (K, D), flattened in the order of the specs → features (K, E)."""
        parts, start = [], 0
        for spec in self.specs.values():
            value = flat[:, start : start + spec.size]
            start += spec.size
            unit = (value - spec.low) / (spec.high - spec.low)
            if spec.periodic:
                angle = 2 * math.pi * unit
                parts += [torch.cos(angle), torch.sin(angle)]
            else:
                parts.append(2 * unit - 1)
        return torch.cat(parts, dim=1)

    def network(
        self, weights: dict[str, Tensor], x: Tensor, controls: Tensor, setting: Tensor
    ) -> Tensor:
        """Outputs for inputs x (B, …) at settings ``controls`` (K, D), sample b at setting
        ``setting[b]``. What acts on the concatenated features [x̃, e(θ)] (the first layer and
        the affine shortcut) is split, so that the controls are multiplied once per setting."""
        features = (x.reshape(len(x), -1).float() - self.input_mean) / self.input_std
        encoded = self.encode_controls(controls)
        width = features.shape[1]

        def first(matrix: Tensor) -> Tensor:
            return features @ matrix[:, :width].T + (encoded @ matrix[:, width:].T)[setting]

        h = first(weights["weight_0"]) + weights["bias_0"]
        for k in range(1, self.options.depth + 1):
            h = F.linear(F.silu(h), weights[f"weight_{k}"], weights[f"bias_{k}"])
        return self.output_mean + self.output_std * (h + first(weights["shortcut"]))

    def weights(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in self.names()}

    def forward(self, x: Tensor, controls: Controls) -> Tensor:
        self.require_fitted()
        flat = flatten_controls(controls, self.specs)[None]
        setting = torch.zeros(len(x), dtype=torch.long, device=x.device)
        return self.network(self.weights(), x, flat, setting)

    # ----------------------------------------------------------------------------- fit
    def _initialize(self, data: FitData, generator: torch.Generator) -> None:
        """Standardization from the data; layers drawn like ``nn.Linear``'s (uniform within
        ±1/√fan_in), the shortcut zero."""
        flat = data.inputs.reshape(len(data.inputs), -1).float()
        spread = flat.std(dim=0)
        self.input_mean = flat.mean(dim=0)
        self.input_std = spread.clamp_min(0.1 * float(spread.mean()) + 1e-8)
        spread = data.outputs.float().std(dim=0)
        self.output_mean = data.outputs.float().mean(dim=0)
        self.output_std = spread.clamp_min(1e-3 * float(spread.max()) + 1e-12)
        inputs = flat.shape[1] + self.encode_controls(data.controls[:1]).shape[1]
        sizes = [inputs] + [self.options.width] * self.options.depth + [data.outputs.shape[1]]
        where = self.output_scale.device
        for k, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            bound = 1 / math.sqrt(fan_in)
            for kind, shape in (("weight", (fan_out, fan_in)), ("bias", (fan_out,))):
                value = (2 * torch.rand(shape, generator=generator) - 1) * bound
                setattr(self, f"{kind}_{k}", value.to(where))
        self.shortcut = torch.zeros(sizes[-1], inputs, device=where)

    def train_on(self, data: FitData, steps: int, generator: torch.Generator) -> None:
        if self.shortcut.numel() == 0:
            self._initialize(data, generator)
        params = {k: w.detach().clone().requires_grad_() for k, w in self.weights().items()}
        optimizer = torch.optim.Adam(params.values(), lr=self.options.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, steps, eta_min=0.1 * self.options.lr
        )
        probabilities = data.sample_weights().cpu()
        for _ in range(steps):
            rows = torch.multinomial(
                probabilities, self.options.batch_size, replacement=True, generator=generator
            ).to(data.setting.device)
            predicted = self.network(params, data.inputs[rows], data.controls, data.setting[rows])
            error = (predicted - data.outputs[rows].float()) / self.output_std
            loss = error.square().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        for name, value in params.items():
            setattr(self, name, value.detach().clone())

    def describe_fit(self) -> dict[str, Any]:
        sizes = [self.weight_0.shape[1]]
        sizes += [getattr(self, f"bias_{k}").numel() for k in range(self.options.depth + 1)]
        return {
            "network": " → ".join(str(n) for n in sizes) + " (+ affine shortcut)",
            "weights": sum(w.numel() for w in self.weights().values()),
            "fit_steps": self.options.steps,
        }
