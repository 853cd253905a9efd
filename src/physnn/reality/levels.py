"""Named reality-gap levels: ``none``, ``mild``, ``moderate``, ``severe``.

Each substrate's package defines a :class:`GapFamily`: the builder that turns a level name into
a :class:`Reality` in the system's own physical units. The values and
their sources are documented in docs/reality.md and in ``physnn list --json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from physnn.errors import ConfigError, refuse_unknown
from physnn.labels import LEVELS, gap_label
from physnn.plugins import SUBSTRATES_GROUP
from physnn.reality.base import Perturbation, Reality
from physnn.registry import Registry
from physnn.systems.base import System


@dataclass(frozen=True)
class GapFamily:
    """The reality gap of one system family: named knobs, their values per level, a builder.

    ``knobs`` maps each knob to its meaning and unit; ``levels`` gives every knob's value for
    ``mild``, ``moderate`` and ``severe`` (``none`` is all zeros); ``build`` turns knob values
    into perturbations in the system's physical units. A knob at 0 switches its perturbation off,
    so one knob can be swept from a perfect device (robustness curves).
    """

    knobs: dict[str, str]
    levels: dict[str, dict[str, float]]
    build: Callable[[System, dict[str, float]], tuple[Perturbation, ...]]

    def values(self, level: str, overrides: dict[str, float] | None = None) -> dict[str, float]:
        base = dict.fromkeys(self.knobs, 0.0) if level == "none" else dict(self.levels[level])
        refuse_unknown(overrides or {}, list(self.knobs), kind="gap option")
        for name, value in (overrides or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"gap option {name} must be a non-negative number, got {value!r}")
        return {**base, **(overrides or {})}


GAP_FAMILIES: Registry[GapFamily] = Registry("reality-gap family", SUBSTRATES_GROUP)


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise ConfigError(f"unknown gap level {level!r}; choose one of: {', '.join(LEVELS)}")


def make_reality(system: System, level: str, overrides: dict[str, float] | None = None) -> Reality:
    """The :class:`Reality` of a named gap level for ``system``, with knobs overridden.

    ``none`` without overrides is the perfect device for every system.
    """
    check_level(level)
    if level == "none" and not overrides:
        return Reality((), level="none")
    if system.name not in GAP_FAMILIES:
        raise ConfigError(f"system {system.name!r} has no reality-gap levels defined")
    family = GAP_FAMILIES[system.name]
    knobs = family.values(level, overrides)
    reality = Reality(family.build(system, knobs), level=gap_label(level, overrides))
    reality.check(system)
    return reality
