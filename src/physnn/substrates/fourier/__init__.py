"""The substrate ``fourier``: a Fourier-plane classifier — one phase-only SLM, a lens and a
camera whose regions of interest are the class detectors (the setup slmsuite drives).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import PIXEL_SCAN, Calibratable, Substrate, percent_size, unit_size
from physnn.substrates.fourier.cost import COST
from physnn.substrates.fourier.gap import GAP_FAMILY
from physnn.substrates.fourier.system import FourierNetwork

SUBSTRATE = Substrate(
    name="fourier",
    system=FourierNetwork,
    gap=GAP_FAMILY,
    calibratable={
        "camera_offset": Calibratable("camera pixel", unit_size, spread=0.5, scan=PIXEL_SCAN),
        "focal_scale": Calibratable("%", percent_size, spread=1.0),
        "camera_rotation": Calibratable("10 mrad", lambda s: 0.01),
        "beam_waist": Calibratable("SLM pixel", unit_size),
        "defocus": Calibratable("rad", unit_size),
        "astigmatism": Calibratable("rad", unit_size),
        "phase_scale": Calibratable("%", percent_size),
        "phase_curvature": Calibratable("0.01 of 2π", percent_size),
    },
    calibrate=(
        "camera_offset",
        "focal_scale",
        "beam_waist",
        "defocus",
        "astigmatism",
        "phase_scale",
    ),
    tiny={
        "slm_size": 12,
        "input_size": 8,
        "beam_waist": 5.0,
        "camera_size": 24,
        "roi_size": 2,
        "roi_gap": 1,
    },
    cost=COST,
)
