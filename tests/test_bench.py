"""Suites, the runner and the store together: validation, exactly-once runs, resumption."""

from __future__ import annotations

import dataclasses
import re
import socket
import textwrap

import pytest

from physnn.bench.runner import register, run_folder, run_suite
from physnn.bench.store import ResultStore
from physnn.bench.suite import load_suite, shipped_suites
from physnn.errors import ConfigError

TINY_SUITE = """
name = "tiny"
[defaults]
dataset = "digits"
limit_train = 32
epochs = 1
batch_size = 16
system_options = { grid = 16, num_layers = 1, input_size = 8, detector_size = 2, detector_gap = 1 }

[[entry]]
name = "matrix"
methods = ["insilico", "pat"]
gaps = ["mild"]
seeds = [0, 1]
gradcheck = true

[[entry]]
name = "sweep"
methods = ["pat"]
gaps = ["none"]
sweep = { knob = "lateral", values = [0.0, 0.5] }
"""


@pytest.fixture
def tiny_suite(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE)
    return load_suite(path)


def test_shipped_suites_load():
    assert {"quick", "standard", "reproduce"} <= set(shipped_suites())
    quick = load_suite("quick")
    assert len(quick.runs) == 4 * 4 * 3 + 3 * 5 * 3  # the robustness curve has 3 seeds too
    sweep_seeds = {run.config.seed for run in load_suite("robustness").runs}
    assert sweep_seeds == {0, 1, 2}  # seeds, so that the report's bands are real
    reproduce = load_suite("reproduce")
    assert all("reproduce" in run.meta for run in reproduce.runs)


def test_suite_expands_entries(tiny_suite):
    assert [r.entry for r in tiny_suite.runs] == ["matrix"] * 4 + ["sweep"] * 2
    assert len({r.key for r in tiny_suite.runs}) == 6
    sweep = [r for r in tiny_suite.runs if r.entry == "sweep"]
    assert [r.config.gap_options for r in sweep] == [{"lateral": 0.0}, {"lateral": 0.5}]
    assert sweep[1].meta["sweep"]["value"] == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[entry]]\nsystems = ['optical-fiber']", "entry '#1': unknown system 'optical-fiber'"),
        ("[[entry]]\nmethods = ['spsa-typo']", "entry '#1': unknown method 'spsa-typo'"),
        ("[[entry]]\nmax_queries = -10", "max_queries must be a positive integer"),
        ("[[entry]]\nepochs = 0", "epochs must be a positive integer"),
        ("[[entry]]\ngaps = ['huge']", "unknown gap level 'huge'"),
        ("[[entry]]\nseeds = []", "field seeds must be a non-empty list"),
        ("[[entry]]\nsweep = { knob = 'tilt', values = [1] }", "unknown gap option(s) tilt"),
        ("[[entry]]\nreproduce = { paper = 'x' }", "reproduce lacks"),
        (
            "[[entry]]\nreproduce = { paper = 'x', claim = 'y', metric = 'accuracy', "
            "reported = 0.9 }",
            "reproduce has reported without tolerance",
        ),
        ("[[entry]]\ncolour = 'red'", "unknown field(s) colour"),
        ("[defaults]\nepochs = 2", "has no [[entry]]"),
        ("[[entry]\n", "not valid TOML"),
    ],
)
def test_bad_suites_fail_before_any_run(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


@pytest.fixture
def energy_method(monkeypatch):
    """A method that needs an energy-based substrate, registered for this test only."""
    from physnn.methods import METHODS
    from physnn.methods.base import Requirements
    from physnn.methods.insilico import InSilico

    needs_energy = type(
        "NeedsEnergy",
        (InSilico,),
        {"name": "needs-energy", "requirements": Requirements(energy_based=True)},
    )
    monkeypatch.setitem(METHODS._entries, "needs-energy", needs_energy)
    return "needs-energy"


def test_incompatible_pair_in_a_suite_fails_before_any_run(tmp_path, energy_method):
    path = tmp_path / "bad.toml"
    path.write_text(f"[[entry]]\nname = 'ep'\nmethods = ['{energy_method}']\n")
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    message = str(err.value)
    assert str(path) in message and "entry 'ep'" in message
    assert (
        "'needs-energy' needs an energy-based system; 'diffractive' is not energy-based" in message
    )
    assert "physnn list matrix" in message  # the fix
    # "all" means every compatible method, so the same method is silently left out there
    path.write_text("[[entry]]\nmethods = ['all']\n")
    assert energy_method not in {run.config.method for run in load_suite(path).runs}


def test_all_systems_means_every_registered_one(tmp_path):
    from physnn.systems import SYSTEMS

    path = tmp_path / "all.toml"
    path.write_text("[[entry]]\nsystems = ['all']\nmethods = ['backprop']\n")
    assert [run.config.system for run in load_suite(path).runs] == list(SYSTEMS)


def test_unknown_suite_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="quick"):
        load_suite("nonexistent")


def test_suite_runs_once_and_resumes(tiny_suite, tmp_path):
    store_path = tmp_path / "results.db"
    counts = run_suite(tiny_suite, store_path, runs_dir=tmp_path / "runs", progress=False)
    assert counts["done"] == 6 and counts["failed"] == 0
    with ResultStore(store_path) as store:
        records = store.records("tiny")
        assert len(records) == 6 and all(r.attempts == 1 for r in records)
        first = {r.key: r.result["device_accuracy"] for r in records}
        assert all("gradcheck" in r.result for r in records if r.entry == "matrix")
    # a second run of the suite does nothing
    run_suite(tiny_suite, store_path, runs_dir=tmp_path / "runs", progress=False)
    with ResultStore(store_path) as store:
        again = store.records("tiny")
        assert all(r.attempts == 1 for r in again)
        assert {r.key: r.result["device_accuracy"] for r in again} == first


def test_a_gradcheck_only_entry_checks_without_training(tmp_path):
    from physnn.bench.report import write_report
    from physnn.bench.runner import read_records

    path = tmp_path / "checks.toml"
    path.write_text(TINY_SUITE.split("[[entry]]")[0] + "[[entry]]\nname = 'check'\n"
                    "methods = ['pat']\ngaps = ['none']\ngradcheck = 'only'\n")  # fmt: skip
    store_path = tmp_path / "results.db"
    counts = run_suite(load_suite(path), store_path, runs_dir=tmp_path / "runs", progress=False)
    assert counts["done"] == 1
    with ResultStore(store_path) as store:
        (record,) = store.records("tiny")
    assert "history" not in record.result and "device_accuracy" not in record.result
    assert record.result["gradcheck"]["cosine"] == pytest.approx(1.0)  # the nominal twin is exact
    assert len(record.result["gradcheck"]["batches"]) == 2  # all that 32 samples hold of 3
    report = write_report(read_records(store_path, "tiny"), tmp_path / "report")
    text = report["markdown"].read_text()
    assert "## Gradient quality" in text and "## Results" not in text


def test_gradcheck_takes_true_false_or_only(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[entry]]\nmethods = ['pat']\ngradcheck = 'yes'\n")
    with pytest.raises(ConfigError, match="gradcheck must be"):
        load_suite(path)


def test_a_killed_run_is_resumed_exactly_once(tiny_suite, tmp_path):
    store_path = tmp_path / "results.db"
    with ResultStore(store_path) as store:
        register(store, tiny_suite)
        victim = tiny_suite.runs[0].key
        # a worker that claimed the run and died (this pid cannot be alive)
        assert store.claim(victim, f"{socket.gethostname()}:999999999")
    counts = run_suite(tiny_suite, store_path, runs_dir=tmp_path / "runs", progress=False)
    assert counts["done"] == 6
    with ResultStore(store_path) as store:
        rows = store.records("tiny")
        assert len(rows) == 6
        assert store.get(victim).status == "done"
    assert (run_folder(tmp_path / "runs", victim) / "result.json").is_file()


def test_bench_and_report_commands(tmp_path, capsys):
    from physnn.cli import main

    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    store, report = tmp_path / "r.db", tmp_path / "report"
    argv = ["bench", str(suite), "--store", str(store), "--workers", "1",
            "--runs-dir", str(tmp_path / "runs"), "--report-dir", str(report)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 done, 0 failed" in out
    html = (report / "index.html").read_text()
    assert "data:image/png;base64," in html and "pat" in html
    markdown = (report / "report.md").read_text()
    assert "lateral" in markdown
    for field in ("Python", "torch", "CPU", "logical CPUs", "torch threads per run"):
        assert re.search(rf"\| {field} \| [^|]+ \| recorded by 6 of 6 runs \|", markdown)
    csv_path = tmp_path / "runs.csv"
    assert main(["report", "--store", str(store), "--report-dir", str(report),
                 "--export", str(csv_path)]) == 0  # fmt: skip
    assert len(csv_path.read_text().splitlines()) == 7
    jsonl_path, again = tmp_path / "runs.jsonl", tmp_path / "again"
    assert main(["report", "--store", str(store), "--report-dir", str(report),
                 "--export", str(jsonl_path)]) == 0  # fmt: skip
    assert main(["report", "--store", str(jsonl_path), "--report-dir", str(again)]) == 0
    tables = [
        (folder / "report.md").read_text().split("## Results")[1] for folder in (report, again)
    ]
    assert tables[0].split("## Reproducibility")[0] == tables[1].split("## Reproducibility")[0]
    assert main(["report", "--store", str(tmp_path / "none.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.toml")]) == 2


def test_ray_executor_matches_local_workers(tiny_suite, tmp_path):
    pytest.importorskip("ray")
    pair = dataclasses.replace(tiny_suite, runs=tiny_suite.runs[1:3])  # one insilico, one pat
    results = {}
    for executor in ("local", "ray"):
        store_path = tmp_path / f"{executor}.db"
        counts = run_suite(pair, store_path, runs_dir=tmp_path / executor,
                           executor=executor, progress=False)  # fmt: skip
        assert counts["done"] == 2
        with ResultStore(store_path) as store:
            results[executor] = {
                r.key: (r.result["device_accuracy"], r.result["twin_accuracy"])
                for r in store.records("tiny")
            }
    assert results["ray"] == results["local"]
