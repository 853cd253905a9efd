"""A device record's file format: the folder, its segments and events, writing and reading them.

A record is a folder: ``meta.json`` (format version, physnn and torch versions, the run
configuration, the control specs and slew limits, creation time) and numbered segment files
``events-000000.npz`` … Each segment holds consecutive events and is written atomically, so a
crash loses at most the events since the last flush and never leaves a half-written file.
Tensors are stored as numpy arrays in the dtype the run used; nothing is stored twice (a query
stores its inputs and outputs, a write only the values sent, a control read only values that
differ from those the record already implies).

:data:`FORMAT_VERSION` is the version of this layout. A record of another version is refused
with a sentence that names both versions; a change of the layout raises it.
"""

from __future__ import annotations

import json
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from physnn import __version__
from physnn.errors import PhysnnError
from physnn.files import atomic_write, save_json
from physnn.hardware.device import PHASES, DeviceStats
from physnn.hardware.measurements import OPERATIONS, STATE_OPERATIONS
from physnn.systems.base import ControlSpec

FORMAT_VERSION = 1
META = "meta.json"
SEGMENT_GLOB = "events-*.npz"
OPS = (*STATE_OPERATIONS, *(op.name for op in OPERATIONS))
"""The operations a record's events name."""


class RecordError(PhysnnError):
    """A record folder that is missing, incomplete or damaged."""


def _segment_path(directory: Path, number: int) -> Path:
    return directory / f"events-{number:06d}.npz"


def as_numpy(tensor: Tensor) -> np.ndarray:
    """A CPU copy of ``tensor`` (never a view: the run may reuse its buffers)."""
    return tensor.detach().to("cpu", copy=True).numpy()


def stored(value: Tensor | str) -> np.ndarray:
    """An operation's argument or result as a record stores it (text as a numpy string)."""
    return as_numpy(value) if isinstance(value, Tensor) else np.array(value)


def same(a: np.ndarray, b: np.ndarray) -> bool:
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


def read_meta(directory: Path) -> dict[str, Any]:
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
_OPEN_WRITERS: dict[Path, Writer] = {}


class Writer:
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
        self.meta = read_meta(self.directory)
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


def flush_open_writer(directory: Path) -> None:
    """Bring a record that this process is writing up to date before reading it."""
    writer = _OPEN_WRITERS.get(directory.resolve())
    if writer is not None:
        writer.flush()


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
    flush_open_writer(directory)
    meta = read_meta(directory)
    return Record(directory, meta, _scan(directory))
