"""The Device contract: the thing that really computes, seen only through queries and writes.

A device has no autograd. It holds the last written controls, answers ``query(x)`` with a
(noisy) measurement, and refuses writes outside the controls' declared bounds or levels. It
counts every query (one per input sample: one optical shot, one crossbar read …) and every write
(one per write operation that changes the controls), separately for training and evaluation so
that a method's cost is not mixed with the cost of monitoring it.

This module is the contract only; the simulated device (a system with a hidden reality) is
:mod:`physnn.hardware.simulated`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from physnn.cost.flops import physical
from physnn.errors import ControlBoundsError, IncompatibleError
from physnn.hardware.measurements import GRADIENT, QUERY, RELAX, Args, Operation, Result
from physnn.systems.base import Controls, ControlSpec
from physnn.systems.energy import Equilibrium

PHASES = ("train", "eval", "calibration")


@dataclass
class DeviceStats:
    """Operation counts of one accounting phase."""

    queries: int = 0  # input samples measured
    query_calls: int = 0  # query() calls (batches)
    writes: int = 0  # write operations that changed at least one control
    values_written: int = 0  # individual control values changed


class Device(ABC):
    """Query/write interface to a physical (or simulated) substrate.

    ``max_change`` holds slew limits: the largest change of one control value in one write
    (heaters, piezos and conductances cannot jump). :meth:`write` ramps a larger change in
    equal steps that each respect the limit, and counts every step as a write.

    The device holds its controls in ``control_dtype``. A write is converted to it first and
    checked as converted (:meth:`as_held`), so that what is checked is what the device holds: a
    float64 2π − 1e-12 becomes float32 2π, the open bound of a phase, and is refused.
    """

    control_dtype: torch.dtype = torch.float32

    def __init__(
        self, specs: dict[str, ControlSpec], *, max_change: dict[str, float] | None = None
    ) -> None:
        self.specs = specs
        self.max_change = dict(max_change or {})
        unknown = sorted(set(self.max_change) - set(specs))
        if unknown:
            raise ControlBoundsError(f"slew limits for unknown controls: {', '.join(unknown)}")
        if any(not limit > 0 for limit in self.max_change.values()):
            raise ControlBoundsError("slew limits (max_change) must be positive")
        self._stats = {phase: DeviceStats() for phase in PHASES}
        self._phase = "train"

    # ----------------------------------------------------------------------------- accounting
    @contextmanager
    def accounting(self, phase: str) -> Iterator[None]:
        """Count the operations inside the block under ``phase`` ("train" or "eval")."""
        if phase not in PHASES:
            raise ValueError(f"accounting phase must be one of {PHASES}, got {phase!r}")
        previous, self._phase = self._phase, phase
        try:
            yield
        finally:
            self._phase = previous

    def stats(self, phase: str = "train") -> DeviceStats:
        return self._stats[phase]

    # ----------------------------------------------------------------------------- contract
    def query(self, x: Tensor) -> Tensor:
        """Measure the outputs for a batch of inputs with the current controls (no gradient)."""
        return QUERY.answer(self.perform(QUERY, {"x": x}))

    def perform(self, op: Operation, args: Args) -> Result:
        """Run the measurement operation ``op`` (one of
        :data:`~physnn.hardware.measurements.OPERATIONS`) with ``args`` (detached, without
        gradient), counted as one query per sample for each physical pass it makes; its public
        method returns ``op.answer`` of the result."""
        args = {k: v.detach() if isinstance(v, Tensor) else v for k, v in args.items()}
        with torch.no_grad(), physical():  # the device's physics, not a digital cost
            result = self._perform(op, args)
        stats = self._stats[self._phase]
        stats.queries += result.passes * args["x"].shape[0]
        stats.query_calls += result.passes
        return result

    def _perform(self, op: Operation, args: Args) -> Result:
        """How this device runs ``op``: by default its hook (``_measure``, ``_relax`` …); a
        device that passes operations on (a recorder, a client) overrides this one method."""
        return op.unpack(op.call(getattr(self, op.hook), args))

    def write(self, controls: Controls) -> None:
        """Set controls (all or some, by name); out-of-range values raise ControlBoundsError.

        A change beyond a slew limit is ramped: written in equal steps within the limit.
        """
        current = self.read_controls()
        held = self.check_write(controls, current, slew=False)
        target = {name: value.to(current[name].device) for name, value in held.items()}
        for step in self.ramp(current, target):
            changed = sum(int((value != current[name]).sum()) for name, value in step.items())
            if changed == 0:
                continue
            with physical():
                self._apply({name: value.clone() for name, value in step.items()})
            current = {**current, **step}
            stats = self._stats[self._phase]
            stats.writes += 1
            stats.values_written += changed

    def as_held(self, controls: Controls) -> Controls:
        """``controls`` as the device will hold them: detached, in :attr:`control_dtype`
        (complex values are refused: :meth:`ControlSpec.held`)."""
        return {
            name: self.specs[name].held(name, value, self.control_dtype)
            for name, value in controls.items()
        }

    def check_write(self, controls: Controls, current: Controls, *, slew: bool = True) -> Controls:
        """Raise :class:`ControlBoundsError` unless every value, as the device will hold it
        (:meth:`as_held`), is a known control within its bounds and levels and (with ``slew``)
        within its slew limit of ``current``; return the values as held, the ones checked."""
        unknown = sorted(set(controls) - set(self.specs))
        if unknown:
            raise ControlBoundsError(
                f"device has no control {unknown[0]!r}; it has: {', '.join(sorted(self.specs))}"
            )
        held = self.as_held(controls)
        for name, value in held.items():
            self.specs[name].check(name, value)
            limit = self.max_change.get(name)
            if slew and limit is not None:
                change = float((value.to(current[name]) - current[name]).abs().max())
                if change > limit * (1 + 1e-6):
                    raise ControlBoundsError(
                        f"control {name!r} would change by {change:.4g} in one write; "
                        f"its slew limit is {limit:.4g} per write"
                    )
        return held

    def ramp(self, current: Controls, target: Controls) -> list[Controls]:
        """The writes that take ``current`` to ``target`` within the slew limits (one if none
        applies), the last one exactly ``target``. Continuous controls move in equal steps;
        quantized ones by whole levels, at most the largest multiple of a level within the
        limit per write, so that every intermediate value is a level."""
        moves, steps = {}, 1
        for name, value in target.items():
            limit = self.max_change.get(name)
            if limit is None:
                continue
            spec, change = self.specs[name], value - current[name]
            if spec.levels is not None:
                level = spec._step()
                limit = level * math.floor(limit / level + 1e-9)
                if limit == 0:
                    raise ControlBoundsError(
                        f"control {name!r}: its slew limit {self.max_change[name]:.4g} is "
                        f"smaller than one level ({level:.4g}), so it can never change"
                    )
            moves[name] = (change, limit, spec.levels is not None)
            steps = max(steps, math.ceil(float(change.abs().max()) / limit - 1e-9))
        ramps = []
        for k in range(1, steps):
            step = dict(target)
            for name, (change, limit, quantized) in moves.items():
                moved = change.clamp(-k * limit, k * limit) if quantized else change * k / steps
                step[name] = self.specs[name].project(current[name] + moved)
            ramps.append(step)
        return [*ramps, target]

    def safe_controls(self) -> Controls:
        """The state the device is put in when its controller goes away (by default the
        controls' lowest admissible values near zero: heaters off, no drive)."""
        return {name: spec.project(torch.zeros(spec.shape)) for name, spec in self.specs.items()}

    def relax(
        self, x: Tensor, *, nudge: Tensor | None = None, clamp: Tensor | None = None
    ) -> Equilibrium:
        """Let an energy-based device settle (free, nudged or clamped outputs) and measure its
        outputs and the local energy derivatives; counted like a query (one per sample)."""
        return RELAX.answer(self.perform(RELAX, {"x": x, "nudge": nudge, "clamp": clamp}))

    def _relax(self, x: Tensor, *, nudge: Tensor | None, clamp: Tensor | None) -> Equilibrium:
        raise IncompatibleError("this device has no equilibrium to nudge or clamp")

    def measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls]:
        """Run a physical gradient procedure (e.g. ``"adjoint"``: forward and adjoint fields
        interfered at every phase shifter, Hughes et al. 2018; ``"ffm"``: fully forward mode,
        Xue et al. 2024) for the batch ``x`` and the loss gradient ``output_gradient`` with
        respect to the measured outputs. Returns the measured outputs and the measured gradient
        with respect to the realized controls (batch sum). Counted as queries: one per sample
        for each physical pass the procedure makes."""
        args = {"x": x, "output_gradient": output_gradient, "procedure": procedure}
        return GRADIENT.answer(self.perform(GRADIENT, args))

    def _measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls, int]:
        raise IncompatibleError(f"this device cannot run the gradient procedure {procedure!r}")

    def close(self) -> None:  # noqa: B027 (optional hook: a simulated device holds nothing)
        """Let the device go: flush what it keeps, give up a lease, release the hardware."""

    @abstractmethod
    def read_controls(self) -> Controls:
        """A copy of the controls the device currently holds."""

    def _measure(self, x: Tensor) -> Tensor:
        """The measurement of a query; every device implements it (or :meth:`_perform`)."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _measure nor _perform")

    @abstractmethod
    def _apply(self, controls: Controls) -> None: ...

    # ----------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"stats": {phase: asdict(s) for phase, s in self._stats.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["stats"]  # checkpoints older than a phase hold no counts for it
        self._stats = {phase: DeviceStats(**saved.get(phase, {})) for phase in PHASES}
