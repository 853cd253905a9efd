"""Digital twins: differentiable models of a device.

``nominal`` (the design), ``calibrated`` (the physics with fitted nuisance parameters) and
``learned`` (a neural surrogate of measured data). Fitted twins are fitted once, before
training, by :func:`fit_twins` (which :func:`physnn.train.setup.prepare_twins` calls for a run),
on data acquired from the device; see docs/twins.md.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from physnn.errors import ConfigError, refuse_unknown
from physnn.hardware.device import Device
from physnn.seeds import derived_seed
from physnn.systems.base import System
from physnn.twins.acquisition import FitOptions, acquire
from physnn.twins.calibrated import CalibratedOptions, CalibratedTwin
from physnn.twins.fitted import FittedTwin
from physnn.twins.learned import LearnedOptions, LearnedTwin
from physnn.twins.nominal import NominalTwin, Twin

if TYPE_CHECKING:  # nets builds on the twins, so the model type is imported for hints only
    from physnn.nets.pnn import PNN

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


def fit_twins(
    model: PNN, device: Device, pool: Tensor, seed: int, *, progress: bool = False
) -> dict[str, Any]:
    """Fit the fitted twins of ``model``'s physical blocks to ``device`` (nothing to do for the
    nominal twin); returns what the fits measured, for the run's result.

    Each physical block's twin is fitted on data acquired with that block's controls and the
    inputs it receives for samples of ``pool`` (the training data); the random streams derive
    from ``seed``; queries and writes are counted in the device's ``calibration`` phase.
    """
    blocks = [b for b in model.physical_blocks() if isinstance(b.twin, FittedTwin)]
    if not blocks:
        return {}
    _check_fixed_inputs(model, blocks[0].twin.kind)
    reports = []
    with device.accounting("calibration"):
        for k, block in enumerate(blocks):
            generator = torch.Generator().manual_seed(derived_seed(seed, f"twin-{k}"))
            data = acquire(model, block, pool, block.twin.options, generator)
            reports.append(block.twin.fit(data, derived_seed(seed, f"twin-fit-{k}")))
            if progress:
                print(
                    f"{block.twin.kind} twin {k + 1}/{len(blocks)}: relative error "
                    f"{reports[-1]['error_before']:.3g} (nominal) → "
                    f"{reports[-1]['validation_error']:.3g} on held-out settings"
                )
    return reports[0] if len(reports) == 1 else {"kind": reports[0]["kind"], "blocks": reports}


def _check_fixed_inputs(model: PNN, kind: str) -> None:
    """A twin is fitted once, on the inputs its block receives: refuse a model whose front (the
    blocks up to its last physical block) holds trainable digital layers, which would keep
    changing those inputs. The physical blocks' own outputs may change: they are measured."""
    physical = {id(p) for p in model.physical_parameters()}
    front = model.segments(f"the {kind} twin").front
    if any(id(p) not in physical for block in front for p in block.parameters()):
        raise ConfigError(
            f"the {kind} twin is fitted on the inputs a physical block receives, which the "
            "trainable layers before it in this model keep changing; use model pnn, stack:K "
            "or post:H1,… (or the nominal twin)"
        )


__all__ = [
    "TWIN_KINDS",
    "CalibratedTwin",
    "FittedTwin",
    "LearnedTwin",
    "NominalTwin",
    "Twin",
    "fit_twins",
    "make_twin",
]
