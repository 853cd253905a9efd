"""Datasets with fixed splits: offline first, checksum-verified, downloaded into a cache if absent.

``digits`` (the 8×8 UCI digits bundled with scikit-learn) needs no files. ``mnist`` and
``fashion-mnist`` read the four original IDX ``.gz`` files; ``vowels`` reads the formant table
``vowdata.dat`` of Hillenbrand et al. (1995) and ``vowels-audio`` their recordings (``audio/*.wav``
with ``timedata.dat``). The files are looked for in, in order: ``data_dir``
(the files themselves or a ``<name>/`` sub-folder, or the folder's usual name such as
``hillenbrand-vowels/``), ``$PHYSNN_DATA_DIR`` (same layouts), the cache ``$PHYSNN_CACHE_DIR`` or
``$XDG_CACHE_HOME/physnn`` or ``~/.cache/physnn`` (under ``datasets/<name>``), and known system
places (Debian's ``dataset-fashion-mnist``). If none has them, they are downloaded from the
official sources into the cache. Every file is verified by SHA-256 before use.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import json
import math
import os
import sys
import urllib.request
import wave
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from physnn.data.registry import BUILTIN_DATASETS, dataset_names, external_datasets, load_external
from physnn.errors import DatasetError, option
from physnn.files import temporary_beside

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip
VOWEL_TABLE = "vowdata.dat"
TIME_TABLE = "timedata.dat"
DATASET_FILES: dict[str, tuple[str, ...]] = {
    "mnist": FILES,
    "fashion-mnist": FILES,
    "vowels": (VOWEL_TABLE,),
    "vowels-audio": (VOWEL_TABLE, TIME_TABLE),  # and audio/<token>.wav for the men and women
}
FOLDER_NAMES = {
    "vowels": ("vowels", "hillenbrand-vowels"),
    "vowels-audio": ("vowels-audio", "vowels", "hillenbrand-vowels"),
}
AUDIO_FOLDER = "audio"

# Accepted SHA-256 of each file. Fashion-MNIST: the upstream release files and Debian's copies,
# which hold the same data with a normalized gzip header.
CHECKSUMS: dict[str, dict[str, set[str]]] = {
    "mnist": {
        FILES[0]: {"440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
        FILES[1]: {"3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
        FILES[2]: {"8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
        FILES[3]: {"f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
    },
    "fashion-mnist": {
        FILES[0]: {"3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                   "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"},
        FILES[1]: {"a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                   "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"},
        FILES[2]: {"346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                   "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"},
        FILES[3]: {"67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                   "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"},
    },
    "vowels": {
        VOWEL_TABLE: {"05a4a69e2c6b0f444077245b1427d12bc86f8d7a32ae7a4b63f7e06e5712e4b1"},
    },
    "vowels-audio": {
        VOWEL_TABLE: {"05a4a69e2c6b0f444077245b1427d12bc86f8d7a32ae7a4b63f7e06e5712e4b1"},
        TIME_TABLE: {"466b3ae1c02d1e8507da6146b1a019a2227646488cab4605c1b00437053bd250"},
    },
}  # fmt: skip
# The 1116 recordings are verified together: SHA-256 of the lines "<file name> <file SHA-256>\n"
# sorted by file name.
AUDIO_DIGEST = "90a5f750bd546e92f76620d5293fd1f45093dd94ae02900ac292e5229c0d0e9d"

MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    # The author's page that distributed the tables is gone; this mirror is pinned to a commit.
    "vowels": (
        "https://raw.githubusercontent.com/kleinschmidt/hdp-bayes-vowels/"
        "1ef03eac63323f33b8ee31af8bc5294042de2d00/hillenbrand-data/",
    ),
}
MIRRORS["vowels-audio"] = MIRRORS["vowels"]  # the tables; the recordings come from AUDIO_MIRRORS
# Hughes et al. 2019 ship the men's and women's recordings with their wave-RNN code.
AUDIO_MIRRORS = ("https://raw.githubusercontent.com/fancompute/wavetorch/master/data/vowels/",)
AUDIO_RATE = 10_000  # Hz: the sample rate of Hughes et al. 2019 (recorded at 16 kHz)
AUDIO_SAMPLES = 1000  # 0.1 s around the vowel's steady state
DOWNLOAD_TIMEOUT_S = 30.0
SYSTEM_PLACES = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
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
DATASETS = BUILTIN_DATASETS  # the built-in ones; see registry.dataset_names for all
VALIDATION_SIZE = 5000  # the last 5000 official training images of (fashion-)MNIST
VOWEL_TOKENS = 1668  # rows of vowdata.dat: 45 men, 48 women, 27 boys, 19 girls × 12 vowels


SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification dataset in fixed training, validation and test splits: the built-in ones,
    and the way to bring your own (``TrainConfig(dataset=Dataset(...))``, see docs/datasets.md).

    ``x_*`` hold the samples: feature vectors or signals ``(n, F)``, or images ``(n, h, w)``,
    the same sample shape in every split, finite floats (stored as float32). ``y_*`` hold the
    labels ``(n,)``, integers in ``0 … len(class_names) − 1`` (stored as int64). Every split
    holds at least one sample and there are at least two classes. Torch tensors and numpy arrays
    are accepted; anything else raises a :class:`DatasetError` that names the problem.

    Build one from given splits with the constructor, or from one pool of samples with
    :meth:`from_arrays`. The built-in datasets hold images and features in [0, 1] and signals of
    unit mean power; a system encodes only the values in its ``input_range`` and warns
    (:class:`~physnn.errors.InputRangeWarning`) about data beyond it. Two datasets are equal when
    their names and contents (:attr:`fingerprint`) are.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise DatasetError(f"a dataset's name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "class_names", _class_names(self.class_names))
        for split in SPLITS:
            x = _samples(f"x_{split}", getattr(self, f"x_{split}"))
            y = _labels(f"y_{split}", getattr(self, f"y_{split}"))
            self._check_split(split, x, y)
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    def _check_split(self, split: str, x: Tensor, y: Tensor) -> None:
        """Raise DatasetError unless the split is non-empty, shaped like the training split,
        finite, and labelled with one valid class per sample."""
        if len(x) == 0:
            raise DatasetError(f"dataset {self.name!r} has an empty {SPLIT_NAMES[split]} split")
        if split != "train" and x.shape[1:] != self.x_train.shape[1:]:
            raise DatasetError(
                f"x_{split} holds samples of shape {tuple(x.shape[1:])} but x_train holds "
                f"{tuple(self.x_train.shape[1:])}: every split needs the same sample shape"
            )
        if len(y) != len(x):
            raise DatasetError(
                f"y_{split} has {len(y)} labels for the {len(x)} samples of x_{split}"
            )
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise DatasetError(f"x_{split} holds {bad} non-finite values (NaN or infinite)")
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= len(self.class_names):
            raise DatasetError(
                f"y_{split} holds the label {low if low < 0 else high}, outside 0 … "
                f"{len(self.class_names) - 1} ({len(self.class_names)} class names)"
            )

    @classmethod
    def from_arrays(
        cls,
        name: str,
        x: Tensor | np.ndarray,
        y: Tensor | np.ndarray,
        *,
        class_names: Sequence[str] | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        seed: int = 0,
    ) -> Dataset:
        """Split one pool of samples at random into test, validation and training sets.

        The samples are shuffled by ``numpy.random.default_rng(seed)``; the first
        ⌊test_fraction·n⌋ form the test set, the next ⌊val_fraction·n⌋ the validation set and
        the rest the training set (the rule of the built-in ``digits``). ``class_names``
        defaults to ``"0"``, ``"1"``, … up to the largest label.
        """
        x, y = _samples("x", x), _labels("y", y)
        if len(y) != len(x):
            raise DatasetError(f"y has {len(y)} labels for the {len(x)} samples of x")
        for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not isinstance(value, int | float) or not 0 < value < 1:
                raise DatasetError(f"{key} must be a number between 0 and 1, got {value!r}")
        if val_fraction + test_fraction >= 1:
            raise DatasetError(
                f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves no "
                "training samples; keep their sum below 1"
            )
        n_test, n_val = int(test_fraction * len(x)), int(val_fraction * len(x))
        if min(n_test, n_val, len(x) - n_test - n_val) < 1:
            raise DatasetError(
                f"{len(x)} samples are too few to split into training, validation "
                f"({val_fraction:g}) and test ({test_fraction:g}) sets of at least one sample"
            )
        if class_names is None:
            class_names = [str(i) for i in range(int(y.max()) + 1)]
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
        x, y = x[order], y[order]
        test, val, train = (
            slice(0, n_test),
            slice(n_test, n_test + n_val),
            slice(n_test + n_val, None),
        )
        return cls(name, x[train], y[train], x[val], y[val], x[test], y[test], tuple(class_names))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the content: the class names and every split's shapes and values (not the
        name). A run records it, so that it resumes only on the same data."""
        digest = hashlib.sha256(json.dumps(self.class_names).encode())
        for split in SPLITS:
            for tensor in (getattr(self, f"x_{split}"), getattr(self, f"y_{split}")):
                digest.update(f"{split}{tuple(tensor.shape)}".encode())
                digest.update(memoryview(tensor.detach().cpu().contiguous().numpy()))
        return digest.hexdigest()

    @cached_property
    def value_range(self) -> tuple[float, float]:
        """The smallest and the largest sample value over all splits."""
        parts = [getattr(self, f"x_{split}") for split in SPLITS]
        return min(float(x.min()) for x in parts), max(float(x.max()) for x in parts)

    def summary(self) -> str:
        shape = self.sample_shape
        kind = f"images of {shape[0]}×{shape[1]}" if len(shape) == 2 else f"{shape[0]} features"
        return (
            f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} validation / "
            f"{len(self.x_test)} test samples ({kind}), {self.num_classes} classes"
        )

    def __repr__(self) -> str:
        return f"Dataset({self.summary()})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dataset):
            return NotImplemented
        return (self.name, self.fingerprint) == (other.name, other.fingerprint)

    def __hash__(self) -> int:
        return hash((self.name, self.fingerprint))


def _class_names(names: object) -> tuple[str, ...]:
    """The class names as a tuple of at least two distinct strings, or a DatasetError."""
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise DatasetError(f"class_names must be a sequence of strings, got {names!r}")
    names = tuple(names)
    if not all(isinstance(n, str) for n in names):
        raise DatasetError(f"class_names must be strings, got {names!r}")
    if len(names) < 2:
        raise DatasetError(f"a dataset needs at least two classes, got class_names {names!r}")
    if len(set(names)) < len(names):
        raise DatasetError(f"class_names must be distinct, got {names!r}")
    return names


def _as_tensor(what: str, value: object) -> Tensor:
    """A numpy array or tensor as a tensor (sharing its memory), or a DatasetError."""
    if isinstance(value, np.ndarray):
        try:
            return torch.from_numpy(value)
        except TypeError:
            raise DatasetError(f"{what} holds numpy {value.dtype} values, not numbers") from None
    if not isinstance(value, Tensor):
        raise DatasetError(
            f"{what} must be a torch tensor or a numpy array, got {type(value).__name__}"
        )
    return value.detach()


def _samples(what: str, value: object) -> Tensor:
    """Samples ``(n, F)`` or ``(n, h, w)`` of a floating type, as float32."""
    x = _as_tensor(what, value)
    if not x.is_floating_point():
        raise DatasetError(
            f"{what} holds {x.dtype} values; samples must be floats (scale integer pixels, "
            "e.g. divide 8-bit images by 255)"
        )
    if x.dim() not in (2, 3):
        raise DatasetError(
            f"{what} has shape {tuple(x.shape)}; samples must be (n, features) or "
            "(n, height, width)"
        )
    return x.float()


def _labels(what: str, value: object) -> Tensor:
    """Labels ``(n,)`` of an integer type, as int64."""
    y = _as_tensor(what, value)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise DatasetError(f"{what} holds {y.dtype} values; labels must be integers 0 … C − 1")
    if y.dim() != 1:
        raise DatasetError(f"{what} has shape {tuple(y.shape)}; labels must be (n,)")
    return y.long()


def dataset_info() -> list[dict[str, object]]:
    """What each dataset is, where it comes from, and whether it needs files."""
    return [
        {"name": "digits", "description": "8×8 handwritten digits (UCI, bundled with scikit-learn)",
         "source": "Alpaydin & Kaynak 1998, via sklearn.datasets.load_digits", "needs_files": False,
         "size": "1797 images"},
        {"name": "mnist", "description": "28×28 handwritten digits",
         "source": "LeCun, Cortes & Burges, the MNIST database", "needs_files": True,
         "size": "60000 + 10000 images"},
        {"name": "fashion-mnist", "description": "28×28 clothing images, 10 classes",
         "source": "Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747", "needs_files": True,
         "size": "60000 + 10000 images"},
        {"name": "vowels", "description": "12 American English vowels from 12 formant "
         "frequencies (F1–F3 at steady state, 20, 50, 80 % of the vowel), talker-disjoint split",
         "source": "Hillenbrand, Getty, Clark & Wheeler 1995, JASA 97, 3099", "needs_files": True,
         "size": f"{VOWEL_TOKENS} tokens of 139 talkers"},
        {"name": "vowels7", "description": "the 7-vowel subset (ae ah aw er ih iy uw) of `vowels` "
         "used in the McMahon lab's physical networks, same features and split",
         "source": "Hillenbrand et al. 1995; subset of Wright et al. 2022, Onodera et al. 2024",
         "needs_files": True, "size": "7 of the 12 vowels"},
        {"name": "vowels-audio", "description": "the same 12 vowels as raw audio: 0.1 s around "
         f"the steady state at {AUDIO_RATE // 1000} kHz ({AUDIO_SAMPLES} samples, unit mean "
         "power), men and women, talker-disjoint split",
         "source": "Hillenbrand et al. 1995 recordings, as used by Hughes et al. 2019",
         "needs_files": True, "size": "1116 recordings of 93 talkers"},
        {"name": "vowels3-audio", "description": "the 3 vowels ae, ei, iy of `vowels-audio`, the "
         "task of the wave RNN of Hughes et al. 2019", "source": "Hughes et al., Sci. Adv. 5, "
         "eaay6946 (2019)", "needs_files": True, "size": "3 of the 12 vowels"},
        {"name": "vowels7-audio", "description": "the 7-vowel subset of `vowels7` as audio",
         "source": "Hillenbrand et al. 1995", "needs_files": True, "size": "7 of the 12 vowels"},
    ]  # fmt: skip


def cache_root() -> Path:
    """The physnn cache folder: ``$PHYSNN_CACHE_DIR``, else ``$XDG_CACHE_HOME/physnn``, else
    ``~/.cache/physnn``."""
    if os.environ.get("PHYSNN_CACHE_DIR"):
        return Path(os.environ["PHYSNN_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "physnn"


def data_search_paths(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders looked in for a dataset's files, in order (none for ``digits``)."""
    check_dataset_name(name)
    if name not in CHECKSUMS:
        return []
    paths: list[Path] = []
    for base in (data_dir, os.environ.get("PHYSNN_DATA_DIR")):
        if base:
            root = Path(base).expanduser()
            paths += [root] + [root / folder for folder in FOLDER_NAMES.get(name, (name,))]
    paths.append(cache_root() / "datasets" / name)
    paths += SYSTEM_PLACES.get(name, ())
    return list(dict.fromkeys(paths))  # without repeats, order kept


def check_dataset_name(name: str) -> None:
    """Raise DatasetError naming the valid datasets unless ``name`` is one of them (built-in
    or registered by an installed package)."""
    if name not in BUILTIN_DATASETS and name not in external_datasets():
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(dataset_names())}")


def check_data_dir(data_dir: str | os.PathLike | None) -> None:
    """Raise DatasetError unless ``data_dir`` is None or an existing folder."""
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        state = "is not a folder" if Path(data_dir).expanduser().exists() else "does not exist"
        raise DatasetError(f"{option('data_dir')} {str(data_dir)!r} {state}")


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    limit_train: int | None = None,
) -> Dataset:
    """Load a dataset by name with its fixed train/validation/test split: a built-in one or one
    registered by an installed package (entry-point group ``physnn.datasets``).

    ``limit_train`` keeps the first k training samples (the validation and test sets stay whole).
    Raises DatasetError for an unknown name, a ``data_dir`` that is not a folder, missing or
    corrupt files, or a failed download.
    """
    check_dataset_name(name)
    check_data_dir(data_dir)
    if limit_train is not None and (isinstance(limit_train, bool) or limit_train < 1):
        raise DatasetError(f"limit_train must be a positive integer, got {limit_train!r}")
    if name in BUILTIN_DATASETS:
        data = _builtin(name, data_dir, download)
    else:
        folder = None if data_dir is None else Path(data_dir).expanduser()
        data = load_external(external_datasets()[name], folder)
    return keep_first(data, limit_train)


def keep_first(data: Dataset, limit_train: int | None) -> Dataset:
    """The dataset with only its first ``limit_train`` training samples (all if None)."""
    if limit_train is None:
        return data
    return dataclasses.replace(
        data, x_train=data.x_train[:limit_train], y_train=data.y_train[:limit_train]
    )


def _builtin(name: str, data_dir: str | os.PathLike | None, download: bool) -> Dataset:
    """A built-in dataset, read from its files (found or downloaded) or generated."""
    source, kept = SUBSETS.get(name, (name, None))
    if source == "digits":
        data = _digits()
    else:
        folder = _find_files(source, data_dir) or _download_or_explain(source, data_dir, download)
        read = {"vowels": _vowels, "vowels-audio": _vowel_audio}.get(source)
        data = read(folder) if read else _idx_dataset(source, folder)
    return data if kept is None else _keep_classes(data, name, kept)


def _keep_classes(data: Dataset, name: str, codes: tuple[str, ...]) -> Dataset:
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


def _digits() -> Dataset:
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
    rows = _vowel_rows(folder)
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


def _vowel_rows(folder: Path) -> list[list[str]]:
    """The 1668 token rows of ``vowdata.dat``: name (e.g. ``m01ae``) and its 15 measurements."""
    rows = []
    with (folder / VOWEL_TABLE).open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 16 and len(parts[0]) == 5 and parts[0][0] in "mwbg":
                rows.append(parts)
    if len(rows) != VOWEL_TOKENS:
        raise DatasetError(
            f"{folder / VOWEL_TABLE} has {len(rows)} tokens, expected {VOWEL_TOKENS}"
        )
    return rows


def _recorded_tokens(folder: Path) -> list[str]:
    """The tokens with a recording: the men's and women's (the children's audio is lost)."""
    return [r[0] for r in _vowel_rows(folder) if r[0][0] in "mw"]


def _steady_state_ms(folder: Path) -> dict[str, float]:
    """Token → steady-state time (ms): the mean of the two judges' times in ``timedata.dat``."""
    times = {}
    with (folder / TIME_TABLE).open() as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 5 and len(parts[0]) == 5 and parts[0][0] in "mwbg":
                times[parts[0]] = (float(parts[3]) + float(parts[4])) / 2
    return times


def _read_wav(path: Path) -> np.ndarray:
    """A 16 kHz, 16-bit mono recording as float64 in [−1, 1)."""
    try:
        with wave.open(str(path), "rb") as w:
            if (w.getframerate(), w.getsampwidth(), w.getnchannels()) != (16_000, 2, 1):
                raise DatasetError(f"{path} is not 16 kHz 16-bit mono audio")
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as err:
        raise DatasetError(f"{path} is not a readable WAV file ({err})") from err
    return np.frombuffer(frames, "<i2").astype(np.float64) / 32768.0


def _vowel_audio(folder: Path) -> Dataset:
    """Hillenbrand et al. (1995) recordings → 12 vowel classes, as in Hughes et al. 2019.

    Each /hVd/ recording is resampled from 16 kHz to ``AUDIO_RATE`` (polyphase filter), cut to
    the ``AUDIO_SAMPLES`` samples centred on the vowel's steady state (``timedata.dat``; shifted
    to stay inside the recording) and scaled to unit mean power, so that every input carries the
    same energy. Men and women (93 talkers); the split is by talker.
    """
    from scipy.signal import resample_poly

    names = _recorded_tokens(folder)
    centre_ms = _steady_state_ms(folder)
    gcd = math.gcd(16_000, AUDIO_RATE)
    signals = np.empty((len(names), AUDIO_SAMPLES), dtype=np.float32)
    for i, name in enumerate(names):
        audio = resample_poly(_read_wav(folder / AUDIO_FOLDER / f"{name}.wav"),
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
    x_train, y_train = _read_pair(folder / FILES[0], folder / FILES[1])
    x_test, y_test = _read_pair(folder / FILES[2], folder / FILES[3])
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


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, h, w) and labels (n,) as uint8, checked to have the same n."""
    images, labels = _read_idx(images_path, ndim=3), _read_idx(labels_path, ndim=1)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels"
        )
    return images, labels


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse a gzip-compressed IDX file of uint8 (magic 0x0803 images, 0x0801 labels)."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path} is not a readable gzip file ({err})") from err
    magic = 0x0800 + ndim
    header = 4 + 4 * ndim
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise DatasetError(f"{path} is not an IDX file with magic number 0x{magic:04X}")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if len(data) - header != int(np.prod(shape)):
        raise DatasetError(f"{path} holds {len(data) - header} bytes, not the {shape} it declares")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


_VERIFIED: set[tuple[str, int, int]] = set()  # (resolved path, size, mtime_ns) hashed and good


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(name: str, path: Path) -> None:
    """Raise DatasetError unless ``path`` has an accepted SHA-256 (hashed once per process)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return
    got = _sha256(path)
    accepted = CHECKSUMS[name][path.name]
    if got not in accepted:
        raise DatasetError(
            f"checksum mismatch for {path}: SHA-256 {got}, "
            f"expected {' or '.join(sorted(accepted))}; "
            "the file is corrupt or not the original: delete it to download it again, "
            f"or point {option('data_dir')} at a good copy"
        )
    _VERIFIED.add(key)


def _find_files(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    """The first searched folder holding all the dataset's files, verified; None if none does."""
    files = DATASET_FILES[name]
    for folder in data_search_paths(name, data_dir):
        if all((folder / f).is_file() for f in files):
            for f in files:
                verify(name, folder / f)
            if name == "vowels-audio" and not _audio_complete(folder):
                continue
            return folder
    return None


def _audio_complete(folder: Path) -> bool:
    """Whether ``folder/audio`` holds every recording; raise DatasetError if they do not have
    the published content (one digest over all the files, computed once per process)."""
    paths = [folder / AUDIO_FOLDER / f"{t}.wav" for t in _recorded_tokens(folder)]
    if not all(p.is_file() for p in paths):
        return False
    stats = [p.stat() for p in paths]
    key = (str((folder / AUDIO_FOLDER).resolve()), sum(st.st_size for st in stats),
           max(st.st_mtime_ns for st in stats))  # fmt: skip
    if key in _VERIFIED:
        return True
    manifest = "".join(f"{p.name} {_sha256(p)}\n" for p in sorted(paths))
    got = hashlib.sha256(manifest.encode()).hexdigest()
    if got != AUDIO_DIGEST:
        raise DatasetError(
            f"the recordings in {folder / AUDIO_FOLDER} are not the original ones (digest {got}, "
            f"expected {AUDIO_DIGEST}): delete that folder to download them again, or point "
            f"{option('data_dir')} at a good copy"
        )
    _VERIFIED.add(key)
    return True


def _mirrors(name: str) -> tuple[str, ...]:
    """Base URLs to download from: ``$PHYSNN_DATA_MIRROR`` (one or more, space-separated; may be
    ``file://``) overrides the official sources."""
    override = os.environ.get("PHYSNN_DATA_MIRROR", "").split()
    return tuple(url.rstrip("/") + "/" for url in override) or MIRRORS[name]


def _download_or_explain(name: str, data_dir: str | os.PathLike | None, download: bool) -> Path:
    """Download the missing files into the cache, or raise a DatasetError saying how to get them."""
    target = cache_root() / "datasets" / name
    errors: list[str] = []
    if download:
        for mirror in _mirrors(name):
            try:
                for f in DATASET_FILES[name]:
                    if not (target / f).is_file():
                        _fetch(name, mirror + f, target / f)
                    verify(name, target / f)
                if name == "vowels-audio":
                    _fetch_audio(target)
                return target
            except (OSError, ValueError, http.client.HTTPException, DatasetError) as err:
                errors.append(f"{mirror}: {err}")
    searched = ", ".join(str(p) for p in data_search_paths(name, data_dir))
    hint = " or `apt-get install dataset-fashion-mnist`" if name == "fashion-mnist" else ""
    tried = f" (download failed: {'; '.join(errors)})" if errors else " (download disabled)"
    raise DatasetError(
        f"dataset {name!r} not found in {searched}{tried}; get {', '.join(DATASET_FILES[name])} "
        f"from {' or '.join(MIRRORS[name])}{hint}, and pass {option('data_dir')} or set "
        "PHYSNN_DATA_DIR"
    )


def _fetch_audio(target: Path) -> None:
    """Download the missing recordings into ``target/audio`` (``$PHYSNN_DATA_MIRROR``: from its
    ``audio/`` folder), then verify them all together."""
    override = os.environ.get("PHYSNN_DATA_MIRROR", "").split()
    base = override[0].rstrip("/") + f"/{AUDIO_FOLDER}/" if override else AUDIO_MIRRORS[0]
    folder = target / AUDIO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    missing = [t for t in _recorded_tokens(target) if not (folder / f"{t}.wav").is_file()]
    # disable=None: bars only when stderr is a terminal, never in a redirected log
    for token in tqdm(missing, desc="recordings", leave=False, file=sys.stderr, disable=None):
        fd, tmp = temporary_beside(folder / f"{token}.wav", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                _copy_url(base + f"{token}.wav", out, desc=f"{token}.wav")
            os.replace(tmp, folder / f"{token}.wav")
        finally:
            Path(tmp).unlink(missing_ok=True)
    if not _audio_complete(target):
        raise DatasetError(f"the download left recordings missing in {folder}")


def _fetch(name: str, url: str, dest: Path) -> None:
    """Download to a temporary file, verify it, then rename it into place atomically."""
    fd, tmp = temporary_beside(dest, suffix=".part")
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            _copy_url(url, out, desc=dest.name)
        got = _sha256(tmp_path)
        accepted = CHECKSUMS[name][dest.name]
        if got not in accepted:
            raise DatasetError(
                f"downloaded {url} has SHA-256 {got}, expected {' or '.join(sorted(accepted))}"
            )
        os.replace(tmp_path, dest)
    finally:
        tmp_path.unlink(missing_ok=True)


def _copy_url(url: str, out: BinaryIO, desc: str) -> None:
    """Stream ``url`` into the open binary file ``out`` with a progress bar on stderr (when it
    is a terminal)."""
    request = urllib.request.Request(url, headers={"User-Agent": "physnn"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=desc,
            leave=False,
            file=sys.stderr,
            disable=None,  # only on a terminal
        ) as bar:
            while chunk := response.read(1 << 16):
                out.write(chunk)
                bar.update(len(chunk))
