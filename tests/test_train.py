"""The training loop: results, checkpoints, resume after a crash, determinism."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from conftest import TINY_RUN, crash_at_estimate, without_timings
from physnn.errors import ConfigError, TrainingInterrupted
from physnn.methods.insilico import NoiseAware
from physnn.methods.pat import PhysicsAwareTraining
from physnn.threads import THREADS_ENV, choose_threads
from physnn.train import TrainConfig, train
from physnn.train.transforms import default_transforms, limit_step, project_to_bounds

REQUIRED_KEYS = {
    "system", "method", "dataset", "seed", "epochs", "gap", "device_accuracy", "twin_accuracy",
    "device_queries", "param_writes", "wall_seconds", "history", "config", "version",
}  # fmt: skip


def test_result_json_has_the_contract_keys(tmp_path):
    config = TrainConfig(method="pat", gap="moderate", **TINY_RUN)
    result = train(config, tmp_path, progress=False)
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk.keys() >= REQUIRED_KEYS
    assert on_disk["config"] == config.to_dict()
    assert on_disk["device_queries"] == TINY_RUN["epochs"] * TINY_RUN["limit_train"]
    steps = TINY_RUN["epochs"] * TINY_RUN["limit_train"] // TINY_RUN["batch_size"]
    assert on_disk["param_writes"] == steps + 1  # the initial controls, then one per update
    assert on_disk["eval_writes"] == 0
    assert (tmp_path / "history.png").stat().st_size > 1000
    assert result["device_accuracy"] == on_disk["device_accuracy"]


def test_same_seed_same_result(tmp_path):
    config = TrainConfig(method="pat", gap="severe", **TINY_RUN)
    a = train(config, tmp_path / "a", progress=False)
    b = train(config, tmp_path / "b", progress=False)
    assert without_timings(a) == without_timings(b)


def test_resume_after_a_crash_mid_epoch_gives_the_same_result(tmp_path, monkeypatch):
    config = TrainConfig(method="pat", gap="moderate", **{**TINY_RUN, "epochs": 3})
    reference = train(config, tmp_path / "ref", progress=False)

    # 4 steps per epoch: the 6th is the middle of epoch 2
    crash_at_estimate(monkeypatch, PhysicsAwareTraining, config, tmp_path / "run", 6)
    assert not (tmp_path / "run" / "result.json").exists()
    assert (tmp_path / "run" / "checkpoint.pt").exists()

    with pytest.raises(ConfigError, match="resume=True"):
        train(config, tmp_path / "run", progress=False)
    other = TrainConfig(method="pat", gap="moderate", **{**TINY_RUN, "epochs": 3, "seed": 5})
    with pytest.raises(ConfigError, match="seed"):
        train(other, tmp_path / "run", resume=True, progress=False)
    resumed = train(config, tmp_path / "run", resume=True, progress=False)
    assert without_timings(resumed) == without_timings(reference)
    # resuming a finished run returns it unchanged
    assert train(config, tmp_path / "run", resume=True, progress=False) == resumed


def test_resume_from_a_mid_epoch_checkpoint(tmp_path, monkeypatch):
    config = TrainConfig(method="noise-aware", gap="mild", **TINY_RUN)
    reference = train(config, tmp_path / "ref", progress=False)

    # the 7th step is the third of epoch 2; steps 5 and 6 were checkpointed
    crash_at_estimate(monkeypatch, NoiseAware, config, tmp_path / "run", 7, checkpoint_every=0)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert (saved["epoch"], saved["partial"]["step"]) == (1, 2)
    resumed = train(config, tmp_path / "run", resume=True, progress=False)
    assert without_timings(resumed) == without_timings(reference)


def test_update_transforms_wrap_and_limit(tiny_system):
    specs = tiny_system.control_specs()
    before = {"phase": torch.full(specs["phase"].shape, 6.2)}
    proposed = {"phase": torch.full(specs["phase"].shape, 6.4)}
    kept = project_to_bounds(specs, before, proposed)["phase"]
    assert torch.allclose(kept, torch.full_like(kept, 6.4 - 2 * torch.pi))
    # across the wrap, 6.2 → 0.1 is a step of +0.183 rad, not −6.1
    limited = limit_step(0.05)(specs, before, {"phase": torch.full_like(kept, 0.1)})["phase"]
    assert torch.allclose(limited, torch.full_like(limited, 6.25))
    both = default_transforms(0.05)(specs, before, {"phase": torch.full_like(kept, 0.1)})["phase"]
    assert torch.allclose(both, torch.full_like(both, 6.25))
    with pytest.raises(ValueError):
        limit_step(0)


def test_max_step_limits_every_write(tmp_path):
    config = TrainConfig(method="pat", gap="none", max_step=1e-3, lr=0.5, **TINY_RUN)
    train(config, tmp_path, progress=False)
    # with a 1 mrad slew limit, 8 steps move each phase by at most 8 mrad from the start
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    written = state["device"]["controls"]["phase"]
    from physnn.train.setup import build_experiment

    start = build_experiment(config).model.physical_blocks()[0].controls["phase"].detach()
    delta = torch.remainder(written - start + torch.pi, 2 * torch.pi) - torch.pi
    assert delta.abs().max() <= 8e-3 + 1e-5


def test_bad_config_values_are_config_errors():
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({"epoch": 3})


def test_query_budget_stops_training(tmp_path):
    config = TrainConfig(method="pat", gap="none", max_queries=40, **TINY_RUN)
    result = train(config, tmp_path, progress=False)
    assert result["stopped_by"] == "max_queries"
    assert result["device_queries"] == 48  # the step that crossed the budget completes
    assert len(result["history"]) == 1
    unlimited = train(
        TrainConfig(method="pat", gap="none", **TINY_RUN), tmp_path / "b", progress=False
    )
    assert unlimited["stopped_by"] == "epochs"
    with pytest.raises(ConfigError, match="max_queries"):
        TrainConfig(max_queries=-5)


def test_resume_accepts_checkpoints_from_before_a_new_option(tmp_path):
    config = TrainConfig(method="insilico", gap="none", **TINY_RUN)
    first = train(config, tmp_path, progress=False)
    older = json.loads((tmp_path / "result.json").read_text())
    del older["config"]["max_seconds"]  # a field that did not exist yet
    (tmp_path / "result.json").write_text(json.dumps(older))
    assert (
        train(config, tmp_path, resume=True, progress=False)["device_accuracy"]
        == first["device_accuracy"]
    )
    with pytest.raises(ConfigError, match="epochs differ"):
        train(TrainConfig(method="insilico", gap="none", **{**TINY_RUN, "epochs": 3}), tmp_path,
              resume=True, progress=False)  # fmt: skip


def test_resume_with_nothing_to_resume_is_an_error_and_creates_nothing(tmp_path):
    config = TrainConfig(method="insilico", gap="none", **TINY_RUN)
    with pytest.raises(ConfigError, match=r"nothing to resume in .*without resume=True"):
        train(config, tmp_path / "typo", resume=True, progress=False)
    assert not (tmp_path / "typo").exists()
    started = train(config, tmp_path / "typo", resume="if-possible", progress=False)
    assert train(config, tmp_path / "typo", resume="if-possible", progress=False) == started
    with pytest.raises(ConfigError, match="resume must be"):
        train(config, tmp_path / "other", resume="yes", progress=False)


@pytest.mark.parametrize(
    ("step", "saved"),
    [(2, "nothing of this run is saved"), (6, "after 1 of 2 epochs: continue with resume=True")],
)
def test_an_interruption_says_what_the_folder_holds(tmp_path, monkeypatch, step, saved):
    config = TrainConfig(method="pat", gap="moderate", **TINY_RUN)
    interrupted = crash_at_estimate(monkeypatch, PhysicsAwareTraining, config, tmp_path, step)
    assert isinstance(interrupted, TrainingInterrupted)
    assert saved in str(interrupted)
    assert ("--resume" in interrupted.for_cli()) == (step == 6)
    assert (tmp_path / "checkpoint.pt").exists() == (step == 6)


def test_overwrite_removes_the_old_run_before_anything_is_saved(tmp_path, monkeypatch):
    config = TrainConfig(method="pat", gap="moderate", **TINY_RUN)
    train(config, tmp_path, progress=False)
    interrupted = crash_at_estimate(
        monkeypatch, PhysicsAwareTraining, config, tmp_path, 2, overwrite=True
    )
    assert "nothing of this run is saved" in str(interrupted)
    assert not (tmp_path / "result.json").exists()  # no stale result to be "resumed" later


def test_no_progress_bars_unless_stderr_is_a_terminal(tmp_path, capsys):
    train(TrainConfig(method="insilico", gap="none", **TINY_RUN), tmp_path)
    assert capsys.readouterr().err == ""


def test_results_are_readable_by_the_group_under_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        train(TrainConfig(method="insilico", gap="none", **TINY_RUN), tmp_path, progress=False)
    finally:
        os.umask(previous)
    for name in ("result.json", "checkpoint.pt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


def test_a_custom_reality_is_labelled_with_its_knobs(tmp_path):
    config = TrainConfig(method="insilico", gap="none", gap_options={"lateral": 0.2}, **TINY_RUN)
    result = train(config, tmp_path, progress=False)
    assert result["gap"] == config.gap_label == "none+lateral=0.2"
    assert result["resolved"]["reality"]["level"] == result["gap"]


def test_threads_are_set_for_the_run_and_restored(tmp_path):
    before = torch.get_num_threads()
    result = train(TrainConfig(method="insilico", gap="none", **TINY_RUN), tmp_path,
                   progress=False, threads=1)  # fmt: skip
    assert result["resolved"]["threads"] == 1
    assert torch.get_num_threads() == before


def test_free_threads_leave_the_busy_cores_and_share_the_rest(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    for load, workers, expected in [(0.2, 1, 8), (2.6, 1, 5), (0.0, 2, 4), (7.9, 1, 1),
                                    (30.0, 4, 1)]:  # fmt: skip
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert choose_threads(workers) == expected, (load, workers)
    monkeypatch.setenv(THREADS_ENV, "3")
    assert choose_threads(2) == 3
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ConfigError, match="PHYSNN_THREADS"):
        choose_threads()


def test_the_cli_refuses_resume_with_nothing_to_resume_in_one_sentence(tmp_path, capsys):
    from physnn.cli import main

    assert main(["train", "--resume", "--out", str(tmp_path / "typo")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip().count("\n") == 0
    assert "nothing to resume" in err and "without --resume" in err
    assert not (tmp_path / "typo").exists()


def test_training_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    import matplotlib

    previous = matplotlib.get_backend()
    matplotlib.use("svg")  # as a notebook's inline backend would be: not Agg
    try:
        train(TrainConfig(method="insilico", gap="none", **TINY_RUN), tmp_path / "run")
        assert matplotlib.get_backend() == "svg"
        assert (tmp_path / "run" / "history.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        matplotlib.use(previous)
