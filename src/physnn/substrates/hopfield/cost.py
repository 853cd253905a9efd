"""What a layered Hopfield network costs: one relaxation of its synapses per query.

Workload of one query (layer sizes n_0 … n_L, n_0 the clamped inputs): the network settles
once (a free, nudged or clamped phase: each is one query per sample, as the device counts it),
so an *operation* is one synapse (a coupling W_k,ij) taking part in one relaxation:
Σ_k n_k n_{k−1} operations. The n_0 inputs are set by DACs, the n_L output units read by ADCs;
the controls are the weights and biases, Σ_k n_k n_{k−1} + Σ_{k≥1} n_k; the Σ_{k≥1} n_k
amplifier neurons (the inputs are clamped by their DACs) idle whatever the network computes,
the workload's ``static_elements``. The local measurements
ρ(s_k) ρ(s_{k−1})ᵀ of equilibrium propagation are made by each synapse's own circuit in an
analog implementation (as the edges of Dillavou et al. 2024 do): no per-synapse conversion is
counted.

The digital baseline is the relaxation the twin runs (:func:`relaxation_flops`): the input
field W_1 ρ(x) once (2 n_1 n_0 FLOPs), then S Gauss–Seidel sweeps, each using every other
coupling matrix twice (W_k ρ(s_{k−1}) for layer k, W_kᵀ ρ(s_k) for layer k − 1): 4 Σ_{k≥2} n_k
n_{k−1} FLOPs per sweep. S is ``free_steps`` for a fixed schedule (tolerance None, the
``scellier2017`` preset); with a tolerance the relaxation stops early, and S is the smaller of
``free_steps`` and ``TYPICAL_SWEEPS`` = 150, the free sweeps the default preset takes (the
system's docstring says "about 150"; measured at initialization on 8 batches of 32 digits, a
batch stopping when its slowest sample settles: median 144). Element-wise work (the clipping)
is not counted, as in :mod:`physnn.cost.flops`.

Presets: Scellier & Bengio, Front. Comput. Neurosci. 11, 24 (2017) is a simulation — no
hardware, so no figures, and no cost preset named ``scellier2017`` (a run at that preset is
priced with ``default``).

* ``default`` — an *assumed* analog-electronic implementation (conductance synapses, amplifier
  neurons with clipping), priced with the figures of the nearest demonstrated hardware, the
  self-learning transistor network of Dillavou et al., PNAS (2024): about 1 pJ per edge and
  1 µs per relaxation (:mod:`physnn.substrates.resistive.cost`); converters, memory and
  writes assumed as for that network, and about 20 µW per idling amplifier neuron (0.84 mW for
  the default network's 32 + 10). Every value is marked "assumed".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.hopfield.system import HopfieldNetwork
from physnn.substrates.resistive.cost import (
    ANALOG_CONVERTERS,
    ANALOG_SOURCES,
    CLLN,
    DILLAVOU_2024,
)

TYPICAL_SWEEPS = 150
"""Free Gauss–Seidel sweeps the default network takes to its tolerance (see the docstring)."""
NEURON_POWER = 20e-6  # W drawn by one idling amplifier neuron (assumed)


def layered_couplings(sizes: Sequence[int]) -> int:
    """Σ_k n_k n_{k−1}: the couplings between adjacent layers of sizes (n_0, …, n_L)."""
    return sum(a * b for a, b in itertools.pairwise(sizes))


def relaxation_flops(sizes: Sequence[int], sweeps: float, products: int = 1) -> float:
    """FLOPs of a layered relaxation: the input field once (2 n_1 n_0 per matrix product) and
    ``sweeps`` sweeps in which every other coupling matrix is used in both directions
    (4 n_k n_{k−1} per product); ``products``: matrix products per coupling and direction
    (2 for the oscillators' cos and sin)."""
    inner = layered_couplings(sizes[1:])
    return 2 * products * sizes[0] * sizes[1] + sweeps * 4 * products * inner


def relaxation_sweeps(free_steps: int, tolerance: float | None, typical: int) -> int:
    """The sweeps the twin's free relaxation takes: all of a fixed schedule (no tolerance), or
    the typical number to the tolerance within the budget."""
    return free_steps if tolerance is None else min(free_steps, typical)


def control_count(system: Any) -> int:
    """The number of control values of a system (every entry of every control group)."""
    return sum(math.prod(spec.shape) for spec in system.control_specs().values())


def workload(system: HopfieldNetwork) -> Workload:
    """One relaxation of the network for one sample (see the module docstring)."""
    c = system.config
    sweeps = relaxation_sweeps(c.free_steps, c.tolerance, TYPICAL_SWEEPS)
    return Workload(
        operations=layered_couplings(c.sizes),
        inputs=c.num_inputs,
        outputs=system.num_outputs,
        controls=control_count(system),
        digital_flops=relaxation_flops(c.sizes, sweeps),
        operation="synapse (coupling) in one relaxation",
        static_elements=sum(c.sizes[1:]),
    )


_BORROWED = "assumed (no Hopfield hardware: Scellier & Bengio 2017 is a simulation): "
ANALOG = CostModel(
    name="default",
    reference="assumed analog-electronic Hopfield network (Scellier & Bengio 2017 is a "
    "simulation); figures of Dillavou et al. 2024's self-learning transistor network",
    operation_energy=CLLN.operation_energy,
    query_time=CLLN.query_time,
    write_energy=CLLN.write_energy,
    write_time=CLLN.write_time,
    endurance=CLLN.endurance,
    static_power=NEURON_POWER,
    **ANALOG_CONVERTERS,
    sources={
        "operation_energy": f"{_BORROWED}1 pJ per synapse per relaxation, as an edge of "
        f"the transistor network that dissipates 'picojoules' per task ({DILLAVOU_2024})",
        "query_time": f"{_BORROWED}1 µs per relaxation, as that network's 'microseconds' "
        f"per task ({DILLAVOU_2024})",
        **ANALOG_SOURCES,
        "write_energy": f"{_BORROWED}10 pJ per synapse update, as the resistive default "
        "(charging a gate capacitor)",
        "write_time": f"{_BORROWED}1 ms per parallel update of all synapses, as the resistive "
        "default",
        "value_write_time": "0: every synapse updates itself at once, by its own circuit",
        "endurance": "assumed: unlimited (capacitor-held synapse voltages do not wear)",
        "static_power": "assumed: 20 µW per amplifier neuron idling (with its bias); the "
        "workload counts the neurons, Σ_k≥1 n_k (42 at the default preset: 0.84 mW)",
    },
)

COST = SubstrateCost(workload=workload, presets={"default": ANALOG})
