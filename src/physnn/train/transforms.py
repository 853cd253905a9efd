"""Update transforms: small composable steps between the optimizer and the device.

Each transform maps (controls before the step, controls proposed by the optimizer) to the
controls to keep, for one physical block, in the spirit of optax's gradient transformations.
They act on the latent controls; quantization to hardware levels happens when the controls are
committed (:meth:`physnn.nets.PhysicalBlock.commit`), so that small updates accumulate in the
latent values instead of being rounded away. :func:`project_to_bounds` keeps the latent values
themselves in bounds (a phase wraps around its circle); the commit projects again, since probes
commit values no transform has seen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from physnn.systems.base import Controls, ControlSpec

UpdateTransform = Callable[[dict[str, ControlSpec], Controls, Controls], Controls]


def project_to_bounds(
    specs: dict[str, ControlSpec], before: Controls, proposed: Controls
) -> Controls:
    """Wrap periodic controls (phases) into their interval and clip the others."""
    return {k: specs[k].wrap_or_clip(v) for k, v in proposed.items()}


def limit_step(max_change: float) -> UpdateTransform:
    """Limit how far any control moves in one step (heater slew rate, programming pulse size)."""
    if max_change <= 0:
        raise ValueError(f"max_change must be positive, got {max_change}")

    def transform(specs: dict[str, ControlSpec], before: Controls, proposed: Controls) -> Controls:
        out = {}
        for k, v in proposed.items():
            delta = v - before[k]
            if specs[k].periodic:  # shortest way round the circle
                span = specs[k].high - specs[k].low
                delta = torch.remainder(delta + span / 2, span) - span / 2
            out[k] = before[k] + delta.clamp(-max_change, max_change)
        return out

    return transform


def chain(*transforms: UpdateTransform) -> UpdateTransform:
    """Apply transforms left to right."""

    def transform(specs: dict[str, ControlSpec], before: Controls, proposed: Controls) -> Controls:
        for t in transforms:
            proposed = t(specs, before, proposed)
        return proposed

    return transform


def default_transforms(max_change: float | None = None) -> UpdateTransform:
    """Optional slew limit, then projection onto the bounds."""
    steps: Sequence[UpdateTransform] = (
        (limit_step(max_change), project_to_bounds) if max_change else (project_to_bounds,)
    )
    return chain(*steps)
