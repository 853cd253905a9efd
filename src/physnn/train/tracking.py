"""Experiment tracking: a run's history where labs already look, TensorBoard or MLflow.

``physnn train --log tensorboard --log mlflow`` (and ``train(..., log=...)``, ``physnn bench
--log …``) writes, beside the run's own ``result.json``:

* ``tensorboard`` — event files in ``OUT/tensorboard``: every numeric field of each epoch's
  history row as a scalar at that epoch (``train/loss``, ``val/device_accuracy``,
  ``device/queries`` …), the configuration as text, and at the end the test accuracies, the
  device counters and the bill's totals (``test/…``, ``cost/…``) at the last epoch. Open with
  ``tensorboard --logdir OUT`` (or a folder of runs).
* ``mlflow`` — one run in the MLflow tracking store ``$MLFLOW_TRACKING_URI``, by default a
  local SQLite store ``OUT/mlflow.db`` with its artifacts in ``OUT/mlartifacts`` (MLflow 3
  keeps the plain file store ``mlruns/`` in maintenance mode; experiment ``physnn``; open with
  ``mlflow ui --backend-store-uri sqlite:///OUT/mlflow.db``): the configuration as parameters,
  each epoch's numbers as metrics with the epoch as step, the final numbers as metrics, and
  ``result.json`` and ``history.png`` as artifacts. A resumed run continues the same MLflow run.

Both are optional extras (``pip install 'physnn[tracking]'``: tensorboard, mlflow-skinny and
the SQL packages of its store) and
are imported only when asked for; ``physnn report`` stays the default view.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError

TRACKERS = ("tensorboard", "mlflow")
"""The trackers, each named like the package it imports."""
HISTORY_GROUPS = {"train_": "train/", "val_": "val/"}
"""History fields by prefix → scalar tag prefix; the others go under ``run/``."""
EXPERIMENT = "physnn"
"""The MLflow experiment physnn's runs are logged under."""
MLFLOW_RUN_ID = "mlflow-run-id"
"""The file in the run folder that keeps the MLflow run of a run that may be resumed."""


def check_trackers(names: Sequence[str]) -> None:
    """Raise ConfigError for an unknown tracker or one whose package is not installed."""
    import importlib.util

    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"unknown tracker {name!r}; choose from: {', '.join(TRACKERS)}")
        if importlib.util.find_spec(name) is None:
            raise ConfigError(
                f"--log {name} needs the {name} package: pip install 'physnn[tracking]'"
            )


def _scalars(row: dict[str, Any]) -> dict[str, float]:
    """The numeric fields of a history row, by TensorBoard tag."""
    tags = {}
    for key, value in row.items():
        if key == "epoch" or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        prefix = next((tag for p, tag in HISTORY_GROUPS.items() if key.startswith(p)), "run/")
        tags[prefix + key.removeprefix("train_").removeprefix("val_")] = float(value)
    return tags


def final_numbers(result: dict[str, Any]) -> dict[str, float]:
    """The run's final numbers: test accuracies, device counters, the bill's totals."""
    numbers = {f"test/{k}": float(result[k]) for k in ("device_accuracy", "twin_accuracy")}
    for key in ("device_queries", "param_writes", "values_written", "calibration_queries"):
        numbers[f"device/{key}"] = float(result.get(key, 0))
    bill = result.get("cost") or {}
    if "training" in bill:
        numbers["cost/training_energy_J"] = bill["training"]["energy_J"]["total"]
        numbers["cost/training_time_s"] = bill["training"]["time_s"]["total"]
        numbers["cost/inference_energy_J"] = bill["inference"]["energy_J"]
        numbers["cost/endurance_used"] = bill["training"]["endurance_used"]
    return numbers


class TensorBoardTracker:
    """Event files in ``OUT/tensorboard``."""

    def __init__(self, out: Path, config: dict[str, Any], first_epoch: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # a resumed run drops the events of epochs it will train again
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=first_epoch + 1)
        if first_epoch == 0:
            self.writer.add_text("config", f"```\n{json.dumps(config, indent=2)}\n```", 0)
        self.last_epoch = first_epoch

    def epoch(self, row: dict[str, Any]) -> None:
        self.last_epoch = int(row["epoch"])
        for tag, value in _scalars(row).items():
            self.writer.add_scalar(tag, value, self.last_epoch)
        self.writer.flush()

    def finish(self, result: dict[str, Any], out: Path) -> None:
        for tag, value in final_numbers(result).items():
            self.writer.add_scalar(tag, value, self.last_epoch)
        self.writer.close()

    def abort(self) -> None:
        self.writer.close()


class MLflowTracker:
    """One MLflow run (the SQLite store ``OUT/mlflow.db`` unless ``$MLFLOW_TRACKING_URI``)."""

    def __init__(self, out: Path, config: dict[str, Any], first_epoch: int) -> None:
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(_tracking_uri(out))
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else mlflow.create_experiment(
                EXPERIMENT, artifact_location=(out / "mlartifacts").resolve().as_uri()
            )
        )
        saved = out / MLFLOW_RUN_ID
        run_id = saved.read_text().strip() if first_epoch and saved.is_file() else None
        self.run = mlflow.start_run(run_id=run_id, experiment_id=experiment_id, run_name=out.name)
        saved.write_text(self.run.info.run_id)
        if run_id is None:
            mlflow.log_params(_flat(config))

    def epoch(self, row: dict[str, Any]) -> None:
        metrics = {tag.replace("/", "."): v for tag, v in _scalars(row).items()}
        self.mlflow.log_metrics(metrics, step=int(row["epoch"]))

    def finish(self, result: dict[str, Any], out: Path) -> None:
        metrics = {tag.replace("/", "."): v for tag, v in final_numbers(result).items()}
        self.mlflow.log_metrics(metrics)
        for name in ("result.json", "history.png"):
            if (out / name).is_file():
                self.mlflow.log_artifact(str(out / name))
        self.mlflow.end_run()

    def abort(self) -> None:
        self.mlflow.end_run(status="KILLED")  # resumed, it runs again under the same id


_OURS: set[str] = set()
"""The tracking URIs physnn chose (MLflow puts the last one in ``$MLFLOW_TRACKING_URI``)."""


def _tracking_uri(out: Path) -> str:
    """The user's ``$MLFLOW_TRACKING_URI``, else the run's own SQLite store."""
    given = os.environ.get("MLFLOW_TRACKING_URI")
    if given and given not in _OURS:
        return given
    uri = f"sqlite:///{(out / 'mlflow.db').resolve().as_posix()}"
    _OURS.add(uri)
    return uri


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    """A nested configuration as ``a.b`` parameters (MLflow's values are strings)."""
    if isinstance(value, dict):
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(_flat(item, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): str(value)}


def open_trackers(
    names: Sequence[str], out: Path, config: dict[str, Any], first_epoch: int
) -> list[TensorBoardTracker | MLflowTracker]:
    """The trackers named (each once), started for a run from ``first_epoch`` (0: a new run)."""
    kinds = {"tensorboard": TensorBoardTracker, "mlflow": MLflowTracker}
    out.mkdir(parents=True, exist_ok=True)
    return [kinds[name](out, config, first_epoch) for name in dict.fromkeys(names)]
