"""The :class:`Dataset` record: a classification dataset in fixed training, validation and test
splits, checked on construction; the built-in datasets and your own alike."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from physnn.errors import DatasetError

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
