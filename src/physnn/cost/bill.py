"""A run's bill: what its training and one inference would cost on the hardware.

From the counts a run makes (device queries, write operations, control values written, digital
FLOPs) and the substrate's :class:`~physnn.cost.model.Workload` per query, with a
:class:`~physnn.cost.model.CostModel` and a :class:`~physnn.cost.model.DigitalCost`:

    E_query = N_op e_op + N_out e_det + N_in e_DAC + N_out e_ADC + (N_in + N_out) e_mem
    E_train = Q (N_op e_op + N_out e_det) + Q (N_in e_DAC + N_out e_ADC) + Q (N_in + N_out) e_mem
              + V (e_write + e_mem) + N_static P_static T_device + F e_FLOP
    T_train = Q N_steps t_query + W t_write + V t_value + F / R_FLOP  (T_device: but the last)

with Q queries of N_steps steps each, W write operations, V values written, F digital FLOPs
and N_static elements drawing static power (the :class:`~physnn.cost.model.Workload` counts
steps and static elements; both are 1 for a device that answers in one pass as a whole); the
fraction of the
endurance used is (V / N_controls) / endurance, the mean number of writes per control over the
writes it survives. One inference costs E_query + N_static P_static N_steps t_query +
F_readout e_FLOP in N_steps t_query + F_readout / R_FLOP, against the same network on the
digital processor,
F_network e_FLOP in F_network / R_FLOP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from physnn.cost.model import CostModel, DigitalCost, Workload


@dataclass(frozen=True)
class RunCounts:
    """What a run did (training, including the queries that fitted a twin)."""

    queries: float
    writes: float
    values_written: float
    digital_flops: float
    readout_flops_per_sample: float = 0.0
    """The digital FLOPs of one inference beside the device (the readout)."""


def training_bill(
    counts: RunCounts, workload: Workload, model: CostModel, digital: DigitalCost
) -> dict[str, Any]:
    """Energy (J) and time (s) of training, by part, and the endurance used."""
    q, w, v = counts.queries, counts.writes, counts.values_written
    write_time = w * model.write_time + v * model.value_write_time
    device_time = q * query_time(workload, model) + write_time
    energy = {
        "queries": q * physical_energy(workload, model),
        "conversions": q * conversion_energy(workload, model),
        "memory": q * memory_energy(workload, model) + v * model.memory_energy,
        "writes": v * model.write_energy,
        "static": static_power(workload, model) * device_time,
        "digital": counts.digital_flops * digital.energy_per_flop,
    }
    time = {
        "queries": q * query_time(workload, model),
        "writes": write_time,
        "digital": counts.digital_flops / digital.flops_per_second,
    }
    per_control = v / workload.controls if workload.controls else 0.0
    return {
        "energy_J": {**energy, "total": sum(energy.values())},
        "time_s": {**time, "total": sum(time.values())},
        "writes_per_control": per_control,
        "endurance_used": per_control / model.endurance,
    }


def query_time(workload: Workload, model: CostModel) -> float:
    """t_query: the time of one query (its steps, each ``query_time``)."""
    return workload.query_steps * model.query_time


def static_power(workload: Workload, model: CostModel) -> float:
    """P_static: the power of the device's static elements while it runs."""
    return workload.static_elements * model.static_power


def physical_energy(workload: Workload, model: CostModel) -> float:
    """N_op e_op + N_out e_det: the energy of the computation itself in one query."""
    return workload.operations * model.operation_energy + workload.outputs * model.detection_energy


def conversion_energy(workload: Workload, model: CostModel) -> float:
    """N_in e_DAC + N_out e_ADC: the converters of one query."""
    return workload.inputs * model.dac_energy + workload.outputs * model.adc_energy


def memory_energy(workload: Workload, model: CostModel) -> float:
    """(N_in + N_out) e_mem: the values one query moves between memory and the device."""
    return (workload.inputs + workload.outputs) * model.memory_energy


def query_energy(workload: Workload, model: CostModel) -> float:
    """E_query: the energy of one query on the device, static power excluded."""
    return (
        physical_energy(workload, model)
        + conversion_energy(workload, model)
        + memory_energy(workload, model)
    )


def inference_bill(
    workload: Workload, model: CostModel, digital: DigitalCost, readout_flops: float = 0.0
) -> dict[str, Any]:
    """Energy (J) and latency (s) of one inference, against the same network run digitally."""
    seconds = query_time(workload, model)
    energy = (
        query_energy(workload, model)
        + static_power(workload, model) * seconds
        + readout_flops * digital.energy_per_flop
    )
    latency = seconds + readout_flops / digital.flops_per_second
    network_flops = workload.digital_flops + readout_flops
    baseline = network_flops * digital.energy_per_flop
    return {
        "energy_J": energy,
        "latency_s": latency,
        "energy_per_operation_J": energy / workload.operations if workload.operations else 0.0,
        "digital_energy_J": baseline,
        "digital_latency_s": network_flops / digital.flops_per_second,
        "advantage": baseline / energy if energy > 0 else float("inf"),
    }


def bill(
    counts: RunCounts, workload: Workload, model: CostModel, digital: DigitalCost
) -> dict[str, Any]:
    """The whole bill as a run records it (``result.json``'s ``cost``)."""
    return {
        "model": model.describe(),
        "digital": digital.describe(),
        "workload": workload.describe(),
        "counts": {
            "queries": counts.queries,
            "writes": counts.writes,
            "values_written": counts.values_written,
            "digital_flops": counts.digital_flops,
            "readout_flops_per_sample": counts.readout_flops_per_sample,
        },
        "training": training_bill(counts, workload, model, digital),
        "inference": inference_bill(workload, model, digital, counts.readout_flops_per_sample),
    }
