"""A twin fitted to device data (:class:`FittedTwin`): fit, validate, watch for drift, refit.

The data come from :mod:`physnn.twins.acquisition`; the relative error is defined there.

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
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor

from physnn.systems.base import Controls, ControlSpec, System
from physnn.twins.acquisition import (
    Acquisition,
    FitData,
    FitOptions,
    flatten_controls,
    output_scale,
    relative_error,
    unflatten_controls,
)
from physnn.twins.nominal import NominalTwin, Twin

RUNNING_WEIGHT = 0.1
"""Weight of each new step in the running mean of the squared error (about ten steps' memory)."""

EVAL_BATCH = 512

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
                f"the {self.kind} twin has not been fitted: physnn.twins.fit_twins fits it "
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
