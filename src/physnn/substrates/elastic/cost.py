"""What a trainable spring network costs: one mechanical relaxation of its springs per query.

Workload of one query (E springs, n source pairs, m target pairs, N nodes, p pinned): the
network settles once (a free, nudged or clamped phase: each is one query per sample, as the
device counts it), so an *operation* is one spring taking part in one relaxation: E operations,
the elastic energy it stores and loses while the network settles. The n source strains are
imposed by actuators (``dac_energy`` per input), the m target strains are measured
(``adc_energy`` per output), E controls (stiffnesses or rest lengths). The per-spring
extensions of the local rule are measured by each spring's own gauge in a self-learning
network: not counted.

The digital baseline is the relaxation the twin runs for one sample: damped Newton on the
2 F coordinates of the F = N − 2 n − p free nodes, each iteration a Cholesky solve of the dense
Hessian, (2F)³/3 + 2 (2F)² FLOPs, for ``NEWTON_ITERATIONS`` = 7 iterations (what the twin took
on the default preset at initialization, to its force tolerance 1e-11, on 128 digits; the
Hessian's assembly is element-wise and not counted, as in :mod:`physnn.cost.flops`).

Presets: Stern et al., Phys. Rev. X 11, 021045 (2021) is a simulation (no hardware figures), so
there is no cost preset named ``stern2021`` (a run at that preset is priced with ``default``).
Elastic networks that learn have been built at table-top scale: Altman et al., "Experimental
demonstration of coupled learning in elastic networks" (arXiv:2311.00170), tune "individual
spring rest lengths" of proof-of-concept mechanical networks, and state no energy or time.

* ``default`` — an *assumed* table-top network: centimetre springs (k ≈ 100 N/m, length 5 cm)
  strained by about 1 % when loaded, stepper-motor actuators at the sources and on every
  spring's rest length, a camera reading the target strains. Every value is marked "assumed".
"""

from __future__ import annotations

import math

from physnn.cost.components import DRAM_ACCESS
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.elastic.system import ElasticNetwork

NEWTON_ITERATIONS = 7
"""Newton iterations of the twin (default preset, at initialization, 128 digits)."""

STIFFNESS = 100.0  # N/m of a table-top spring (assumed)
SPRING_LENGTH = 0.05  # m (assumed)
STRAIN = 0.01  # typical strain of a spring when the network is loaded (assumed)


def free_nodes(system: ElasticNetwork) -> int:
    """F: the nodes that settle (all but the source pairs' nodes and the pinned nodes)."""
    c = system.config
    return c.num_nodes - 2 * c.num_inputs - c.num_pinned


def workload(system: ElasticNetwork) -> Workload:
    """One relaxation of the network for one sample (see the module docstring)."""
    c = system.config
    coordinates = 2 * free_nodes(system)
    return Workload(
        operations=system.num_edges,
        inputs=c.num_inputs,
        outputs=c.num_outputs,
        controls=system.num_edges,
        digital_flops=NEWTON_ITERATIONS * (coordinates**3 / 3 + 2 * coordinates**2),
        operation="spring in one relaxation",
    )


SPRING_ENERGY = 0.5 * STIFFNESS * (STRAIN * SPRING_LENGTH) ** 2
TABLE_TOP = CostModel(
    name="default",
    reference="assumed table-top spring network with motorized rest lengths and a camera "
    "(Stern et al. 2021 is a simulation; Altman et al. 2024 state no energy or time)",
    operation_energy=SPRING_ENERGY,
    dac_energy=0.1,
    adc_energy=10e-3,
    memory_energy=DRAM_ACCESS.value,
    query_time=1.0,
    write_energy=1.0,
    value_write_time=1.0,
    endurance=math.inf,
    static_power=5.0,
    sources={
        "operation_energy": "assumed: ½ k (ε L)² = ½ × 100 N/m × (1 % × 5 cm)² = 12.5 µJ per "
        "spring per relaxation, the elastic energy lost as the network settles",
        "detection_energy": "0: a strain is read by the camera (adc_energy)",
        "dac_energy": "assumed: 0.1 J per imposed source strain (a stepper motor at about 1 W "
        "for 0.1 s)",
        "adc_energy": "assumed: 10 mJ per target strain read (a camera frame of about 0.1 J "
        "shared by about ten targets)",
        "memory_energy": DRAM_ACCESS.source,
        "query_time": "assumed: 1 s per relaxation (damped motion of centimetre springs and a "
        "camera frame)",
        "write_energy": "assumed: 1 J per rest length or stiffness changed (a motor at about "
        "1 W for 1 s)",
        "write_time": "0: the springs are adjusted one after another (value_write_time)",
        "value_write_time": "assumed: 1 s per spring adjusted",
        "endurance": "assumed: unlimited (a motorized adjuster; no wear modelled)",
        "static_power": "assumed: 5 W (motor drivers, camera and controller idling)",
    },
)

COST = SubstrateCost(workload=workload, presets={"default": TABLE_TOP})
