"""The substrate ``xy``: layered coupled phase oscillators trained by equilibrium propagation
(Wang, Wanjura & Marquardt, 2024: XY / Kuramoto energy).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.xy.cost import COST
from physnn.substrates.xy.gap import GAP_FAMILY
from physnn.substrates.xy.system import PhaseOscillators

SUBSTRATE = Substrate(
    name="xy",
    system=PhaseOscillators,
    gap=GAP_FAMILY,
    tiny={
        "num_inputs": 16,
        "hidden_sizes": [8],
        "output_oscillators": 3,
    },
    cost=COST,
)
