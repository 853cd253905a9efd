"""Digital twins: differentiable models of a device."""

from __future__ import annotations

from typing import Any

from physnn.errors import ConfigError
from physnn.systems.base import System
from physnn.twins.nominal import NominalTwin, Twin

TWIN_KINDS = ("nominal",)


def make_twin(kind: str, system: System, options: dict[str, Any]) -> Twin:
    """The twin a run's configuration names (``TrainConfig.twin`` and ``twin_options``)."""
    if kind not in TWIN_KINDS:
        raise ConfigError(f"unknown twin {kind!r}; use one of {', '.join(TWIN_KINDS)}")
    if options:
        raise ConfigError(f"the {kind} twin takes no options, got {', '.join(sorted(options))}")
    return NominalTwin(system)


def prepare_twins(exp: Any, *, progress: bool = False) -> dict[str, Any]:
    """Fit the run's twins to the device before training (nothing to do for the nominal twin);
    returns what the fit measured, for the run's result."""
    return {}


__all__ = ["TWIN_KINDS", "NominalTwin", "Twin", "make_twin", "prepare_twins"]
