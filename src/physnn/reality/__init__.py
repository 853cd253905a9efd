"""The reality gap: hidden perturbations that make a device differ from its twin."""

from physnn.reality.base import Perturbation, Reality
from physnn.reality.levels import GAP_BUILDERS, LEVELS, make_reality
from physnn.reality.perturbations import (
    Absorption,
    AxialMisalignment,
    DetectorNoise,
    FabricationPhaseError,
    LateralMisalignment,
    PhaseQuantization,
)

__all__ = [
    "GAP_BUILDERS",
    "LEVELS",
    "Absorption",
    "AxialMisalignment",
    "DetectorNoise",
    "FabricationPhaseError",
    "LateralMisalignment",
    "Perturbation",
    "PhaseQuantization",
    "Reality",
    "make_reality",
]
