"""The bill of a run: its substrate's cost model, chosen and adjusted as its configuration says.

``TrainConfig.cost`` names the substrate's cost preset (``auto``: the one named like the system
preset, e.g. ``legallo2023`` for ``--preset legallo2023``, else ``default``) and
``cost_options`` replaces parameters of it (numbers in SI units or strings with their unit,
``adc_energy = "2 pJ"``), so that a bill never rests on a constant the user cannot see or change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from physnn.cost.bill import RunCounts, bill
from physnn.cost.model import A100, CostModel, DigitalCost, SubstrateCost, Workload
from physnn.errors import ConfigError

AUTO = "auto"


def substrate_cost(system_name: str) -> SubstrateCost | None:
    """The cost record of a substrate (None for a plug-in substrate that states none)."""
    from physnn.substrates import SUBSTRATES

    return SUBSTRATES[system_name].cost


def _required(system_name: str) -> SubstrateCost:
    """The substrate's cost record; ConfigError where it states none."""
    record = substrate_cost(system_name)
    if record is None:
        raise ConfigError(f"substrate {system_name!r} states no cost model")
    return record


def cost_model(
    system_name: str, system_preset: str, name: str = AUTO, options: Mapping[str, Any] | None = None
) -> CostModel:
    """The cost model a run of ``system_name`` (at ``system_preset``) is billed with."""
    record = _required(system_name)
    model = record.for_system_preset(system_preset) if name == AUTO else record.preset(name)
    return model.with_options(options or {})


DIGITS_VALUES = 64
"""The values of one sample where none is given (an 8 × 8 digit)."""


def workload(system_name: str, system: Any, sample_values: int | None = None) -> Workload:
    """What one query asks of the substrate's device, for the configured ``system`` and
    samples of ``sample_values`` values (those of an 8 × 8 digit by default)."""
    record = _required(system_name)
    if record.per_sample_values:
        return record.workload(system, sample_values or DIGITS_VALUES)
    return record.workload(system)


def run_bill(
    system_name: str,
    system: Any,
    system_preset: str,
    counts: RunCounts,
    *,
    name: str = AUTO,
    options: Mapping[str, Any] | None = None,
    sample_values: int | None = None,
) -> dict[str, Any]:
    """The bill of a run (``result.json``'s ``cost``), or why there is none."""
    if substrate_cost(system_name) is None:
        return {"unavailable": f"substrate {system_name!r} states no cost model"}
    model = cost_model(system_name, system_preset, name, options)
    digital = digital_cost(options)
    return bill(counts, workload(system_name, system, sample_values), model, digital)


def digital_cost(options: Mapping[str, Any] | None = None) -> DigitalCost:
    """The digital processor: the A100 at its peak, unless ``options`` set its figures."""
    return A100.with_options(options or {})
