"""The system contract (:class:`System`) and the registry of systems by name
(``SYSTEMS["diffractive"]``). Each substrate lives in its own package under
:mod:`physnn.substrates`; they join this registry the first time it is read, and other
packages add theirs through the ``physnn.substrates`` entry-point group (:mod:`physnn.plugins`)."""

from physnn.plugins import SUBSTRATES_GROUP
from physnn.registry import Registry
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)

SYSTEMS: Registry[type[System]] = Registry("system", SUBSTRATES_GROUP)

__all__ = [
    "SYSTEMS",
    "Capabilities",
    "ControlSpec",
    "Controls",
    "NoiseSource",
    "Nuisance",
    "System",
]
