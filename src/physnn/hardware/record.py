"""Record every device interaction of a run, and replay it offline without the hardware.

A :class:`RecordingDevice` wraps any device (simulated, remote, a lab instrument) and keeps, in
call order, every operation the run makes on it: control reads, writes (the values sent, after
slew ramping), queries (inputs → outputs), relaxations of energy-based devices and physical
gradient measurements. A :class:`ReplayDevice` answers the same run from the record, checking
that it asks exactly what was recorded, so that a hardware run can be re-analysed (re-evaluated,
re-plotted, debugged) on a laptop. :func:`load_record` reads a record for analysis.

Storage is a folder: ``meta.json`` (format version, physnn and torch versions, the run
configuration, the control specs and slew limits, creation time) and numbered segment files
``events-000000.npz`` … Each segment holds consecutive events and is written atomically, so a
crash loses at most the events since the last flush and never leaves a half-written file.
Tensors are stored as numpy arrays in the dtype the run used; nothing is stored twice (a query
stores its inputs and outputs, a write only the values sent, a control read only values that
differ from those the record already implies).

Resuming a run from its checkpoint truncates the record to the events made before that
checkpoint (the resumed run redoes the rest), so a record always matches the run that finished.
"""

from __future__ import annotations

import json
import time
import weakref
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from physnn import __version__
from physnn.errors import DeviceError, PhysnnError
from physnn.files import atomic_write, save_json
from physnn.hardware.device import PHASES, Device, DeviceStats
from physnn.systems.base import Controls, ControlSpec
from physnn.systems.energy import Equilibrium

FORMAT_VERSION = 1
META = "meta.json"
SEGMENT_GLOB = "events-*.npz"
OPS = ("read_controls", "write", "query", "relax", "measure_gradient")


class RecordError(PhysnnError):
    """A record folder that is missing, incomplete or damaged."""


class ReplayMismatch(DeviceError):
    """A replayed run that asks the device something other than what was recorded."""


def _segment_path(directory: Path, number: int) -> Path:
    return directory / f"events-{number:06d}.npz"


def _numpy(tensor: Tensor) -> np.ndarray:
    """A CPU copy of ``tensor`` (never a view: the run may reuse its buffers)."""
    return tensor.detach().to("cpu", copy=True).numpy()


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: the same dtype, shape and bytes."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Event:
    """One device operation: ``op`` in :data:`OPS`, the accounting ``phase`` it ran in, its
    arrays, and what it cost (as :class:`~physnn.hardware.device.DeviceStats` counts them).

    Array names: ``x``, ``y`` (query); ``controls.<name>`` (write: the values sent; read_controls:
    the values read, present only when they differ from the record's running state); ``x``,
    ``nudge``, ``clamp``, ``outputs``, ``local.<name>`` (relax); ``x``, ``output_gradient``,
    ``procedure``, ``outputs``, ``grad.<name>`` (measure_gradient).
    """

    index: int
    op: str
    phase: str
    arrays: dict[str, np.ndarray]
    queries: int = 0  # input samples measured (passes × batch for a gradient procedure)
    query_calls: int = 0  # physical passes
    values_written: int = 0  # control values a write changed

    def group(self, prefix: str) -> dict[str, np.ndarray]:
        """The arrays named ``<prefix>.<name>``, by name (e.g. ``group("controls")``)."""
        start = f"{prefix}."
        return {k[len(start) :]: v for k, v in self.arrays.items() if k.startswith(start)}


def _write_segment(path: Path, events: list[Event]) -> None:
    arrays: dict[str, np.ndarray] = {
        "first": np.array(events[0].index, dtype=np.int64),
        "ops": np.array([e.op for e in events]),
        "phases": np.array([e.phase for e in events]),
        "counts": np.array(
            [[e.queries, e.query_calls, e.values_written] for e in events], dtype=np.int64
        ),
    }
    for event in events:
        arrays.update({f"{event.index}/{name}": a for name, a in event.arrays.items()})
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


@dataclass(frozen=True)
class _SegmentIndex:
    """A segment's header: where its events start and what each one is and cost."""

    path: Path
    first: int
    ops: np.ndarray
    phases: np.ndarray
    counts: np.ndarray  # (n, 3): queries, query calls, values written

    @property
    def end(self) -> int:
        return self.first + len(self.ops)


_DAMAGE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _damaged(path: Path, err: Exception) -> RecordError:
    return RecordError(
        f"record segment {str(path)!r} is damaged or incomplete ({type(err).__name__}: {err}); "
        "the segments before it are intact, and load_record() on a copy without this file and "
        "the ones after it reads them"
    )


def _read_index(path: Path) -> _SegmentIndex:
    try:
        with np.load(path, allow_pickle=False) as npz:
            index = _SegmentIndex(
                path, int(npz["first"]), npz["ops"], npz["phases"], npz["counts"].reshape(-1, 3)
            )
    except _DAMAGE as err:
        raise _damaged(path, err) from None
    if not len(index.ops) == len(index.phases) == len(index.counts):
        raise _damaged(path, ValueError("its event tables have different lengths"))
    return index


def _read_events(index: _SegmentIndex) -> list[Event]:
    try:
        with np.load(index.path, allow_pickle=False) as npz:
            arrays: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
            for key in npz.files:
                number, sep, name = key.partition("/")
                if sep:
                    arrays[int(number)][name] = npz[key]
    except _DAMAGE as err:
        raise _damaged(index.path, err) from None
    events = []
    rows = zip(index.ops, index.phases, index.counts, strict=True)
    for number, (op, phase, (queries, calls, values)) in enumerate(rows, start=index.first):
        fields = arrays.get(number, {})
        events.append(
            Event(number, str(op), str(phase), fields, int(queries), int(calls), int(values))
        )
    return events


def _scan(directory: Path) -> list[_SegmentIndex]:
    """The headers of a record's segments, checked to number and chain without gaps."""
    paths = sorted(directory.glob(SEGMENT_GLOB))
    indexes, end = [], 0
    for number, path in enumerate(paths):
        if path != _segment_path(directory, number):
            raise RecordError(
                f"record {str(directory)!r} lacks segment {_segment_path(directory, number).name}"
                f" (found {path.name}); the events from {end} on are lost"
            )
        index = _read_index(path)
        if index.first != end:
            raise RecordError(
                f"record segment {str(path)!r} starts at event {index.first}, expected {end}"
            )
        indexes.append(index)
        end = index.end
    return indexes


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise RecordError(
            f"{str(directory)!r} holds no device record ({META} is missing); record a run with "
            "`physnn train --record`"
        ) from None
    except (OSError, ValueError) as err:
        raise RecordError(f"{str(path)!r} cannot be read: {err}") from None
    if meta.get("format") != FORMAT_VERSION:
        raise RecordError(
            f"{str(path)!r} has record format {meta.get('format')!r}; this physnn "
            f"({__version__}) reads format {FORMAT_VERSION}"
        )
    return meta


# ------------------------------------------------------------------------------------- writer
_OPEN_WRITERS: dict[Path, _Writer] = {}


class _Writer:
    """Appends events to a record folder in atomic segments.

    A folder that already holds a record is left untouched until the run decides what it is:
    :meth:`adopt` (a resumed run keeps the events before its checkpoint) or :meth:`restart` (a
    new run, at its first checkpoint, replaces it). Until then events wait in memory, so a
    resume that fails (wrong options) cannot damage the record it would have continued.
    """

    def __init__(
        self, directory: Path, meta: dict[str, Any], flush_every: int, flush_seconds: float
    ) -> None:
        self.directory = directory
        self.meta = meta
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.pending: list[Event] = []
        self.events = 0  # events in the record, on disk and pending
        self.segments = 0  # segment files on disk
        self.last_flush = time.monotonic()
        self.decided = False
        self.closed = False
        key = directory.resolve()
        previous = _OPEN_WRITERS.get(key)
        if previous is not None:  # an earlier run in this process (e.g. one that crashed)
            previous.close()
        _OPEN_WRITERS[key] = self
        if not (directory / META).exists() and not any(directory.glob(SEGMENT_GLOB)):
            self.restart()

    def append(self, event: Event) -> None:
        self.pending.append(event)
        self.events += 1
        due = time.monotonic() - self.last_flush >= self.flush_seconds
        if self.decided and (len(self.pending) >= self.flush_every or due):
            self.flush()

    def flush(self) -> None:
        if self.decided and self.pending:
            _write_segment(_segment_path(self.directory, self.segments), self.pending)
            self.segments += 1
            self.pending = []
        self.last_flush = time.monotonic()

    def restart(self) -> None:
        """Replace whatever the folder holds by this run's record (the newest segment is
        removed first, so an interruption leaves a shorter but consistent record)."""
        for path in sorted(self.directory.glob(SEGMENT_GLOB), reverse=True):
            path.unlink()
        save_json(self.directory / META, self.meta)
        self.segments = 0
        self.decided = True

    def adopt(self, count: int) -> None:
        """Continue the record in the folder from its first ``count`` events (a resumed run:
        the events after its checkpoint, and any made before it resumed, are redone)."""
        self.meta = _read_meta(self.directory)
        indexes = _scan(self.directory)
        held = indexes[-1].end if indexes else 0
        if held < count:
            raise RecordError(
                f"the device record in {str(self.directory)!r} holds {held} events but the "
                f"checkpoint was taken after {count}; it was damaged or replaced, so start the "
                "run again (--overwrite)"
            )
        keep = [i for i in indexes if i.first < count]
        for index in reversed(indexes[len(keep) :]):
            index.path.unlink()
        if keep and keep[-1].end > count:
            events = _read_events(keep[-1])[: count - keep[-1].first]
            _write_segment(keep[-1].path, events)
        self.pending, self.events, self.segments = [], count, len(keep)
        self.decided = True

    def close(self) -> None:
        """Flush (a record not yet adopted or restarted is left as it was) and let go."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        key = self.directory.resolve()
        if _OPEN_WRITERS.get(key) is self:
            del _OPEN_WRITERS[key]


def _flush_open_writer(directory: Path) -> None:
    """Bring a record that this process is writing up to date before reading it."""
    writer = _OPEN_WRITERS.get(directory.resolve())
    if writer is not None:
        writer.flush()


# ---------------------------------------------------------------------------------- recording
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
        self._writer = _Writer(self.directory, meta, flush_every, flush_seconds)
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
        read = {name: _numpy(value) for name, value in controls.items()}
        known = self._controls
        changed = known is None or read.keys() != known.keys()
        changed = changed or not all(_same(read[k], known[k]) for k in read)
        self._record(
            "read_controls", {f"controls.{k}": v for k, v in read.items()} if changed else {}
        )
        self._controls = read
        return controls

    def safe_controls(self) -> Controls:
        return self.inner.safe_controls()

    def _apply(self, controls: Controls) -> None:
        self.inner.write(controls)
        sent = {name: _numpy(value) for name, value in controls.items()}
        held = self._controls or {}
        changed = sum(int((v != held[k]).sum()) if k in held else v.size for k, v in sent.items())
        self._record("write", {f"controls.{k}": v for k, v in sent.items()}, values_written=changed)
        self._controls = {**held, **sent}

    def _measure(self, x: Tensor) -> Tensor:
        y = self.inner.query(x)
        self._record("query", {"x": _numpy(x), "y": _numpy(y)}, queries=len(x), query_calls=1)
        return y

    def _relax(self, x: Tensor, *, nudge: Tensor | None, clamp: Tensor | None) -> Equilibrium:
        settled = self.inner.relax(x, nudge=nudge, clamp=clamp)
        arrays = {"x": _numpy(x), "outputs": _numpy(settled.outputs)}
        arrays.update(
            {name: _numpy(t) for name, t in (("nudge", nudge), ("clamp", clamp)) if t is not None}
        )
        arrays.update({f"local.{k}": _numpy(v) for k, v in settled.local.items()})
        self._record("relax", arrays, queries=len(x), query_calls=1)
        return settled

    def _measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls, int]:
        calls_before = self.inner.stats(self._phase).query_calls
        outputs, grads = self.inner.measure_gradient(x, output_gradient, procedure)
        passes = self.inner.stats(self._phase).query_calls - calls_before
        arrays = {
            "x": _numpy(x),
            "output_gradient": _numpy(output_gradient),
            "procedure": np.array(procedure),
            "outputs": _numpy(outputs),
            **{f"grad.{k}": _numpy(v) for k, v in grads.items()},
        }
        self._record("measure_gradient", arrays, queries=passes * len(x), query_calls=passes)
        return outputs, grads, passes

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
        self._controls = None if controls is None else {k: _numpy(v) for k, v in controls.items()}


# ------------------------------------------------------------------------------------- record
@dataclass
class Record:
    """A device record read for analysis: its metadata and its events, read lazily in order.

    ``for event in record`` yields :class:`Event`\\ s; :meth:`stats` gives the operation
    counts per accounting phase without reading the arrays.
    """

    directory: Path
    meta: dict[str, Any]
    segments: list[_SegmentIndex] = field(repr=False)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    @property
    def specs(self) -> dict[str, ControlSpec]:
        return {
            name: ControlSpec(**{**spec, "shape": tuple(spec["shape"])})
            for name, spec in self.meta["specs"].items()
        }

    def __len__(self) -> int:
        return self.segments[-1].end if self.segments else 0

    def __iter__(self) -> Iterator[Event]:
        for index in self.segments:
            yield from _read_events(index)

    def op_counts(self) -> dict[str, int]:
        """How many events of each operation the record holds."""
        counts = Counter(str(op) for index in self.segments for op in index.ops)
        return {op: counts[op] for op in OPS if counts[op]}

    def stats(self, phase: str = "train") -> DeviceStats:
        """The recorded run's device counts in ``phase``, as its device reported them."""
        if phase not in PHASES:
            raise ValueError(f"accounting phase must be one of {PHASES}, got {phase!r}")
        stats = DeviceStats()
        for index in self.segments:
            mine = index.phases == phase
            queries, calls, values = index.counts[mine].sum(axis=0)
            stats.queries += int(queries)
            stats.query_calls += int(calls)
            stats.values_written += int(values)
            stats.writes += int((index.ops[mine] == "write").sum())
        return stats

    def totals(self) -> dict[str, Any]:
        """Events, operation counts and device counts per phase, as one JSON-able dict."""
        return {
            "events": len(self),
            "ops": self.op_counts(),
            **{phase: asdict(self.stats(phase)) for phase in PHASES},
        }


def load_record(directory: str | Path) -> Record:
    """Read the record in ``directory`` (checked for gaps and damage; arrays read lazily)."""
    directory = Path(directory)
    _flush_open_writer(directory)
    meta = _read_meta(directory)
    return Record(directory, meta, _scan(directory))


# ------------------------------------------------------------------------------------- replay
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


_INPUTS = {
    "query": ("x",),
    "relax": ("x", "nudge", "clamp"),
    "measure_gradient": ("x", "output_gradient", "procedure"),
}


def _inputs(op: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What the run chose in an operation (a write: all of it; a control read: nothing)."""
    if op == "write":
        return dict(arrays)
    return {k: v for k, v in arrays.items() if k in _INPUTS.get(op, ())}


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
            if not _same(value, held[name]):
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
        self._take("write", {f"controls.{k}": _numpy(v) for k, v in controls.items()})
        self._controls = {**(self._controls or {}), **{k: v.clone() for k, v in controls.items()}}

    def _measure(self, x: Tensor) -> Tensor:
        return self._tensor(self._take("query", {"x": _numpy(x)}).arrays["y"], x)

    def _relax(self, x: Tensor, *, nudge: Tensor | None, clamp: Tensor | None) -> Equilibrium:
        asked = {"x": _numpy(x)}
        asked.update(
            {k: _numpy(t) for k, t in (("nudge", nudge), ("clamp", clamp)) if t is not None}
        )
        event = self._take("relax", asked)
        local = {k: self._tensor(v, x) for k, v in event.group("local").items()}
        return Equilibrium(self._tensor(event.arrays["outputs"], x), local)

    def _measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls, int]:
        asked = {
            "x": _numpy(x),
            "output_gradient": _numpy(output_gradient),
            "procedure": np.array(procedure),
        }
        event = self._take("measure_gradient", asked)
        grads = {k: self._tensor(v, x) for k, v in event.group("grad").items()}
        return self._tensor(event.arrays["outputs"], x), grads, event.query_calls
