"""A results store for benchmark suites: one SQLite file shared by several worker processes.

A run is one row with a stable ``key``; it goes ``pending -> running -> done | failed``, and back
to ``pending`` if its worker dies. WAL, a busy timeout and short ``BEGIN IMMEDIATE`` transactions
make concurrent writers wait instead of failing.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from physnn.errors import PhysnnError

STATUSES = ("pending", "running", "done", "failed")
RUN_FIELDS = ("key", "suite", "entry", "status", "attempts", "started", "finished", "error")
RESULT_FIELDS = ("device_accuracy", "twin_accuracy", "accuracy", "headline", "device_queries",
                 "param_writes", "eval_queries", "wall_seconds", "version")  # fmt: skip
APPLICATION_ID = 0x50485953  # "PHYS" in the SQLite header marks a physnn store
BUSY_TIMEOUT_S = 30.0  # SQLite busy timeout: a writer waits this long for the lock
SCHEMA = """CREATE TABLE runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,
    suite TEXT NOT NULL, entry TEXT NOT NULL, status TEXT NOT NULL, config TEXT NOT NULL,
    meta TEXT NOT NULL, result TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT, started REAL, finished REAL)"""


class StoreError(PhysnnError):
    """A results store that cannot be opened, a missing run, or an unsupported export."""


@dataclass
class RunRecord:
    """One run of a suite, as stored (``started``/``finished`` are unix times)."""

    key: str
    suite: str
    entry: str
    status: str
    config: dict
    meta: dict
    result: dict | None
    error: str | None
    attempts: int
    worker: str | None
    started: float | None
    finished: float | None


def default_worker() -> str:
    """The worker name of this process: ``"hostname:pid"``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_dead(worker: str | None) -> bool:
    """True if ``worker`` is ``"host:pid"`` on this host and that process no longer exists."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == 0:
        return False
    try:
        os.kill(int(pid), 0)  # signal 0 only checks that the process exists
    except (ProcessLookupError, OverflowError):  # gone, or a pid no process can have
        return True
    except PermissionError:  # alive, owned by another user
        pass
    return False


def _record(row: sqlite3.Row) -> RunRecord:
    """Decode a ``runs`` row (JSON text back to dicts)."""
    data = dict(row)
    del data["seq"]
    for name in ("config", "meta", "result"):
        data[name] = None if data[name] is None else json.loads(data[name])
    return RunRecord(**data)


def _cell(value: Any) -> Any:
    """A flat table cell: containers as JSON text, scalars unchanged."""
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list | tuple) else value


def _flat_row(record: RunRecord) -> dict[str, Any]:
    """One export row: run fields, ``config.<field>``, meta as JSON, scalar result fields."""
    row = {name: getattr(record, name) for name in RUN_FIELDS}
    row |= {f"config.{name}": _cell(value) for name, value in record.config.items()}
    row["meta"] = json.dumps(record.meta, sort_keys=True)
    return row | {name: _cell((record.result or {}).get(name)) for name in RESULT_FIELDS}


def _write_table(rows: list[dict[str, Any]], columns: list[str], path: Path) -> None:
    """Write rows as CSV (stdlib, missing cells empty) or Parquet (pandas + pyarrow)."""
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return
    try:
        import pandas as pd
        import pyarrow  # noqa: F401
    except ImportError as exc:
        hint = "Parquet export needs pandas and pyarrow: pip install pandas pyarrow."
        raise StoreError(hint) from exc
    pd.DataFrame(rows, columns=columns).to_parquet(path, index=False)


def _write_jsonl(records: list[RunRecord], path: Path) -> None:
    """One JSON object per line and run, keys sorted, without the worker (a host name): a
    text export that diffs line by line and that :func:`read_jsonl` reads back."""
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            fields = {name: value for name, value in asdict(record).items() if name != "worker"}
            handle.write(json.dumps(fields, sort_keys=True, ensure_ascii=False) + "\n")


def read_jsonl(path: str | os.PathLike, suite: str | None = None) -> list[RunRecord]:
    """The runs (of ``suite``, or all) of a ``.jsonl`` export, in its order."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [RunRecord(**{**json.loads(line), "worker": None}) for line in lines if line]
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(f"Cannot read {path} as a physnn .jsonl export: {exc}.") from exc
    return [r for r in records if suite is None or r.suite == suite]


class ResultStore:
    """The runs of benchmark suites in one SQLite file, safe for concurrent worker processes."""

    SCHEMA_VERSION = 1

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)  # a new store in a new folder
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        try:
            self._check_schema()  # read-only first: a foreign file is refused untouched
            self._conn.execute("PRAGMA journal_mode = WAL")
            with self._transaction():
                if self._check_schema():
                    self._conn.execute(SCHEMA)
                    self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    self._conn.execute(f"PRAGMA user_version = {self.SCHEMA_VERSION}")
        except (sqlite3.DatabaseError, StoreError) as exc:
            self._conn.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"Cannot open {self.path} as a physnn results store: {exc}.") from exc

    def _check_schema(self) -> bool:
        """True if the database is empty; a StoreError unless it is a store this code can read."""
        tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == 0 and tables == 0:
            return True
        if app_id != APPLICATION_ID:
            raise StoreError(f"{self.path} is an SQLite file but not a physnn results store.")
        if version > self.SCHEMA_VERSION:
            raise StoreError(f"{self.path} has store schema version {version}, newer than "
                             f"{self.SCHEMA_VERSION}: upgrade physnn to read it.")  # fmt: skip
        return False

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A short ``BEGIN IMMEDIATE`` transaction: takes the write lock up front, waits if busy."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _find(self, key: str) -> sqlite3.Row:
        """The row of ``key``; a StoreError if there is none."""
        row = self._conn.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise StoreError(f"No run with key {key!r} in {self.path}.")
        return row

    def add(self, key: str, suite: str, entry: str, config: dict, meta: dict) -> bool:
        """Insert a ``pending`` run unless ``key`` exists; True if inserted.

        An existing run keeps its status and result; only its ``meta`` (the suite's annotations,
        e.g. a paper number added to a ``reproduce`` claim after the run) follows the suite.
        """
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO runs (key, suite, entry, status, config, meta) "
                "VALUES (?, ?, ?, 'pending', ?, ?)",
                (key, suite, entry, json.dumps(config), json.dumps(meta)),
            )
            inserted = cursor.rowcount == 1
            if not inserted:
                conn.execute("UPDATE runs SET meta = ? WHERE key = ?", (json.dumps(meta), key))
        return inserted

    def claim(self, key: str, worker: str) -> bool:
        """Atomically mark a pending, failed or stale running run as ``running`` by ``worker``;
        False if it is done or running under a live claim."""
        with self._transaction() as conn:
            row = self._find(key)
            live = row["status"] == "running" and not worker_is_dead(row["worker"])
            if live or row["status"] == "done":
                return False
            conn.execute(
                "UPDATE runs SET status = 'running', attempts = attempts + 1, worker = ?, "
                "started = ?, finished = NULL WHERE key = ?",
                (worker, time.time(), key),
            )
        return True

    def finish(self, key: str, result: dict) -> None:
        """Mark a run ``done`` with its result."""
        self._conclude(key, "done", json.dumps(result), None)

    def fail(self, key: str, error: str) -> None:
        """Mark a run ``failed`` with its error message."""
        self._conclude(key, "failed", None, error)

    def _conclude(self, key: str, status: str, result: str | None, error: str | None) -> None:
        """Set the final status, result, error and finish time of a run."""
        with self._transaction() as conn:
            self._find(key)
            conn.execute(
                "UPDATE runs SET status = ?, result = ?, error = ?, finished = ? WHERE key = ?",
                (status, result, error, time.time(), key),
            )

    def release_stale(self, older_than_s: float | None = None) -> int:
        """Reset ``running`` runs whose worker died, or (with ``older_than_s``) that started
        longer ago than that, to ``pending``; returns how many were reset."""
        with self._transaction() as conn:
            cutoff = -1.0 if older_than_s is None else time.time() - older_than_s
            rows = conn.execute("SELECT * FROM runs WHERE status = 'running'").fetchall()
            stale = [r for r in rows if (r["started"] or 0) < cutoff or worker_is_dead(r["worker"])]
            conn.executemany(
                "UPDATE runs SET status = 'pending', worker = NULL, started = NULL, error = ? "
                "WHERE key = ?",
                [(f"released: worker {r['worker']} stopped", r["key"]) for r in stale],
            )
        return len(stale)

    def get(self, key: str) -> RunRecord | None:
        """The run with ``key``, or None."""
        row = self._conn.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else _record(row)

    def records(self, suite: str | None = None, status: str | None = None) -> list[RunRecord]:
        """Runs in insertion order, optionally of one suite and/or one status."""
        rows = self._conn.execute(
            "SELECT * FROM runs WHERE (?1 IS NULL OR suite = ?1) AND (?2 IS NULL OR status = ?2) "
            "ORDER BY seq",
            (suite, status),
        )
        return [_record(row) for row in rows]

    def counts(self, suite: str | None = None) -> dict[str, int]:
        """Number of runs per status (every status present, zero if none)."""
        rows = self._conn.execute(
            "SELECT status, count(*) FROM runs WHERE ?1 IS NULL OR suite = ?1 GROUP BY status",
            (suite,),
        )
        return dict.fromkeys(STATUSES, 0) | dict(rows.fetchall())

    def export(self, path: str | os.PathLike, suite: str | None = None) -> Path:
        """Write one row per run (of ``suite``, or all) to ``.csv`` or ``.parquet``, or every
        field of each run to ``.jsonl`` (chosen by extension)."""
        path = Path(path)
        if path.suffix.lower() not in (".csv", ".parquet", ".jsonl"):
            raise StoreError(f"Cannot export to {path.name}: use a .csv, .parquet or .jsonl file.")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".jsonl":
            _write_jsonl(self.records(suite), path)
            return path
        rows = [_flat_row(record) for record in self.records(suite)]
        columns = list(dict.fromkeys(name for row in rows for name in row)) or list(RUN_FIELDS)
        _write_table(rows, columns, path)
        return path

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
