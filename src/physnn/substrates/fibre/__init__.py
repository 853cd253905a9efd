"""The substrate ``fibre``: multimode fibre with Kerr nonlinearity — Oguz et al., Adv. Photonics 6,
016002 (2024).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.fibre.cost import COST
from physnn.substrates.fibre.gap import GAP_FAMILY
from physnn.substrates.fibre.system import MultimodeFibre

SUBSTRATE = Substrate(
    name="fibre",
    system=MultimodeFibre,
    gap=GAP_FAMILY,
    tiny={
        "num_mode_groups": 2,
        "num_data_pixels": 9,
        "num_control_pixels": 8,
        "num_steps": 6,
        "num_time": 4,
        "time_window": 4.0,
        "camera_pixels": 3,
        "peak_power": 2000.0,
    },
    cost=COST,
)
