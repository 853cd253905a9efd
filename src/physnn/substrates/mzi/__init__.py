"""The substrate ``mzi``: programmable Mach-Zehnder interferometer (MZI) meshes — integrated
coherent photonics.

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Calibratable, Substrate, control_shape, percent_size, unit_size
from physnn.substrates.mzi.cost import COST
from physnn.substrates.mzi.gap import GAP_FAMILY
from physnn.substrates.mzi.system import MZIMesh


def heater_shape(system: MZIMesh) -> tuple[int, ...]:
    """One value per heater: two per MZI of each column, and the output phase screen."""
    specs = system.control_specs()
    *stack, m = specs["theta"].shape
    return (*stack, 2 * m + specs["screen"].shape[-1])


SUBSTRATE = Substrate(
    name="mzi",
    system=MZIMesh,
    gap=GAP_FAMILY,
    cost=COST,
    calibratable={
        "coupler_error": Calibratable("10 mrad", lambda s: 0.01, control_shape("theta", (2,))),
        "phase_gain_error": Calibratable("%", percent_size, heater_shape),
        "phase_offset": Calibratable("rad", unit_size, heater_shape),
        "mzi_loss_db": Calibratable("dB", unit_size),
        "crosstalk": Calibratable("%", percent_size, start=0.01),
    },
    calibrate=("coupler_error", "phase_gain_error", "phase_offset"),
    tiny={},
)
