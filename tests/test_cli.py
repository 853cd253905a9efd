"""The physnn command: list, train, gradcheck, and one-sentence errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from physnn.cli import main

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


def test_list_text_shows_the_matrix(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "compatibility" in out and "diffractive" in out
    assert "controls (default preset): phase 3×32×32 in [0, 6.28319) rad" in out
    assert "non-idealities: lateral, axial" in out


def test_list_one_section(capsys):
    assert main(["list", "matrix"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("compatibility") and "datasets" not in out
    header, *rows = out.splitlines()[1:]
    pat = next(r.split() for r in rows if r.split()[0] == "pat")
    assert pat[1:] == ["yes"] * len(header.split())  # one column per system
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
