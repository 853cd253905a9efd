"""Datasets: checksummed, offline first, fixed splits."""

from physnn.data.datasets import (
    DATASETS,
    Dataset,
    check_dataset_name,
    data_search_paths,
    dataset_info,
    load_dataset,
)
from physnn.errors import DatasetError

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "check_dataset_name",
    "data_search_paths",
    "dataset_info",
    "load_dataset",
]
