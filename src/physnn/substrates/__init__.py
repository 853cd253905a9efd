"""Substrates: each one package, ``physnn.substrates.<name>``, exported as one record.

A substrate package holds everything physnn knows about one kind of physical hardware:

* ``system.py``: its :class:`~physnn.systems.System` (the differentiable physics of the design,
  its controls, presets and the papers they come from);
* ``gap.py``: its non-idealities (:class:`~physnn.reality.Perturbation` subclasses) and its
  :class:`~physnn.reality.GapFamily`, the named knobs of its ``--gap`` levels;
* ``cost.py``: what its hardware costs (:mod:`physnn.cost`): the workload of one query and
  named presets of energies, times and endurance, each value with its source;
* ``__init__.py``: its :class:`Substrate` record, ``SUBSTRATE``, which adds what a calibrated
  twin may fit and the options that make it tiny for the tests.

The built-in packages are found by walking this package (:mod:`physnn.substrates.builtin`); a
lab's own package registers its record through the ``physnn.substrates`` entry-point group
(:mod:`physnn.plugins`) by calling :func:`register`. Equations that several substrates share
(propagators, meshes, noise, quantization, solvers) stay in :mod:`physnn.physics`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from physnn.cost.model import SubstrateCost
from physnn.plugins import SUBSTRATES_GROUP
from physnn.reality.levels import GAP_FAMILIES, GapFamily
from physnn.registry import Registry
from physnn.systems import SYSTEMS
from physnn.systems.base import System


@dataclass(frozen=True)
class Calibratable:
    """A nuisance entry a calibrated twin can fit: its fit unit (physical value of one unit),
    for entries whose design value is None its shape, where the fit starts (in units from
    the design; not zero for an effect the physics switches off at exactly zero), and the
    spread σ of the other starts of a multi-start fit, drawn from N(start, σ²) in fit units
    (0: every start at ``start``), and the steps, in fit units, that the coarse scan tries on
    each of its values one at a time (empty: not scanned)."""

    unit: str
    size: Callable[[System], float]
    shape: Callable[[System], tuple[int, ...]] | None = None
    start: float = 0.0
    spread: float = 0.0
    scan: tuple[float, ...] = ()


PIXEL_SCAN = (-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2)
"""Coarse-scan steps of a lateral offset, in pixels: ±2 px in half-pixel steps (the basin of a
pixel-scale pattern's offset is about a pixel wide, so the grid always lands in it)."""


def unit_size(system: System) -> float:
    """A fit unit of 1 in the entry's own physical unit (rad, dB, …)."""
    return 1.0


def percent_size(system: System) -> float:
    """A fit unit of 1 % for a relative error."""
    return 0.01


def control_shape(control: str, extra: tuple[int, ...] = ()) -> Callable[[System], tuple]:
    """The shape of a nuisance entry that has one value per element of ``control`` (and
    ``extra`` trailing axes)."""
    return lambda system: (*system.control_specs()[control].shape, *extra)


@dataclass(frozen=True)
class Substrate:
    """Everything physnn needs to know about one substrate, in one record.

    ``system``: its :class:`System` subclass; ``gap``: its reality-gap family (None: only
    ``--gap none``); ``calibratable``: the nuisance entries a calibrated twin may fit and
    ``calibrate``: those it fits by default (the low-dimensional ones the data identify well);
    ``tiny``: options of its ``default`` preset that make it small enough for a test to train in
    about a second (the method × system tests use them); ``cost``: its cost model
    (:class:`~physnn.cost.model.SubstrateCost`: the workload of a query and cited presets).
    """

    name: str
    system: type[System]
    gap: GapFamily | None = None
    calibratable: Mapping[str, Calibratable] = field(default_factory=dict)
    calibrate: tuple[str, ...] = ()
    tiny: Mapping[str, Any] = field(default_factory=dict)
    cost: SubstrateCost | None = None
    """What a query, a write and the digital side cost on this hardware (its ``cost.py``)."""

    def __post_init__(self) -> None:
        unknown = set(self.calibrate) - set(self.calibratable)
        if unknown:
            raise ValueError(f"substrate {self.name!r} calibrates unknown entries {unknown}")


SUBSTRATES: Registry[Substrate] = Registry("substrate", SUBSTRATES_GROUP)


def register(substrate: Substrate) -> Substrate:
    """Make ``substrate`` known by its name: as a system (``SYSTEMS``), its gap family
    (``GAP_FAMILIES``) and its record (``SUBSTRATES``). A plug-in's register function calls this."""
    SUBSTRATES.register(substrate.name)(substrate)
    SYSTEMS.register(substrate.name)(substrate.system)
    if substrate.gap is not None:
        GAP_FAMILIES.register(substrate.name)(substrate.gap)
    return substrate
