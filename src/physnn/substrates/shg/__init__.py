"""The substrate ``shg``: broadband second-harmonic generation of shaped femtosecond pulses (the
SHG-PNN).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Calibratable, Substrate, percent_size, unit_size
from physnn.substrates.shg.cost import COST
from physnn.substrates.shg.gap import GAP_FAMILY
from physnn.substrates.shg.system import SecondHarmonicGeneration

SUBSTRATE = Substrate(
    name="shg",
    system=SecondHarmonicGeneration,
    gap=GAP_FAMILY,
    calibratable={
        "phase_gain": Calibratable("%", percent_size),
        "phase_offset": Calibratable("rad", unit_size),
        "pump_power": Calibratable("%", percent_size),
        "mismatch": Calibratable("1/mm", unit_size),
    },
    calibrate=("phase_gain", "phase_offset", "pump_power", "mismatch"),
    tiny={"num_inputs": 16, "num_controls": 16, "num_outputs": 16, "crystal_steps": 3},
    cost=COST,
)
