"""The substrate ``scattering``: optical random projection through a scattering medium — LightOn's
optical processing unit.

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.scattering.cost import COST
from physnn.substrates.scattering.gap import GAP_FAMILY
from physnn.substrates.scattering.system import ScatteringMedium

SUBSTRATE = Substrate(
    name="scattering",
    system=ScatteringMedium,
    gap=GAP_FAMILY,
    cost=COST,
    tiny={"num_inputs": 16, "num_pixels": 32},
)
