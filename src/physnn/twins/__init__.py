"""Digital twins: differentiable models of a device."""

from physnn.twins.nominal import NominalTwin, Twin

__all__ = ["NominalTwin", "Twin"]
