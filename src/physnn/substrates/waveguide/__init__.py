"""The substrate ``waveguide``: 2-D programmable waveguide — Onodera et al., arXiv:2402.17750
(2024).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.waveguide.cost import COST
from physnn.substrates.waveguide.gap import GAP_FAMILY
from physnn.substrates.waveguide.system import ProgrammableWaveguide

SUBSTRATE = Substrate(
    name="waveguide",
    system=ProgrammableWaveguide,
    gap=GAP_FAMILY,
    cost=COST,
    tiny={
        "width": 0.000128,
        "length": 0.001,
        "grid_x": 64,
        "steps": 8,
        "pixels_x": 6,
        "pixels_z": 4,
        "input_waist": 4e-06,
        "absorber_width": 1.6e-05,
        "num_inputs": 16,
        "input_pitch": 5e-06,
        "detector_width": 6e-06,
        "detector_pitch": 8e-06,
    },
)
