"""Training methods (gradient estimators), registered by name (``METHODS["pat"]``); other
packages add theirs through the ``physnn.methods`` entry-point group (:mod:`physnn.plugins`).

Every module of this package is imported here, so a module that registers a method with
``@METHODS.register(NAME)`` needs no line anywhere else."""

import importlib
import pkgutil

from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    incompatibility,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "GradientEstimator", "LossFn", "Requirements", "incompatibility"]
