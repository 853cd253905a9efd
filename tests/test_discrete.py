"""Discrete-control update rules (anneal, flip): alphabet-only writes, the acceptance rules, query
counts, model-free operation, resume and options."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.discrete  # noqa: F401  (registers anneal, flip)
from conftest import TINY_RUN, crash_at_estimate, tiny_run, without_timings
from physnn.errors import ConfigError
from physnn.methods import METHODS
from physnn.train import TrainConfig, build_experiment, train
from physnn.train.gradcheck import gradcheck
from physnn.train.loop import EpochProgress, train_epoch
from physnn.train.transforms import default_transforms

DISCRETE = ("anneal", "flip")


def _tiny(system: str = "diffractive", **system_options) -> dict:
    run = tiny_run(system)
    return {**run, "system_options": {**run["system_options"], **system_options}}


def _record_writes(device) -> list[dict]:
    written: list[dict] = []
    write = device.write

    def recording(controls):
        written.append({k: v.detach().clone() for k, v in controls.items()})
        write(controls)

    device.write = recording
    return written


def _on(values: torch.Tensor, alphabet: list[float]) -> bool:
    levels = torch.tensor(alphabet)
    return bool(((values.flatten()[:, None] - levels).abs().min(dim=1).values < 1e-5).all())


@pytest.mark.parametrize("method", DISCRETE)
@pytest.mark.parametrize(
    ("system", "options", "levels", "alphabet"),
    [
        ("diffractive", {}, 2, [0.0, math.pi]),  # a periodic control: L levels over one period
        ("diffractive", {}, 3, [0.0, 2 * math.pi / 3, 4 * math.pi / 3]),
        ("diffractive", {"phase_levels": 4}, 2, [k * math.pi / 2 for k in range(4)]),  # spec's
        ("photoelectric", {}, 3, [-1.0, 0.0, 1.0]),  # a bounded control: L levels, both ends
    ],
)
def test_only_alphabet_values_are_written(method, system, options, levels, alphabet, tmp_path):
    config = TrainConfig(
        method=method, method_options={"levels": levels, "flips": 3}, gap="mild",
        **_tiny(system, **options),
    )  # fmt: skip
    exp = build_experiment(config)
    for p in exp.model.physical_parameters():
        assert _on(p.detach(), alphabet)  # snapped at bind
    written = _record_writes(exp.device)
    optimizer = torch.optim.Adam(exp.estimator.optimized_parameters(exp.model), lr=0.05)
    for epoch in range(2):
        train_epoch(
            exp, optimizer, default_transforms(), epoch, EpochProgress(), progress=False,
            save=lambda _: None, save_every=math.inf, over_budget=lambda: None,
        )  # fmt: skip
    assert len(written) > 8
    for controls in written:
        for value in controls.values():
            assert _on(value, alphabet)
    used = torch.cat([p.detach().flatten() for p in exp.model.physical_parameters()])
    assert len({round(float(v), 4) for v in used}) == len(alphabet)  # every level is reachable


def test_a_proposal_moves_each_chosen_control_to_another_level():
    exp = build_experiment(
        TrainConfig(method="flip", method_options={"levels": 3, "flips": 5}, **TINY_RUN)
    )
    alphabet = exp.estimator._alphabet
    before = alphabet.values()
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        after = alphabet.propose(5, generator)
        moved = after != before
        assert int(moved.sum()) == 5
        assert _on(after, [0.0, 2 * math.pi / 3, 4 * math.pi / 3])


def test_flip_keeps_only_improvements_and_lowers_the_loss_of_a_fixed_batch():
    exp = build_experiment(
        TrainConfig(method="flip", method_options={"flips": 4}, gap="none", **TINY_RUN)
    )
    x, y = exp.dataset.x_train[:64], exp.dataset.y_train[:64]
    losses = [float(exp.estimator.estimate(exp.model, x, y, F.cross_entropy)[0])]
    for _ in range(60):
        losses.append(float(exp.estimator.estimate(exp.model, x, y, F.cross_entropy)[0]))
    assert all(b <= a for a, b in itertools.pairwise(losses))
    assert losses[-1] < losses[0] - 0.02
    assert 0 < exp.estimator.epoch_diagnostics()["acceptance_rate"] < 1


def test_anneal_lowers_the_loss_of_a_fixed_batch():
    exp = build_experiment(
        TrainConfig(method="anneal", method_options={"flips": 4}, gap="none", **TINY_RUN)
    )
    x, y = exp.dataset.x_train[:64], exp.dataset.y_train[:64]
    first = float(exp.estimator.estimate(exp.model, x, y, F.cross_entropy)[0])
    for _ in range(100):
        last = float(exp.estimator.estimate(exp.model, x, y, F.cross_entropy)[0])
    assert last < first - 0.02


def test_anneal_accepts_by_the_metropolis_rule_on_its_schedule():
    anneal = METHODS["anneal"]({"t0": 0.1, "cooling": 0.5})
    anneal.bind(build_experiment(TrainConfig(method="anneal", **TINY_RUN)).model, seed=0)
    assert anneal.temperature() == 0.1
    anneal._step = 3
    assert anneal.temperature() == pytest.approx(0.1 * 0.5**3)
    t = anneal.temperature()
    assert all(anneal.keep(-1e-6) for _ in range(100))
    assert all(anneal.keep(0.0) for _ in range(100))
    rate = sum(anneal.keep(t * math.log(2)) for _ in range(4000)) / 4000  # exp(−ln 2) = ½
    assert rate == pytest.approx(0.5, abs=0.03)
    assert not any(anneal.keep(40 * t) for _ in range(100))
    flip = METHODS["flip"]()
    assert flip.keep(-1e-6) and not flip.keep(0.0)


@pytest.mark.parametrize("method", DISCRETE)
def test_a_step_measures_the_batch_twice_and_never_touches_the_twin(method):
    exp = build_experiment(TrainConfig(method=method, gap="moderate", **TINY_RUN))

    class NoTwin(torch.nn.Module):
        def forward(self, *args):
            raise AssertionError("a model-free method called the twin")

    for block in exp.model.physical_blocks():
        block.twin = NoTwin()
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    for _ in range(3):
        loss, logits = exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
        assert math.isfinite(float(loss)) and logits.shape == (16, 10)
    stats = exp.device.stats("train")
    assert (stats.query_calls, stats.queries) == (6, 6 * 16)
    assert stats.writes <= 6
    readout = exp.model.blocks[1].log_temperature
    assert readout.grad is not None
    assert all(p.grad is None for p in exp.model.physical_parameters())
    assert exp.estimator.optimized_parameters(exp.model) == [readout]


@pytest.mark.parametrize("method", DISCRETE)
def test_resume_is_exact(method, tmp_path, monkeypatch):
    config = TrainConfig(method=method, gap="mild", **{**TINY_RUN, "epochs": 3})
    reference = train(config, tmp_path / "ref", progress=False)
    # the 7th step is the third of epoch 2
    crash_at_estimate(monkeypatch, METHODS[method], config, tmp_path / "run", 7, checkpoint_every=0)
    resumed = train(config, tmp_path / "run", resume=True, progress=False)
    assert without_timings(resumed)["history"] == without_timings(reference)["history"]
    assert resumed["device_accuracy"] == reference["device_accuracy"]
    if method == "anneal":
        assert "temperature" in resumed["history"][-1]


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("anneal", {"flips": 0}, "flips must be a positive integer"),
        ("anneal", {"levels": 1}, "levels must be an integer of at least 2"),
        ("anneal", {"t0": 0}, "t0 must be positive"),
        ("anneal", {"cooling": 1.5}, r"cooling must be in \(0, 1\]"),
        ("anneal", {"cooling": 0}, r"cooling must be in \(0, 1\]"),
        ("flip", {"flips": 2.5}, "flips must be a positive integer"),
        ("flip", {"levels": True}, "levels must be an integer"),
        ("flip", {"t0": 1.0}, "unknown option"),
    ],
)
def test_bad_options_are_config_errors(method, options, match):
    with pytest.raises(ConfigError, match=match):
        METHODS[method](options)


def test_a_model_without_physics_is_refused():
    with pytest.raises(ConfigError, match="has none; use model pnn"):
        build_experiment(TrainConfig(method="anneal", model="mlp:8", **TINY_RUN))


def test_a_per_step_limit_is_refused_for_a_rule_that_sets_discrete_levels(tmp_path):
    config = TrainConfig(method="flip", max_step=0.1, **TINY_RUN)
    with pytest.raises(ConfigError, match="drop max_step"):
        train(config, tmp_path, progress=False)


def test_gradcheck_refuses_an_update_rule_clearly():
    with pytest.raises(ConfigError, match="estimates no gradient"):
        gradcheck(TrainConfig(method="anneal", **TINY_RUN), batches=1)
