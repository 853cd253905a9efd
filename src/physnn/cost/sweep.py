"""Where a substrate beats the digital processor: the bill of one inference across sizes.

Hamerly et al. 2019 and Anderson et al. 2023 describe a crossover: a physical processor pays
fixed costs per input and output (conversions, memory, the light a detector needs) while its
operations grow faster, so that above some size its energy per inference falls below a digital
processor's. :func:`size_sweep` prices one inference of a substrate at each value of one of its
configuration fields (a D2NN's grid, a mesh's modes, a crossbar's inputs) against the same
network on the digital processor, and :func:`crossover` interpolates (log-log) the size where
the two meet.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from physnn.cost.bill import inference_bill
from physnn.cost.runs import AUTO, cost_model, digital_cost, workload
from physnn.errors import ConfigError


def size_sweep(
    system_name: str,
    key: str,
    values: Sequence[Any],
    *,
    preset: str = "default",
    system_options: Mapping[str, Any] | None = None,
    cost: str = AUTO,
    cost_options: Mapping[str, Any] | None = None,
    sample_values: int | None = None,
) -> list[dict[str, Any]]:
    """One row per value of the system field ``key``: the workload and the inference bill."""
    from physnn.systems import SYSTEMS

    system_cls = SYSTEMS[system_name]
    model = cost_model(system_name, preset, cost, cost_options)
    digital = digital_cost(cost_options)
    rows = []
    for value in values:
        options = {**(system_options or {}), key: value}
        try:
            system = system_cls.from_preset(preset, **options)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{system_name} with {key}={value!r}: {err}") from None
        load = workload(system_name, system, sample_values)
        rows.append(
            {
                key: value,
                **load.describe(),
                **inference_bill(load, model, digital),
            }
        )
    return rows


def crossover(rows: list[dict[str, Any]], key: str) -> float | None:
    """The size at which the device's energy per inference equals the digital one's (where the
    advantage crosses 1 between two swept sizes, log-log interpolated), or None."""
    for a, b in itertools.pairwise(rows):
        fa, fb = a["advantage"], b["advantage"]
        if (fa - 1) * (fb - 1) <= 0 and fa != fb and fa > 0 and fb > 0:
            t = math.log(fa) / (math.log(fa) - math.log(fb))
            return math.exp(math.log(a[key]) + t * (math.log(b[key]) - math.log(a[key])))
    return None


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of log y against log x (the scaling exponent)."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((x - mx) ** 2 for x in lx)
    return sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / sxx
