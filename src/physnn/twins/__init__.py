"""Digital twins: differentiable models of a device.

``nominal`` (the design), ``calibrated`` (the physics with fitted nuisance parameters) and
``learned`` (a neural surrogate of measured data). Fitted twins are fitted once, before
training, by :func:`prepare_twins`, on data acquired from the device; see docs/twins.md.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import torch

from physnn.errors import ConfigError, refuse_unknown
from physnn.seeds import derived_seed
from physnn.systems.base import System
from physnn.twins.acquisition import SUPPORTED_MODELS, FitOptions, FittedTwin, acquire
from physnn.twins.calibrated import CalibratedOptions, CalibratedTwin
from physnn.twins.learned import LearnedOptions, LearnedTwin
from physnn.twins.nominal import NominalTwin, Twin

TWIN_KINDS = ("nominal", "calibrated", "learned")

_FITTED: dict[str, tuple[type[FittedTwin], type[FitOptions]]] = {
    "calibrated": (CalibratedTwin, CalibratedOptions),
    "learned": (LearnedTwin, LearnedOptions),
}


def make_twin(kind: str, system: System, options: dict[str, Any]) -> Twin:
    """The twin a run's configuration names (``TrainConfig.twin`` and ``twin_options``)."""
    if kind not in TWIN_KINDS:
        raise ConfigError(f"unknown twin {kind!r}; use one of {', '.join(TWIN_KINDS)}")
    if kind == "nominal":
        if options:
            raise ConfigError(
                f"the nominal twin takes no options, got {', '.join(sorted(options))}"
            )
        return NominalTwin(system)
    twin_cls, options_cls = _FITTED[kind]
    known = sorted(f.name for f in fields(options_cls))
    refuse_unknown(options, known, kind="option", where=f"for the {kind} twin")
    try:
        parsed = options_cls(**options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid options for the {kind} twin: {err}") from None
    return twin_cls(system, parsed)


def prepare_twins(exp: Any, *, progress: bool = False) -> dict[str, Any]:
    """Fit the run's fitted twins to the device before training (nothing to do for the nominal
    twin); returns what the fits measured, for the run's result.

    Each physical block's twin is fitted on data acquired with that block's controls and the
    inputs it receives; queries and writes are counted in the device's ``calibration`` phase.
    """
    blocks = [b for b in exp.model.physical_blocks() if isinstance(b.twin, FittedTwin)]
    if not blocks:
        return {}
    model = exp.config.model
    if model.partition(":")[0] not in SUPPORTED_MODELS:
        raise ConfigError(
            f"the {blocks[0].twin.kind} twin is fitted on the inputs a physical block receives, "
            f"which the trainable layers before it in model {model!r} keep changing; use model "
            "pnn, stack:K or post:H1,… (or the nominal twin)"
        )
    reports = []
    with exp.device.accounting("calibration"):
        for k, block in enumerate(blocks):
            generator = torch.Generator().manual_seed(derived_seed(exp.config.seed, f"twin-{k}"))
            data = acquire(exp.model, block, exp.dataset.x_train, block.twin.options, generator)
            reports.append(block.twin.fit(data, derived_seed(exp.config.seed, f"twin-fit-{k}")))
            if progress:
                print(
                    f"{block.twin.kind} twin {k + 1}/{len(blocks)}: relative error "
                    f"{reports[-1]['error_before']:.3g} (nominal) → "
                    f"{reports[-1]['validation_error']:.3g} on held-out settings"
                )
    return reports[0] if len(reports) == 1 else {"kind": reports[0]["kind"], "blocks": reports}


__all__ = [
    "TWIN_KINDS",
    "CalibratedTwin",
    "FittedTwin",
    "LearnedTwin",
    "NominalTwin",
    "Twin",
    "make_twin",
    "prepare_twins",
]
