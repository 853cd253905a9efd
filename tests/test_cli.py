"""The physnn command: list, train, gradcheck, and one-sentence errors with exit code 2."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import fields
from importlib.metadata import EntryPoint

import pytest

from physnn.catalogue import PATH, WRITE_COMMAND, catalogue, generate, render
from physnn.cli import build_parser, main, resolve_config
from physnn.data import registry
from physnn.errors import PhysnnError
from physnn.train.config import TrainConfig

ALL_FIELDS = {f.name for f in fields(TrainConfig)}

TINY_FLAGS = [
    "--limit-train", "64", "--epochs", "1", "--batch-size", "16",
    "-S", "grid=16", "-S", "num_layers=2", "-S", "input_size=8", "-S", "detector_size=2",
    "-S", "detector_gap=1",
]  # fmt: skip


def test_list_json_has_the_contract_shape(capsys):
    assert main(["list", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"systems", "methods", "datasets", "matrix"} <= info.keys()
    assert {"backprop", "insilico", "noise-aware", "pat"} <= set(info["matrix"]["diffractive"])
    assert "diffractive" in [s["name"] for s in info["systems"]]
    assert {"digits", "mnist", "fashion-mnist"} <= {d["name"] for d in info["datasets"]}


def test_list_verbose_shows_the_detail_and_the_matrix(capsys):
    assert main(["list", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert "compatibility" in out and "diffractive" in out
    assert "controls (default preset): phase 3×32×32 in [0, 6.28319) rad" in out
    assert "non-idealities: lateral, axial" in out
    assert "presets: default, legallo2023; learning rate 0.005" in out  # crossbar's own rate
    assert "gap knobs of diffractive (-G KEY=VALUE):" in out


def test_list_is_one_line_per_name_without_the_matrix(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    info = catalogue()
    names = [x["name"] for key in ("systems", "methods", "datasets", "suites") for x in info[key]]
    firsts = [line.split()[0] for line in lines if line.startswith("  ")]
    assert firsts == names  # every name once, in order, and nothing else indented
    assert len(lines) < 80 and not any("compatibility" in line for line in lines)
    assert "reality-gap levels: none, mild, moderate, severe" in "\n".join(lines)


def test_the_shipped_catalogue_is_what_the_registries_give():
    """The static catalogue (read by `physnn list` and the name checks) must not drift."""
    shipped = json.loads(PATH.read_text(encoding="utf-8"))
    live = json.loads(render(generate()))
    stale = sorted(k for k in shipped.keys() | live.keys() if shipped.get(k) != live.get(k))
    assert not stale, (
        f"src/physnn/catalogue.json is out of date ({', '.join(stale)} differ from the live "
        f"registries): run `{WRITE_COMMAND}` and commit the file"
    )


def test_learning_rate_comes_from_the_catalogue_as_from_the_system():
    from physnn.systems import SYSTEMS
    from physnn.train.config import TrainConfig

    for name, cls in SYSTEMS.items():
        assert TrainConfig(system=name).lr == cls.learning_rate
    assert TrainConfig(system="crossbar", model="mlp:16").lr == 1e-3
    assert TrainConfig(system="crossbar", lr=0.3).lr == 0.3


# Runs the CLI in a fresh interpreter and fails if torch got imported on the way.
WITHOUT_TORCH = """
import sys
from physnn.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
assert "torch" not in sys.modules, "the command imported torch"
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["train", "--help"], 0),
        (["gradcheck", "--help"], 0),
        (["bench", "--help"], 0),
        (["perf", "--help"], 0),
        (["list"], 0),
        (["list", "--verbose"], 0),
        (["list", "--json"], 0),
        (["list", "matrix"], 0),
        (["train", "--bogus"], 2),
        (["train", "--system", "bogus"], 2),
        (["train", "--method", "bogus"], 2),
        (["train", "--dataset", "bogus"], 2),
        (["train", "--gap", "bogus"], 2),
        (["train", "--preset", "bogus"], 2),
        (["train", "--method", "ep", "--system", "diffractive"], 2),
        (["gradcheck", "--system", "bogus"], 2),
    ],
)
def test_help_list_and_refusals_import_no_torch(argv, code, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCH, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == code, run.stderr
    if code == 2:  # one sentence, no traceback
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--system", "bogus"], "unknown system 'bogus'; choose one of: crossbar, diffractive"),
        (["--method", "bogus"], "unknown method 'bogus'; choose one of: adjoint, agnostic-ep"),
        (["--dataset", "bogus"], "unknown dataset 'bogus'; choose one of: digits, mnist"),
        (["--gap", "bogus"], "unknown gap level 'bogus'; choose one of: none, mild"),
        (["--preset", "bogus"], "unknown preset 'bogus' for system 'diffractive'; choose: default"),
        (["--method", "ep"], "method 'ep' needs"),
    ],
)
def test_the_catalogue_refuses_as_the_live_registries_do(argv, message):
    """The quick check (static catalogue) and the deep one (live code) say the same sentence."""
    from physnn.train.setup import validate_names

    args = build_parser().parse_args(["train", *argv])
    with pytest.raises(PhysnnError) as quick:
        resolve_config(args)
    config = TrainConfig.from_dict({k: v for k, v in vars(args).items() if k in ALL_FIELDS and v})
    with pytest.raises(PhysnnError) as deep:
        validate_names(config)
    assert message in str(quick.value)
    assert str(quick.value) == str(deep.value) and type(quick.value) is type(deep.value)


def test_a_dataset_of_another_package_is_listed_and_accepted(monkeypatch, capsys):
    entry = EntryPoint(name="toy-data", value="toypkg.data:load", group="physnn.datasets")
    monkeypatch.setattr(registry, "external_datasets", lambda: {"toy-data": entry})
    assert main(["list", "datasets"]) == 0
    assert "toy-data       from package toypkg (toypkg.data:load)" in capsys.readouterr().out
    config, _ = resolve_config(build_parser().parse_args(["train", "--dataset", "toy-data"]))
    assert config.dataset == "toy-data"


def test_every_help_shows_the_defaults():
    """Each option that takes a value says its default (switches and repeatables need none)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in sub.choices.items():
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.nargs == 0 or action.required or isinstance(action, argparse._AppendAction):
                continue
            text = formatter._expand_help(action) if action.help else ""
            assert "default" in text, f"physnn {command} --help: {action.option_strings} {text!r}"
    assert "(default: 15)" in sub.choices["train"].format_help()  # TrainConfig().epochs


def test_list_one_section(capsys):
    assert main(["list", "matrix"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("compatibility") and "datasets" not in out
    header, *rows = out.splitlines()[1:]
    pat = next(r.split() for r in rows if r.split()[0] == "pat")
    assert len(pat[1:]) == len(header.split())  # one column per system
    assert pat[header.split().index("diffractive") + 1] == "yes"
    assert pat[header.split().index("wave") + 1] == "no"  # declared: cannot learn here
    assert main(["list", "gaps", "--json"]) == 0
    gaps = json.loads(capsys.readouterr().out)["gaps"]
    assert gaps["levels"] == ["none", "mild", "moderate", "severe"]
    assert "lateral" in gaps["knobs"]["diffractive"]["knobs"]
    with pytest.raises(SystemExit) as exc:
        main(["list", "colours"])
    assert exc.value.code == 2
    assert "invalid choice: 'colours'" in capsys.readouterr().err


def test_train_writes_result(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["train", "--method", "insilico", "--gap", "mild", "--out", str(out), *TINY_FLAGS])
        == 0
    )
    text = capsys.readouterr().out
    assert "test accuracy" in text
    assert f"on the hardware (default costs; physnn cost {out}): training " in text
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "insilico" and result["gap"] == "mild"


def test_config_file_and_flags(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        'method = "backprop"\ngap = "none"\nepochs = 1\nlimit_train = 32\nbatch_size = 16\n'
        f'out = "{(tmp_path / "from-file").as_posix()}"\n'
        "[system_options]\ngrid = 16\nnum_layers = 1\ninput_size = 8\ndetector_size = 2\n"
        "detector_gap = 1\n"
    )
    assert main(["train", "--config", str(cfg), "--seed", "3"]) == 0
    result = json.loads((tmp_path / "from-file" / "result.json").read_text())
    assert result["method"] == "backprop" and result["seed"] == 3
    assert result["config"]["system_options"]["num_layers"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--method", "nope"], "unknown method 'nope'"),
        (["train", "--gap", "huge"], "unknown gap level 'huge'"),
        (["train", "--epochs", "0"], "positive integer"),
        (["train", "--dataset", "cifar"], "cifar"),
        (["train", "-S", "grid=-1"], "grid must be positive"),
        (["train", "-S", "colour=red"], "unknown option(s) colour"),
        (["train", "-M", "assumed_gap=mild"], "unknown option(s) assumed_gap for method 'pat'"),
        (["train", "--config", "missing.toml"], "does not exist"),
        (["gradcheck", "--torch-device", "tpu"], "unknown torch device"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_user_mistakes_exit_2_with_one_sentence(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(argv))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_bad_toml_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = [")
    assert main(["train", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epoch = 3\n")
    assert main(["train", "--config", str(unknown)]) == 2
    assert "unknown key(s) epoch" in capsys.readouterr().err


def test_gradcheck_json(capsys):
    argv = [
        "gradcheck",
        "--method",
        "pat",
        "--gap",
        "none",
        "--batches",
        "1",
        "--json",
        *TINY_FLAGS,
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cosine"] > 0.9999


def test_perf_help_names_every_case():
    """The case names are spelled out in the help (importing them would import torch)."""
    from physnn.perf.cases import CASES

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    text = " ".join(sub.choices["perf"].format_help().split())
    assert all(case in text for case in CASES)
