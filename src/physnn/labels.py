"""How a run's reality gap is named wherever it is shown (CLI header, ``result.json``, plot
titles, reports). Free of torch, like :mod:`physnn.model_spec`."""

from __future__ import annotations

from collections.abc import Mapping

LEVELS: tuple[str, ...] = ("none", "mild", "moderate", "severe")
"""The named reality-gap levels, mildest first (each substrate's gap family gives their values)."""


def gap_label(level: str, options: Mapping[str, float] | None = None) -> str:
    """``level`` itself, or — when gap options override its knobs — ``level+knob=value,…``, so
    that a custom reality (``none`` with ``lateral=0.2``) is never shown as plain ``none``."""
    if not options:
        return level
    return f"{level}+" + ",".join(f"{knob}={value:g}" for knob, value in options.items())
