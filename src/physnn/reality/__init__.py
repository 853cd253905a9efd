"""The reality gap: hidden perturbations that make a device differ from its twin. The shared
machinery and the perturbations several substrates share live here; each substrate's own
non-idealities and gap family live in its package (``physnn.substrates.<name>.gap``)."""

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
