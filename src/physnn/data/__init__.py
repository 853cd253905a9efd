"""Datasets: checksummed, offline first, fixed splits; your own as a :class:`Dataset` object or
registered by a package (entry-point group ``physnn.datasets``, see :mod:`physnn.data.registry`).

The modules: :mod:`~physnn.data.dataset` (the :class:`Dataset` record),
:mod:`~physnn.data.datasets` (loading by name), :mod:`~physnn.data.builtin` (how each built-in
dataset is built), :mod:`~physnn.data.formats` (file parsers), :mod:`~physnn.data.sources` (file
names, checksums, mirrors, search folders), :mod:`~physnn.data.download` and
:mod:`~physnn.data.registry` (names, and datasets of other packages).

Importing this package does not import torch: the names that need it load on first use, so that
listing and validating dataset names stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from physnn.data.registry import (
    BUILTIN_DATASETS,
    ENTRY_POINT_GROUP,
    check_dataset_name,
    dataset_names,
    external_datasets,
)
from physnn.errors import DatasetError

if TYPE_CHECKING:
    from physnn.data.dataset import Dataset
    from physnn.data.datasets import DATASETS, check_data_dir, dataset_info, load_dataset
    from physnn.data.sources import data_search_paths

_LAZY = {  # name → the module that defines it
    "DATASETS": "physnn.data.datasets",
    "Dataset": "physnn.data.dataset",
    "check_data_dir": "physnn.data.datasets",
    "data_search_paths": "physnn.data.sources",
    "dataset_info": "physnn.data.datasets",
    "load_dataset": "physnn.data.datasets",
}

__all__ = [
    "BUILTIN_DATASETS",
    "DATASETS",
    "ENTRY_POINT_GROUP",
    "Dataset",
    "DatasetError",
    "check_data_dir",
    "check_dataset_name",
    "data_search_paths",
    "dataset_info",
    "dataset_names",
    "external_datasets",
    "load_dataset",
]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` (and torch) when the name is first used."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
