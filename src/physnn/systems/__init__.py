"""Physical substrates, registered by name (``SYSTEMS["diffractive"]``)."""

from physnn.registry import Registry
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)

SYSTEMS: Registry[type[System]] = Registry("system")

from physnn.systems import diffractive  # noqa: E402,F401  (registers itself)

__all__ = [
    "SYSTEMS",
    "Capabilities",
    "ControlSpec",
    "Controls",
    "NoiseSource",
    "Nuisance",
    "System",
]
