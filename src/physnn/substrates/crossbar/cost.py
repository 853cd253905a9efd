"""What a PCM crossbar costs: one MVM per query on ⌈n/T⌉ × ⌈m/T⌉ tiles of T × T unit cells.

Workload of one query (n inputs, m outputs, tile side T): n·m MACs (one per PCM pair, all in
parallel), n DAC conversions (pulse-width-modulated inputs), m·⌈n/T⌉ ADC conversions (every
row tile digitizes its column currents; the partial sums are added digitally), n·m controls;
the same layer digitally: 2 n m FLOPs.

Presets:

* ``legallo2023`` — Le Gallo et al., Nat. Electron. 6, 680 (2023), arXiv:2212.02872: 64 cores of
  256 × 256 unit cells, 8-bit inputs and outputs. For 8-bit MVMs in the one-phase read mode the
  chip reaches 63.1 TOPS at 9.76 TOPS/W (abstract); an MVM of one core is 2 × 256² operations,
  so one core takes 2 × 256² / (63.1 TOPS / 64) = 133 ns and a MAC (2 operations) costs
  2 / 9.76 TOPS/W = 205 fJ, *everything on the chip included* (converters, periphery, local
  digital processing, communication): the converter and static terms are therefore zero here,
  not forgotten. ``physnn cost --check legallo2023`` predicts the four-phase mode from these.
* ``legallo2023-fourphase`` — the high-precision mode, modelled as four reads of the one-phase
  MVM (4 × the time and energy per MAC): its prediction of the published 16.1 TOPS at
  2.48 TOPS/W is the check.
* ``default`` — ``legallo2023``'s figures for the small default tile.

Writes (the paper states no programming energy, time or endurance): a weight is programmed by
iterative program-and-verify on its PCM pair; assumed 100 pJ and 1 µs per weight (about ten
pulses of order 10 pJ, the RESET energy range of scaled PCM cells), the weights programmed one
after another, and an endurance of 10⁸ cycles (PCM endurance is usually quoted between 10⁶ and
10⁹ cycles).
"""

from __future__ import annotations

import math
from dataclasses import replace

from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.crossbar.system import Crossbar

OPS_PER_MAC = 2
LEGALLO_TOPS = 63.1e12  # one-phase, 8-bit MVMs (Le Gallo et al. 2023, abstract)
LEGALLO_TOPS_PER_W = 9.76e12
LEGALLO_CORES, LEGALLO_TILE = 64, 256


def workload(system: Crossbar) -> Workload:
    c = system.config
    row_tiles = math.ceil(c.num_inputs / c.tile_size)
    macs = c.num_inputs * c.num_outputs
    return Workload(
        operations=macs,
        inputs=c.num_inputs,
        outputs=c.num_outputs * row_tiles,
        controls=macs,
        digital_flops=OPS_PER_MAC * macs,
    )


_CHIP = "included in operation_energy (the chip-level efficiency of Le Gallo et al. 2023)"
_WRITES = {
    "write_energy": "assumed: 100 pJ per weight (program-and-verify, about ten ~10 pJ pulses)",
    "write_time": "assumed: 0 (the devices are programmed one after another: value_write_time)",
    "value_write_time": "assumed: 1 µs per weight (one program-and-verify sequence)",
    "endurance": "assumed: 1e8 cycles (PCM endurance is quoted between 1e6 and 1e9)",
}
ONE_PHASE = CostModel(
    name="legallo2023",
    reference="Le Gallo et al., Nat. Electron. 6, 680 (2023): 64-core PCM chip, one-phase read",
    operation_energy=OPS_PER_MAC / LEGALLO_TOPS_PER_W,
    query_time=OPS_PER_MAC * LEGALLO_TILE**2 / (LEGALLO_TOPS / LEGALLO_CORES),
    write_energy=100e-12,
    value_write_time=1e-6,
    endurance=1e8,
    sources={
        "operation_energy": "2 operations / 9.76 TOPS/W (one-phase 8-bit MVMs, chip level)",
        "detection_energy": _CHIP,
        "dac_energy": _CHIP,
        "adc_energy": _CHIP,
        "memory_energy": _CHIP,
        "query_time": "2·256² operations / (63.1 TOPS / 64 cores): one core's MVM",
        "static_power": _CHIP,
        **_WRITES,
    },
)
FOUR_PHASE = replace(
    ONE_PHASE,
    name="legallo2023-fourphase",
    reference="Le Gallo et al. 2023, four-phase (high-precision) read: four one-phase reads",
    operation_energy=4 * ONE_PHASE.operation_energy,
    query_time=4 * ONE_PHASE.query_time,
    sources={
        **ONE_PHASE.sources,
        "operation_energy": "4 reads × the one-phase energy per MAC (a model, checked against "
        "the published 2.48 TOPS/W)",
        "query_time": "4 reads × the one-phase MVM time (checked against 16.1 TOPS)",
    },
)

COST = SubstrateCost(
    workload=workload,
    presets={
        "default": replace(ONE_PHASE, name="default"),
        "legallo2023": ONE_PHASE,
        "legallo2023-fourphase": FOUR_PHASE,
    },
)
