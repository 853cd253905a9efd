"""What one query, one write and one digital FLOP cost: the parameters of a substrate's bill.

Tait, "Quantifying power in silicon photonic neural networks", Phys. Rev. Applied 17, 054029
(2022), argues that one "energy per MAC" cannot describe a physical processor: the light or
current of the computation itself, the converters at its edges, the memory that feeds it, the
time it takes and the power it draws while idle all enter, and each scales differently with the
size of the problem. A :class:`CostModel` therefore keeps them apart, each with its unit and its
source:

* per **query** (one sample through the device): ``operation_energy`` × the substrate's
  operations (MACs, or what its physics does instead: :class:`Workload`), ``detection_energy``
  per output value (the light or charge a detector needs), a DAC conversion per input value and
  an ADC conversion per output value, a memory access per value moved, and ``query_time``
  (samples in sequence);
* per **write**: ``write_energy`` per control value changed, ``write_time`` per write operation
  (the values of one write settle together: an SLM frame, a heater's thermal time constant) and
  ``value_write_time`` per value programmed in sequence (a program-and-verify pulse train), and
  ``endurance``, the writes one control survives;
* ``static_power`` while the device runs (lasers, bias, temperature control).

The digital side (:class:`DigitalCost`) converts counted FLOPs with a GPU's energy and time per
FLOP. Every preset names the source of each value; a value no source gives is marked
"assumed: …" with the reason, and docs/costs.md lists them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from physnn.cost.units import format_quantity, parse_quantity
from physnn.errors import ConfigError, refuse_unknown


def _quantity(unit: str, default: float = 0.0) -> Any:
    return field(default=default, metadata={"unit": unit})


@dataclass(frozen=True)
class CostModel:
    """The hardware cost parameters of one substrate, in SI units (see the module docstring)."""

    name: str
    reference: str
    """The system whose figures these are (a paper, a datasheet), or why there is none."""
    sources: Mapping[str, str]
    """Per parameter: where its value comes from ("assumed: …" where no source gives it)."""
    operation_energy: float = _quantity("J")
    """Energy of one physical operation of a query (the :class:`Workload`'s ``operations``)."""
    detection_energy: float = _quantity("J")
    """Signal energy one output value needs at its detector for its precision (photons per
    detection × hν / quantum efficiency for optics): paid per output, however many operations
    feed it, so that the energy per operation falls as 1/d with the fan-in d (Anderson et al.
    2023)."""
    dac_energy: float = _quantity("J")
    """Energy of one digital-to-analog conversion (one input value of one query)."""
    adc_energy: float = _quantity("J")
    """Energy of one analog-to-digital conversion (one output value of one query)."""
    memory_energy: float = _quantity("J")
    """Energy of moving one value between memory and the device (inputs in, outputs out, and
    each control value written)."""
    query_time: float = _quantity("s")
    """Time of one query (modulation, propagation or settling, exposure, conversion), or of one
    of its steps where the :class:`Workload` counts steps."""
    write_energy: float = _quantity("J")
    """Energy of changing one control value."""
    write_time: float = _quantity("s")
    """Time of one write operation, for the values a write changes in parallel (an SLM frame,
    a heater's settling)."""
    value_write_time: float = _quantity("s")
    """Time per control value written, for values programmed one after another (a PCM or RRAM
    program-and-verify sequence); 0 where a write sets its values in parallel."""
    endurance: float = _quantity("", math.inf)
    """Writes one control survives (inf: unlimited)."""
    static_power: float = _quantity("W")
    """Power drawn while the device runs, whatever it computes (per static element where the
    :class:`Workload` counts them: a heater holding its phase)."""

    def __post_init__(self) -> None:
        missing = [f.name for f in quantity_fields() if f.name not in self.sources]
        if missing:
            raise ValueError(f"cost model {self.name!r} gives no source for {', '.join(missing)}")
        for f in quantity_fields():
            if not getattr(self, f.name) >= 0:
                raise ConfigError(
                    f"cost parameter {f.name} must be ≥ 0, got {getattr(self, f.name)}"
                )

    def with_options(self, options: Mapping[str, Any], origin: str = "cost_options") -> CostModel:
        """This model with ``options`` (parameter → number in SI, or a string with its unit)
        replaced; each replaced value's source says it was set by ``origin``."""
        units = {f.name: f.metadata["unit"] for f in quantity_fields()}
        known = [*units, *DIGITAL_OPTIONS]
        refuse_unknown(options, known, kind="cost parameter", where=f"in {origin}")
        values = {k: parse_quantity(k, v, units[k]) for k, v in options.items() if k in units}
        if not values:
            return self
        sources = {**self.sources, **{k: f"set by {origin}" for k in values}}
        return replace(self, **values, sources=sources)

    def parameters(self) -> dict[str, float]:
        """The parameters by name, in SI units."""
        return {f.name: getattr(self, f.name) for f in quantity_fields()}

    def describe(self) -> dict[str, Any]:
        """The model as recorded in a run's bill: values in SI units, units and sources."""
        return {
            "name": self.name,
            "reference": self.reference,
            "parameters": self.parameters(),
            "units": {f.name: f.metadata["unit"] for f in quantity_fields()},
            "sources": dict(self.sources),
        }

    def rows(self) -> list[tuple[str, str, str]]:
        """(parameter, value with its unit, source) for a table."""
        return [
            (f.name, format_quantity(getattr(self, f.name), f.metadata["unit"]),
             self.sources[f.name])
            for f in quantity_fields()
        ]  # fmt: skip


def quantity_fields() -> list:
    """The fields of :class:`CostModel` that hold quantities (those with a unit)."""
    return [f for f in fields(CostModel) if "unit" in f.metadata]


@dataclass(frozen=True)
class Workload:
    """What one query (one sample) asks of a substrate's device, counted from its configuration.

    ``operations``: the physical operations its ``operation_energy`` is paid for (a MAC of an
    optical or analog matrix product; for physics that is not a matrix product, the substrate
    says what it counts); ``inputs`` and ``outputs``: the values converted at its edges (DAC, ADC);
    ``controls``: the values a full write sets; ``digital_flops``: the FLOPs of the same
    network's forward pass on a digital processor (the baseline an inference is compared with),
    as the substrate states it; ``operation``: what one operation is, in words."""

    operations: float
    inputs: float
    outputs: float
    controls: float
    digital_flops: float
    operation: str = "MAC"
    query_steps: float = 1.0
    """The steps of one query, each taking the model's ``query_time`` (1: a query is one pass;
    a device that runs through time steps or time-multiplexed nodes: their number)."""
    static_elements: float = 1.0
    """The elements that each draw the model's ``static_power`` (1: the instrument as a whole;
    a mesh's heaters, a network's tuners: their number)."""

    def describe(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "operation": self.operation,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "controls": self.controls,
            "digital_flops": self.digital_flops,
            "query_steps": self.query_steps,
            "static_elements": self.static_elements,
        }


@dataclass(frozen=True)
class DigitalCost:
    """A digital processor's energy and time per FLOP (peak figures: a lower bound on what real
    code at lower utilization costs, so the digital side is never overstated)."""

    name: str
    energy_per_flop: float  # J
    flops_per_second: float  # FLOP/s
    source: str

    def with_options(self, options: Mapping[str, Any], origin: str = "cost_options") -> DigitalCost:
        """This processor with ``digital_energy_per_flop`` (J) and ``digital_flops_per_second``
        taken from ``options`` where given (the other options are the device's)."""
        given = {k: v for k, v in options.items() if k in DIGITAL_OPTIONS}
        if not given:
            return self
        values = {k.removeprefix("digital_"): parse_quantity(k, v, DIGITAL_OPTIONS[k])
                  for k, v in given.items()}  # fmt: skip
        if not all(v > 0 for v in values.values()):
            raise ConfigError(f"{', '.join(given)} must be positive")
        return replace(self, name=f"{self.name} (set by {origin})", **values)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "energy_per_flop": self.energy_per_flop,
            "flops_per_second": self.flops_per_second,
            "source": self.source,
        }


DIGITAL_OPTIONS = {"digital_energy_per_flop": "J", "digital_flops_per_second": ""}
"""The options that set the digital processor's figures, with their units."""

A100 = DigitalCost(
    name="A100",
    energy_per_flop=400.0 / 156e12,
    flops_per_second=156e12,
    source=(
        "NVIDIA A100 Tensor Core GPU datasheet (2021): 156 TFLOP/s dense TF32 on tensor cores "
        "at a maximum TDP of 400 W (SXM4): 2.56 pJ per FLOP at full load and peak rate"
    ),
)
"""The default digital processor: a data-centre GPU at its peak (favouring the digital side)."""


@dataclass(frozen=True)
class SubstrateCost:
    """A substrate's cost: its :class:`Workload` per query, computed from a system's
    configuration (and the values in a sample, for a device fed in time), and its named
    :class:`CostModel` presets (``default`` among them). A run uses the preset named like its
    system preset where there is one, else ``default``."""

    workload: Callable[..., Workload]
    presets: Mapping[str, CostModel]
    per_sample_values: bool = False
    """The workload depends on the number of values in one sample (a device that takes a
    sample's values one after another in time): it is called ``workload(system, values)``."""

    def __post_init__(self) -> None:
        if "default" not in self.presets:
            raise ValueError("a substrate's cost presets must include 'default'")

    def preset(self, name: str) -> CostModel:
        if name not in self.presets:
            raise ConfigError(
                f"unknown cost preset {name!r}; known: {', '.join(sorted(self.presets))}"
            )
        return self.presets[name]

    def for_system_preset(self, system_preset: str) -> CostModel:
        return self.presets.get(system_preset, self.presets["default"])
