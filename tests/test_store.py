"""The benchmark results store: idempotent adds, atomic claims, stale release, export."""

from __future__ import annotations

import csv
import dataclasses
import json
import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from physnn.bench import store as store_module
from physnn.bench.store import ResultStore, StoreError, default_worker
from physnn.errors import PhysnnError

CONFIG = {"system": "diffractive", "method": "pat", "seed": 0, "system_options": {"grid": 16}}
RESULT = {"device_accuracy": 0.9, "twin_accuracy": 0.8, "accuracy": 0.9, "headline": "device",
          "device_queries": 640, "param_writes": 8, "eval_queries": 100, "wall_seconds": 1.5,
          "version": "0.1.0", "history": [{"epoch": 1}], "config": CONFIG}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    with ResultStore(tmp_path / "results.sqlite") as opened:
        yield opened


def _dead_worker() -> str:
    """A ``host:pid`` worker on this host whose process has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{default_worker().rpartition(':')[0]}:{proc.pid}"


def test_add_is_idempotent_and_keeps_the_run(store: ResultStore) -> None:
    assert store.add("k1", "suite", "entry", CONFIG, {"sweep": {"seed": 0}})
    assert not store.add("k1", "other", "other", {"x": 1}, {"sweep": {"seed": 0}})
    record = store.get("k1")
    assert record is not None
    assert (record.suite, record.entry, record.status, record.attempts) == (
        "suite", "entry", "pending", 0)  # fmt: skip
    assert record.config == CONFIG and record.meta == {"sweep": {"seed": 0}}
    assert record.result is None and record.worker is None and store.get("missing") is None


def test_add_refreshes_the_annotations_of_a_finished_run(store: ResultStore) -> None:
    """A paper number added to a reproduce claim after the run shows in the next report."""
    store.add("k", "s", "e", CONFIG, {"reproduce": {"paper": "P", "claim": "c"}})
    assert store.claim("k", default_worker())
    store.finish("k", {"device_accuracy": 0.9})
    claim = {"paper": "P", "claim": "c", "reported": 0.87, "tolerance": 0.05}
    assert not store.add("k", "s", "e", CONFIG, {"reproduce": claim})
    record = store.get("k")
    assert record is not None and record.status == "done"
    assert record.result == {"device_accuracy": 0.9} and record.meta == {"reproduce": claim}


def test_claim_finish_fail_transitions(store: ResultStore) -> None:
    store.add("a", "s", "e", CONFIG, {})
    store.add("b", "s", "e", CONFIG, {})
    me = default_worker()
    assert store.claim("a", me)
    record = store.get("a")
    assert record.status == "running" and record.worker == me and record.attempts == 1
    assert record.started is not None and record.finished is None
    store.finish("a", RESULT)
    record = store.get("a")
    assert record.status == "done" and record.result == RESULT and record.finished >= record.started
    assert not store.claim("a", me)  # done runs are never re-run
    assert store.claim("b", me)
    store.fail("b", "ValueError: boom")
    record = store.get("b")
    assert record.status == "failed" and record.error == "ValueError: boom"
    assert store.claim("b", "elsewhere:1")  # a failed run may be retried
    record = store.get("b")
    assert record.attempts == 2 and record.worker == "elsewhere:1" and record.finished is None
    with pytest.raises(StoreError, match="No run"):
        store.claim("missing", me)
    with pytest.raises(StoreError, match="No run"):
        store.finish("missing", RESULT)


def test_second_claim_by_live_worker_is_refused(store: ResultStore) -> None:
    store.add("k", "s", "e", CONFIG, {})
    assert store.claim("k", default_worker())
    assert not store.claim("k", "other-host:1")
    assert store.get("k").attempts == 1


def test_running_row_of_dead_worker_is_released_or_reclaimed(store: ResultStore) -> None:
    for key in ("dead", "live", "remote", "again"):
        store.add(key, "s", "e", CONFIG, {})
    dead = _dead_worker()
    assert store.claim("dead", dead)
    assert store.claim("live", default_worker())
    assert store.claim("remote", "some-other-host:12345")  # cannot be checked from here
    assert store.claim("again", dead)
    assert store.claim("again", default_worker())  # a stale running row may be claimed directly
    assert store.get("again").attempts == 2
    assert store.release_stale() == 1
    record = store.get("dead")
    assert record.status == "pending" and record.worker is None and record.attempts == 1
    assert dead in record.error
    assert store.counts()["running"] == 3


def test_release_stale_by_age(store: ResultStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("old", "s", "e", CONFIG, {})
    store.add("remote", "s", "e", CONFIG, {})
    store.claim("old", default_worker())
    store.claim("remote", "some-other-host:12345")
    assert store.release_stale(older_than_s=3600) == 0
    later = time.time() + 7200
    monkeypatch.setattr(store_module.time, "time", lambda: later)
    assert store.release_stale(older_than_s=3600) == 2
    assert store.counts() == {"pending": 2, "running": 0, "done": 0, "failed": 0}


def _claim_all(path: str, keys: list[str], barrier, queue) -> None:
    """Worker process: claim every key it can, report them, and stay alive until all are done."""
    with ResultStore(path) as store:
        barrier.wait()
        claimed = [key for key in keys if store.claim(key, default_worker())]
        queue.put(claimed)
        barrier.wait()


def test_concurrent_claims_claim_every_key_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    keys = [f"key-{i}" for i in range(20)]
    with ResultStore(path) as store:
        for key in keys:
            store.add(key, "s", "e", CONFIG, {})
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_claim_all, args=(str(path), keys, barrier, queue)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    claimed = [key for _ in procs for key in queue.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert sorted(claimed) == sorted(keys)
    with ResultStore(path) as store:
        assert all(record.attempts == 1 for record in store.records())
        assert store.counts()["running"] == 20
        assert store.release_stale() == 20  # the workers have exited: nothing is lost


def test_records_and_counts(store: ResultStore) -> None:
    for i in range(3):
        store.add(f"a{i}", "alpha", "e", CONFIG, {})
    store.add("b0", "beta", "e", CONFIG, {})
    store.claim("a1", default_worker())
    store.finish("a1", RESULT)
    store.claim("a2", default_worker())
    store.fail("a2", "boom")
    assert [r.key for r in store.records()] == ["a0", "a1", "a2", "b0"]
    assert [r.key for r in store.records(suite="alpha", status="done")] == ["a1"]
    assert [r.key for r in store.records(status="pending")] == ["a0", "b0"]
    assert store.counts() == {"pending": 2, "running": 0, "done": 1, "failed": 1}
    assert store.counts("beta") == {"pending": 1, "running": 0, "done": 0, "failed": 0}


def test_csv_export(store: ResultStore, tmp_path: Path) -> None:
    store.add("k1", "s", "entry-1", CONFIG, {"sweep": {"seed": 0}})
    store.add("k2", "s", "entry-2", {**CONFIG, "seed": 1}, {})
    store.claim("k1", "host:1")
    store.finish("k1", RESULT)
    out = store.export(tmp_path / "out" / "runs.csv")
    assert out == tmp_path / "out" / "runs.csv"
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["key"] for row in rows] == ["k1", "k2"]
    first, second = rows
    assert first["status"] == "done" and first["entry"] == "entry-1" and first["attempts"] == "1"
    assert first["config.method"] == "pat" and second["config.seed"] == "1"
    assert json.loads(first["config.system_options"]) == {"grid": 16}
    assert json.loads(first["meta"]) == {"sweep": {"seed": 0}}
    assert float(first["device_accuracy"]) == 0.9 and first["device_queries"] == "640"
    assert first["headline"] == "device" and first["version"] == "0.1.0"
    assert second["device_accuracy"] == "" and second["finished"] == ""
    assert "history" not in first and "config" not in first


def test_export_rejects_unknown_extension(store: ResultStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"\.csv, \.parquet or \.jsonl"):
        store.export(tmp_path / "runs.xlsx")


def test_jsonl_export_reads_back_every_field_but_the_worker(
    store: ResultStore, tmp_path: Path
) -> None:
    store.add("k1", "s", "entry-1", CONFIG, {"sweep": {"seed": 0}})
    store.add("k2", "s", "entry-2", {**CONFIG, "seed": 1}, {})
    store.add("k3", "other", "entry-1", CONFIG, {"gradcheck": True})
    store.claim("k1", "host:1")
    store.finish("k1", RESULT)
    out = store.export(tmp_path / "runs.jsonl", suite="s")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k2"]
    assert all("worker" not in json.loads(line) for line in lines)  # a host name: not shipped
    back = store_module.read_jsonl(out)
    expected = [dataclasses.replace(r, worker=None) for r in store.records("s")]
    assert back == expected and back[0].result == RESULT
    assert store_module.read_jsonl(out, suite="other") == []
    out.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"Cannot read .* as a physnn \.jsonl export"):
        store_module.read_jsonl(out)


def test_parquet_export(store: ResultStore, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    store.add("k1", "s", "e", CONFIG, {})
    store.claim("k1", "host:1")
    store.finish("k1", RESULT)
    frame = pd.read_parquet(store.export(tmp_path / "runs.parquet"))
    assert list(frame["key"]) == ["k1"] and frame["device_accuracy"][0] == 0.9


def test_parquet_without_pandas_names_the_install(
    store: ResultStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes ``import pandas`` fail
    with pytest.raises(StoreError, match="pip install pandas pyarrow"):
        store.export(tmp_path / "runs.parquet")


def test_non_store_files_are_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database\n" * 100)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (x)")
    conn.close()
    for path in (garbage, other):
        before = path.read_bytes()
        with pytest.raises(StoreError, match="physnn results store") as info:
            ResultStore(path)
        assert isinstance(info.value, PhysnnError)
        assert path.read_bytes() == before  # a foreign file is left untouched


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    ResultStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {ResultStore.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        ResultStore(path)


def test_reopening_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    with ResultStore(path) as store:
        store.add("k", "s", "e", CONFIG, {"reproduce": {"run": "x"}})
        store.claim("k", "host:1")
        store.finish("k", RESULT)
    with ResultStore(path) as store:
        record = store.get("k")
        assert record.status == "done" and record.result == RESULT
        assert record.meta == {"reproduce": {"run": "x"}}
        assert not store.add("k", "s", "e", CONFIG, {})
