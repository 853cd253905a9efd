"""Run a suite: every run exactly once in the results store, on local workers or a Ray cluster.

The store is the single source of truth. Before a suite starts, runs whose worker died are
released; each worker *claims* a run atomically, trains it with ``resume="if-possible"`` in its
own run folder (so a killed run continues from its last checkpoint), and records the result.
Re-running a suite therefore skips finished runs, resumes interrupted ones, and never duplicates
a row.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from physnn.bench.store import ResultStore, RunRecord, read_jsonl
from physnn.bench.suite import RunSpec, Suite
from physnn.errors import ConfigError, option
from physnn.progress import tqdm
from physnn.threads import choose_threads
from physnn.train.tracking import check_trackers

EXECUTORS = ("local", "ray")


def run_folder(runs_dir: Path, key: str) -> Path:
    """Where a run keeps its checkpoint and result: one folder per key."""
    suite, entry, digest = key.split(":")
    return runs_dir / suite / entry / digest


def git_commit(folder: Path) -> str | None:
    """The commit checked out where ``folder`` lies, with ``-dirty`` when files differ from it;
    None outside a git work tree or without git."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40", "--exclude=*"],
            cwd=folder, capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return described.stdout.strip() or None


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict[str, Any]:
    """What a run was measured with, for the report's reproducibility section: physnn's version
    and git commit (when it runs from a checkout), Python and torch versions, CPU model, logical
    CPUs and torch's intra-op thread count."""
    import torch

    from physnn import __version__

    return {
        "physnn": __version__,
        "git_commit": git_commit(Path(__file__).parent),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def execute_run(
    store_path: str, key: str, out: str, threads: int, log: tuple[str, ...] = ()
) -> str:
    """Claim ``key``, train it (resuming; ``log``: its experiment trackers), store the result.
    Runs inside a worker process."""
    import torch

    from physnn.train import TrainConfig, train
    from physnn.train.gradcheck import gradcheck

    worker = f"{socket.gethostname()}:{os.getpid()}"
    with ResultStore(store_path) as store:
        if not store.claim(key, worker):
            return "skipped"
        record = store.get(key)
        assert record is not None
        try:
            torch.set_num_threads(threads)  # this worker's share, for the run and its record
            config = TrainConfig.from_dict(record.config, source=f"run {key}")
            check = record.meta.get("gradcheck")
            result = {}
            if check != "only":
                result = train(config, out, resume="if-possible", progress=False,
                               threads=threads, log=log)  # fmt: skip
            result["environment"] = environment()
            if check:
                result["gradcheck"] = gradcheck(config, batches=2 if check is True else 3)
            store.finish(key, result)
            return "done"
        except Exception as err:  # one run's failure is recorded, not fatal to the suite
            lines = traceback.format_exception_only(err)
            store.fail(key, "".join(lines).strip())
            return "failed"


def register(store: ResultStore, suite: Suite) -> list[RunSpec]:
    """Add every run of the suite to the store (idempotent); return those not done yet."""
    store.release_stale()
    for run in suite.runs:
        store.add(run.key, suite.name, run.entry, run.config.to_dict(), run.meta)
    done = {r.key for r in store.records(suite.name, status="done")}
    return [run for run in suite.runs if run.key not in done]


def run_suite(
    suite: Suite,
    store_path: str | Path,
    *,
    runs_dir: str | Path = "physnn-runs/bench",
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: bool | None = None,
    log: tuple[str, ...] = (),
) -> dict[str, int]:
    """Run every unfinished run of ``suite``; return the store's status counts for it.
    ``progress``: a progress bar on stderr (default: only when stderr is a terminal); ``log``:
    experiment trackers every run also writes to (:mod:`physnn.train.tracking`)."""
    check_executor(executor, workers)
    check_trackers(log)
    store_path = str(Path(store_path).resolve())
    runs_dir = Path(runs_dir).resolve()
    with ResultStore(store_path) as store:
        todo = register(store, suite)
    threads = choose_threads(workers)
    jobs = [(store_path, run.key, str(run_folder(runs_dir, run.key)), threads, log)
            for run in todo]  # fmt: skip
    bar = tqdm(total=len(suite.runs), initial=len(suite.runs) - len(todo), unit="run",
               desc=f"suite {suite.name}",
               disable=not (sys.stderr.isatty() if progress is None else progress))  # fmt: skip
    status = {"done": 0, "failed": 0, "skipped": 0}

    def finished(outcome: str) -> None:
        status[outcome] += 1
        bar.update(1)
        bar.set_postfix(failed=status["failed"], refresh=False)

    try:
        run_jobs(execute_run, jobs, workers=workers, executor=executor, address=address,
                 finished=finished, bar=bar)  # fmt: skip
    finally:
        bar.close()
    with ResultStore(store_path) as store:
        return store.counts(suite.name)


def check_executor(executor: str, workers: int) -> None:
    """A ConfigError unless ``executor`` is known and ``workers`` positive."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"{option('workers')} must be at least 1, got {workers}")


def run_jobs(
    task: Callable[..., str],
    jobs: list[tuple],
    *,
    workers: int,
    executor: str,
    address: str | None,
    finished: Callable[[str], None],
    bar: tqdm,
) -> None:
    """``task(*job)`` for every job, on ``workers`` local processes or on Ray; ``finished``
    receives each outcome ("done", "failed", "skipped"). Suites and tuning share it."""
    if executor == "ray":
        _run_on_ray(task, jobs, address, workers, finished)
    else:
        _run_locally(task, jobs, workers, finished, bar)


def _run_locally(
    task: Callable[..., str],
    jobs: list[tuple],
    workers: int,
    finished: Callable[[str], None],
    bar: tqdm,
) -> None:
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    pending: set[Future] = set()
    queue = list(jobs)
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                pending.add(pool.submit(task, *queue.pop(0)))
            bar.set_postfix(running=len(pending), refresh=True)
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                finished(future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_on_ray(
    task: Callable[..., str],
    jobs: list[tuple],
    address: str | None,
    workers: int,
    finished: Callable[[str], None],
) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"{option('executor', 'ray')} needs Ray: pip install 'physnn[ray]' (or pip install ray)"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        # no address: a local Ray instance sized like the local executor
        ray.init(address=address, num_cpus=None if address else workers, log_to_driver=False,
                 include_dashboard=False)  # fmt: skip
    try:
        remote = ray.remote(num_cpus=1)(task)
        refs = [remote.remote(*job) for job in jobs]
        while refs:
            ready, refs = ray.wait(refs, num_returns=1)
            finished(ray.get(ready[0]))
    finally:
        if started_here:
            ray.shutdown()


def summarize(counts: dict[str, int], seconds: float) -> str:
    parts = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("done", "failed", "pending", "running"))
    return f"{parts} ({seconds:.0f} s)"


def read_records(path: str | Path, suite: str | None) -> list[dict[str, Any]]:
    """The runs (of ``suite``, or all) of a results store, or of its ``.jsonl`` export, as the
    report expects them."""
    if Path(path).suffix.lower() == ".jsonl":
        return report_records(read_jsonl(path, suite))
    with ResultStore(path) as store:
        return report_records(store.records(suite))


GRADCHECK_FIGURES = ("cosine", "relative_error", "expected_cosine")
"""What the report shows of a gradient check (the ideal estimator's cosine where stated)."""


def report_records(records: list[RunRecord]) -> list[dict[str, Any]]:
    """Runs as the report expects them: plain dicts, gradient quality moved into ``meta``."""
    out = []
    for r in records:
        meta = dict(r.meta)
        if r.result and "gradcheck" in r.result:
            check = r.result["gradcheck"]
            meta["gradcheck"] = {k: check[k] for k in GRADCHECK_FIGURES if k in check}
        elif "gradcheck" in meta:  # asked for (true or "only") but not (yet) measured
            del meta["gradcheck"]
        out.append({"key": r.key, "suite": r.suite, "entry": r.entry, "status": r.status,
                    "config": r.config, "meta": meta, "result": r.result, "error": r.error,
                    "attempts": r.attempts})  # fmt: skip
    return out
