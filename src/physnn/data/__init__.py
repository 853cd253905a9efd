"""Datasets: checksummed, offline first, fixed splits."""

from physnn.data.datasets import (
    DATASETS,
    Dataset,
    data_search_paths,
    dataset_info,
    load_dataset,
)
from physnn.errors import DatasetError

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "data_search_paths",
    "dataset_info",
    "load_dataset",
]
