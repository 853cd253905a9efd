"""Checkpoints and results, written atomically (:mod:`physnn.files`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from physnn.files import atomic_write, save_json


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


__all__ = ["load_checkpoint", "save_checkpoint", "save_json"]
