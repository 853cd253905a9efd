"""A simulated lab instrument: a stand-in to rehearse a hardware run before the lab time.

:class:`SimulatedInstrument` is an :class:`~physnn.hardware.adapter.Instrument` backed by a
physnn system with a hidden reality (the same hidden device as a simulated run with the same
seed), behind the habits of real hardware:

* **latency**: every call takes ``latency`` + ``latency_per_sample``·B seconds;
* **timeouts**: a call fails with probability ``timeout_rate`` after ``timeout_seconds``
  (a timed-out write may still have arrived: the acknowledgement was lost);
* **drift over wall time**: each output channel's gain is exp(w), w a random walk whose
  standard deviation after t seconds is ``drift_per_hour``·√(t / 1 h), half of its variance
  shared by all channels (source power), half per channel (detector responsivity);
* **corrupted frames**: with probability ``corrupt_rate`` a frame comes back with a NaN row or
  garbled (truncated, wrong shape);
* **settle time**: a write takes effect ``settle_seconds`` after it arrives; a measurement
  before that still sees the previous controls (counted as stale);
* **an interlock**: a write outside the bounds or beyond the slew limit ``max_change`` is
  refused, as a careful lab's driver would.

Every random choice is seeded; ``clock`` and ``sleep`` can be injected to test without waiting.
Options may arrive as strings (``physnn serve --adapter-option k=v``) and are converted.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from physnn.errors import ConfigError, ControlBoundsError
from physnn.hardware.adapter import Instrument, InstrumentCapabilities, InstrumentTimeout
from physnn.hardware.simulated import simulated_device
from physnn.seeds import derived_seed
from physnn.systems import Controls, ControlSpec
from physnn.systems.energy import Equilibrium

HOUR = 3600.0


@dataclass
class InjectedFaults:
    """What the simulated instrument did wrong, to compare with what the adapter survived."""

    timeouts: int = 0
    corrupted_frames: int = 0
    stale_measurements: int = 0  # measured before the last write had settled
    refused_writes: int = 0  # writes the interlock refused (out of range or over the slew limit)


class SimulatedInstrument(Instrument):
    """A physnn system with a hidden reality that behaves like a lab instrument."""

    def __init__(
        self,
        system: str = "diffractive",
        preset: str = "default",
        gap: str = "moderate",
        seed: int = 0,
        system_options: dict[str, Any] | str | None = None,
        gap_options: dict[str, Any] | str | None = None,
        latency: float = 1e-3,
        latency_per_sample: float = 1e-5,
        timeout_rate: float = 0.01,
        timeout_seconds: float = 0.05,
        corrupt_rate: float = 0.005,
        drift_per_hour: float = 0.02,
        settle_seconds: float = 1e-3,
        max_change: float | dict[str, float] | str | None = None,
        max_batch: int | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.seed = int(_number("seed", seed, int))
        self._device = simulated_device(
            str(system),
            preset=str(preset),
            gap=str(gap),
            seed=self.seed,
            system_options=_mapping("system_options", system_options),
            gap_options=_mapping("gap_options", gap_options),
        )
        physics = self.system = self._device.system
        self.latency = _number("latency", latency)
        self.latency_per_sample = _number("latency_per_sample", latency_per_sample)
        self.timeout_rate = _number("timeout_rate", timeout_rate, high=1.0)
        self.timeout_seconds = _number("timeout_seconds", timeout_seconds)
        self.corrupt_rate = _number("corrupt_rate", corrupt_rate, high=1.0)
        self.drift_per_hour = _number("drift_per_hour", drift_per_hour)
        self.settle_seconds = _number("settle_seconds", settle_seconds)
        self.max_change = _slew_limits(max_change, physics.control_specs())
        self.max_batch = None if max_batch is None else int(_number("max_batch", max_batch, int))
        if self.max_batch is not None and self.max_batch < 1:
            raise ConfigError(f"option max_batch must be a positive integer, got {max_batch!r}")
        self.num_outputs = physics.num_outputs
        self.capabilities = InstrumentCapabilities(
            energy_based=physics.capabilities.energy_based,
            gradient_procedures=physics.capabilities.gradient_procedures,
            description=f"simulated {physics.name} ({preset}, gap {gap}, seed {self.seed})",
        )
        self.injected = InjectedFaults()
        self._clock, self._sleep = clock, sleep
        self._faults = torch.Generator().manual_seed(derived_seed(self.seed, "instrument-faults"))
        self._drift = torch.Generator().manual_seed(derived_seed(self.seed, "instrument-drift"))
        self._start = self._last_drift = clock()
        self._walk_common = torch.zeros(())
        self._walk_channel = torch.zeros(physics.num_outputs)
        self._commanded = self._device.read_controls()
        self._pending: tuple[float, Controls] | None = None

    def control_specs(self) -> dict[str, ControlSpec]:
        return self.system.control_specs()

    # ----------------------------------------------------------------------------- writes
    def set_controls(self, controls: Controls) -> None:
        self._sleep(self.latency)
        lost_ack = self._chance(self.timeout_rate)
        if lost_ack and self._chance(0.5):
            self._timeout()
        self._command(controls)
        if lost_ack:
            self._timeout()

    def _command(self, controls: Controls) -> None:
        """The interlock, then the write (which takes effect after the settle time)."""
        if set(controls) != set(self._commanded):
            self.injected.refused_writes += 1
            raise ControlBoundsError(
                f"interlock: a write must set every control ({', '.join(sorted(self._commanded))})"
            )
        for name, value in controls.items():
            try:
                self.control_specs()[name].check(name, value)
            except ControlBoundsError as err:
                self.injected.refused_writes += 1
                raise ControlBoundsError(f"interlock: {err}") from None
            limit = self.max_change.get(name)
            change = float((value - self._commanded[name]).abs().max())
            if limit is not None and change > limit * (1 + 1e-6):
                self.injected.refused_writes += 1
                raise ControlBoundsError(
                    f"interlock: control {name!r} would jump by {change:.4g} (limit {limit:.4g})"
                )
        self._commanded = {name: value.clone() for name, value in controls.items()}
        self._pending = (self._clock(), self._commanded)

    # ----------------------------------------------------------------------------- measurements
    def measure(self, x: Tensor) -> Tensor:
        self._begin(len(x))
        return self._finish(self._device.query(x))

    def relax(
        self, x: Tensor, *, nudge: Tensor | None = None, clamp: Tensor | None = None
    ) -> Equilibrium:
        self._begin(len(x))
        settled = self._device.relax(x, nudge=nudge, clamp=clamp)
        return Equilibrium(self._finish(settled.outputs), settled.local)

    def measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls, int]:
        self._begin(len(x))
        before = self._device.stats().query_calls
        outputs, grads = self._device.measure_gradient(x, output_gradient, procedure)
        return self._finish(outputs), grads, self._device.stats().query_calls - before

    def _begin(self, batch: int) -> None:
        """Latency, a possible timeout, and the last write taking effect once settled."""
        self._sleep(self.latency + self.latency_per_sample * batch)
        if self._chance(self.timeout_rate):
            self._timeout()
        if self._pending is not None:
            written_at, controls = self._pending
            if self._clock() - written_at >= self.settle_seconds:
                self._device.write(controls)
                self._pending = None
            else:
                self.injected.stale_measurements += 1

    def _finish(self, outputs: Tensor) -> Tensor:
        """Drift, then a possibly corrupted frame."""
        y = outputs * self.gain().to(outputs)
        if not self._chance(self.corrupt_rate):
            return y
        self.injected.corrupted_frames += 1
        if len(y) and self._chance(0.5):
            row = int(torch.randint(len(y), (), generator=self._faults))
            y = y.clone()
            y[row] = float("nan")
            return y
        return y.reshape(-1)[:-1]  # a truncated transfer: the frame has the wrong shape

    def gain(self) -> Tensor:
        """The output channels' gains now (advances the drift to the current wall time)."""
        now = self._clock()
        elapsed = now - self._last_drift
        if elapsed > 0 and self.drift_per_hour > 0:
            scale = self.drift_per_hour * math.sqrt(elapsed / HOUR / 2)
            self._walk_common += scale * torch.randn((), generator=self._drift)
            self._walk_channel += scale * torch.randn(
                self._walk_channel.shape, generator=self._drift
            )
            self._last_drift = now
        return torch.exp(self._walk_common + self._walk_channel)

    # ----------------------------------------------------------------------------- faults
    def _chance(self, probability: float) -> bool:
        return probability > 0 and float(torch.rand((), generator=self._faults)) < probability

    def _timeout(self) -> None:
        self.injected.timeouts += 1
        self._sleep(self.timeout_seconds)
        raise InstrumentTimeout(f"no answer within {self.timeout_seconds:g} s")


def _number(name: str, value: Any, kind: type = float, high: float | None = None) -> float:
    """A non-negative number (below ``high`` if given), converted from a string if needed."""
    try:
        number = kind(value) if isinstance(value, str) else value
    except ValueError:
        number = None
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or (kind is int and not isinstance(number, int))
    ):
        raise ConfigError(
            f"option {name} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
        )
    if not (number >= 0 and (high is None or number < high)):
        interval = f"[0, {high:g})" if high is not None else "≥ 0"
        raise ConfigError(f"option {name} must be in {interval}, got {value!r}")
    return number


def _decoded(name: str, value: Any, expected: str) -> Any:
    """A value given on the command line as JSON text, decoded (other values as they are)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(f"option {name} must be {expected}, got {value!r}") from None


def _mapping(name: str, value: Any) -> dict[str, Any]:
    """A dict, or a JSON object given as a string."""
    if value is None:
        return {}
    expected = "a table of options, e.g. {grid=16}"
    value = _decoded(name, value, expected)
    if not isinstance(value, dict):
        raise ConfigError(f"option {name} must be {expected}, got {value!r}")
    return dict(value)


def _slew_limits(value: Any, specs: dict[str, ControlSpec]) -> dict[str, float]:
    """Slew limits per control: none, one number for every control, or a table by name."""
    if value is None:
        return {}
    value = _decoded("max_change", value, "a number or a table")
    table = value if isinstance(value, dict) else dict.fromkeys(specs, value)
    unknown = sorted(set(table) - set(specs))
    if unknown:
        raise ConfigError(f"max_change names unknown controls {unknown}; controls: {sorted(specs)}")
    limits = {name: _number(f"max_change.{name}", limit) for name, limit in table.items()}
    if not all(limit > 0 for limit in limits.values()):
        raise ConfigError("option max_change must be positive")
    return limits
