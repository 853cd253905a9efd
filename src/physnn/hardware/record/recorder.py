"""The recorder: a device that passes every operation on to the device it wraps and records it.

Resuming a run from its checkpoint truncates the record to the events made before that
checkpoint (the resumed run redoes the rest), so a record always matches the run that finished.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physnn import __version__
from physnn.hardware.device import Device
from physnn.hardware.measurements import Args, Operation, Result
from physnn.hardware.record.storage import (
    FORMAT_VERSION,
    Event,
    RecordError,
    Writer,
    as_numpy,
    same,
    stored,
)
from physnn.systems.base import Controls


class RecordingDevice(Device):
    """A device that passes every operation to ``inner`` and records it in ``directory``.

    Segments are written every ``flush_every`` events or ``flush_seconds`` seconds, at every
    checkpoint (:meth:`state_dict`), when the device is garbage-collected and at exit.
    """

    def __init__(
        self,
        inner: Device,
        directory: str | Path,
        *,
        config: Mapping[str, Any] | None = None,
        flush_every: int = 256,
        flush_seconds: float = 30.0,
        close_inner: bool = False,
    ) -> None:
        super().__init__(inner.specs, max_change=inner.max_change)
        self.inner = inner
        self.close_inner = close_inner  # the recorder opened the inner device: close it too
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "physnn": __version__,
            "torch": torch.__version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "device": type(inner).__name__,
            "config": dict(config or {}),
            "specs": {name: asdict(spec) for name, spec in inner.specs.items()},
            "max_change": inner.max_change,
        }
        self._writer = Writer(self.directory, meta, flush_every, flush_seconds)
        self._finalizer = weakref.finalize(self, self._writer.close)
        self._controls: dict[str, np.ndarray] | None = None  # what the record implies is held

    def _record(self, op: str, arrays: dict[str, np.ndarray], **counts: int) -> None:
        self._writer.append(Event(self._writer.events, op, self._phase, arrays, **counts))

    @contextmanager
    def accounting(self, phase: str) -> Iterator[None]:
        with super().accounting(phase), self.inner.accounting(phase):
            yield

    def read_controls(self) -> Controls:
        controls = self.inner.read_controls()
        read = {name: as_numpy(value) for name, value in controls.items()}
        known = self._controls
        changed = known is None or read.keys() != known.keys()
        changed = changed or not all(same(read[k], known[k]) for k in read)
        self._record(
            "read_controls", {f"controls.{k}": v for k, v in read.items()} if changed else {}
        )
        self._controls = read
        return controls

    def safe_controls(self) -> Controls:
        return self.inner.safe_controls()

    def _apply(self, controls: Controls) -> None:
        self.inner.write(controls)
        sent = {name: as_numpy(value) for name, value in controls.items()}
        held = self._controls or {}
        changed = sum(int((v != held[k]).sum()) if k in held else v.size for k, v in sent.items())
        self._record("write", {f"controls.{k}": v for k, v in sent.items()}, values_written=changed)
        self._controls = {**held, **sent}

    def _perform(self, op: Operation, args: Args) -> Result:
        calls = self.inner.stats(self._phase).query_calls
        result = self.inner.perform(op, args)
        if op.counts_passes:  # as the inner device counted them (with any re-measurement)
            result = replace(result, passes=self.inner.stats(self._phase).query_calls - calls)
        arrays = {**op.request(args), **op.arrays(result, ".")}
        self._record(
            op.name,
            {name: stored(value) for name, value in arrays.items()},
            queries=result.passes * len(args["x"]),
            query_calls=result.passes,
        )
        return result

    def close(self) -> None:
        """Flush and release the folder (also done when the device is collected and at exit);
        with ``close_inner``, close the recorded device too."""
        self._finalizer()
        if self.close_inner:
            self.inner.close()

    def state_dict(self) -> dict[str, Any]:
        """The inner device's state and the record's length, after writing every event."""
        if not self._writer.decided:
            self._writer.restart()  # a new run's first checkpoint: its record replaces the old
        self._writer.flush()
        controls = None
        if self._controls is not None:
            controls = {k: torch.from_numpy(v.copy()) for k, v in self._controls.items()}
        record = {"events": self._writer.events, "controls": controls}
        return {**super().state_dict(), **self.inner.state_dict(), "record": record}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume: restore the inner device and cut the record back to the checkpoint."""
        if "record" not in state:
            raise RecordError(
                "this run was checkpointed without a device record, so a record cannot cover "
                "it; start it again with --overwrite to record it"
            )
        self.inner.load_state_dict({k: v for k, v in state.items() if k != "record"})
        super().load_state_dict(state)
        self._writer.adopt(state["record"]["events"])
        controls = state["record"]["controls"]
        self._controls = None if controls is None else {k: as_numpy(v) for k, v in controls.items()}
