"""The substrate ``ising``: a layered Ising machine trained by equilibrium propagation (Laydevant
et al., Nat. Commun. 15, 3671 (2024), on a D-Wave annealer).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.ising.cost import COST
from physnn.substrates.ising.gap import GAP_FAMILY
from physnn.substrates.ising.system import IsingMachine

SUBSTRATE = Substrate(
    name="ising",
    system=IsingMachine,
    gap=GAP_FAMILY,
    tiny={
        "num_inputs": 16,
        "hidden_sizes": [8],
        "num_outputs": 6,
        "sweeps": 6,
        "samples": 4,
        "mean_field_steps": 5,
    },
    cost=COST,
)
