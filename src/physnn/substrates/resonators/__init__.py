"""The substrate ``resonators``: coupled resonators with parameter-encoded inputs (Wanjura &
Marquardt, Nat. Phys. 2024).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.resonators.cost import COST
from physnn.substrates.resonators.gap import GAP_FAMILY
from physnn.substrates.resonators.system import CoupledResonators

SUBSTRATE = Substrate(
    name="resonators",
    system=CoupledResonators,
    gap=GAP_FAMILY,
    cost=COST,
    tiny={"num_inputs": 9, "num_hidden": 3, "num_ports": 4},
)
