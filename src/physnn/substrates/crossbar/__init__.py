"""The substrate ``crossbar``: analog in-memory matrix-vector multiplication on PCM crossbar tiles
(IBM HERMES chip).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.crossbar.cost import COST
from physnn.substrates.crossbar.gap import GAP_FAMILY
from physnn.substrates.crossbar.system import Crossbar

SUBSTRATE = Substrate(
    name="crossbar",
    system=Crossbar,
    gap=GAP_FAMILY,
    tiny={"num_inputs": 16, "num_outputs": 16},
    cost=COST,
)
