"""The training loop: gradient estimator + torch optimizer + update transforms.

Per epoch: one pass over the shuffled training set (the order depends only on the seed and the
epoch), then the validation accuracy measured on the device and on the twin, then an atomic
checkpoint. ``resume=True`` continues from the last checkpoint with every random stream restored,
so an interrupted run finishes with the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from physnn import __version__
from physnn.errors import ConfigError, TrainingInterrupted, option
from physnn.hardware.device import Device
from physnn.nets import PNN, Executor, run_device, run_twin
from physnn.seeds import derived_seed
from physnn.threads import choose_threads, intra_op_threads
from physnn.train.checkpoint import load_checkpoint, save_checkpoint, save_json
from physnn.train.config import TrainConfig
from physnn.train.folder import CHECKPOINT, RECORD, RESULT, Resume, check_run_folder
from physnn.train.setup import Experiment, build_experiment
from physnn.train.transforms import UpdateTransform, default_transforms
from physnn.twins import prepare_twins


@torch.no_grad()
def accuracy(model: PNN, executor: Executor, x: Tensor, y: Tensor, batch_size: int) -> float:
    """Fraction of correct argmax predictions, evaluated in batches."""
    correct = 0
    with model.executing(executor):
        for start in range(0, len(x), batch_size):
            logits = model(x[start : start + batch_size])
            correct += int((logits.argmax(-1) == y[start : start + batch_size]).sum())
    return correct / max(len(x), 1)


def evaluate(exp: Experiment, x: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracy on the device (counted as evaluation, not training) and on the twin."""
    bs = exp.config.eval_batch_size
    with exp.device.accounting("eval"):
        on_device = accuracy(exp.model, run_device, x, y, bs)
    return {"device": on_device, "twin": accuracy(exp.model, run_twin, x, y, bs)}


def apply_transforms(
    model: PNN, transform: UpdateTransform, before: list[dict[str, Tensor]]
) -> None:
    with torch.no_grad():
        for block, previous in zip(model.physical_blocks(), before, strict=True):
            proposed = {k: p.detach() for k, p in block.controls.items()}
            kept = transform(block.specs, previous, proposed)
            for k, p in block.controls.items():
                p.copy_(kept[k])


@dataclass
class EpochProgress:
    """How far the current epoch has come (saved in mid-epoch checkpoints)."""

    step: int = 0  # batches done
    loss_sum: float = 0.0
    correct: int = 0


def train_epoch(
    exp: Experiment,
    optimizer: torch.optim.Optimizer,
    transform: UpdateTransform,
    epoch: int,
    state: EpochProgress,
    *,
    progress: bool,
    save: Callable[[EpochProgress], None],
    save_every: float,
    over_budget: Callable[[], str | None],
) -> dict[str, float]:
    """One pass over the training set from ``state.step``; ``save`` every ``save_every`` s.

    Stops early, after a whole step, once ``over_budget()`` names an exhausted budget.
    """
    cfg, data, model = exp.config, exp.dataset, exp.model
    order = torch.randperm(
        len(data.x_train),
        generator=torch.Generator().manual_seed(derived_seed(cfg.seed, f"epoch{epoch}")),
    )
    num_batches = -(-len(order) // cfg.batch_size)
    if state.step == 0:  # not when resuming inside the epoch: the method's state was restored
        exp.estimator.start_epoch(epoch)
    bar = tqdm(
        range(state.step, num_batches),
        initial=state.step,
        total=num_batches,
        desc=f"epoch {epoch + 1}/{cfg.epochs}",
        disable=not progress,
        leave=False,
    )
    last_save = time.monotonic()
    for step in bar:
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        x = data.x_train[idx].to(exp.torch_device)
        y = data.y_train[idx].to(exp.torch_device)
        before = [
            {k: p.detach().clone() for k, p in b.controls.items()} for b in model.physical_blocks()
        ]
        optimizer.zero_grad(set_to_none=True)
        loss, logits = exp.estimator.estimate(model, x, y, F.cross_entropy)
        optimizer.step()
        apply_transforms(model, transform, before)
        if exp.estimator.requirements.device_forward:
            model.deploy()  # the device follows every update (counted as a training write)
        state.step += 1
        state.loss_sum += float(loss) * len(idx)
        state.correct += int((logits.argmax(-1) == y).sum())
        bar.set_postfix(loss=f"{float(loss):.3f}")
        if over_budget():
            break
        if state.step < num_batches and time.monotonic() - last_save >= save_every:
            save(state)
            last_save = time.monotonic()
    seen = max(1, min(state.step * cfg.batch_size, len(order)))
    return {"train_loss": state.loss_sum / seen, "train_accuracy": state.correct / seen}


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
    already busy, or ``$PHYSNN_THREADS``).

    Ctrl-C raises :class:`~physnn.errors.TrainingInterrupted`, whose message says what the
    folder holds.
    """
    out = Path(out)
    check_run_folder(out, resume=resume, overwrite=overwrite)
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
            return _train(
                config, out, checkpoint, saved, progress, on_epoch, checkpoint_every, device, record
            )
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


def _train(
    config: TrainConfig,
    out: Path,
    checkpoint: dict[str, Any] | None,
    saved: SavedState,
    progress: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    checkpoint_every: float,
    device: Device | None,
    record: bool,
) -> dict[str, Any]:
    """:func:`train` once the folder is checked (``checkpoint``: the state to resume from) and
    the threads are set; ``saved`` follows every checkpoint written."""
    ckpt_path, result_path = out / CHECKPOINT, out / RESULT
    exp = build_experiment(config, device=device, record_dir=out / RECORD if record else None)
    optimizer = torch.optim.Adam(exp.estimator.optimized_parameters(exp.model), lr=config.lr)
    transform = default_transforms(config.max_step)
    history: list[dict[str, Any]] = []
    start_epoch, elapsed_before, partial = 0, 0.0, EpochProgress()
    session_start = time.perf_counter()  # the wall time includes fitting the twins
    if checkpoint is not None:
        state = checkpoint
        _check_same_config(state["config"], config, ckpt_path)
        exp.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        exp.device.load_state_dict(state["device"])
        exp.estimator.load_state_dict(state["estimator"])
        history, start_epoch, elapsed_before = state["history"], state["epoch"], state["elapsed"]
        partial = EpochProgress(**state["partial"])
        twin_fit = state.get("twin_fit", {})
    else:
        twin_fit = prepare_twins(exp, progress=progress)

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - session_start

    def save(epochs_done: int, progress_in_epoch: EpochProgress) -> None:
        save_checkpoint(
            ckpt_path,
            {
                "config": config.to_dict(),
                "epoch": epochs_done,
                "partial": asdict(progress_in_epoch),
                "elapsed": elapsed(),
                "history": history,
                "model": exp.model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "device": exp.device.state_dict(),
                "estimator": exp.estimator.state_dict(),
                "twin_fit": twin_fit,
                "threads": torch.get_num_threads(),
            },
        )
        saved.epochs, saved.steps = epochs_done, progress_in_epoch.step

    def over_budget() -> str | None:
        if config.max_queries and exp.device.stats("train").queries >= config.max_queries:
            return "max_queries"
        if config.max_seconds and elapsed() >= config.max_seconds:
            return "max_seconds"
        return None

    data = exp.dataset
    x_val, y_val = data.x_val.to(exp.torch_device), data.y_val.to(exp.torch_device)
    for epoch in range(start_epoch, config.epochs):
        if over_budget():
            break
        t0 = time.perf_counter()
        metrics = train_epoch(
            exp,
            optimizer,
            transform,
            epoch,
            partial,
            progress=progress,
            save=lambda p, done=epoch: save(done, p),
            save_every=checkpoint_every,
            over_budget=over_budget,
        )
        val = evaluate(exp, x_val, y_val)
        stats = exp.device.stats("train")
        row = {
            "epoch": epoch + 1,
            **metrics,
            "val_device_accuracy": val["device"],
            "val_twin_accuracy": val["twin"],
            "device_queries": stats.queries,
            "param_writes": stats.writes,
            "epoch_seconds": time.perf_counter() - t0,
            **exp.estimator.epoch_diagnostics(),
        }
        history.append(row)
        partial = EpochProgress()
        save(epoch + 1, partial)
        if on_epoch:
            on_epoch(row)

    stopped_by = over_budget() or "epochs"  # before the test evaluation adds to the wall time
    test = evaluate(exp, data.x_test.to(exp.torch_device), data.y_test.to(exp.torch_device))
    result = {**_result(exp, test, history, elapsed()), "stopped_by": stopped_by}
    if (health := _device_health(exp.device)) is not None:
        result["device_health"] = health
    if twin_fit:
        result["twin_fit"] = twin_fit
    save_json(result_path, result)
    if device is None or record:  # what this run opened (a server lease, a record) it closes
        exp.device.close()
    _plot_history(history, out / "history.png", title=_title(config))
    return result


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
    """Validation accuracy on device and twin, and training loss, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    ax_acc.plot(epochs, [r["val_device_accuracy"] for r in history], "o-", label="device")
    ax_acc.plot(epochs, [r["val_twin_accuracy"] for r in history], "s--", label="twin")
    ax_acc.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
    ax_acc.legend()
    ax_loss.plot(epochs, [r["train_loss"] for r in history], "o-")
    ax_loss.set(xlabel="epoch", ylabel="training loss")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
