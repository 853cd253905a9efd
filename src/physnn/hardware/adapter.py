"""The instrument adapter: wrap a lab's instrument once, train it with every compatible method.

A lab subclasses :class:`Instrument` and implements three things: which controls the instrument
has (:meth:`Instrument.control_specs`), how to set all of them (:meth:`Instrument.set_controls`)
and how to measure one batch of inputs (:meth:`Instrument.measure`). :class:`InstrumentDevice`
turns that into physnn's :class:`~physnn.hardware.device.Device` and adds everything a lab
should not have to write again:

* no value outside a control's bounds or levels ever reaches the instrument (checked as the
  instrument receives it, in float32), and a change larger than the instrument's slew limit
  (``max_change``) arrives as a ramp of writes that each stay within it;
* after every write it waits the instrument's ``settle_seconds`` before anything else happens;
* a batch larger than ``max_batch`` is measured in pieces;
* a call that times out (:class:`InstrumentTimeout`, or Python's ``TimeoutError``) is retried
  with exponential backoff, and a corrupted frame (NaN, inf, wrong shape) is measured again;
  when the retries run out it raises :class:`~physnn.errors.DeviceTimeout` or
  :class:`~physnn.errors.CorruptedMeasurement` with a sentence that says what happened;
* every timeout, corrupted frame and retry is counted (:meth:`InstrumentDevice.health`), so a
  run can say how flaky its hardware was.

``physnn serve --adapter module:Class`` exposes such an instrument over the network through
:func:`load_instrument_device` (docs/hardware.md, docs/protocol.md).
"""

from __future__ import annotations

import importlib
import inspect
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import partial
from types import MappingProxyType
from typing import Any, TypeVar

import torch
from torch import Tensor

from physnn.errors import (
    ConfigError,
    ControlBoundsError,
    CorruptedMeasurement,
    DeviceTimeout,
    IncompatibleError,
)
from physnn.hardware.device import Device
from physnn.hardware.measurements import Args, Operation, Result
from physnn.systems.base import Controls, ControlSpec
from physnn.systems.energy import Equilibrium

T = TypeVar("T")


class InstrumentTimeout(DeviceTimeout):
    """Raised by an instrument that did not answer in time; physnn retries the call."""


@dataclass(frozen=True)
class InstrumentCapabilities:
    """The physical operations an instrument offers beyond a plain measurement (the same names
    as a system's :class:`~physnn.systems.base.Capabilities`)."""

    energy_based: bool = False  # it can settle free, nudged or clamped: implement relax()
    gradient_procedures: tuple[str, ...] = ()  # e.g. ("adjoint",): implement measure_gradient()
    description: str = ""


class Instrument(ABC):
    """The base class a lab subclasses to drive its instrument.

    Implement:

    * :meth:`control_specs`: the controls by name, with shape, bounds, periodicity, levels and
      unit. They must equal the control specs of the physnn system that models the instrument
      (the run's twin), since training computes its gradients on that twin.
    * :meth:`set_controls`: receive the **full** set of control values (CPU float32 tensors)
      and apply them. Values are absolute, so applying the same set twice is harmless: that is
      what makes a retried write safe.
    * :meth:`measure`: one batch of inputs (a CPU tensor ``(B, ...)``, as the physical layer
      sees them) → the outputs ``(B, num_outputs)`` under the controls last set. Raise
      :class:`InstrumentTimeout` when the hardware does not answer.

    Declare, when they apply (class attributes or set in ``__init__``): ``max_change`` (the
    largest change of one value per write, per control name), ``settle_seconds`` (how long the
    physics needs after a write), ``max_batch`` (the largest batch one measurement takes),
    ``num_outputs`` (checked on every frame), ``capabilities`` (plain measurement by default),
    and override :meth:`safe_controls` and :meth:`close` if the defaults do not fit.

    physnn guarantees, through :class:`InstrumentDevice`: every value sent is inside its bounds
    and on its levels; consecutive writes never differ by more than ``max_change``; nothing
    happens within ``settle_seconds`` after a write; no batch exceeds ``max_batch``; the first
    write puts the instrument in :meth:`safe_controls`.
    """

    max_change: Mapping[str, float] = MappingProxyType({})
    settle_seconds: float = 0.0
    max_batch: int | None = None
    num_outputs: int | None = None
    capabilities: InstrumentCapabilities = InstrumentCapabilities()

    @abstractmethod
    def control_specs(self) -> dict[str, ControlSpec]:
        """The instrument's controls by name (shape, bounds, periodic, levels, unit)."""

    @abstractmethod
    def set_controls(self, controls: Controls) -> None:
        """Apply the full set of control values (each within bounds and slew limits)."""

    @abstractmethod
    def measure(self, x: Tensor) -> Tensor:
        """Measure the outputs ``(B, num_outputs)`` for the inputs ``x`` ``(B, ...)``."""

    def safe_controls(self) -> Controls:
        """The state to start from and to return to when the controller goes away (by default
        the lowest admissible values near zero: heaters off, no drive)."""
        return {
            name: spec.project(torch.zeros(spec.shape))
            for name, spec in self.control_specs().items()
        }

    def relax(
        self, x: Tensor, *, nudge: Tensor | None = None, clamp: Tensor | None = None
    ) -> Equilibrium:
        """Energy-based instruments (``capabilities.energy_based``): settle free, nudged by the
        force ``nudge`` or with the outputs clamped to ``clamp``; measure the outputs and the
        batch mean of the local energy derivatives ∂E/∂θ (equilibrium propagation)."""
        raise IncompatibleError(f"{type(self).__name__} has no equilibrium to relax")

    def measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls, int]:
        """Instruments with ``capabilities.gradient_procedures``: run the physical gradient
        ``procedure``; return the outputs, the gradient of Σ⟨output_gradient, y⟩ with respect
        to the controls (batch sum) and the number of physical passes per sample."""
        raise IncompatibleError(f"{type(self).__name__} cannot measure gradients")

    def close(self) -> None:  # noqa: B027 (optional hook: most instruments hold nothing to free)
        """Release the hardware (connections, file handles)."""


@dataclass
class InstrumentHealth:
    """How flaky the hardware was: what went wrong and what it cost."""

    timeouts: int = 0  # calls that did not answer in time
    corrupted_frames: int = 0  # frames rejected: NaN, inf or wrong shape
    retries: int = 0  # calls repeated after a timeout or a corrupted frame
    failures: int = 0  # operations given up (DeviceTimeout or CorruptedMeasurement raised)
    backoff_seconds: float = 0.0  # waited between retries
    settle_seconds: float = 0.0  # waited for the physics to settle after writes


class InstrumentDevice(Device):
    """An :class:`Instrument` behind physnn's Device contract.

    ``retries`` timed-out attempts of one call are repeated, after waits of ``backoff``,
    2·``backoff``, 4·``backoff`` … seconds (at most ``max_backoff``); ``requery`` corrupted frames
    of one measurement are measured again at once. ``sleep`` is how it waits (inject a fake one
    in tests). :meth:`read_controls` returns the controls last written. Constructing it puts the
    instrument in its safe state (not counted as a write). A write that still times out after
    the retries leaves the instrument holding either the previous or the new values (the two are
    within one slew limit of each other); :meth:`read_controls` keeps the previous ones.
    """

    def __init__(
        self,
        instrument: Instrument,
        *,
        retries: int = 3,
        requery: int = 3,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0 or requery < 0 or backoff < 0 or max_backoff < 0:
            raise ConfigError("retries, requery, backoff and max_backoff must be non-negative")
        self.instrument = instrument
        self.name = type(instrument).__name__
        max_batch, settle = instrument.max_batch, instrument.settle_seconds
        if max_batch is not None and (not isinstance(max_batch, int) or max_batch < 1):
            raise ConfigError(f"{self.name}.max_batch must be a positive integer or None")
        if not settle >= 0:
            raise ConfigError(f"{self.name}.settle_seconds must be non-negative")
        super().__init__(instrument.control_specs(), max_change=dict(instrument.max_change))
        self.capabilities = instrument.capabilities
        self.retries, self.requery = retries, requery
        self.backoff, self.max_backoff = backoff, max_backoff
        self._sleep = sleep
        self._health = InstrumentHealth()
        safe = instrument.safe_controls()
        try:
            self.check_write(safe, safe, slew=False)
        except ControlBoundsError as err:
            raise ControlBoundsError(
                f"{self.name}.safe_controls() is not admissible: {err}"
            ) from None
        self._controls: Controls = {}
        self._send(safe)

    # ----------------------------------------------------------------------------- state
    def health(self) -> InstrumentHealth:
        """A copy of the fault counts so far."""
        return replace(self._health)

    def read_controls(self) -> Controls:
        """The controls last written (what the instrument was told to hold)."""
        return {name: value.clone() for name, value in self._controls.items()}

    def safe_controls(self) -> Controls:
        return self.instrument.safe_controls()

    def close(self) -> None:
        """Release the instrument (it keeps the controls last written)."""
        self.instrument.close()

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "controls": self.read_controls(),
            "health": asdict(self._health),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counts and write the saved controls back (ramped within the slew limits;
        not counted, so that a resumed run's counts equal an uninterrupted run's)."""
        super().load_state_dict(state)
        self._health = InstrumentHealth(**state.get("health", {}))
        held = self.check_write(state["controls"], self._controls, slew=False)
        target = {name: value.to(self._controls[name]) for name, value in held.items()}
        for step in self.ramp(self._controls, target):
            if any(not torch.equal(value, self._controls[name]) for name, value in step.items()):
                self._apply(step)

    # ----------------------------------------------------------------------------- writes
    def _apply(self, controls: Controls) -> None:
        full = {**self._controls, **controls}
        # The base class already checked and ramped; this check keeps the guarantee local.
        self.check_write(full, self._controls, slew=True)
        self._send(full)

    def _send(self, full: Controls) -> None:
        values = {
            name: value.detach().to("cpu", self.control_dtype).clone()
            for name, value in full.items()
        }
        self._retrying("a write", lambda: self.instrument.set_controls(values))
        self._controls = values
        settle = float(self.instrument.settle_seconds)
        if settle > 0:
            self._sleep(settle)
            self._health.settle_seconds += settle

    # ----------------------------------------------------------------------------- measurements
    def _perform(self, op: Operation, args: Args) -> Result:
        """Any measurement operation: offered by the instrument, measured in pieces of at most
        ``max_batch`` samples (CPU), each validated, then combined."""
        if not op.offered(self.capabilities, args):
            offered = getattr(self.capabilities, op.capability or "", None)
            raise IncompatibleError(
                f"instrument {self.name} cannot run {op.describe(args)} (it offers "
                f"{op.capability}: {offered or 'none'})"
            )
        x = args["x"]
        on_cpu = {k: v.detach().cpu() if isinstance(v, Tensor) else v for k, v in args.items()}
        method = getattr(self.instrument, op.instrument)
        size = self.instrument.max_batch or max(len(x), 1)
        parts, start = [], 0
        for chunk in on_cpu["x"].split(size) if len(x) else [on_cpu["x"]]:
            rows = op.rows(on_cpu, slice(start, start + len(chunk)))
            start += len(chunk)
            parts.append(
                self._measured(
                    f"{op.describe(args)} of {len(chunk)} samples",
                    partial(op.call, method, rows),
                    partial(self._validated, op, batch=len(chunk)),
                )
            )
        if len({part.passes for part in parts}) != 1:
            raise CorruptedMeasurement(
                f"instrument {self.name} reported different pass counts "
                f"{sorted({part.passes for part in parts})} for pieces of {op.describe(args)}"
            )
        result = op.combine(parts, len(x))
        controls = {name: value.to(x.device) for name, value in result.controls.items()}
        return Result(result.outputs.to(x.device), controls, result.passes)

    # ----------------------------------------------------------------------------- validation
    def _validated(self, op: Operation, raw: Any, batch: int) -> tuple[Result | None, str | None]:
        """The instrument's answer as a result, and what is wrong with it (None: nothing)."""
        try:
            result = op.unpack(raw)
        except TypeError as err:
            return None, str(err)
        outputs, problem = self._frame(result.outputs, batch)
        if problem is None and op.group is not None:
            problem = self._control_tensors(result.controls, op.group_label)
        passes = result.passes
        if problem is None and not (isinstance(passes, int) and passes >= 1):
            problem = f"pass count {passes!r} is not a positive integer"
        return (None, problem) if problem else (Result(outputs, result.controls, passes), None)

    def _frame(self, raw: Any, batch: int) -> tuple[Tensor | None, str | None]:
        """The frame as a tensor and what is wrong with it (None: nothing)."""
        try:
            y = torch.as_tensor(raw)
        except (TypeError, ValueError, RuntimeError) as err:
            return None, f"not a tensor ({err})"
        expected = self.instrument.num_outputs
        if y.ndim != 2 or y.shape[0] != batch or (expected is not None and y.shape[1] != expected):
            width = "num_outputs" if expected is None else str(expected)
            return None, f"shape {tuple(y.shape)}, expected ({batch}, {width})"
        if y.is_floating_point() or y.is_complex():
            bad = int((~torch.isfinite(y)).sum())
            if bad:
                return None, f"{bad} NaN or infinite value(s)"
        return y, None

    def _control_tensors(self, values: Any, what: str) -> str | None:
        if not isinstance(values, dict) or set(values) - set(self.specs):
            return f"{what} are not a dict of control names"
        for name, value in values.items():
            if tuple(value.shape) != self.specs[name].shape:
                return f"{what} of {name!r} have shape {tuple(value.shape)}"
            if not torch.isfinite(value).all():
                return f"{what} of {name!r} hold NaN or infinite values"
        return None

    # ----------------------------------------------------------------------------- retries
    def _measured(
        self,
        what: str,
        call: Callable[[], Any],
        validate: Callable[[Any], tuple[T | None, str | None]],
    ) -> T:
        """Call (retrying timeouts) until ``validate`` accepts the answer, at most
        ``requery`` + 1 times; then CorruptedMeasurement."""
        for attempt in range(self.requery + 1):
            value, problem = validate(self._retrying(what, call))
            if problem is None:
                return value  # type: ignore[return-value]
            self._health.corrupted_frames += 1
            if attempt < self.requery:
                self._health.retries += 1
        self._health.failures += 1
        raise CorruptedMeasurement(
            f"instrument {self.name} returned {self.requery + 1} corrupted frames in a row for "
            f"{what} (last: {problem}); check the detector and its cable, or raise "
            "InstrumentDevice(requery=...)"
        )

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        """Call, retrying timeouts with exponential backoff; then DeviceTimeout."""
        waited = 0.0
        for attempt in range(self.retries + 1):
            try:
                return call()
            except (DeviceTimeout, TimeoutError) as err:
                self._health.timeouts += 1
                last = err
            if attempt < self.retries:
                delay = min(self.backoff * 2**attempt, self.max_backoff)
                self._health.retries += 1
                self._health.backoff_seconds += delay
                waited += delay
                self._sleep(delay)
        self._health.failures += 1
        raise DeviceTimeout(
            f"instrument {self.name} did not answer {what}: {self.retries + 1} attempts timed out "
            f"(waited {waited:.3g} s between them; last: {last}); check that it is on and "
            "connected, or raise InstrumentDevice(retries=...)"
        )


def load_instrument_device(spec: str, options: dict[str, Any]) -> Device:
    """Import ``"module:Class"``, an :class:`Instrument` subclass, build it with ``options`` as
    keyword arguments and wrap it in an :class:`InstrumentDevice` (``physnn serve --adapter``)."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name.isidentifier():
        raise ConfigError(
            f"an adapter is named as module:Class (e.g. mylab.slm:SlmCamera), got {spec!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import the adapter module {module_name!r}: {err}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        found = sorted(
            name
            for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, Instrument) and obj is not Instrument
        )
        raise ConfigError(
            f"module {module_name!r} has no class {class_name!r}; its instruments: "
            f"{', '.join(found) or 'none'}"
        )
    if not (inspect.isclass(cls) and issubclass(cls, Instrument)):
        raise ConfigError(
            f"{spec} is not a subclass of physnn.hardware.adapter.Instrument; an adapter "
            "subclasses it (docs/hardware.md)"
        )
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise ConfigError(f"adapter {spec} does not implement: {missing}")
    signature = inspect.signature(cls)
    try:
        signature.bind(**options)
    except TypeError as err:
        params = signature.parameters.values()
        named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
        unknown = [] if takes_any else sorted(set(options) - set(named))
        problem = f"unknown option(s) {', '.join(unknown)}" if unknown else str(err)
        raise ConfigError(
            f"adapter {spec}: {problem}; it takes: {', '.join(named) or 'no options'}"
        ) from None
    try:
        instrument = cls(**options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid options for adapter {spec}: {err}") from None
    return InstrumentDevice(instrument)
