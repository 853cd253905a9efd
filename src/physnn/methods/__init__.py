"""Training methods (gradient estimators), registered by name (``METHODS["pat"]``); other
packages add theirs through the ``physnn.methods`` entry-point group (:mod:`physnn.plugins`)."""

from physnn.methods import (  # noqa: F401  (register themselves)
    coupled,
    discrete,
    echo,
    equilibrium,
    feedback_alignment,
    forward_forward,
    insilico,
    insitu,
    local_learning,
    pat,
    ridge,
    zeroth_order,
)
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    incompatibility,
)

__all__ = ["METHODS", "GradientEstimator", "LossFn", "Requirements", "incompatibility"]
