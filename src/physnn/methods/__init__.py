"""Training methods (gradient estimators), registered by name (``METHODS["pat"]``)."""

from physnn.methods import feedback_alignment, insilico, pat  # noqa: F401  (register themselves)
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    incompatibility,
)

__all__ = ["METHODS", "GradientEstimator", "LossFn", "Requirements", "incompatibility"]
