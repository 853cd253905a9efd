"""The substrate ``diffractive``: diffractive deep neural network (D2NN) — Lin et al., Science 361,
1004 (2018).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import PIXEL_SCAN, Calibratable, Substrate, control_shape, unit_size
from physnn.substrates.diffractive.cost import COST
from physnn.substrates.diffractive.gap import GAP_FAMILY
from physnn.substrates.diffractive.system import DiffractiveNetwork

SUBSTRATE = Substrate(
    name="diffractive",
    system=DiffractiveNetwork,
    gap=GAP_FAMILY,
    calibratable={
        "plane_shift": Calibratable("pixel", lambda s: s.config.pitch, spread=0.5, scan=PIXEL_SCAN),
        "plane_dz": Calibratable("wavelength", lambda s: s.config.wavelength, spread=1.0),
        "phase_error": Calibratable("rad", unit_size, control_shape("phase")),
        "absorption": Calibratable("0.1 per rad", lambda s: 0.1, start=0.001),
    },
    calibrate=("plane_shift", "plane_dz", "absorption"),
    tiny={"grid": 16, "num_layers": 2, "input_size": 8, "detector_size": 2, "detector_gap": 1},
    cost=COST,
)
