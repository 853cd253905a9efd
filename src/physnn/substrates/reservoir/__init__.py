"""The substrate ``reservoir``: physical reservoir computing: a delay-loop reservoir or an echo
state network.

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.reservoir.cost import COST
from physnn.substrates.reservoir.gap import GAP_FAMILY
from physnn.substrates.reservoir.system import Reservoir

SUBSTRATE = Substrate(
    name="reservoir",
    system=Reservoir,
    gap=GAP_FAMILY,
    tiny={"nodes": 10, "readout_times": 2},
    cost=COST,
)
