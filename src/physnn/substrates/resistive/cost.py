"""What a self-learning resistive network costs: one relaxation of its edges per query.

Workload of one query (E edges, n inputs, m outputs, F free nodes): the network settles once
(a free, nudged or clamped phase: each is one query per sample, as the device counts it), so an
*operation* is one edge (a resistor or transistor) taking part in one relaxation: E operations,
the energy it dissipates while the network settles. The inputs are the driven source voltages,
n DAC conversions (2 n with ``differential_inputs``: the mirrored source −x is driven too; the
bias sources are constant), the m output node voltages are read (ADC), E controls (the
conductances). The digital baseline is the relaxation the twin runs for one sample: Kirchhoff's
equations on the F free nodes, a linear solve with a factorization shared by all samples (the
two triangular solves, 2 F² FLOPs) and, with the clipping diodes, Newton iterations that
re-factorize the sample's Hessian (⅔ F³ + 2 F² FLOPs each, the dense LU count of
:mod:`physnn.cost.flops`); ``NEWTON_ITERATIONS`` = 2 is what the twin took on the default preset
(measured at initialization on 128 digits), a linear network takes none.

The local learning rule (each edge compares its own ΔV² in the free and clamped states) is
done by each edge's own circuit in the hardware (Dillavou et al. 2022, 2024): no per-edge
conversion is counted, the edge's energy is in ``operation_energy``.

Presets:

* ``default`` — the nonlinear self-learning transistor network of Dillavou et al., "Machine
  learning without a processor: emergent learning in a nonlinear analog network", PNAS (2024),
  doi:10.1073/pnas.2319718121 (arXiv:2311.00537), whose abstract states that it "performs
  learned tasks in microseconds while dissipating only picojoules of energy across each
  transistor" and is "retrainable in seconds": 1 pJ per edge per relaxation and 1 µs per
  query, the orders it states (no finer figure was confirmed). Converters, memory, the update
  of an edge and the static power are not stated: assumed, and marked so.
* ``dillavou2022`` (system preset) — Dillavou et al., Phys. Rev. Applied 18, 014040 (2022), a
  linear network of 16 variable resistors: its abstract gives no energy or time per query (only
  that "a laboratory network of only 500 edges will already outpace its in silico
  counterpart"), so there is no cost preset of that name and a run at that preset is priced
  with ``default``, its successor's figures.

The converter and memory assumptions here (``ANALOG_CONVERTERS``) are shared with the other
analog-electronic energy-based substrates (``hopfield``, ``xy``).
"""

from __future__ import annotations

import math

from physnn.cost.components import CONVERTER_8BIT, DRAM_ACCESS
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.resistive.system import ResistiveNetwork

NEWTON_ITERATIONS = 2
"""Newton iterations of the twin with diodes (default preset, at initialization, 128 digits)."""

DILLAVOU_EDGE_ENERGY = 1e-12  # J per transistor per task: "picojoules" (Dillavou et al. 2024)
DILLAVOU_TASK_TIME = 1e-6  # s per task: "microseconds" (Dillavou et al. 2024)
DILLAVOU_2024 = (
    "Dillavou et al., PNAS (2024), doi:10.1073/pnas.2319718121 (arXiv:2311.00537), abstract"
)

ANALOG_CONVERTERS = {
    "dac_energy": CONVERTER_8BIT.value,
    "adc_energy": 2e-12,
    "memory_energy": DRAM_ACCESS.value,
}
"""Converter and memory energies assumed for analog-electronic networks (J per value)."""
ANALOG_SOURCES = {
    "detection_energy": "0: a node voltage needs no signal energy beyond its ADC conversion",
    "dac_energy": CONVERTER_8BIT.with_note("an on-chip DAC setting an input's node voltage").source,
    "adc_energy": "assumed: 2 pJ per output value (an on-chip 8-bit SAR ADC at about 10 fJ per "
    "conversion step × 2⁸ steps; no paper of these networks states one)",
    "memory_energy": DRAM_ACCESS.source,
}
"""The sources of :data:`ANALOG_CONVERTERS` (and of the zero detection energy)."""


def free_nodes(system: ResistiveNetwork) -> int:
    """F: the nodes that settle (all but the driven sources; the outputs settle in inference)."""
    return int(system.num_nodes - len(system.sources))


def workload(system: ResistiveNetwork) -> Workload:
    """One relaxation of the network for one sample (see the module docstring)."""
    c = system.config
    f = free_nodes(system)
    iterations = NEWTON_ITERATIONS if c.diodes else 0
    digital = 2 * f**2 + iterations * (2 * f**3 / 3 + 2 * f**2)
    return Workload(
        operations=system.num_edges,
        inputs=c.num_inputs * (2 if c.differential_inputs else 1),
        outputs=c.num_outputs,
        controls=system.num_edges,
        digital_flops=digital,
        operation="edge (conductance) in one relaxation",
    )


CLLN = CostModel(
    name="default",
    reference="Dillavou et al., PNAS (2024): a nonlinear self-learning network of transistor "
    "edges (contrastive local learning network)",
    operation_energy=DILLAVOU_EDGE_ENERGY,
    query_time=DILLAVOU_TASK_TIME,
    write_energy=10e-12,
    write_time=1e-3,
    endurance=math.inf,
    static_power=10e-3,
    **ANALOG_CONVERTERS,
    sources={
        "operation_energy": f"1 pJ per edge per relaxation, the order stated: 'dissipating "
        f"only picojoules of energy across each transistor' per learned task ({DILLAVOU_2024}; "
        "no finer figure was confirmed)",
        "query_time": f"1 µs, the order stated: 'performs learned tasks in microseconds' "
        f"({DILLAVOU_2024}; no finer figure was confirmed)",
        **ANALOG_SOURCES,
        "write_energy": "assumed: 10 pJ per edge update (charging a transistor's gate "
        "capacitor through its update circuit; the paper states none)",
        "write_time": "assumed: 1 ms per parallel update of all edges (the network is "
        "'retrainable in seconds': about 10³ updates of 1 ms)",
        "value_write_time": "0: every edge updates itself at once, by its own circuit",
        "endurance": "assumed: unlimited (a gate voltage held on a capacitor is rewritten "
        "without wear)",
        "static_power": "assumed: 10 mW (bias sources and the edges' comparison circuits "
        "idling; the paper states none)",
    },
)

COST = SubstrateCost(workload=workload, presets={"default": CLLN})
