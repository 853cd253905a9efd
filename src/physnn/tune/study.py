"""``physnn tune``: Optuna studies of a suite's runs, at an equal device-query budget per trial.

One study per tuning key (:func:`physnn.tune.settings.tuning_key`: suite entry, method and
system) in one SQLite database (Optuna's ``RDBStorage``). A trial trains the run's
configuration (its first seed) with the learning rate and method options that the trial
suggests (:mod:`physnn.tune.space`; the first trial is the run's own setting) and
``max_queries`` set to the budget, and scores the final validation accuracy (the method's
headline accuracy, on the validation split: the test split never chooses). Trials are jobs of
the same local or Ray executors as ``physnn bench``; every job claims a trial under a file lock
beside the database, so several workers, and several ``physnn tune`` processes, add trials to
one study without exceeding its number of trials. A killed worker's trial is released (marked
failed and not counted) when tuning starts again; the finished trials are kept, and the study
continues from them.
"""

from __future__ import annotations

import contextlib
import fcntl
import sys
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from physnn.bench.runner import check_executor, run_jobs
from physnn.bench.store import default_worker, worker_is_dead
from physnn.bench.suite import Suite
from physnn.errors import ConfigError, option
from physnn.methods import METHODS
from physnn.progress import tqdm
from physnn.threads import choose_threads
from physnn.train.config import TrainConfig
from physnn.tune.settings import tuning_key, write_settings
from physnn.tune.space import fixed_params, suggest

INSTALL = "physnn tune needs Optuna: pip install 'physnn[tune]' (or pip install optuna)"
BUSY_TIMEOUT_S = 30.0  # SQLite busy timeout of the study database


def require_optuna() -> Any:
    """The ``optuna`` module, or a ConfigError saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError(INSTALL) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # physnn says what happened
    return optuna


@dataclass(frozen=True)
class Task:
    """One study: the run it tunes (the first seed of its runs) and the budget of a trial."""

    key: str
    config: TrainConfig
    budget: int

    @property
    def name(self) -> str:
        """The study's name: its tuning key and budget."""
        return f"{self.key}:q{self.budget}"


def tasks(suite: Suite, entries: list[str] | None, max_queries: int | None) -> list[Task]:
    """The studies that tune ``suite`` (only its ``entries``, if given): one per tuning key, with
    ``max_queries`` (default: the runs' own) device queries per trial."""
    known = list(dict.fromkeys(run.entry for run in suite.runs))
    unknown = sorted(set(entries or ()) - set(known))
    if unknown:
        raise ConfigError(f"suite {suite.name!r} has no entry {', '.join(unknown)}; its entries: "
                          f"{', '.join(known)}")  # fmt: skip
    found: dict[str, Task] = {}
    for run in suite.runs:
        key = tuning_key(suite.name, run.entry, run.config)
        if (entries and run.entry not in entries) or key in found:
            continue
        budget = max_queries or run.config.max_queries
        if budget is None:
            raise ConfigError(
                f"entry {run.entry!r} of suite {suite.name!r} sets no max_queries; give "
                f"{option('max_queries')}, the device queries of every trial"
            )
        found[key] = Task(key, run.config, budget)
    return list(found.values())


def storage(path: str | Path) -> Any:
    """The Optuna storage of the study database at ``path`` (created if missing)."""
    optuna = require_optuna()
    url = f"sqlite:///{Path(path).resolve()}"
    return optuna.storages.RDBStorage(
        url, engine_kwargs={"connect_args": {"timeout": BUSY_TIMEOUT_S}}
    )


def open_study(path: str | Path, task: Task) -> Any:
    """The task's study in the database at ``path``: created, or loaded to continue. A new
    study's first trial is the run's own setting (:func:`default_params`)."""
    optuna = require_optuna()
    study = optuna.create_study(storage=storage(path), study_name=task.name,
                                direction="maximize", load_if_exists=True)  # fmt: skip
    study.set_user_attr("config", task.config.to_dict())
    study.set_user_attr("max_queries", task.budget)
    if not study.get_trials(deepcopy=False):
        with warnings.catch_warnings():  # Optuna calls enqueue_trial experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.enqueue_trial(default_params(task.config), skip_if_exists=True)
    return study


def default_params(config: TrainConfig) -> dict[str, Any]:
    """The trial of the run's own setting: its learning rate and method options (the run's,
    else the method's defaults). Tried first, it makes the chosen setting the default unless
    another trial beats it on the validation split."""
    options = METHODS[config.method](config.method_options).options  # the run's, else defaults
    return fixed_params(config.method, config.lr, asdict(options))


def counts(trial: Any) -> bool:
    """Whether a trial counts towards the study's number: a finished one, or one in progress;
    not one released after its worker died (failed without an ``error``)."""
    state = trial.state.name
    return state in ("COMPLETE", "RUNNING") or (state == "FAIL" and "error" in trial.user_attrs)


def release_stale(study: Any, path: str | Path) -> int:
    """Mark the trials of workers that died (on this host) failed; how many there were. Under
    the claim lock, where a trial gets its worker: one without a worker was left by a worker
    killed while claiming it."""
    with claim_lock(path):
        running = [t for t in study.get_trials(deepcopy=False) if t.state.name == "RUNNING"]
        stale = [t for t in running if _abandoned(t.user_attrs.get("worker"))]
        for trial in stale:
            study.tell(trial.number, state=require_optuna().trial.TrialState.FAIL)
    return len(stale)


def _abandoned(worker: str | None) -> bool:
    """A trial's worker is gone: it died, or never got to sign the trial."""
    return worker is None or worker_is_dead(worker)


@contextlib.contextmanager
def claim_lock(path: str | Path) -> Iterator[None]:
    """Exclusive among processes on this file system: the claim of a study's next trial."""
    with Path(f"{path}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_trial(path: str, name: str, config: dict[str, Any], budget: int, trials: int,
              runs_dir: str, threads: int) -> str:  # fmt: skip
    """One trial of study ``name``, if it still has fewer than ``trials``: "done", "failed" or
    "skipped". Runs inside a worker process."""
    optuna = require_optuna()
    study = optuna.load_study(study_name=name, storage=storage(path))
    with claim_lock(path):
        existing = study.get_trials(deepcopy=False)
        if sum(map(counts, existing)) >= trials:
            return "skipped"
        run_config = TrainConfig.from_dict(config, source=f"study {name}")
        seed = run_config.seed * 100_003 + len(existing)  # reproducible when trials run in turn
        study.sampler = optuna.samplers.TPESampler(seed=seed)
        trial = study.ask()
        trial.set_user_attr("worker", default_worker())
    out = Path(runs_dir, *name.split(":"), f"trial-{trial.number}")
    try:
        value, figures = objective(trial, run_config, budget, out, threads)
    except Exception as err:  # one trial's failure is recorded, not fatal to the study
        trial.set_user_attr("error", "".join(traceback.format_exception_only(err)).strip())
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "failed"
    for key, figure in figures.items():
        trial.set_user_attr(key, figure)
    study.tell(trial, value)
    return "done"


def objective(trial: Any, config: TrainConfig, budget: int, out: Path, threads: int
              ) -> tuple[float, dict[str, Any]]:  # fmt: skip
    """Train ``config`` with the trial's learning rate and method options, ``budget`` device
    queries at most, into ``out``: the final validation accuracy and the figures of the trial
    (none of the test split)."""
    from physnn.train import train

    lr, searched = suggest(trial, config.method, config.lr)
    options = {**config.method_options, **searched}
    tried = replace(config, lr=lr, method_options=options, max_queries=budget)
    result = train(tried, out, overwrite=True, progress=False, threads=threads)
    last = result["history"][-1]
    figures = {
        "val_device_accuracy": last["val_device_accuracy"],
        "val_twin_accuracy": last["val_twin_accuracy"],
        "device_queries": result["device_queries"],
        "epochs": len(result["history"]),
        "stopped_by": result["stopped_by"],
        "run_dir": str(out),
        "method_options": searched,
    }
    return last[f"val_{result['headline']}_accuracy"], figures


def best_setting(study: Any, task: Task) -> dict[str, Any] | None:
    """The chosen setting of a study: its best trial's learning rate and method options, the
    validation accuracy that chose them, and how many trials were tried; None before the
    first finished trial."""
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not finished:
        return None
    best = max(finished, key=lambda t: (t.value, -t.number))
    options = best.user_attrs["method_options"]
    return {"lr": best.params["lr"], "method_options": options, "validation_accuracy": best.value,
            "device_queries": best.user_attrs.get("device_queries"), "max_queries": task.budget,
            "trial": best.number, "trials": len(finished), "study": task.name}  # fmt: skip


def tune_suite(
    suite: Suite,
    study_db: str | Path,
    settings_path: str | Path,
    *,
    trials: int,
    max_queries: int | None = None,
    entries: list[str] | None = None,
    runs_dir: str | Path = "physnn-runs/tune",
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: bool | None = None,
) -> dict[str, dict[str, Any] | None]:
    """Bring every study of ``suite`` to ``trials`` trials; write and return the chosen settings
    by tuning key (None for a study without a finished trial)."""
    check_executor(executor, workers)
    if trials < 1:
        raise ConfigError(f"{option('trials')} must be at least 1, got {trials}")
    todo = tasks(suite, entries, max_queries)
    study_db, threads = str(Path(study_db).resolve()), choose_threads(workers)
    jobs = []
    for task in todo:
        study = open_study(study_db, task)
        release_stale(study, study_db)
        missing = trials - sum(map(counts, study.get_trials(deepcopy=False)))
        config = task.config.to_dict()
        jobs += [(study_db, task.name, config, task.budget, trials, str(Path(runs_dir).resolve()),
                  threads)] * max(missing, 0)  # fmt: skip
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(jobs), unit="trial", desc=f"tune {suite.name}", disable=not show) as bar:
        if executor == "local" and workers == 1:  # one worker: in this process, no pool to start
            for job in jobs:
                run_trial(*job)
                bar.update(1)
        else:
            run_jobs(run_trial, jobs, workers=workers, executor=executor, address=address,
                     finished=lambda outcome: bar.update(1), bar=bar)  # fmt: skip
    with claim_lock(study_db):  # of several tune processes, the last to write saw the most
        chosen = {task.key: best_setting(open_study(study_db, task), task) for task in todo}
        write_settings(settings_path, {k: v for k, v in chosen.items() if v is not None})
    return chosen
