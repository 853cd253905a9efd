"""The substrate ``hopfield``: a layered continuous Hopfield network (Scellier & Bengio, Front.
Comput. Neurosci. 11, 24, 2017), the reference energy-based substrate for equilibrium
propagation.

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.hopfield.cost import COST
from physnn.substrates.hopfield.gap import GAP_FAMILY
from physnn.substrates.hopfield.system import HopfieldNetwork

SUBSTRATE = Substrate(
    name="hopfield",
    system=HopfieldNetwork,
    gap=GAP_FAMILY,
    tiny={
        "num_inputs": 16,
        "hidden_sizes": [8],
        "num_outputs": 6,
    },
    cost=COST,
)
