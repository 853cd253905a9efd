"""The substrate ``resistive``: a trainable nonlinear resistive network (Kendall et al. 2020;
Dillavou et al. 2022, 2024).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.resistive.cost import COST
from physnn.substrates.resistive.gap import GAP_FAMILY
from physnn.substrates.resistive.system import ResistiveNetwork

SUBSTRATE = Substrate(
    name="resistive",
    system=ResistiveNetwork,
    gap=GAP_FAMILY,
    tiny={"num_inputs": 8, "num_hidden": 8, "num_outputs": 10},
    cost=COST,
)
