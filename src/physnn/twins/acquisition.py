"""Device data for fitted twins: acquire → fit → validate → watch for drift → refit.

**Acquisition.** A fitted twin learns from the device the way a lab would calibrate one: write a
control setting, measure a few inputs, repeat. The settings are the block's current controls
and K − 1 random ones, θ_k = P(θ₀ + s_k (u_k − θ₀)) with u_k a fresh draw of the system's
initial controls, s_k ~ U(0, 1) and P the projection onto the admissible set: they reach from
the operating point to anywhere in the control space. Each setting is measured on M inputs drawn
from what the physical block really receives (the training images for the first block of a
``pnn``, ``stack:K`` or ``post:…`` model; for the later blocks of a stack, the measured and
rescaled outputs of the blocks before it). A fraction of the random settings is held out to
validate the fit on settings it never saw. Every write goes through :meth:`Device.write` (ramped
within slew limits); queries and writes are counted in the device's ``calibration`` phase.

**Error.** Twin–device agreement is the relative rms error ``rms(ŷ − y) / σ_y``, with σ_y² the
mean over output channels of the variance of the acquired measurements: 0 is a perfect twin,
1 is no better than predicting each channel's mean. Measurement noise sets its floor.

**Drift.** During physics-aware training the twin sees every measured batch
(:meth:`FittedTwin.observe`). It keeps a ring of the last ``refit_window`` steps
(``recent_samples`` samples of each, with that step's controls) and an exponential running mean
of the squared error (each step weighted 0.1). When the running error stays above
``refit_factor`` × its reference (the validation error) for ``refit_window`` consecutive steps,
the twin is refitted: a short fine-tune (``refit_steps``) on the ring — which then holds only
steps measured while the error was high, i.e. the device as it is now — and the acquired
training data, which keep the fit from forgetting the rest of the control space; the ring has
the share ``recent_weight`` of the refit's data. The refit is counted. The reference then
becomes the larger of the validation error and the ring's error after the refit, so that a
device the twin cannot follow exactly does not trigger a refit every window.

All fitted values, the acquired data and the monitor's state are buffers of the twin module,
saved with the model: a resumed run continues with the same twin, bit for bit.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from physnn.hardware.device import Device
from physnn.systems.base import Controls, ControlSpec, System
from physnn.twins.nominal import NominalTwin, Twin

SUPPORTED_MODELS = ("pnn", "stack", "post")
"""Architectures whose physical blocks receive inputs that training does not change (the data,
or the measured outputs of the physical blocks before them)."""

RUNNING_WEIGHT = 0.1
"""Weight of each new step in the running mean of the squared error (about ten steps' memory)."""

EVAL_BATCH = 512


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
    """θ = P(θ₀ + s (u − θ₀)): a random point between the operating point θ₀ and a fresh draw
    u of the system's initial controls, s ~ U(0, spread)."""
    specs = system.control_specs()
    target = system.init_controls(generator)
    s = spread * float(torch.rand((), generator=generator))
    return {
        name: spec.project(current[name] + s * (target[name].to(current[name]) - current[name]))
        for name, spec in specs.items()
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
    model: Any,
    block: Any,
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
    settings = [current] + [
        perturbed_setting(block.system, current, options.spread, generator)
        for _ in range(options.settings - 1)
    ]
    inputs, outputs, index = [], [], []
    for k, controls in enumerate(settings):
        device.write(controls)
        pick = torch.randint(len(seen), (options.samples_per_setting,), generator=generator)
        x = seen[pick.to(seen.device)]
        outputs.append(device.query(x).to(where))
        inputs.append(x)
        index.append(torch.full((len(x),), k, dtype=torch.long))
    block.deploy()
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


# --------------------------------------------------------------------------------- fitted twin
_DATA = ("data_inputs", "data_setting", "data_controls", "data_outputs", "data_holdout")
_RING = ("recent_inputs", "recent_outputs", "recent_controls")


class FittedTwin(Twin):
    """A twin fitted to device data, watching its error during training and refitting on drift.

    Subclasses implement :meth:`forward`, :meth:`train_on` (optimizer steps on data, values
    kept in buffers) and :meth:`describe_fit`, and may widen :meth:`initial_fit`. Until
    :meth:`fit` is called (or a fitted state is loaded) the twin cannot watch the device.
    """

    kind: str

    def __init__(self, system: System, options: FitOptions) -> None:
        super().__init__(system)
        self.options = options
        self.specs = system.control_specs()
        for name in (*_DATA, *_RING):
            self.register_buffer(name, torch.empty(0))
        scalars = {
            "output_scale": torch.tensor(1.0),
            "reference_error": torch.tensor(0.0),
            "running_square": torch.tensor(0.0),
            "over_threshold": torch.tensor(0),
            "observed": torch.tensor(0),
            "refits": torch.tensor(0),
            "seed": torch.tensor(0),
            "fitted": torch.tensor(False),
        }
        for name, value in scalars.items():
            self.register_buffer(name, value)

    # ----------------------------------------------------------------------------- subclass
    @abstractmethod
    def train_on(self, data: FitData, steps: int, generator: torch.Generator) -> None:
        """Run ``steps`` optimizer steps on ``data`` from the current values, then keep the
        result in the twin's buffers (assigned anew, never modified in place: a prediction
        made before may still be waiting for its backward pass)."""

    @abstractmethod
    def describe_fit(self) -> dict[str, Any]:
        """What was fitted, for the run's result (JSON-serializable)."""

    def initial_fit(self, data: FitData, generator: torch.Generator) -> dict[str, Any]:
        """The first fit, from the twin's initial values: ``steps`` optimizer steps unless a
        subclass searches more widely; returns what the search found worth reporting."""
        self.train_on(data, self.options.steps, generator)
        return {}

    # ----------------------------------------------------------------------------- fit
    def require_fitted(self) -> None:
        if not bool(self.fitted):
            raise RuntimeError(
                f"the {self.kind} twin has not been fitted: physnn.twins.prepare_twins fits it "
                "to the device before training"
            )

    def predict(self, data: FitData) -> Tensor:
        """The twin's outputs for every sample of ``data`` (no gradient)."""
        return _predict(self, data, self.specs)

    def error_on(self, data: FitData) -> float:
        return relative_error(self.predict(data), data.outputs, self.output_scale)

    def fit(self, data: Acquisition, seed: int) -> dict[str, Any]:
        """Fit to freshly acquired device data; returns what the fit measured."""
        start = time.perf_counter()
        where = self.output_scale.device
        for name, value in zip(
            _DATA,
            (data.inputs, data.setting, data.controls, data.outputs, data.holdout),
            strict=True,
        ):
            setattr(self, name, value.to(where))
        self.seed = torch.tensor(seed, device=where)
        self.output_scale = output_scale(data.outputs).to(where)
        fitting, held_out = data.fitting(), data.held_out()
        nominal = _predict(NominalTwin(self.system), held_out, self.specs)
        error_before = relative_error(nominal, held_out.outputs, self.output_scale)
        generator = torch.Generator().manual_seed(seed)
        search = self.initial_fit(fitting, generator)
        self.fitted = torch.tensor(True, device=where)
        validation = self.error_on(held_out)
        self.reference_error = torch.tensor(validation, device=where)
        self.running_square = torch.tensor(validation**2, device=where)
        return {
            "kind": self.kind,
            **self.describe_fit(),
            **search,
            "error_before": error_before,
            "error_after": self.error_on(fitting),
            "validation_error": validation,
            "settings": self.options.settings,
            "held_out_settings": self.options.held_out,
            "queries": data.queries,
            "writes": data.writes,
            "seconds": data.seconds + time.perf_counter() - start,
        }

    # ----------------------------------------------------------------------------- drift
    @torch.no_grad()
    def observe(self, x: Tensor, controls: Controls, measured: Tensor, predicted: Tensor) -> None:
        """Track the running error, keep a few samples of the step, refit when it drifts."""
        self.require_fitted()
        o = self.options
        square = (predicted.float() - measured.float()).square().mean() / self.output_scale**2
        self.running_square.mul_(1 - RUNNING_WEIGHT).add_(RUNNING_WEIGHT * square)
        if self.recent_inputs.numel() == 0:
            self._allocate_ring(x, measured)
        slot = int(self.observed) % o.refit_window
        keep = torch.arange(o.recent_samples, device=x.device) % len(x)
        self.recent_inputs[slot] = x[keep].to(self.recent_inputs)
        self.recent_outputs[slot] = measured[keep].to(self.recent_outputs)
        self.recent_controls[slot] = flatten_controls(controls, self.specs).to(self.recent_controls)
        self.observed.add_(1)
        limit = o.refit_factor * float(self.reference_error)
        if math.sqrt(float(self.running_square)) > limit:
            self.over_threshold.add_(1)
        else:
            self.over_threshold.zero_()
        if int(self.over_threshold) >= o.refit_window:
            self.refit()

    def _allocate_ring(self, x: Tensor, measured: Tensor) -> None:
        o = self.options
        size = (o.refit_window, o.recent_samples)
        where = self.output_scale.device
        self.recent_inputs = torch.zeros(*size, *x.shape[1:], device=where)
        self.recent_outputs = torch.zeros(*size, *measured.shape[1:], device=where)
        self.recent_controls = torch.zeros(o.refit_window, len(self.data_controls[0]), device=where)

    def acquired(self) -> Acquisition:
        """The acquired device data the twin was fitted on (and validated with)."""
        return Acquisition(
            self.data_inputs, self.data_setting, self.data_controls, self.data_outputs,
            self.data_holdout,
        )  # fmt: skip

    def recent(self) -> FitData:
        """The ring of recent measurements (only the slots filled so far)."""
        filled = min(int(self.observed), self.options.refit_window)
        m = self.options.recent_samples
        return FitData(
            self.recent_inputs[:filled].flatten(0, 1),
            torch.arange(filled, device=self.recent_inputs.device).repeat_interleave(m),
            self.recent_controls[:filled],
            self.recent_outputs[:filled].flatten(0, 1),
            torch.full((filled,), 1.0 / filled, device=self.recent_inputs.device),
        )

    def refit(self) -> None:
        """A short fine-tune on the recent ring and the acquired training data."""
        o = self.options
        recent = self.recent()
        data = FitData.mix(
            [(recent, o.recent_weight), (self.acquired().fitting(), 1 - o.recent_weight)]
        )
        generator = torch.Generator().manual_seed(int(self.seed) + 1 + int(self.refits))
        with torch.enable_grad():
            self.train_on(data, o.steps_per_refit, generator)
        after = self.error_on(recent)
        self.reference_error = torch.tensor(
            max(float(self.reference_error), after), device=self.reference_error.device
        )
        self.running_square = torch.tensor(after**2, device=self.running_square.device)
        self.over_threshold = torch.zeros_like(self.over_threshold)
        self.refits = self.refits + 1

    def diagnostics(self) -> dict[str, float]:
        return {
            "twin_error": math.sqrt(float(self.running_square)),
            "twin_refits": int(self.refits),
        }

    # ----------------------------------------------------------------------------- state
    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Buffers whose size the fit decides (data, ring, learned weights) take the saved
        size before the values are copied."""
        for name, buffer in self._buffers.items():
            saved = state_dict.get(prefix + name)
            if buffer is not None and saved is not None and saved.shape != buffer.shape:
                self._buffers[name] = torch.empty(
                    saved.shape, dtype=saved.dtype, device=buffer.device
                )
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.options).items())


def _predict(twin: Twin, data: FitData, specs: dict[str, ControlSpec]) -> Tensor:
    """Outputs of ``twin`` for every sample of ``data``, setting by setting."""
    out = torch.empty_like(data.outputs, dtype=torch.float32)
    with torch.no_grad():
        for k in torch.unique(data.setting).tolist():
            where = (data.setting == k).nonzero().squeeze(1)
            controls = unflatten_controls(data.controls[k], specs)
            for chunk in where.split(EVAL_BATCH):
                out[chunk] = twin(data.inputs[chunk], controls).float()
    return out
