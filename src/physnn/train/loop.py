"""The training run: build the experiment, resume it or fit its twins, train the epochs,
evaluate on the test set, write the result.

Per epoch: one pass over the shuffled training set (the order depends only on the seed and the
epoch; each step is :func:`physnn.train.step.train_step`: estimate → optimizer → update
transforms → commit), then the validation accuracy measured on the device and on the twin, then
an atomic checkpoint. ``resume=True`` continues from the last checkpoint with every random
stream restored, so an interrupted run finishes with the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from physnn import __version__
from physnn.errors import ConfigError, TrainingInterrupted, option
from physnn.hardware.device import Device
from physnn.threads import choose_threads, intra_op_threads
from physnn.train.checkpoint import load_checkpoint, save_checkpoint, save_json
from physnn.train.config import TrainConfig
from physnn.train.costing import run_cost
from physnn.train.folder import CHECKPOINT, RECORD, RESULT, Resume, check_run_folder
from physnn.train.setup import Experiment, build_experiment, prepare_twins
from physnn.train.step import EpochProgress, evaluate, train_epoch
from physnn.train.tracking import check_trackers, open_trackers
from physnn.train.transforms import default_transforms


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    resume: Resume = False,
    overwrite: bool = False,
    progress: bool | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    checkpoint_every: float = 300.0,
    device: Device | None = None,
    record: bool = False,
    threads: int | None = None,
    log: Sequence[str] = (),
) -> dict[str, Any]:
    """Train, evaluate on the device and the twin, and write ``out/result.json``.

    A checkpoint is written atomically after every epoch and, within long epochs, every
    ``checkpoint_every`` seconds. ``resume=True`` continues the run in ``out`` (finished: its
    result is returned) and refuses a folder that holds nothing to resume; ``resume="if-possible"``
    continues it if there is one and starts it otherwise. ``progress`` draws progress bars on
    stderr (default: only when stderr is a terminal). ``on_epoch`` receives each epoch's metrics.
    ``device`` replaces the configured device (a lab instrument, a replayed record); ``record``
    keeps every device interaction in ``out/device-record`` for
    :func:`physnn.train.replay.replay`. ``threads`` is torch's intra-op thread count during the
    run (default: a resumed run's own, else :func:`physnn.threads.choose_threads`: the cores not
    already busy, or ``$PHYSNN_THREADS``). ``log`` names experiment trackers that also receive
    the history and the result (``"tensorboard"``, ``"mlflow"``: :mod:`physnn.train.tracking`).

    Ctrl-C raises :class:`~physnn.errors.TrainingInterrupted`, whose message says what the
    folder holds.
    """
    out = Path(out)
    check_run_folder(out, resume=resume, overwrite=overwrite)
    check_trackers(log)
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    if progress is None:
        progress = sys.stderr.isatty()
    ckpt_path, result_path = out / CHECKPOINT, out / RESULT
    if resume and result_path.exists():
        finished = json.loads(result_path.read_text())
        _check_same_config(finished["config"], config, result_path)
        return finished
    if overwrite and not resume:  # nothing of the old run may be resumed by mistake later
        for stale in (ckpt_path, result_path):
            stale.unlink(missing_ok=True)
    checkpoint = load_checkpoint(ckpt_path) if resume and ckpt_path.exists() else None
    saved = SavedState.of(checkpoint)
    threads = threads or (checkpoint or {}).get("threads") or choose_threads()
    with intra_op_threads(threads):
        try:
            session = _Session(progress, on_epoch, checkpoint_every, device, record, tuple(log))
            return _train(config, out, checkpoint, saved, session)
        except KeyboardInterrupt:
            raise TrainingInterrupted(saved.describe(out, config.epochs)) from None


@dataclass
class SavedState:
    """What the run folder's checkpoint holds, kept up to date as the run saves."""

    epochs: int | None = None  # finished epochs in the checkpoint; None: no checkpoint
    steps: int = 0  # steps of the next epoch in it

    @classmethod
    def of(cls, checkpoint: dict[str, Any] | None) -> SavedState:
        if checkpoint is None:
            return cls()
        return cls(checkpoint["epoch"], checkpoint["partial"]["step"])

    def describe(self, out: Path, epochs: int) -> str:
        if self.epochs is None:
            return (
                "interrupted before the first checkpoint: nothing of this run is saved in "
                f"{str(out)!r}"
            )
        steps = f" and {self.steps} steps of epoch {self.epochs + 1}" if self.steps else ""
        return (
            f"interrupted; {str(out)!r} holds the checkpoint after {self.epochs} of {epochs} "
            f"epochs{steps}: continue with {option('resume', True)}"
        )


@dataclass(frozen=True)
class _Session:
    """How :func:`train` runs, beside what it trains (see its arguments)."""

    progress: bool
    on_epoch: Callable[[dict[str, Any]], None] | None
    checkpoint_every: float
    device: Device | None
    record: bool
    log: tuple[str, ...]


def _train(
    config: TrainConfig,
    out: Path,
    checkpoint: dict[str, Any] | None,
    saved: SavedState,
    session: _Session,
) -> dict[str, Any]:
    """:func:`train` once the folder is checked (``checkpoint``: the state to resume from) and
    the threads are set; ``saved`` follows every checkpoint written."""
    device, record, progress = session.device, session.record, session.progress
    exp = build_experiment(config, device=device, record_dir=out / RECORD if record else None)
    run = _Run(exp, config, out / CHECKPOINT, saved)  # the wall time includes fitting the twins
    if checkpoint is not None:
        run.resume(checkpoint)
    else:
        run.twin_fit = prepare_twins(exp, progress=progress)
    trackers = open_trackers(session.log, out, config.to_dict(), run.start_epoch)

    def epoch_done(row: dict[str, Any]) -> None:
        for tracker in trackers:
            tracker.epoch(row)
        if session.on_epoch:
            session.on_epoch(row)

    try:
        return _finish(exp, run, out, session, epoch_done, trackers)
    except BaseException:  # a crash or Ctrl-C: the trackers keep what was logged, marked so
        for tracker in trackers:
            tracker.abort()
        raise


def _finish(
    exp: Experiment,
    run: _Run,
    out: Path,
    session: _Session,
    epoch_done: Callable[[dict[str, Any]], None],
    trackers: list,
) -> dict[str, Any]:
    """The epochs, the test evaluation, the result and its files, the trackers' last word."""
    config, device = exp.config, session.device
    run.epochs(progress=session.progress, on_epoch=epoch_done, save_every=session.checkpoint_every)
    stopped_by = run.over_budget() or "epochs"  # before the test evaluation adds to the wall time
    data = exp.dataset
    test = evaluate(exp, data.x_test.to(exp.torch_device), data.y_test.to(exp.torch_device))
    result = {**_result(exp, test, run.history, run.elapsed()), "stopped_by": stopped_by}
    result["cost"] = run_cost(exp)
    if (health := _device_health(exp.device)) is not None:
        result["device_health"] = health
    if run.twin_fit:
        result["twin_fit"] = run.twin_fit
    save_json(out / RESULT, result)
    if device is None or session.record:  # what this run opened (a lease, a record) it closes
        exp.device.close()
    _plot_history(run.history, out / "history.png", title=_title(config))
    for tracker in trackers:
        tracker.finish(result, out)
    return result


class _Run:
    """One training session: the experiment with its optimizer and update transforms, the
    history, the clock (including the time of the sessions before a resume) and the
    checkpoint it saves."""

    def __init__(self, exp: Experiment, config: TrainConfig, path: Path, saved: SavedState):
        self.exp, self.config, self.path, self.saved = exp, config, path, saved
        params = exp.estimator.optimized_parameters(exp.model)
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self.transform = default_transforms(config.max_step)
        self.history: list[dict[str, Any]] = []
        self.start_epoch, self.elapsed_before, self.partial = 0, 0.0, EpochProgress()
        self.twin_fit: dict[str, Any] = {}
        self.session_start = time.perf_counter()

    def resume(self, state: dict[str, Any]) -> None:
        """Restore the model, optimizer, device, method, history and clock of a checkpoint."""
        exp = self.exp
        _check_same_config(state["config"], self.config, self.path)
        exp.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        exp.device.load_state_dict(state["device"])
        exp.estimator.load_state_dict(state["estimator"])
        self.history, self.start_epoch = state["history"], state["epoch"]
        self.elapsed_before, self.partial = state["elapsed"], EpochProgress(**state["partial"])
        self.twin_fit = state.get("twin_fit", {})
        if "digital" in state:  # checkpoints before the cost model counted no FLOPs
            exp.meter.load_state_dict(state["digital"])

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.session_start

    def over_budget(self) -> str | None:
        """The name of the budget (``max_queries``, ``max_seconds``) spent, if one is."""
        config = self.config
        if config.max_queries and self.exp.device.stats("train").queries >= config.max_queries:
            return "max_queries"
        if config.max_seconds and self.elapsed() >= config.max_seconds:
            return "max_seconds"
        return None

    def save(self, epochs_done: int, progress_in_epoch: EpochProgress) -> None:
        exp = self.exp
        save_checkpoint(
            self.path,
            {
                "config": self.config.to_dict(),
                "epoch": epochs_done,
                "partial": asdict(progress_in_epoch),
                "elapsed": self.elapsed(),
                "history": self.history,
                "model": exp.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "device": exp.device.state_dict(),
                "estimator": exp.estimator.state_dict(),
                "twin_fit": self.twin_fit,
                "digital": exp.meter.state_dict(),
                "threads": torch.get_num_threads(),
            },
        )
        self.saved.epochs, self.saved.steps = epochs_done, progress_in_epoch.step

    def epochs(
        self,
        *,
        progress: bool,
        on_epoch: Callable[[dict[str, Any]], None] | None,
        save_every: float,
    ) -> None:
        """The remaining epochs, each followed by its validation row and a checkpoint; stops
        before an epoch, or after a step, once a budget is spent."""
        for epoch in range(self.start_epoch, self.config.epochs):
            if self.over_budget():
                break
            row = self.epoch(epoch, progress=progress, save_every=save_every)
            self.history.append(row)
            self.partial = EpochProgress()
            self.save(epoch + 1, self.partial)
            if on_epoch:
                on_epoch(row)

    def epoch(self, epoch: int, *, progress: bool, save_every: float) -> dict[str, Any]:
        """Train one epoch (from where a resumed one stopped) and validate: its history row."""
        exp, t0 = self.exp, time.perf_counter()
        metrics = train_epoch(
            exp,
            self.optimizer,
            self.transform,
            epoch,
            self.partial,
            progress=progress,
            save=lambda p: self.save(epoch, p),
            save_every=save_every,
            over_budget=self.over_budget,
        )
        data = exp.dataset
        val = evaluate(exp, data.x_val.to(exp.torch_device), data.y_val.to(exp.torch_device))
        stats = exp.device.stats("train")
        return {
            "epoch": epoch + 1,
            **metrics,
            "val_device_accuracy": val["device"],
            "val_twin_accuracy": val["twin"],
            "device_queries": stats.queries,
            "param_writes": stats.writes,
            "epoch_seconds": time.perf_counter() - t0,
            **exp.estimator.epoch_diagnostics(),
        }


def _result(
    exp: Experiment, test: dict[str, float], history: list, elapsed: float
) -> dict[str, Any]:
    cfg, train_stats, eval_stats = exp.config, exp.device.stats("train"), exp.device.stats("eval")
    headline = exp.estimator.headline
    return {
        "system": cfg.system,
        "preset": cfg.preset,
        "method": cfg.method,
        "dataset": cfg.dataset_name,
        "seed": cfg.seed,
        "epochs": cfg.epochs,
        "gap": cfg.gap_label,
        "device_accuracy": test["device"],
        "twin_accuracy": test["twin"],
        "headline": headline,
        "accuracy": test[headline],
        "device_queries": train_stats.queries,
        "param_writes": train_stats.writes,
        "values_written": train_stats.values_written,
        "eval_queries": eval_stats.queries,
        "eval_writes": eval_stats.writes,
        "calibration_queries": exp.device.stats("calibration").queries,
        "wall_seconds": elapsed,
        "history": history,
        "config": cfg.to_dict(),
        "resolved": {
            "system": exp.system.describe(),
            "method": exp.estimator.describe(),
            "reality": exp.reality.describe(),
            "dataset": exp.dataset.summary(),
            "dataset_sha256": exp.dataset.fingerprint,
            "torch_device": str(exp.torch_device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "version": __version__,
    }


def _check_same_config(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse to resume a run made with other options (fields added since take their defaults)."""
    saved = TrainConfig.from_dict(saved, source=str(path)).to_dict()
    current = config.to_dict()
    diff = sorted(k for k in current if saved[k] != current[k])
    if diff:
        raise ConfigError(
            f"{str(path)!r} was made with a different configuration ({', '.join(diff)} differ); "
            f"use the same options to resume, or {option('overwrite', True)} to start again"
        )


def _title(config: TrainConfig) -> str:
    run = f"{config.dataset_name}, gap {config.gap_label}, seed {config.seed}"
    return f"{config.method} on {config.substrate} ({run})"


def _device_health(device: Device | None) -> dict[str, Any] | None:
    """How flaky the device was: a lab instrument's timeouts and bad frames, a device server's
    retries, restarts and resyncs (any device with a ``health()`` dataclass), also through a
    wrapper that passes operations to an inner device (a recording); None for other devices."""
    while device is not None:
        health = getattr(device, "health", None)
        if callable(health):
            return asdict(health())
        device = getattr(device, "inner", None)
    return None


def _plot_history(history: list[dict[str, Any]], path: Path, title: str) -> None:
    """Validation accuracy on device and twin, and training loss, per epoch (an Agg canvas of
    its own: the caller's matplotlib backend and pyplot state are left alone)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(9, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax_acc, ax_loss = fig.subplots(1, 2)
    ax_acc.plot(epochs, [r["val_device_accuracy"] for r in history], "o-", label="device")
    ax_acc.plot(epochs, [r["val_twin_accuracy"] for r in history], "s--", label="twin")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
    ax_acc.legend()
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-")
    ax_loss.set(xlabel="epoch", ylabel="training loss")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
