"""The device server's write log: every write and every refusal as one JSON line, bounded in
size whatever clients send."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import torch

from physnn.errors import ConfigError
from physnn.hardware.credentials import ID_CHARS, Caller
from physnn.hardware.replies import MIB, Reply, cut
from physnn.systems.base import Controls

FIELD_CHARS = 200
"""The longest text (a refusal's reason) a write-log line holds; longer ones are cut."""
MIN_LOG_BYTES = 64 * 1024
"""The smallest size per write-log file (a line never comes near it)."""
MAX_WINDOWS = 1024
"""Rate-limit windows of the write log at most; refusals beyond them share one window."""


class WriteLog:
    """The server's record as JSON lines: every write (``applied``, ``replayed`` for a retry
    answered from the cache, ``safe-state``) and every refusal (``refused``).

    Nothing in it grows with what a client sends: strings are cut at :data:`FIELD_CHARS`
    (identifiers at :data:`ID_CHARS`), control ranges are kept for the device's own controls
    only, and an unauthenticated request contributes no text of its own (no header, no body).
    Refusals are rate limited per (error, address, identity): the first ``burst`` of an
    ``interval`` (one for unauthenticated requests) are written at once, the rest counted and
    written as one summary line with ``count`` when the interval ends. The file rotates like
    :class:`logging.handlers.RotatingFileHandler` (``max_bytes`` per file, ``backups`` old
    files ``PATH.1`` … ``PATH.N``), so the log never takes more than
    ``(backups + 1) * max_bytes`` bytes.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        max_bytes: int = 16 * MIB,
        backups: int = 8,
        interval: float = 10.0,
        burst: int = 10,
        controls: Collection[str] = (),
    ) -> None:
        if max_bytes < MIN_LOG_BYTES or backups < 1:
            raise ConfigError(
                f"the write log needs at least {MIN_LOG_BYTES} bytes per file and one backup, "
                f"got {max_bytes} bytes and {backups} backups"
            )
        self.path = None if path is None else Path(path)
        self.interval, self.burst, self.controls = interval, burst, frozenset(controls)
        self._handler = (
            None
            if self.path is None
            else RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups,
                                     encoding="utf-8")
        )  # fmt: skip
        self._windows: dict[tuple[str, str, str | None], _Window] = {}
        self._lock = threading.Lock()

    def record(
        self,
        outcome: str,
        *,
        client: str | None,
        request: str | None,
        reason: str = "",
        changed: int = 0,
        controls: Controls | None = None,
        identity: str | None = None,
    ) -> None:
        """One write event (applied, replayed, safe-state)."""
        self._write(
            {
                "outcome": outcome,
                "identity": identity,
                "client": cut(client, ID_CHARS),
                "request": cut(request, ID_CHARS),
                "reason": cut(reason, FIELD_CHARS),
                "changed": changed,
                "controls": self.ranges(controls),
            }
        )

    def refusal(
        self, reply: Reply, op: str, address: str, caller: Caller | None, rid: str | None
    ) -> None:
        """A refused request from ``address``, rate limited (``caller`` None: it did not
        authenticate, and nothing it sent is written)."""
        identity = None if caller is None or caller.identity is None else caller.identity.name
        key = (reply.code, cut(address, ID_CHARS) or "", identity)
        now = time.monotonic()
        with self._lock:
            if key not in self._windows and len(self._windows) >= MAX_WINDOWS:
                key = (reply.code, "other", None)  # many addresses: one shared window
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval:
                if window is not None:
                    self._summarize(key, window)
                allowed = self.burst if caller is not None else 1
                window = self._windows[key] = _Window(now, reply.status, reply.message, allowed)
            window.seen += 1
            if window.seen > window.allowed:
                return
        line = {
            "outcome": "refused",
            "op": op,
            "status": reply.status,
            "error": reply.code,
            "identity": identity,
            "address": key[1],
            "client": None if caller is None else cut(caller.client, ID_CHARS),
            "request": None if caller is None else cut(rid, ID_CHARS),
            "reason": cut(reply.message, FIELD_CHARS),
            "controls": reply.ranges,
        }
        self._write(line)

    def flush(self, final: bool = False) -> None:
        """Write the summaries of the intervals that ended (``final``: of all of them)."""
        now = time.monotonic()
        with self._lock:
            for key, window in list(self._windows.items()):
                if final or now - window.start >= self.interval:
                    self._summarize(key, window)
                    del self._windows[key]

    def ranges(self, controls: Controls | None) -> dict[str, dict[str, float | None]]:
        """The minimum and maximum of each of the device's controls sent (None: not finite
        real numbers); names the device does not have are left out."""
        ranges = {}
        for name, value in (controls or {}).items():
            if name not in self.controls:
                continue
            value = value.detach()
            real = value.numel() > 0 and not value.is_complex() and value.dtype != torch.bool
            finite = real and bool(value.isfinite().all())
            ranges[name] = (
                {"min": float(value.min()), "max": float(value.max())}
                if finite
                else {"min": None, "max": None}
            )
        return ranges

    def close(self) -> None:
        self.flush(final=True)
        if self._handler is not None:
            self._handler.close()

    def _summarize(self, key: tuple[str, str, str | None], window: _Window) -> None:
        """The line of the refusals an interval held back (called with the lock held)."""
        suppressed = window.seen - window.allowed
        if suppressed <= 0:
            return
        self._write(
            {
                "outcome": "refused",
                "status": window.status,
                "error": key[0],
                "identity": key[2],
                "address": key[1],
                "reason": cut(window.reason, FIELD_CHARS),
                "count": suppressed,
                "seconds": round(time.monotonic() - window.start, 1),
            }
        )

    def _write(self, line: dict[str, Any]) -> None:
        if self._handler is None:
            return
        stamped = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **line}
        self._handler.handle(logging.makeLogRecord({"msg": json.dumps(stamped)}))


@dataclass
class _Window:
    """Refusals of one (error, address, identity) in the current interval."""

    start: float
    status: int
    reason: str
    allowed: int  # lines written at once; the rest only counted
    seen: int = 0
