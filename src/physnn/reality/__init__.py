"""The reality gap: hidden perturbations that make a device differ from its twin."""

# Each substrate's non-idealities and gap family (they register themselves).
from physnn.reality import (  # noqa: F401
    crossbar,
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
from physnn.reality.base import Perturbation, Reality
from physnn.reality.levels import GAP_FAMILIES, LEVELS, GapFamily, make_reality
from physnn.reality.perturbations import (
    Absorption,
    AxialMisalignment,
    CameraQuantization,
    DetectorNoise,
    FabricationPhaseError,
    LateralMisalignment,
    PhaseQuantization,
)

__all__ = [
    "GAP_FAMILIES",
    "LEVELS",
    "Absorption",
    "AxialMisalignment",
    "CameraQuantization",
    "DetectorNoise",
    "FabricationPhaseError",
    "GapFamily",
    "LateralMisalignment",
    "Perturbation",
    "PhaseQuantization",
    "Reality",
    "make_reality",
]
