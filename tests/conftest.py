"""Shared fixtures: tiny systems and seeded generators, so every test is fast and deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from physnn.systems.diffractive import DiffractiveNetwork

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY = {"grid": 16, "num_layers": 2, "input_size": 8, "num_classes": 4, "detector_size": 2}


@pytest.fixture(autouse=True)
def _threads_and_seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny_system() -> DiffractiveNetwork:
    """A 16×16, 2-layer D2NN with 4 detectors (milliseconds per forward)."""
    return DiffractiveNetwork.from_preset("default", **TINY)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


TINY_RUN = {
    "system_options": {"grid": 16, "num_layers": 2, "input_size": 8, "detector_size": 2,
                       "detector_gap": 1},
    "dataset": "digits",
    "limit_train": 64,
    "epochs": 2,
    "batch_size": 16,
}  # fmt: skip
"""Options of a TrainConfig that trains in well under a second."""
