"""Experiment tracking: a run's history and result in TensorBoard event files and in an MLflow
run, read back with the tools' own readers; a resumed run continues them."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import crash_at_estimate
from physnn.errors import ConfigError
from physnn.methods import METHODS
from physnn.train import TrainConfig, tracking, train

pytest.importorskip("tensorboard")
pytest.importorskip("mlflow")

CONFIG = TrainConfig(system="crossbar", method="pat", gap="mild", epochs=2, limit_train=64,
                     system_options={"num_inputs": 16, "num_outputs": 16})  # fmt: skip


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]}  # fmt: skip


def _mlflow_run(out):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{(out / 'mlflow.db').as_posix()}")
    run = client.get_run((out / tracking.MLFLOW_RUN_ID).read_text().strip())
    return client, run


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracked") / "run"
    result = train(CONFIG, out, progress=False, log=["tensorboard", "mlflow"])
    return out, result


def test_tensorboard_holds_the_history_and_the_result(logged):
    out, result = logged
    scalars = _scalars(out / "tensorboard")
    history = result["history"]
    assert scalars["val/device_accuracy"] == [
        (row["epoch"], pytest.approx(row["val_device_accuracy"])) for row in history
    ]
    assert scalars["train/loss"][-1][1] == pytest.approx(history[-1]["train_loss"])
    assert scalars["run/device_queries"][-1] == (2, result["history"][-1]["device_queries"])
    assert scalars["test/device_accuracy"] == [(2, pytest.approx(result["device_accuracy"]))]
    energy = result["cost"]["training"]["energy_J"]["total"]
    assert scalars["cost/training_energy_J"][0][1] == pytest.approx(energy, rel=1e-6)


def test_mlflow_holds_the_configuration_history_result_and_files(logged):
    out, result = logged
    client, run = _mlflow_run(out)
    assert run.info.status == "FINISHED"
    assert (
        run.data.params["method"] == "pat" and run.data.params["system_options.num_inputs"] == "16"
    )
    steps = client.get_metric_history(run.info.run_id, "val.device_accuracy")
    assert [(m.step, m.value) for m in steps] == [
        (row["epoch"], pytest.approx(row["val_device_accuracy"])) for row in result["history"]
    ]
    assert run.data.metrics["test.device_accuracy"] == pytest.approx(result["device_accuracy"])
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"result.json", "history.png"} <= artifacts


def test_a_resumed_run_continues_the_same_mlflow_run_and_event_files(monkeypatch, tmp_path):
    out = tmp_path / "run"
    crash_at_estimate(
        monkeypatch,
        METHODS["pat"],
        CONFIG,
        out,
        3,
        checkpoint_every=0,
        log=["mlflow", "tensorboard"],
    )  # fmt: skip  (64 samples: 2 steps/epoch)
    _, killed = _mlflow_run(out)
    assert killed.info.status == "KILLED"
    result = train(CONFIG, out, resume=True, progress=False, log=["mlflow", "tensorboard"])
    client, run = _mlflow_run(out)
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    steps = client.get_metric_history(run.info.run_id, "val.device_accuracy")
    assert sorted(m.step for m in steps) == [1, 2]
    assert [s for s, _ in _scalars(out / "tensorboard")["val/device_accuracy"]] == [1, 2]
    assert result["history"][-1]["epoch"] == 2


def test_an_unknown_or_missing_tracker_is_refused_before_the_run(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="unknown tracker 'wandb'"):
        train(CONFIG, tmp_path / "a", log=["wandb"])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))  # fmt: skip
    with pytest.raises(ConfigError, match=r"pip install 'physnn\[tracking\]'"):
        train(CONFIG, tmp_path / "b", log=["mlflow"])
    assert not (tmp_path / "b" / "result.json").exists()


def test_the_users_mlflow_store_is_used_when_given(monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    store = f"sqlite:///{(tmp_path / 'lab.db').as_posix()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    train(CONFIG, tmp_path / "run", progress=False, log=["mlflow"])
    run_id = (tmp_path / "run" / tracking.MLFLOW_RUN_ID).read_text().strip()
    assert MlflowClient(tracking_uri=store).get_run(run_id).info.status == "FINISHED"
    assert not (tmp_path / "run" / "mlflow.db").exists()


def test_every_run_of_a_suite_writes_its_events(tmp_path):
    from physnn.bench.runner import run_folder, run_suite
    from physnn.bench.suite import load_suite
    from test_bench import TINY_SUITE

    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE)
    suite = load_suite(path)
    runs = tmp_path / "runs"
    counts = run_suite(suite, tmp_path / "store.db", runs_dir=runs, progress=False,
                       log=("tensorboard",))  # fmt: skip
    assert counts["done"] == len(suite.runs)
    for run in suite.runs:
        assert "val/device_accuracy" in _scalars(
            run_folder(runs.resolve(), run.key) / "tensorboard"
        )
