"""How each built-in dataset is built from its source files: features, scaling, fixed splits
and class names; and the class subsets of another dataset (``vowels7``, ``vowels3-audio``, …).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from physnn.data.dataset import Dataset
from physnn.data.formats import (
    AUDIO_FOLDER,
    FILES,
    read_pair,
    read_wav,
    recorded_tokens,
    steady_state_ms,
    vowel_rows,
)

AUDIO_RATE = 10_000  # Hz: the sample rate of Hughes et al. 2019 (recorded at 16 kHz)
AUDIO_SAMPLES = 1000  # 0.1 s around the vowel's steady state
CLASS_NAMES = {
    "digits": tuple(str(i) for i in range(10)),
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    # Hillenbrand's codes and the /hVd/ words they were recorded in.
    "vowels": ("ae (had)", "ah (hod)", "aw (hawed)", "eh (head)", "er (heard)", "ei (hayed)",
               "ih (hid)", "iy (heed)", "oa (hoed)", "oo (hood)", "uh (hud)", "uw (who'd)"),
}  # fmt: skip
CLASS_NAMES["vowels-audio"] = CLASS_NAMES["vowels"]
# Class subsets of another dataset: name → (source dataset, class codes kept). The 7 vowels are
# those of the McMahon lab's vowel tasks (Wright et al. 2022; Onodera et al. 2024), as listed in
# github.com/mcmahon-lab/2D-programmable-waveguide, tdwg/datasets/vowels_dataset.py.
# The 3 vowels of Hughes et al. 2019 (wave physics as an analog RNN): ae, ei, iy.
SEVEN_VOWELS = ("ae", "ah", "aw", "er", "ih", "iy", "uw")
SUBSETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vowels7": ("vowels", SEVEN_VOWELS),
    "vowels3-audio": ("vowels-audio", ("ae", "ei", "iy")),
    "vowels7-audio": ("vowels-audio", SEVEN_VOWELS),
}
VALIDATION_SIZE = 5000  # the last 5000 official training images of (fashion-)MNIST


def from_files(source: str, folder: Path) -> Dataset:
    """The built-in dataset ``source`` (not ``digits``, which needs no files) read from the
    verified files in ``folder``."""
    read = {"vowels": _vowels, "vowels-audio": _vowel_audio}.get(source)
    return read(folder) if read else _idx_dataset(source, folder)


def digits() -> Dataset:
    """scikit-learn's 8×8 digits in a split fixed by ``default_rng(0)``: 20% test, 10% val."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    return Dataset.from_arrays("digits", raw.images / 16.0, raw.target,
                               class_names=CLASS_NAMES["digits"], val_fraction=0.1,
                               test_fraction=0.2, seed=0)  # fmt: skip


def _split_by_talker(talkers: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of a talker-disjoint split fixed by ``default_rng(0)``: 20% of the talkers for the
    test set, 10% for validation, so that no voice is seen in training and tested."""
    unique = sorted(set(talkers))
    order = np.random.default_rng(0).permutation(len(unique))
    n_test, n_val = round(0.2 * len(unique)), round(0.1 * len(unique))
    role = {unique[i]: 0 if k < n_test else 1 if k < n_test + n_val else 2
            for k, i in enumerate(order)}  # fmt: skip
    roles = np.array([role[t] for t in talkers])
    return roles == 2, roles == 1, roles == 0


def _vowels(folder: Path) -> Dataset:
    """Hillenbrand et al. (1995): 12 formant frequencies per token → 12 vowel classes.

    Features: F1, F2, F3 at the vowel's steady state and at 20, 50 and 80 % of its duration
    (columns 4–6 and 8–16 of ``vowdata.dat``), on a log scale, min-max scaled into [0, 1] with
    the training talkers' range (values beyond it are clipped). Tokens with an unmeasurable
    formant (0 in the table) are left out. Men, women, boys and girls; the split is by talker.
    """
    rows = vowel_rows(folder)
    names = [r[0] for r in rows]
    table = np.array([[float(v) for v in r[1:]] for r in rows])
    formants = table[:, [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]]
    measured = (formants > 0).all(axis=1)
    codes = [c.split()[0] for c in CLASS_NAMES["vowels"]]
    labels = np.array([codes.index(n[3:5]) for n in names])
    features = np.log(np.where(measured[:, None], formants, 1.0))
    train, val, test = (m & measured for m in _split_by_talker([n[:3] for n in names]))
    low, high = features[train].min(axis=0), features[train].max(axis=0)
    scaled = np.clip((features - low) / (high - low), 0.0, 1.0).astype(np.float32)

    def part(mask: np.ndarray) -> tuple[Tensor, Tensor]:
        return torch.from_numpy(scaled[mask]), torch.from_numpy(labels[mask].astype(np.int64))

    return Dataset("vowels", *part(train), *part(val), *part(test), CLASS_NAMES["vowels"])


def _vowel_audio(folder: Path) -> Dataset:
    """Hillenbrand et al. (1995) recordings → 12 vowel classes, as in Hughes et al. 2019.

    Each /hVd/ recording is resampled from 16 kHz to ``AUDIO_RATE`` (polyphase filter), cut to
    the ``AUDIO_SAMPLES`` samples centred on the vowel's steady state (``timedata.dat``; shifted
    to stay inside the recording) and scaled to unit mean power, so that every input carries the
    same energy. Men and women (93 talkers); the split is by talker.
    """
    from scipy.signal import resample_poly

    names = recorded_tokens(folder)
    centre_ms = steady_state_ms(folder)
    gcd = math.gcd(16_000, AUDIO_RATE)
    signals = np.empty((len(names), AUDIO_SAMPLES), dtype=np.float32)
    for i, name in enumerate(names):
        audio = resample_poly(read_wav(folder / AUDIO_FOLDER / f"{name}.wav"),
                              AUDIO_RATE // gcd, 16_000 // gcd)  # fmt: skip
        centre = round(centre_ms[name] * AUDIO_RATE / 1000)
        start = min(max(centre - AUDIO_SAMPLES // 2, 0), len(audio) - AUDIO_SAMPLES)
        window = audio[start : start + AUDIO_SAMPLES]
        signals[i] = window / np.sqrt(np.mean(window**2))
    codes = [c.split()[0] for c in CLASS_NAMES["vowels-audio"]]
    labels = np.array([codes.index(n[3:5]) for n in names], dtype=np.int64)
    masks = _split_by_talker([n[:3] for n in names])

    def part(mask: np.ndarray) -> tuple[Tensor, Tensor]:
        return torch.from_numpy(signals[mask]), torch.from_numpy(labels[mask])

    return Dataset("vowels-audio", *(t for m in masks for t in part(m)),
                   CLASS_NAMES["vowels-audio"])  # fmt: skip


def _idx_dataset(name: str, folder: Path) -> Dataset:
    """The official training set split into train + the last 5000 as validation; official test."""
    x_train, y_train = read_pair(folder / FILES[0], folder / FILES[1])
    x_test, y_test = read_pair(folder / FILES[2], folder / FILES[3])
    images = torch.from_numpy(x_train.astype(np.float32) / 255.0)
    labels = torch.from_numpy(y_train.astype(np.int64))
    cut = len(images) - VALIDATION_SIZE
    return Dataset(
        name,
        images[:cut], labels[:cut], images[cut:], labels[cut:],
        torch.from_numpy(x_test.astype(np.float32) / 255.0),
        torch.from_numpy(y_test.astype(np.int64)),
        CLASS_NAMES[name],
    )  # fmt: skip


def keep_classes(data: Dataset, name: str, codes: tuple[str, ...]) -> Dataset:
    """The samples of the classes whose code (first word of the class name) is in ``codes``,
    relabelled 0 … len(codes) − 1 in the source's class order; the splits stay as they were."""
    keep = [i for i, c in enumerate(data.class_names) if c.split()[0] in codes]
    relabel = torch.full((len(data.class_names),), -1, dtype=torch.int64)
    relabel[keep] = torch.arange(len(keep))

    def part(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        mask = relabel[y] >= 0
        return x[mask], relabel[y[mask]]

    return Dataset(
        name,
        *part(data.x_train, data.y_train),
        *part(data.x_val, data.y_val),
        *part(data.x_test, data.y_test),
        tuple(data.class_names[i] for i in keep),
    )
