"""Datasets: fixed splits, checksum verification, offline search order, verified downloads."""

from __future__ import annotations

import shutil

import pytest
import torch

from conftest import SHARED_DATA
from physnn.data import DatasetError, data_search_paths, load_dataset
from physnn.data.datasets import FILES

needs_mnist = pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason="no shared MNIST copy"
)
needs_fashion = pytest.mark.skipif(
    not (SHARED_DATA / "fashion-mnist").is_dir(), reason="no shared Fashion-MNIST copy"
)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache or data dir."""
    monkeypatch.setenv("PHYSNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PHYSNN_DATA_DIR", raising=False)
    monkeypatch.delenv("PHYSNN_DATA_MIRROR", raising=False)


def test_digits_split_is_fixed_and_scaled():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (1259, 179, 359)
    assert a.image_shape == (8, 8) and a.num_classes == 10
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert len(load_dataset("digits", limit_train=100).x_train) == 100


@needs_mnist
def test_mnist_from_a_data_dir():
    data = load_dataset("mnist", data_dir=SHARED_DATA)  # finds the mnist/ sub-folder
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (55000, 5000, 10000)
    assert data.image_shape == (28, 28)
    counts = torch.bincount(data.y_test).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) == 1.0


@needs_fashion
def test_fashion_mnist_from_the_environment(monkeypatch):
    monkeypatch.setenv("PHYSNN_DATA_DIR", str(SHARED_DATA))
    data = load_dataset("fashion-mnist")
    assert data.class_names[9] == "Ankle boot"
    assert torch.bincount(data.y_test).tolist() == [1000] * 10


@needs_mnist
def test_corrupt_file_is_refused_with_a_clear_error(tmp_path):
    copy = tmp_path / "mnist"
    shutil.copytree(SHARED_DATA / "mnist", copy)
    target = copy / FILES[1]
    raw = bytearray(target.read_bytes())
    raw[100] ^= 0xFF
    target.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"checksum mismatch for .*train-labels"):
        load_dataset("mnist", data_dir=copy)


def test_missing_files_explain_how_to_get_them(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path) in message and "--data-dir" in message
    assert "apt-get install dataset-fashion-mnist" in message


@needs_mnist
def test_download_from_a_mirror_is_verified_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSNN_DATA_MIRROR", (SHARED_DATA / "mnist").as_uri())
    data = load_dataset("mnist")
    cached = tmp_path / "cache" / "datasets" / "mnist"
    assert all((cached / f).is_file() for f in FILES)
    assert len(data.x_test) == 10000
    assert cached in data_search_paths("mnist")


@needs_mnist
def test_corrupt_download_leaves_nothing_behind(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    shutil.copytree(SHARED_DATA / "mnist", mirror)
    (mirror / FILES[0]).write_bytes(b"not the real file")
    monkeypatch.setenv("PHYSNN_DATA_MIRROR", mirror.as_uri())
    with pytest.raises(DatasetError, match="download failed"):
        load_dataset("mnist")
    cached = tmp_path / "cache" / "datasets" / "mnist"
    assert not (cached / FILES[0]).exists()
    assert not any(p.name.endswith(".part") for p in cached.iterdir())


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(DatasetError, match="digits, mnist, fashion-mnist"):
        load_dataset("cifar10")
