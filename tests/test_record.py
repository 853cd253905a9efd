"""Record and replay: every device interaction of a run is kept and answers the run again."""

from __future__ import annotations

import dataclasses
import gc
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import crash_at_estimate, tiny_run
from physnn.cli import main
from physnn.errors import ConfigError
from physnn.hardware.device import DeviceStats
from physnn.hardware.record import (
    RecordError,
    RecordingDevice,
    ReplayDevice,
    ReplayMismatch,
    load_record,
)
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods.pat import PhysicsAwareTraining
from physnn.reality import make_reality
from physnn.train import train
from physnn.train.config import TrainConfig
from physnn.train.folder import CHECKPOINT, RECORD
from physnn.train.replay import differences, replay

PAT = TrainConfig(**{**tiny_run("diffractive"), "method": "pat"})
TINY_FLAGS = [
    "--system", "diffractive", "--method", "pat", "--dataset", "digits", "--limit-train", "64",
    "--epochs", "2", "--batch-size", "16", "-S", "grid=16", "-S", "num_layers=2",
    "-S", "input_size=8", "-S", "detector_size=2", "-S", "detector_gap=1",
]  # fmt: skip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A tiny diffractive PAT run made by ``physnn train --record`` (the same run as PAT)."""
    run = tmp_path_factory.mktemp("recorded") / "run"
    assert main(["train", *TINY_FLAGS, "--record", "--no-progress", "--out", str(run)]) == 0
    assert json.loads((run / "result.json").read_text())["config"] == PAT.to_dict()
    return run


def events(run: Path) -> list:
    return [(e.op, e.phase, e.arrays, e.values_written) for e in load_record(run / RECORD)]


def same_events(a: list, b: list) -> bool:
    def bits(arrays):
        return {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in arrays.items()}

    return len(a) == len(b) and all(
        (op, phase, bits(arrays), n) == (op2, phase2, bits(arrays2), n2)
        for (op, phase, arrays, n), (op2, phase2, arrays2, n2) in zip(a, b, strict=True)
    )


def final_controls(run: Path) -> dict:
    model = torch.load(run / CHECKPOINT, weights_only=False)["model"]
    return {k: v for k, v in model.items() if ".controls." in k}


def test_a_replay_reproduces_the_recorded_run(recorded, tmp_path, capsys):
    replayed, original = replay(recorded, tmp_path / "replay")
    assert differences(replayed, original) == []
    changed = {**original, "device_accuracy": 0.5}
    assert differences(replayed, changed) == [
        f"device_accuracy: {replayed['device_accuracy']!r} replayed, 0.5 recorded"
    ]
    cut_short = {**replayed, "replay": {"events": 40, "replayed": 39}}
    assert differences(cut_short, original) == ["the replay used 39 of the 40 recorded events"]
    assert (
        replayed["replay"]["replayed"]
        == replayed["replay"]["events"]
        == len(load_record(recorded / RECORD))
    )
    for key in ("device_accuracy", "twin_accuracy", "device_queries", "param_writes"):
        assert replayed[key] == original[key]
    ours, theirs = final_controls(tmp_path / "replay"), final_controls(recorded)
    assert ours and all(torch.equal(ours[k], theirs[k]) for k in theirs)
    with pytest.raises(ConfigError, match="pass overwrite=True to replay into it again"):
        replay(recorded, tmp_path / "replay")

    assert main(["replay", str(recorded), "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("identical") and f"device {original['device_accuracy']:.4f}" in out


@pytest.mark.parametrize("change", [{"lr": 0.02}, {"seed": 1}])
def test_a_replay_of_another_configuration_is_refused_at_the_event_it_diverges(
    recorded, tmp_path, change
):
    device = ReplayDevice(recorded / RECORD)
    with pytest.raises(ReplayMismatch, match=r"diverged at event \d+: the run asks write") as err:
        train(dataclasses.replace(PAT, **change), tmp_path, progress=False, device=device)
    assert "recorded with physnn" in str(err.value) and "differs in" in str(err.value)


def test_the_record_holds_what_the_run_counted(recorded):
    result = json.loads((recorded / "result.json").read_text())
    record = load_record(recorded / RECORD)
    assert record.config == PAT.to_dict() and record.meta["device"] == "SimulatedDevice"
    train_stats, eval_stats = record.stats("train"), record.stats("eval")
    assert (train_stats.queries, train_stats.writes, train_stats.values_written) == (
        result["device_queries"],
        result["param_writes"],
        result["values_written"],
    )
    assert eval_stats.queries == result["eval_queries"]
    assert eval_stats.writes == result["eval_writes"]
    assert record.stats("calibration") == DeviceStats()
    ops = record.op_counts()
    assert ops["write"] == result["param_writes"] + result["eval_writes"]
    queried = [e for e in record if e.op == "query"]
    assert len(queried) == ops["query"]
    measured = sum(len(e.arrays["x"]) for e in queried)
    assert measured == result["device_queries"] + result["eval_queries"]
    assert all(e.arrays["y"].dtype == np.float32 for e in queried)
    first = next(iter(record))  # the controls the device held before the first write
    assert first.op == "read_controls" and first.group("controls")["phase"].shape == (2, 16, 16)


@pytest.mark.parametrize("crash", ["after epoch 1", "inside epoch 2"])
def test_a_resumed_run_records_exactly_the_events_of_the_run_that_finished(
    recorded, tmp_path, monkeypatch, crash
):
    out = tmp_path / "run"
    if crash == "after epoch 1":

        def stop(row):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            train(PAT, out, progress=False, record=True, on_epoch=stop)
    else:  # the steps of epoch 2 made before the crash reach the record, then are cut
        crash_at_estimate(monkeypatch, PhysicsAwareTraining, PAT, out, 6, record=True)
        checkpointed = torch.load(out / CHECKPOINT, weights_only=False)["device"]
        assert len(load_record(out / RECORD)) > checkpointed["record"]["events"]
    train(PAT, out, resume=True, progress=False, record=True)
    assert same_events(events(out), events(recorded))
    if crash == "inside epoch 2":  # (the other record is the same: it replays as the first did)
        replayed, original = replay(out, tmp_path / "replay")
        assert differences(replayed, original) == []


def test_a_refused_resume_leaves_the_record_and_a_new_run_replaces_it(recorded, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(recorded, run, ignore=shutil.ignore_patterns("result.json"))
    with pytest.raises(ConfigError, match="different configuration"):
        train(dataclasses.replace(PAT, lr=0.02), run, resume=True, progress=False, record=True)
    gc.collect()  # the refused run's recording device is gone
    assert same_events(events(run), events(recorded))
    train(PAT, run, overwrite=True, progress=False, record=True)
    assert same_events(events(run), events(recorded))


def test_a_run_checkpointed_without_a_record_cannot_resume_with_one(tmp_path, monkeypatch):
    crash_at_estimate(monkeypatch, PhysicsAwareTraining, PAT, tmp_path, 6)
    with pytest.raises(RecordError, match="checkpointed without a device record"):
        train(PAT, tmp_path, resume=True, progress=False, record=True)


def test_a_recording_device_writes_atomic_segments_as_it_goes(tiny_system, tmp_path):
    inner = SimulatedDevice(tiny_system, make_reality(tiny_system, "mild"), seed=0)
    device = RecordingDevice(inner, tmp_path, flush_every=3)
    x = torch.rand(5, 8, 8)
    device.write({"phase": torch.full((2, 16, 16), 0.5)})  # read_controls, write
    for _ in range(3):
        device.query(x)
    on_disk = sorted(tmp_path.glob("events-*.npz"))  # what a crash now would leave
    assert [f.name for f in on_disk] == ["events-000000.npz"]
    assert list(np.load(on_disk[0], allow_pickle=False)["ops"]) == [
        "read_controls",
        "write",
        "query",
    ]
    with device.accounting("eval"):
        device.query(x)
    device.close()
    record = load_record(tmp_path)
    assert len(record) == 6 and record.stats("eval").queries == 5
    assert record.stats("train") == inner.stats("train") and record.meta["config"] == {}


@pytest.mark.parametrize(
    ("system", "method", "op"),
    [("hopfield", "ep", "relax"), ("mzi", "adjoint", "measure_gradient")],
)
def test_relaxations_and_gradient_measurements_replay_identically(tmp_path, system, method, op):
    config = TrainConfig(**{**tiny_run(system), "method": method, "epochs": 1})
    result = train(config, tmp_path / "run", progress=False, record=True)
    record = load_record(tmp_path / "run" / RECORD)
    assert record.op_counts()[op] > 0 and record.stats("train").queries == result["device_queries"]
    replayed, original = replay(tmp_path / "run", tmp_path / "replay")
    assert differences(replayed, original) == []


def test_a_damaged_record_gives_a_clear_error(recorded, tmp_path):
    record = tmp_path / "record"
    shutil.copytree(recorded / RECORD, record)
    segments = sorted(record.glob("events-*.npz"))
    assert len(segments) >= 2
    last = segments[-1].read_bytes()
    segments[-1].write_bytes(last[: len(last) // 2])  # a file cut short
    with pytest.raises(RecordError, match=r"events-\d+\.npz' is damaged or incomplete"):
        load_record(record)
    with pytest.raises(RecordError, match="damaged or incomplete"):
        ReplayDevice(record)

    middle = len(last) // 2  # inside the measurements, after the segment's header
    flipped = bytes(b ^ 0xFF for b in last[middle : middle + 64])
    segments[-1].write_bytes(last[:middle] + flipped + last[middle + 64 :])
    damaged = load_record(record)
    with pytest.raises(RecordError, match="damaged or incomplete"):
        list(damaged)

    segments[0].unlink()
    with pytest.raises(RecordError, match=r"lacks segment events-000000\.npz"):
        load_record(record)
    with pytest.raises(RecordError, match="no device record"):
        load_record(tmp_path)


OLD_RECORD = Path(__file__).parent / "data" / "record-format-1"
"""A run recorded (with its result.json) by physnn before the measurement operations became one
table: mzi, adjoint, 16 training samples, one epoch; record format 1, every operation but relax."""


def test_a_record_made_before_the_operation_table_replays_identically(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(OLD_RECORD, run)
    record = load_record(run / RECORD)
    assert record.meta["format"] == 1
    assert record.op_counts() == {"read_controls": 6, "write": 3, "query": 4, "measure_gradient": 2}
    replayed, original = replay(run, tmp_path / "replay")
    assert replayed["replay"] == {"events": 15, "replayed": 15}
    assert differences(replayed, original) == []


def test_a_record_of_another_format_is_refused_with_both_versions(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(OLD_RECORD, run)
    meta = json.loads((run / RECORD / "meta.json").read_text())
    (run / RECORD / "meta.json").write_text(json.dumps({**meta, "format": 2}))
    with pytest.raises(RecordError, match=r"has record format 2; this physnn .* reads format 1"):
        replay(run, tmp_path / "replay")


def test_a_perturbation_appended_by_a_later_physnn_is_no_difference_of_a_replay():
    def result(*names):
        reality = {"perturbations": [{"perturbation": n} for n in names]}
        return {"resolved": {"reality": reality}, "device_accuracy": 0.5}

    recorded = result("a", "b")
    assert differences(result("a", "b", "c"), recorded) == []  # appended: earlier draws kept
    assert differences(result("a", "c", "b"), recorded)  # inserted: the draws change
    assert differences(result("a"), recorded)  # one is gone
