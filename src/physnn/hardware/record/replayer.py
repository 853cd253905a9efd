"""The replayer: a device that answers a run from its record, without the hardware.

A :class:`ReplayDevice` checks that the run asks exactly what was recorded, operation by
operation, so that a hardware run can be re-analysed (re-evaluated, re-plotted, debugged) on a
laptop.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from physnn import __version__
from physnn.errors import DeviceError
from physnn.hardware.device import Device
from physnn.hardware.measurements import BY_NAME, Args, Operation, Result
from physnn.hardware.record.storage import Event, as_numpy, load_record, same, stored
from physnn.systems.base import Controls


class ReplayMismatch(DeviceError):
    """A replayed run that asks the device something other than what was recorded."""


def _describe(op: str, arrays: Mapping[str, np.ndarray]) -> str:
    def one(name: str, a: np.ndarray) -> str:
        if a.dtype.kind == "U":
            return f"{name}={str(a)!r}"
        return f"{name}: {a.dtype} {tuple(a.shape)}"

    return f"{op}({', '.join(one(k, v) for k, v in arrays.items())})"


def _difference(name: str, asked: np.ndarray, held: np.ndarray) -> str:
    if asked.dtype != held.dtype or asked.shape != held.shape or asked.dtype.kind not in "fciub":
        return f"{name} differs"
    differ = asked != held
    largest = float(np.abs(asked.astype(np.float64) - held.astype(np.float64)).max())
    return (
        f"{name} differs in {int(differ.sum())} of {differ.size} values "
        f"(largest difference {largest:.3g})"
    )


def _inputs(op: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the run chose in an operation (a write: all of it; a control read: nothing; a
    measurement: its arguments)."""
    if op == "write":
        return dict(arrays)
    fields = {f.name for f in BY_NAME[op].fields} if op in BY_NAME else set()
    return {k: v for k, v in arrays.items() if k in fields}


class ReplayDevice(Device):
    """A device that answers a run from a record, operation by operation.

    Every operation must be the next recorded one, in the same accounting phase, with the same
    inputs (and control values) bit for bit; anything else raises :class:`ReplayMismatch`.
    Outputs are returned on the torch device of the inputs, controls on ``torch_device``.
    """

    def __init__(self, directory: str | Path, *, torch_device: str | torch.device = "cpu") -> None:
        self.record = load_record(directory)
        super().__init__(self.record.specs, max_change=self.record.meta.get("max_change"))
        self.torch_device = torch.device(torch_device)
        self._events = iter(self.record)
        self.position = 0  # events replayed (all of the record's, after a faithful replay)
        self._controls: Controls | None = None

    def _mismatch(self, asked: str, held: str, detail: str = "") -> ReplayMismatch:
        meta = self.record.meta
        return ReplayMismatch(
            f"replay of {str(self.record.directory)!r} diverged at event {self.position}: "
            f"the run asks {asked}, the record holds {held}{detail}. A replay needs the "
            f"recorded run's configuration and software (recorded with physnn "
            f"{meta.get('physnn')}, torch {meta.get('torch')}; this is physnn {__version__}, "
            f"torch {torch.__version__})"
        )

    def _take(self, op: str, asked: dict[str, np.ndarray]) -> Event:
        """The next event, checked to be ``op`` in this phase with the ``asked`` inputs."""
        request = f"{_describe(op, asked)} in phase {self._phase}"
        event = next(self._events, None)
        if event is None:
            raise self._mismatch(request, f"no more events (it ends after {len(self.record)})")
        held = _inputs(event.op, event.arrays)
        recorded = f"{_describe(event.op, held)} in phase {event.phase}"
        if event.op != op or event.phase != self._phase or held.keys() != asked.keys():
            raise self._mismatch(request, recorded)
        for name, value in asked.items():
            if not same(value, held[name]):
                raise self._mismatch(request, recorded, "; " + _difference(name, value, held[name]))
        self.position += 1
        return event

    def _tensor(self, array: np.ndarray, like: Tensor | None = None) -> Tensor:
        device = self.torch_device if like is None else like.device
        return torch.tensor(array, device=device)

    def read_controls(self) -> Controls:
        event = self._take("read_controls", {})
        read = event.group("controls")
        if read:
            self._controls = {k: self._tensor(v) for k, v in read.items()}
        if self._controls is None:
            raise self._mismatch(
                "read_controls()", "a control read that the record has no values for"
            )
        return {k: v.clone() for k, v in self._controls.items()}

    def _apply(self, controls: Controls) -> None:
        self._take("write", {f"controls.{k}": as_numpy(v) for k, v in controls.items()})
        self._controls = {**(self._controls or {}), **{k: v.clone() for k, v in controls.items()}}

    def _perform(self, op: Operation, args: Args) -> Result:
        asked = {name: stored(value) for name, value in op.request(args).items()}
        event = self._take(op.name, asked)
        x = args["x"]
        return op.result(event.arrays, ".", lambda a: self._tensor(a, x), event.query_calls)
