"""Datasets: checksummed, offline first, fixed splits; your own as a :class:`Dataset` object or
registered by a package (entry-point group ``physnn.datasets``, see :mod:`physnn.data.registry`).

Importing this package does not import torch: the names from :mod:`physnn.data.datasets` load on
first use, so that listing and validating dataset names stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from physnn.data.registry import (
    BUILTIN_DATASETS,
    ENTRY_POINT_GROUP,
    dataset_names,
    external_datasets,
)
from physnn.errors import DatasetError

if TYPE_CHECKING:
    from physnn.data.datasets import (
        DATASETS,
        Dataset,
        check_data_dir,
        check_dataset_name,
        data_search_paths,
        dataset_info,
        load_dataset,
    )

_LAZY = ("DATASETS", "Dataset", "check_data_dir", "check_dataset_name", "data_search_paths",
         "dataset_info", "load_dataset")  # fmt: skip

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
    """Import :mod:`physnn.data.datasets` (and torch) when one of its names is first used."""
    if name in _LAZY:
        return getattr(import_module("physnn.data.datasets"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
