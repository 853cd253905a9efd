"""Device data for fitted twins: the acquisition, and the data sets and error a fit uses.

**Acquisition.** A fitted twin learns from the device the way a lab would calibrate one: write a
control setting, measure a few inputs, repeat. The settings are the block's current controls
and K − 1 random ones, θ_k = P(θ₀ + s_k (u_k − θ₀)) with u_k a fresh draw of the system's
initial controls, s_k ~ U(0, 1) and P the projection onto the admissible set: they reach from
the operating point to anywhere in the control space. Each setting is measured on M inputs drawn
from what the physical block really receives (the training images for the first block of a
``pnn``, ``stack:K`` or ``post:…`` model; for the later blocks of a stack, the measured and
rescaled outputs of the blocks before it). A fraction of the random settings is held out to
validate the fit on settings it never saw. Every write goes through the block's
:meth:`~physnn.nets.PhysicalBlock.commit` (P, then :meth:`Device.write`, ramped within slew
limits); queries and writes are counted in the device's ``calibration`` phase.

**Error.** Twin–device agreement is the relative rms error ``rms(ŷ − y) / σ_y``, with σ_y² the
mean over output channels of the variance of the acquired measurements: 0 is a perfect twin,
1 is no better than predicting each channel's mean. Measurement noise sets its floor.

The twin fitted on these data, its drift watch and refits: :mod:`physnn.twins.fitted`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from physnn.hardware.device import Device
from physnn.systems.base import Controls, ControlSpec, System

if TYPE_CHECKING:  # nets builds on the twins, so the model types are imported for hints only
    from physnn.nets.pnn import PNN, PhysicalBlock


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require(ok: bool, name: str, what: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class FitOptions:
    """Options every fitted twin shares: acquisition, fit length, drift monitoring."""

    settings: int = 64  # K control settings written and measured
    samples_per_setting: int = 32  # M inputs measured per setting
    validation: float = 0.2  # fraction of the settings held out to validate the fit
    spread: float = 1.0  # settings reach this fraction of the way to random controls
    steps: int = 300  # optimizer steps of the initial fit
    lr: float = 0.05  # Adam learning rate of the fit
    refit_factor: float = 2.0  # refit when the running error exceeds this × the validation error
    refit_window: int = 10  # … for this many consecutive training steps
    refit_steps: int | None = None  # optimizer steps of a refit (None: steps // 5)
    recent_samples: int = 16  # samples kept of each of the last refit_window training steps
    recent_weight: float = 0.8  # share of the recent ring in a refit's data

    def __post_init__(self) -> None:
        for name in ("settings", "samples_per_setting", "steps", "refit_window", "recent_samples"):
            _require(
                _positive_int(getattr(self, name)), name, "a positive integer", getattr(self, name)
            )
        _require(self.settings >= 3, "settings", "at least 3 (fit and held out)", self.settings)
        _require(
            _number(self.validation) and 0 < self.validation < 1,
            "validation",
            "a fraction in (0, 1)",
            self.validation,
        )
        _require(_number(self.spread) and 0 < self.spread <= 1, "spread", "in (0, 1]", self.spread)
        _require(_number(self.lr) and self.lr > 0, "lr", "a positive number", self.lr)
        _require(
            _number(self.refit_factor) and self.refit_factor >= 1,
            "refit_factor",
            "a number >= 1",
            self.refit_factor,
        )
        _require(
            self.refit_steps is None or _positive_int(self.refit_steps),
            "refit_steps",
            "a positive integer",
            self.refit_steps,
        )
        _require(
            _number(self.recent_weight) and 0 <= self.recent_weight < 1,
            "recent_weight",
            "a fraction in [0, 1)",
            self.recent_weight,
        )

    @property
    def held_out(self) -> int:
        """Settings held out for validation (at least one, never the operating point)."""
        return min(self.settings - 2, max(1, round(self.validation * self.settings)))

    @property
    def steps_per_refit(self) -> int:
        return self.refit_steps if self.refit_steps is not None else max(1, self.steps // 5)


# --------------------------------------------------------------------------------- controls
def flatten_controls(controls: Controls, specs: dict[str, ControlSpec]) -> Tensor:
    """One setting as a vector (D,), the controls in the order of ``specs``."""
    return torch.cat([controls[name].reshape(-1).float() for name in specs])


def unflatten_controls(flat: Tensor, specs: dict[str, ControlSpec]) -> Controls:
    """Inverse of :func:`flatten_controls`; a batch (K, D) gives controls of shape (K, *shape)."""
    out, start = {}, 0
    lead = flat.shape[:-1]
    for name, spec in specs.items():
        out[name] = flat[..., start : start + spec.size].reshape(*lead, *spec.shape)
        start += spec.size
    return out


def perturbed_setting(
    system: System, current: Controls, spread: float, generator: torch.Generator
) -> Controls:
    """θ₀ + s (u − θ₀): a random point between the operating point θ₀ and a fresh draw u of the
    system's initial controls, s ~ U(0, spread); the write projects it (P in the text above)."""
    target = system.init_controls(generator)
    s = spread * float(torch.rand((), generator=generator))
    return {
        name: current[name] + s * (target[name].to(current[name]) - current[name])
        for name in system.control_specs()
    }


# --------------------------------------------------------------------------------- data
@dataclass
class Acquisition:
    """Measurements of one device: samples ``inputs`` (N, …) measured at setting ``setting``
    (N,) of ``controls`` (K, D) gave ``outputs`` (N, C); ``holdout`` (K,) marks the settings
    kept for validation."""

    inputs: Tensor
    setting: Tensor
    controls: Tensor
    outputs: Tensor
    holdout: Tensor
    queries: int = 0
    writes: int = 0
    seconds: float = 0.0

    def select(self, keep: Tensor) -> FitData:
        """The samples of the settings marked in ``keep`` (K,), settings renumbered, equally
        weighted."""
        index = torch.full(keep.shape, -1, dtype=torch.long, device=keep.device)
        count = int(keep.sum())
        index[keep] = torch.arange(count, device=keep.device)
        samples = keep[self.setting]
        return FitData(
            self.inputs[samples],
            index[self.setting[samples]],
            self.controls[keep],
            self.outputs[samples],
            torch.full((count,), 1.0 / count, device=self.controls.device),
        )

    def fitting(self) -> FitData:
        return self.select(~self.holdout)

    def held_out(self) -> FitData:
        return self.select(self.holdout)


@dataclass
class FitData:
    """Samples grouped by control setting, each setting with a sampling weight (sum 1)."""

    inputs: Tensor
    setting: Tensor
    controls: Tensor
    outputs: Tensor
    weight: Tensor

    def __len__(self) -> int:
        return len(self.setting)

    @staticmethod
    def mix(parts: list[tuple[FitData, float]]) -> FitData:
        """Concatenate data sets, the weights of each rescaled to its share."""
        offsets = [0]
        for data, _ in parts:
            offsets.append(offsets[-1] + len(data.controls))
        return FitData(
            torch.cat([d.inputs for d, _ in parts]),
            torch.cat([d.setting + off for (d, _), off in zip(parts, offsets, strict=False)]),
            torch.cat([d.controls for d, _ in parts]),
            torch.cat([d.outputs for d, _ in parts]),
            torch.cat([d.weight / d.weight.sum() * share for d, share in parts]),
        )

    def sample_weights(self) -> Tensor:
        """Per-sample probabilities: each setting's weight shared by its samples."""
        counts = torch.bincount(self.setting, minlength=len(self.controls)).clamp_min(1)
        return self.weight[self.setting] / counts[self.setting]


def relative_error(predicted: Tensor, measured: Tensor, scale: Tensor | float) -> float:
    """rms(predicted − measured) / scale (see the module docstring)."""
    mse = (predicted.float() - measured.float()).square().mean()
    return float(mse.sqrt() / scale)


def output_scale(outputs: Tensor) -> Tensor:
    """σ_y: the rms over channels of each channel's standard deviation (never zero)."""
    return outputs.float().var(dim=0).mean().sqrt().clamp_min(1e-12)


def acquire(
    model: PNN,
    block: PhysicalBlock,
    pool: Tensor,
    options: FitOptions,
    generator: torch.Generator,
) -> Acquisition:
    """Measure ``options.settings`` control settings of ``block``'s device on
    ``options.samples_per_setting`` inputs each, drawn from the data ``pool`` as the block sees
    it; leave the device at the block's controls."""
    device: Device = block.require_device()
    phase = device.stats("calibration")
    queries, writes, start = phase.queries, phase.writes, time.perf_counter()
    where = next(iter(block.controls.values())).device
    subset = torch.randperm(len(pool), generator=generator)[
        : options.settings * options.samples_per_setting
    ]
    seen = model.inputs_of(block, pool[subset].to(where))  # measured on the device
    current = block.hardware_controls()
    targets = [
        perturbed_setting(block.system, current, options.spread, generator)
        for _ in range(options.settings - 1)
    ]
    inputs, outputs, index, settings = [], [], [], []
    for k, target in enumerate([None, *targets]):  # None: the block's own controls first
        settings.append(block.commit(target))
        pick = torch.randint(len(seen), (options.samples_per_setting,), generator=generator)
        x = seen[pick.to(seen.device)]
        outputs.append(device.query(x).to(where))
        inputs.append(x)
        index.append(torch.full((len(x),), k, dtype=torch.long))
    block.commit()
    held = 1 + torch.randperm(options.settings - 1, generator=generator)[: options.held_out]
    holdout = torch.zeros(options.settings, dtype=torch.bool)
    holdout[held] = True
    return Acquisition(
        inputs=torch.cat(inputs),
        setting=torch.cat(index).to(where),
        controls=torch.stack([flatten_controls(c, block.specs) for c in settings]).to(where),
        outputs=torch.cat(outputs),
        holdout=holdout.to(where),
        queries=phase.queries - queries,
        writes=phase.writes - writes,
        seconds=time.perf_counter() - start,
    )
