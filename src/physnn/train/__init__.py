"""Training: configuration, experiment set-up, the loop, checkpoints, update transforms.

:class:`TrainConfig` is imported at once (it needs no torch, so the command line can parse and
check a configuration quickly); the loop and the experiment set-up, which import torch, load on
first use.
"""

from importlib import import_module
from typing import Any

from physnn.train.config import TrainConfig

_LAZY = {
    "Experiment": "physnn.train.setup",
    "build_experiment": "physnn.train.setup",
    "accuracy": "physnn.train.step",
    "evaluate": "physnn.train.step",
    "train": "physnn.train.loop",
}

__all__ = ["Experiment", "TrainConfig", "accuracy", "build_experiment", "evaluate", "train"]


def __getattr__(name: str) -> Any:
    """``physnn.train.train`` & co., imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
