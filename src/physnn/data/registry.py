"""Datasets that other packages register, through the ``physnn.datasets`` entry-point group.

A package makes a dataset available to physnn (``physnn train --dataset NAME``, ``physnn list``,
``TrainConfig(dataset="NAME")``) by declaring, in its ``pyproject.toml``::

    [project.entry-points."physnn.datasets"]
    mnist1d = "mypkg.physnn_data:load"

where ``load(data_dir: pathlib.Path | None) -> physnn.data.Dataset`` builds the dataset
(``data_dir`` is the user's ``--data-dir``, an existing folder, or None). physnn applies
``limit_train`` itself. See docs/datasets.md.

A registered name equal to a built-in dataset's is skipped with a :class:`PhysnnWarning`: the
built-in keeps its name, so that an installed package cannot change what ``digits`` means.

This module imports neither torch nor the registering packages: listing and validating names is
fast; a package is imported only when its dataset is loaded.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING

from physnn.errors import DatasetError
from physnn.plugins import DATASETS_GROUP, registered

if TYPE_CHECKING:
    from physnn.data.dataset import Dataset

ENTRY_POINT_GROUP = DATASETS_GROUP
BUILTIN_DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "vowels", "vowels7",
                                     "vowels-audio", "vowels3-audio", "vowels7-audio")  # fmt: skip


def external_datasets() -> dict[str, EntryPoint]:
    """Name → entry point of every dataset registered by an installed package, sorted by name.

    A name that clashes with a built-in dataset, or that a second package registers with another
    loader, is skipped with a :class:`PhysnnWarning` (the built-in, or the first one found, wins).
    """
    return registered(ENTRY_POINT_GROUP, BUILTIN_DATASETS)


def dataset_names() -> tuple[str, ...]:
    """Every dataset name physnn accepts: the built-in ones, then the registered ones."""
    return BUILTIN_DATASETS + tuple(external_datasets())


def check_dataset_name(name: str) -> None:
    """Raise DatasetError naming the valid datasets unless ``name`` is one of them (built-in
    or registered by an installed package)."""
    if name not in BUILTIN_DATASETS and name not in external_datasets():
        raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(dataset_names())}")


def load_external(entry: EntryPoint, data_dir: Path | None) -> Dataset:
    """Import an entry point's loader, call it with ``data_dir`` and check that it returned a
    :class:`~physnn.data.Dataset` (renamed to the registered name, as the user spelled it)."""
    import dataclasses

    from physnn.data.dataset import Dataset

    where = f"dataset {entry.name!r} (entry point {entry.value})"
    try:
        loader = entry.load()
    except (ImportError, AttributeError) as err:
        raise DatasetError(f"cannot import the loader of {where}: {err}") from err
    if not callable(loader):
        raise DatasetError(f"the loader of {where} is a {type(loader).__name__}, not a function")
    try:
        data = loader(data_dir)
    except Exception as err:
        err.add_note(f"while loading {where}")
        raise
    if not isinstance(data, Dataset):
        raise DatasetError(
            f"the loader of {where} returned a value of type {type(data).__name__}, not a "
            "physnn.data.Dataset"
        )
    return data if data.name == entry.name else dataclasses.replace(data, name=entry.name)
