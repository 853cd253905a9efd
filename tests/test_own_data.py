"""Your own data: a Dataset object through the Python API, a dataset registered by another
package (entry-point group ``physnn.datasets``) through the CLI, and the input-range warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from physnn.data import Dataset, DatasetError, external_datasets, load_dataset
from physnn.data.registry import ENTRY_POINT_GROUP
from physnn.errors import ConfigError, InputRangeWarning, PhysnnWarning
from physnn.systems import SYSTEMS
from physnn.train import train
from physnn.train.config import TrainConfig
from physnn.train.loop import evaluate
from physnn.train.setup import build_experiment, validate_names


def blocks(n: int = 240, seed: int = 0, shift: float = 0.5) -> Dataset:
    """Three classes of 12 features in [0, 1): noise, plus ``shift`` on the class's own third
    of the features."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.4 * torch.rand(n, 12, generator=generator)
    for k in range(3):
        x[y == k, 4 * k : 4 * k + 4] += shift
    return Dataset.from_arrays("blocks", x, y, class_names=["a", "b", "c"], seed=seed)


def quick(dataset: Dataset | str, **overrides: object) -> TrainConfig:
    """A few seconds of in-silico training of the default crossbar, no reality gap."""
    values = {"system": "crossbar", "method": "insilico", "gap": "none", "epochs": 3,
              "batch_size": 16, "dataset": dataset, **overrides}  # fmt: skip
    return TrainConfig(**values)


# ------------------------------------------------------------------------- a Dataset object


def test_a_dataset_object_trains_through_the_python_api(tmp_path, one_thread):
    data = blocks()
    config = quick(data)
    untrained = build_experiment(config)
    before = evaluate(untrained, data.x_test, data.y_test)["device"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputRangeWarning)  # the data are in the crossbar's range
        result = train(config, tmp_path / "run", progress=False)
    assert before < 0.6  # chance is 1/3: the untrained network does not know the classes
    assert result["accuracy"] >= 0.9
    assert result["dataset"] == "blocks" and result["config"]["dataset"] == "blocks"
    assert result["config"]["dataset_sha256"] == data.fingerprint
    assert json.loads((tmp_path / "run" / "result.json").read_text())["dataset"] == "blocks"


def test_resuming_on_other_data_is_refused(tmp_path, one_thread):
    out = tmp_path / "run"
    train(quick(blocks(), epochs=1), out, progress=False)
    same = train(quick(blocks(), epochs=1), out, resume=True, progress=False)
    assert same["config"]["dataset_sha256"] == blocks().fingerprint
    with pytest.raises(ConfigError, match="dataset_sha256 differ"):
        train(quick(blocks(seed=1), epochs=1), out, resume=True, progress=False)


def test_the_configuration_records_the_name_and_the_fingerprint():
    data = blocks()
    values = quick(data).to_dict()
    assert values["dataset"] == "blocks" and values["dataset_sha256"] == data.fingerprint
    assert json.loads(json.dumps(values)) == values
    again = TrainConfig.from_dict(values)  # as read back from result.json: a name to load
    assert again.dataset == "blocks" and again.to_dict() == values


def test_a_named_dataset_must_have_the_recorded_content():
    digits = load_dataset("digits")
    build_experiment(quick("digits", dataset_sha256=digits.fingerprint))
    with pytest.raises(DatasetError, match=r"fingerprint .* it is other data"):
        build_experiment(quick("digits", dataset_sha256="0" * 64))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dataset": 42}, r"dataset must be a dataset's name or a physnn.data.Dataset, got int"),
        ({"dataset": [1, 2]}, r"got list"),
        ({"data_dir": "somewhere"}, r"data_dir='somewhere' is for a dataset loaded by name"),
        ({"dataset_sha256": "f" * 64}, r"is not the fingerprint of the Dataset object given"),
        ({"dataset_sha256": "abc"}, r"dataset_sha256 must be 64 lowercase hex digits"),
    ],
)
def test_a_wrong_dataset_is_a_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**{"dataset": blocks(), **overrides})


def test_validate_names_accepts_an_object_and_checks_a_name():
    validate_names(quick(blocks()))
    with pytest.raises(DatasetError, match="unknown dataset 'nope'"):
        validate_names(quick("nope"))


# ------------------------------------------------------------------------- Dataset checks

X, Y = torch.rand(20, 3), torch.arange(20) % 2


@pytest.mark.parametrize(
    ("x_train", "y_train", "class_names", "message"),
    [
        (X, Y[:-1], ("a", "b"), r"y_train has 19 labels for the 20 samples of x_train"),
        ((X * 255).to(torch.uint8), Y, ("a", "b"), r"x_train holds torch.uint8 values; .* floats"),
        (X[:, 0], Y, ("a", "b"), r"x_train has shape \(20,\); samples must be \(n, features\)"),
        (X.reshape(20, 3, 1, 1), Y, ("a", "b"), r"must be \(n, features\) or \(n, height, width\)"),
        (X[:0], Y[:0], ("a", "b"), r"dataset 'mine' has an empty training split"),
        (X.clone().fill_(float("nan")), Y, ("a", "b"), r"x_train holds 60 non-finite values"),
        (X, Y.float(), ("a", "b"), r"y_train holds torch.float32 values; labels must be integers"),
        (X, Y + 1, ("a", "b"), r"y_train holds the label 2, outside 0 … 1 \(2 class names\)"),
        (X, Y - 1, ("a", "b"), r"y_train holds the label -1, outside 0 … 1"),
        (X, Y, ("a",), r"at least two classes"),
        (X, Y, ("a", "a"), r"class_names must be distinct"),
        (X, Y, "ab", r"class_names must be a sequence of strings"),
        ([[0.0] * 3] * 20, Y, ("a", "b"), r"x_train must be a torch tensor or a numpy array, got"),
        (
            torch.rand(20, 4),
            Y,
            ("a", "b"),
            r"x_val holds samples of shape \(3,\) but x_train holds \(4,\)",
        ),
    ],
)
def test_a_bad_dataset_is_one_dataset_error(x_train, y_train, class_names, message):
    with pytest.raises(DatasetError, match=message):
        Dataset("mine", x_train, y_train, torch.rand(5, 3), Y[:5], X, Y, class_names)


def test_every_split_is_checked():
    with pytest.raises(DatasetError, match=r"y_test holds the label 5"):
        Dataset("mine", X, Y, X, Y, X, Y + 5 * (Y == 0), ("a", "b"))
    with pytest.raises(DatasetError, match=r"dataset 'mine' has an empty validation split"):
        Dataset("mine", X, Y, X[:0], Y[:0], X, Y, ("a", "b"))


def test_from_arrays_splits_numpy_arrays_reproducibly():
    rng = np.random.default_rng(3)
    x, y = rng.random((100, 2, 5)), rng.integers(0, 4, 100)
    a = Dataset.from_arrays("np", x, y, val_fraction=0.15, test_fraction=0.25, seed=7)
    b = Dataset.from_arrays("np", x, y, val_fraction=0.15, test_fraction=0.25, seed=7)
    c = Dataset.from_arrays("np", x, y, val_fraction=0.15, test_fraction=0.25, seed=8)
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (60, 15, 25)
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert a.sample_shape == (2, 5) and a.class_names == ("0", "1", "2", "3")
    assert a == b and a.fingerprint == b.fingerprint and a.fingerprint != c.fingerprint
    pooled = torch.cat([a.x_train, a.x_val, a.x_test]).reshape(100, -1).sum(1).sort().values
    torch.testing.assert_close(
        pooled, torch.from_numpy(x).float().reshape(100, -1).sum(1).sort().values
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_fraction": 0}, r"val_fraction must be a number between 0 and 1, got 0"),
        ({"test_fraction": 0.6, "val_fraction": 0.4}, r"leaves no training samples"),
        ({"val_fraction": 0.01}, r"too few to split"),
    ],
)
def test_from_arrays_refuses_a_bad_split(kwargs, message):
    with pytest.raises(DatasetError, match=message):
        Dataset.from_arrays("mine", X, Y, **kwargs)


# ------------------------------------------------------------------------- data folders


def test_a_missing_data_dir_is_an_error_for_every_dataset(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match=r"data_dir '.*nowhere' does not exist"):
        load_dataset("digits", data_dir=missing)
    with pytest.raises(DatasetError, match=r"does not exist"):
        validate_names(quick("digits", data_dir=str(missing)))
    (tmp_path / "file").write_text("")
    with pytest.raises(DatasetError, match=r"is not a folder"):
        load_dataset("digits", data_dir=tmp_path / "file")


# ------------------------------------------------------------------------- registered datasets

LOADER = '''"""A dataset package: MNIST-1D style, generated in code."""

import numpy as np

from physnn.data import Dataset


def load(data_dir):
    """Two classes of 1-D signals in [0, 1]: a bump on the left or on the right."""
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    t = np.linspace(0, 1, 16)
    centre = np.where(y == 0, 0.25, 0.75)[:, None]
    x = np.exp(-((t - centre) ** 2) / 0.01) * 0.8 + 0.2 * rng.random((120, 16))
    return Dataset.from_arrays("signals", x, y, class_names=["left", "right"])


def seen_folder(data_dir):
    """The folder physnn hands over, as a dataset name."""
    data = load(None)
    return Dataset("folder-" + data_dir.name, data.x_train, data.y_train, data.x_val, data.y_val,
                   data.x_test, data.y_test, data.class_names)


def not_a_dataset(data_dir):
    return 42
'''


@pytest.fixture
def install(tmp_path, monkeypatch):
    """``install(entry_points)`` puts a package ``toydata`` on the path the way pip installs one:
    a ``*.dist-info`` folder whose ``entry_points.txt`` importlib.metadata reads."""
    root = tmp_path / "site"

    def write(entry_points: str) -> Path:
        (root / "toydata").mkdir(parents=True)
        (root / "toydata" / "__init__.py").write_text(LOADER)
        info = root / "toydata-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toydata\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}")
        monkeypatch.syspath_prepend(str(root))
        return root

    yield write
    sys.modules.pop("toydata", None)


def test_a_registered_dataset_loads_by_name(install, tmp_path):
    install("toy = toydata:load\ntoy-folder = toydata:seen_folder\n")
    assert list(external_datasets()) == ["toy", "toy-folder"]
    data = load_dataset("toy", limit_train=10)
    assert data.name == "toy" and data.class_names == ("left", "right")
    assert len(data.x_train) == 10 and data.sample_shape == (16,)
    assert load_dataset("toy-folder", data_dir=tmp_path).name == "toy-folder"
    with pytest.raises(DatasetError, match=r"unknown dataset 'toys'; choose one of: .*, toy, "):
        load_dataset("toys")


def test_a_registered_name_cannot_replace_a_built_in(install):
    install("digits = toydata:load\n")
    with pytest.warns(PhysnnWarning, match=r"'digits' registered by toydata:load .* is skipped"):
        assert "digits" not in external_datasets()
    assert load_dataset("digits").num_classes == 10  # not the package's two classes


def test_a_registered_loader_that_fails_is_a_dataset_error(install):
    install("toy-broken = toydata:not_a_dataset\ntoy-missing = toydata_gone:load\n")
    with pytest.raises(DatasetError, match=r"returned a value of type int, not a physnn.data"):
        load_dataset("toy-broken")
    with pytest.raises(DatasetError, match=r"cannot import the loader of dataset 'toy-missing'"):
        load_dataset("toy-missing")


def test_the_cli_trains_on_a_registered_dataset(install, tmp_path):
    site = install("toy = toydata:load\n")
    out = tmp_path / "run"
    paths = [str(site), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    env = {**os.environ, "PHYSNN_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    done = subprocess.run(
        [sys.executable, "-m", "physnn.cli", "train", "--dataset", "toy", "--system", "crossbar",
         "--method", "insilico", "--gap", "none", "--epochs", "1", "--no-progress",
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["dataset"] == "toy" and result["config"]["dataset"] == "toy"
    assert "toy: 84 train / 12 validation / 24 test samples" in result["resolved"]["dataset"]


# ------------------------------------------------------------------------- input ranges


def test_data_beyond_a_systems_range_is_warned_about_with_both_ranges(one_thread):
    standardized = Dataset.from_arrays("standardized", torch.randn(60, 8) * 2, torch.arange(60) % 2)
    low, high = standardized.value_range
    with pytest.warns(InputRangeWarning) as caught:
        build_experiment(quick(standardized, system="mzi"))
    (message,) = [str(w.message) for w in caught]
    assert f"[{low:.4g}, {high:.4g}]" in message and "'mzi' encodes inputs in [0, 1]" in message
    with pytest.warns(InputRangeWarning, match=r"'crossbar' encodes inputs in \[-1, 1\]"):
        build_experiment(quick(standardized))
    with pytest.warns(InputRangeWarning, match=r"'diffractive' encodes inputs in \[0, ∞\)"):
        build_experiment(quick(standardized, system="diffractive"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputRangeWarning)
        build_experiment(quick(standardized, system_options={"input_bits": None}))  # ideal DAC
        build_experiment(quick(standardized, system="mzi", model="hybrid:8"))  # sigmoid first


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_a_systems_input_range_is_where_it_clamps(name, one_thread):
    """Beyond its declared range a system's output does not change (the encoding clamps there);
    a system that declares none does not clamp standardized data into [0, 1]."""
    system = SYSTEMS[name].from_preset("default")
    controls = system.init_controls(torch.Generator().manual_seed(0))
    nuisance = system.nominal_nuisance()
    levels = torch.tensor([-2.0, -0.5, 0.3, 0.7, 1.5, 3.0])
    x = levels[:, None, None].expand(6, 8, 8).contiguous()  # constant images: resampling keeps
    low, high = system.input_range or (0.0, 1.0)
    with torch.no_grad():
        same = torch.allclose(system(x, controls, nuisance), system(x.clamp(low, high), controls,
                                                                    nuisance))  # fmt: skip
    assert same == (system.input_range is not None)
