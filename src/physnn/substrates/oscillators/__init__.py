"""The substrate ``oscillators``: a chain of coupled, driven, damped nonlinear oscillators (Wright
et al., Nature 2022).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Calibratable, Substrate, control_shape, percent_size
from physnn.substrates.oscillators.cost import COST
from physnn.substrates.oscillators.gap import GAP_FAMILY
from physnn.substrates.oscillators.system import OscillatorChain

SUBSTRATE = Substrate(
    name="oscillators",
    system=OscillatorChain,
    gap=GAP_FAMILY,
    calibratable={
        "frequency_error": Calibratable("%", percent_size, control_shape("offset")),
        "coupling_error": Calibratable("%", percent_size, control_shape("coupling")),
        "frequency_drift": Calibratable("%", percent_size),
    },
    calibrate=("frequency_error", "coupling_error"),
    tiny={"num_oscillators": 9, "num_steps": 20, "duration": 2.0, "damping": 0.0},
    cost=COST,
)
