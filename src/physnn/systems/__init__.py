"""Physical substrates, registered by name (``SYSTEMS["diffractive"]``); other packages add
theirs through the ``physnn.substrates`` entry-point group (:mod:`physnn.plugins`)."""

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

# Every substrate registers itself.
from physnn.systems import (  # noqa: E402,F401
    crossbar,
    diffractive,
    elastic,
    fibre,
    hopfield,
    ising,
    mzi,
    oscillators,
    photoelectric,
    reservoir,
    resistive,
    resonators,
    scattering,
    shg,
    wave,
    waveguide,
    xy,
)

__all__ = [
    "SYSTEMS",
    "Capabilities",
    "ControlSpec",
    "Controls",
    "NoiseSource",
    "Nuisance",
    "System",
]
