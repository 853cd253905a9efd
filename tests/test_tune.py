"""physnn tune: the search space, studies that resume and are shared by workers, selection on the
validation split, and physnn bench --tuned."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import socket
import sys
from pathlib import Path

import pytest

from physnn.bench.plots import pareto_front
from physnn.bench.runs import run_method
from physnn.bench.store import ResultStore
from physnn.bench.suite import load_suite
from physnn.errors import ConfigError
from physnn.methods import METHODS
from physnn.substrates import SUBSTRATES
from physnn.tune.settings import default_paths, read_settings, tuned_suite, tuning_key
from physnn.tune.space import SEARCH_SPACE, fixed_params, markdown_table, suggest

optuna = pytest.importorskip("optuna")

from physnn.tune.study import (  # noqa: E402 (after the skip without Optuna)
    open_study,
    run_trial,
    tasks,
    tune_suite,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "tuning.md"
TINY = ", ".join(f"{k} = {json.dumps(v)}" for k, v in SUBSTRATES["diffractive"].tiny.items())
SUITE = f"""
name = "tiny"
[defaults]
dataset = "digits"
limit_train = 32
epochs = 2
batch_size = 16
max_queries = 32
system_options = {{ {TINY} }}

[[entry]]
name = "zo"
methods = ["spsa"]
gaps = ["mild"]
seeds = [0, 1]

[[entry]]
name = "reference"
methods = ["pat"]
gaps = ["mild"]
"""


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return load_suite(path)


class Bounds:
    """A trial that suggests every range's low (or high) end and every choice in turn."""

    def __init__(self, high: bool, index: int = 0) -> None:
        self.high, self.index = high, index

    def suggest_float(self, name, low, high, *, log=False):
        return high if self.high else low

    def suggest_int(self, name, low, high, *, step=1, log=False):
        return high - (high - low) % step if self.high else low

    def suggest_categorical(self, name, choices):
        return choices[self.index % len(choices)]


@pytest.mark.parametrize("method", sorted(SEARCH_SPACE))
def test_every_searched_range_gives_valid_options(method):
    fields = {f.name for f in dataclasses.fields(METHODS[method].options_class)}
    assert set(SEARCH_SPACE[method]) <= fields
    for trial in (Bounds(False), Bounds(True), Bounds(False, 1), Bounds(True, 3)):
        lr, options = suggest(trial, method, 0.05)
        assert lr == pytest.approx(0.005 if not trial.high else 0.5)
        METHODS[method](options)  # a ConfigError if the range leaves the option's domain


def test_the_docs_show_the_search_space():
    assert markdown_table() in DOCS.read_text(encoding="utf-8")


def test_one_study_per_method_and_system_not_per_seed(suite):
    found = tasks(suite, None, None)
    assert [t.name.split(":")[1:3] for t in found] == [
        ["zo", "spsa@diffractive"],
        ["reference", "pat@diffractive"],
    ]
    assert all(t.budget == 32 and t.config.seed == 0 for t in found)
    assert [t.budget for t in tasks(suite, ["zo"], 64)] == [64]
    with pytest.raises(ConfigError, match="no entry nope; its entries: zo, reference"):
        tasks(suite, ["nope"], None)
    runs = [dataclasses.replace(r, config=dataclasses.replace(r.config, max_queries=None))
            for r in suite.runs]  # fmt: skip
    unbudgeted = dataclasses.replace(suite, runs=tuple(runs))
    with pytest.raises(ConfigError, match="sets no max_queries"):
        tasks(unbudgeted, None, None)


def _trials(db: Path, name: str) -> list:
    from physnn.tune.study import storage

    return optuna.load_study(study_name=name, storage=storage(db)).get_trials()


def test_the_objective_is_the_final_validation_accuracy(suite, tmp_path):
    """The test split never chooses: each trial's value is its run's last validation accuracy,
    and no test figure is stored with it."""
    db = tmp_path / "s.db"
    task = tasks(suite, ["zo"], None)[0]
    open_study(db, task)
    for _ in range(2):
        assert run_trial(str(db), task.name, task.config.to_dict(), 32, 2, str(tmp_path), 1) == (
            "done"
        )
    assert run_trial(str(db), task.name, task.config.to_dict(), 32, 2, str(tmp_path), 1) == (
        "skipped"
    )
    trials = _trials(db, task.name)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for trial in trials:
        result = json.loads((Path(trial.user_attrs["run_dir"]) / "result.json").read_text())
        assert trial.value == result["history"][-1]["val_device_accuracy"]
        assert result["config"]["max_queries"] == 32
        assert result["config"]["lr"] == trial.params["lr"]
        searched = trial.user_attrs["method_options"]
        assert result["config"]["method_options"] == searched
        assert set(searched) == {"c", "samples"}
        assert searched["c"] == ("auto" if trial.params["c rule"] == "auto" else trial.params["c"])
        assert not {"device_accuracy", "accuracy", "twin_accuracy"} & set(trial.user_attrs)
    assert trials[0].params != trials[1].params


def test_the_first_trial_is_the_runs_own_setting(suite, tmp_path):
    db = tmp_path / "s.db"
    task = tasks(suite, ["zo"], None)[0]
    open_study(db, task)
    open_study(db, task)  # reopened before any trial ran: still one queued trial
    assert run_trial(str(db), task.name, task.config.to_dict(), 32, 1, str(tmp_path), 1) == "done"
    (first,) = _trials(db, task.name)
    defaults = METHODS["spsa"].options_class()
    assert first.params["lr"] == task.config.lr
    assert first.user_attrs["method_options"] == {"c": defaults.c, "samples": defaults.samples}


def test_fixed_params_give_back_the_values_they_fix():
    class Fixed(Bounds):
        def __init__(self, params):
            super().__init__(high=False)
            self.params = params

        def suggest_float(self, name, low, high, *, log=False):
            return self.params[name]

        def suggest_int(self, name, low, high, *, step=1, log=False):
            return self.params[name]

        def suggest_categorical(self, name, choices):
            assert self.params[name] in choices
            return self.params[name]

    for method, space in SEARCH_SPACE.items():
        options = {name: ("auto" if p.auto else p.choices[0] if p.choices else p.high)
                   for name, p in space.items()}  # fmt: skip
        params = fixed_params(method, 0.01, options)
        assert suggest(Fixed(params), method, 0.01) == (0.01, options)
        if any(p.auto for p in space.values()):
            numbers = {name: 0.02 if p.auto else options[name] for name, p in space.items()}
            assert suggest(Fixed(fixed_params(method, 0.01, numbers)), method, 0.01)[1] == numbers


def test_a_killed_study_resumes_with_its_trials_kept(suite, tmp_path):
    db, settings = tmp_path / "s.db", tmp_path / "s.json"
    task = tasks(suite, ["reference"], None)[0]
    study = open_study(db, task)
    args = (str(db), task.name, task.config.to_dict(), 32, 3, str(tmp_path / "runs"), 1)
    assert run_trial(*args) == "done"
    kept = _trials(db, task.name)[0]
    for worker in (f"{socket.gethostname()}:999999999", None):  # died training, or claiming
        trial = study.ask()
        if worker:
            trial.set_user_attr("worker", worker)
    chosen = tune_suite(suite, db, settings, trials=3, entries=["reference"],
                        runs_dir=tmp_path / "runs", progress=False)  # fmt: skip
    trials = _trials(db, task.name)
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    assert (trials[0].params, trials[0].value) == (kept.params, kept.value)
    assert chosen[task.key]["trials"] == 3
    assert read_settings(settings) == {task.key: chosen[task.key]}


def _one_trial(args: tuple) -> None:
    assert run_trial(*args) == "done"


def test_two_workers_share_one_study(suite, tmp_path):
    db = tmp_path / "s.db"
    task = tasks(suite, ["reference"], None)[0]
    open_study(db, task)
    args = (str(db), task.name, task.config.to_dict(), 32, 2, str(tmp_path / "runs"), 1)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_one_trial, args=(args,)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    trials = _trials(db, task.name)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert {t.user_attrs["worker"].rpartition(":")[2] for t in trials} == {
        str(w.pid) for w in workers
    }
    assert run_trial(*args) == "skipped"  # the study has its trials: a third worker adds none


def test_tune_and_bench_tuned_commands(suite, tmp_path, capsys):
    from physnn.cli import main

    store = tmp_path / "r.db"
    common = ["--store", str(store), "--workers", "1", "--no-progress"]
    argv = ["tune", str(suite.path), "--trials", "2", "--runs-dir", str(tmp_path / "t"), *common]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "(best of 2 trials)" in out and "tiny:zo:spsa@diffractive" in out
    study_db, settings_path = default_paths(store)
    assert study_db.is_file()
    settings = read_settings(settings_path)
    assert set(settings) == {tuning_key("tiny", r.entry, r.config) for r in suite.runs}
    report = tmp_path / "report"
    argv = ["bench", str(suite.path), "--tuned", "--runs-dir", str(tmp_path / "b"),
            "--report-dir", str(report), *common]  # fmt: skip
    assert main(argv) == 0
    assert "3 of 3 runs also run with the settings tuned in" in capsys.readouterr().out
    with ResultStore(store) as results:
        records = {r.key: r for r in results.records("tiny")}
    tuned = [r for r in records.values() if "tuned" in r.meta]
    assert len(records) == 6 and len(tuned) == 3  # each run at its defaults and tuned
    for record in tuned:
        setting = record.meta["tuned"]
        assert record.config["lr"] == setting["lr"]
        assert record.config["method_options"] == setting["method_options"]
        assert record.config["max_queries"] == setting["max_queries"] == 32
        default = records[setting["default"]]
        assert "tuned" not in default.meta and default.config["seed"] == record.config["seed"]
        assert default.config["max_queries"] == 32  # the suite's budget: the same runs
        assert run_method({"config": record.config, "meta": record.meta}) == (
            f"{record.config['method']} (tuned)"
        )
    text = (report / "report.md").read_text(encoding="utf-8")
    section = text[text.index("## Tuned vs default") :]
    assert "| spsa | 32 |" in section and "| pat | 32 |" in section
    assert "Pareto front, diffractive" in section
    assert list(report.glob("pareto-*.png"))


def test_bench_tuned_adds_the_default_at_the_tuning_budget(suite, tmp_path):
    """A run whose own budget differs from the tuned one is compared with its default re-run at
    the tuning budget, labelled with it; the suite's run stays as it is."""
    run = suite.runs[0]
    key = tuning_key("tiny", run.entry, run.config)
    setting = {"lr": 0.5, "method_options": {"c": 0.01}, "max_queries": 64,
               "validation_accuracy": 0.5}  # fmt: skip
    settings = tmp_path / "s.json"
    settings.write_text(json.dumps({key: setting}))
    tuned, count = tuned_suite(suite, settings)
    assert count == 2  # both seeds of the entry
    runs = {r.key: r for r in tuned.runs}
    assert len(runs) == len(suite.runs) + 4 and {r.key for r in suite.runs} <= set(runs)
    for spec in (r for r in runs.values() if "tuned" in r.meta):
        default = runs[spec.meta["tuned"]["default"]]
        assert default.config.max_queries == spec.config.max_queries == 64
        assert (default.config.lr, spec.config.lr) == (run.config.lr, 0.5)
        assert spec.config.method_options == {**run.config.method_options, "c": 0.01}
        assert run_method({"config": default.config.to_dict(), "meta": default.meta}) == (
            "spsa (budget 64)"
        )


def test_the_pareto_front_keeps_what_no_cheaper_point_beats():
    points = {"a": (0.0, 0.2), "b": (10.0, 0.1), "c": (10.0, 0.5), "d": (20.0, 0.5),
              "e": (30.0, 0.9)}  # fmt: skip
    assert pareto_front(points) == ["a", "c", "e"]


def test_bench_tuned_needs_settings(suite, tmp_path):
    with pytest.raises(ConfigError, match="no tuned settings for suite 'tiny'"):
        tuned_suite(suite, tmp_path / "none.json")


def test_tune_without_optuna_says_how_to_install(monkeypatch, capsys):
    from physnn.cli import main

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now fails
    assert main(["tune", "quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'physnn[tune]'" in err
