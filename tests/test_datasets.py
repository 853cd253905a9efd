"""Datasets: fixed splits, checksum verification, offline search order, verified downloads."""

from __future__ import annotations

import gzip
import shutil

import pytest
import torch

from conftest import SHARED_DATA
from physnn.data import DatasetError, data_search_paths, formats, load_dataset, sources
from physnn.data.formats import FILES

needs_mnist = pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(), reason="no shared MNIST copy"
)
needs_fashion = pytest.mark.skipif(
    not (SHARED_DATA / "fashion-mnist").is_dir(), reason="no shared Fashion-MNIST copy"
)
needs_vowels = pytest.mark.skipif(
    not (SHARED_DATA / "hillenbrand-vowels").is_dir(), reason="no shared Hillenbrand copy"
)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache or data dir."""
    monkeypatch.setenv("PHYSNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PHYSNN_DATA_DIR", raising=False)
    monkeypatch.delenv("PHYSNN_DATA_MIRROR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


def test_digits_split_is_fixed_and_scaled():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert (len(a.x_train), len(a.x_val), len(a.x_test)) == (1259, 179, 359)
    assert a.sample_shape == (8, 8) and a.num_classes == 10
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert float(a.x_train.min()) == 0.0 and float(a.x_train.max()) == 1.0
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert len(load_dataset("digits", limit_train=100).x_train) == 100


@needs_mnist
def test_mnist_from_a_data_dir():
    data = load_dataset("mnist", data_dir=SHARED_DATA)  # finds the mnist/ sub-folder
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (55000, 5000, 10000)
    assert data.sample_shape == (28, 28)
    counts = torch.bincount(data.y_test).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) == 1.0
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert "55000 train / 5000 validation / 10000 test" in data.summary()
    small = load_dataset("mnist", data_dir=SHARED_DATA / "mnist", limit_train=1000)
    assert torch.equal(small.x_train, data.x_train[:1000]) and torch.equal(small.y_val, data.y_val)


@needs_vowels
def test_vowels_are_formant_features_split_by_talker():
    data = load_dataset("vowels", data_dir=SHARED_DATA)  # finds hillenbrand-vowels/
    assert data.sample_shape == (12,) and data.num_classes == 12
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (1116, 160, 321)
    assert "12 features" in data.summary()
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    assert float(data.x_test.min()) >= 0.0 and float(data.x_test.max()) <= 1.0
    assert torch.bincount(data.y_test, minlength=12).min() >= 20  # every vowel is tested
    # F1 (steady state) separates the open "ah" of "hod" from the closed "iy" of "heed".
    f1 = [data.x_train[data.y_train == data.class_names.index(c), 0].mean() for c in
          ("ah (hod)", "iy (heed)")]  # fmt: skip
    assert f1[0] > f1[1] + 0.3


@needs_vowels
def test_the_seven_vowel_subset_keeps_those_samples_and_relabels_them():
    full = load_dataset("vowels", data_dir=SHARED_DATA)
    seven = load_dataset("vowels7", data_dir=SHARED_DATA)
    assert [c.split()[0] for c in seven.class_names] == ["ae", "ah", "aw", "er", "ih", "iy", "uw"]
    for split in ("train", "val", "test"):
        x_full, y_full = getattr(full, f"x_{split}"), getattr(full, f"y_{split}")
        x_seven, y_seven = getattr(seven, f"x_{split}"), getattr(seven, f"y_{split}")
        source = torch.tensor([full.class_names.index(c) for c in seven.class_names])
        kept = torch.isin(y_full, source)
        assert torch.equal(x_seven, x_full[kept])
        assert torch.equal(source[y_seven], y_full[kept])


def test_vowel_table_is_verified(tmp_path):
    (tmp_path / "vowdata.dat").write_text("m01ae 323 174 663 2012 2659 3691\n")
    with pytest.raises(DatasetError, match=r"checksum mismatch.*vowdata\.dat"):
        load_dataset("vowels", data_dir=tmp_path, download=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"not found.*get vowdata\.dat"):
        load_dataset("vowels", data_dir=tmp_path / "empty", download=False)


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
    with pytest.raises(DatasetError, match=r"checksum mismatch for .*train-labels") as err:
        load_dataset("mnist", data_dir=copy)
    assert "expected 3552534a" in str(err.value) and "delete it" in str(err.value)


@needs_mnist
def test_each_file_is_hashed_once_per_process(tmp_path, monkeypatch):
    copy = tmp_path / FILES[3]
    shutil.copy(SHARED_DATA / "mnist" / FILES[3], copy)
    calls = []
    real = sources.file_sha256
    monkeypatch.setattr(sources, "file_sha256", lambda path: calls.append(path) or real(path))
    sources.verify("mnist", copy)
    sources.verify("mnist", copy)
    assert len(calls) == 1


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("PHYSNN_DATA_DIR", str(tmp_path / "env"))
    paths = data_search_paths("fashion-mnist", tmp_path / "explicit")
    assert paths[:5] == [
        tmp_path / "explicit",
        tmp_path / "explicit" / "fashion-mnist",
        tmp_path / "env",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "cache" / "datasets" / "fashion-mnist",
    ]
    assert paths[5].parts[-2:] == ("datasets", "fashion-mnist") and len(paths) == 6
    assert len(data_search_paths("mnist")) == 3 and data_search_paths("digits") == []
    monkeypatch.delenv("PHYSNN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tmp_path / "xdg" / "physnn" / "datasets" / "mnist" in data_search_paths("mnist")


def test_idx_magic_is_checked(tmp_path):
    bad = tmp_path / "labels.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + bytes(12)))  # image magic, not labels
    with pytest.raises(DatasetError, match="magic number 0x0801"):
        formats.read_idx(bad, ndim=1)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(3)))
    with pytest.raises(DatasetError, match="not the"):
        formats.read_idx(short, ndim=1)


def test_missing_files_explain_how_to_get_them(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    message = str(err.value)
    assert str(tmp_path) in message and "pass data_dir or set PHYSNN_DATA_DIR" in message
    assert "pass --data-dir or set PHYSNN_DATA_DIR" in err.value.for_cli()
    assert "apt-get install dataset-fashion-mnist" in message
    assert "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/" in message
    assert "PHYSNN_DATA_DIR" in message and "download disabled" in message


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
    with pytest.raises(DatasetError, match=f"download failed.*{FILES[0]} has SHA-256"):
        load_dataset("mnist")
    assert list((tmp_path / "cache" / "datasets" / "mnist").iterdir()) == []


@needs_mnist
def test_failed_download_leaves_no_partial_file(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    shutil.copytree(SHARED_DATA / "mnist", mirror)
    (mirror / FILES[3]).unlink()
    monkeypatch.setenv("PHYSNN_DATA_MIRROR", mirror.as_uri())
    with pytest.raises(DatasetError, match="download failed"):
        load_dataset("mnist")
    cached = tmp_path / "cache" / "datasets" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(FILES[:3])  # verified ones only


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(DatasetError, match="digits, mnist, fashion-mnist"):
        load_dataset("cifar10")


def test_limit_train_must_be_positive():
    with pytest.raises(DatasetError, match="limit_train"):
        load_dataset("digits", limit_train=0)


@needs_vowels
def test_vowel_audio_is_a_unit_power_window_split_by_talker():
    data = load_dataset("vowels-audio", data_dir=SHARED_DATA)
    assert data.sample_shape == (1000,) and data.num_classes == 12
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 1116  # men and women
    power = data.x_train.square().mean(dim=1)
    assert torch.allclose(power, torch.ones_like(power), atol=1e-4)
    assert torch.bincount(data.y_test, minlength=12).min() >= 10
    # Voiced speech: the window is periodic at the talker's pitch (F0 between 80 and 300 Hz,
    # i.e. 33 to 125 samples at 10 kHz), so the autocorrelation peaks there.
    x = data.x_train[:50]
    lags = torch.arange(20, 200)
    corr = torch.stack([(x[:, :-k] * x[:, k:]).mean(dim=1) for k in lags.tolist()], dim=1)
    pitch = lags[corr.argmax(dim=1)]
    assert ((pitch >= 30) & (pitch <= 130)).float().mean() > 0.8


@needs_vowels
def test_hughes_three_vowels_are_a_subset_of_the_audio():
    three = load_dataset("vowels3-audio", data_dir=SHARED_DATA)
    assert [c.split()[0] for c in three.class_names] == ["ae", "ei", "iy"]
    assert len(three.x_train) + len(three.x_val) + len(three.x_test) == 3 * 93


@needs_vowels
def test_vowel_audio_is_verified_and_downloaded_from_a_mirror(tmp_path, monkeypatch):
    source = SHARED_DATA / "hillenbrand-vowels"
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    first = copy / "audio" / "m01ae.wav"
    first.write_bytes(first.read_bytes()[:-2] + b"\0\1")
    with pytest.raises(DatasetError, match=r"recordings in .* are not the original ones"):
        load_dataset("vowels-audio", data_dir=copy, download=False)
    monkeypatch.setenv("PHYSNN_DATA_MIRROR", source.as_uri())
    data = load_dataset("vowels3-audio")  # tables, then the 1116 recordings into the cache
    assert (tmp_path / "cache" / "datasets" / "vowels-audio" / "audio" / "w50uw.wav").is_file()
    assert len(data.x_test) > 0
