"""The substrate ``wave``: wave physics as an analog recurrent neural network (Hughes et al., Sci.
Adv. 2019).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.wave.cost import COST
from physnn.substrates.wave.gap import GAP_FAMILY
from physnn.substrates.wave.system import WaveRNN

SUBSTRATE = Substrate(
    name="wave",
    system=WaveRNN,
    gap=GAP_FAMILY,
    tiny={
        "nx": 14,
        "ny": 16,
        "pml_cells": 2,
        "src_x": 3,
        "probe_x": 10,
        "num_probes": 10,  # one probe per class: the detector readout, as by default
        "probe_spacing": 1,
        "design_margin": 1,
        "hold": 1,
    },
    cost=COST,
)
