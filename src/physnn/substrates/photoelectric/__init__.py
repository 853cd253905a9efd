"""The substrate ``photoelectric``: photoelectric (homodyne) optical MLP — Hamerly et al., PRX 9,
021032 (2019).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.photoelectric.cost import COST
from physnn.substrates.photoelectric.gap import GAP_FAMILY
from physnn.substrates.photoelectric.system import PhotoelectricMLP

SUBSTRATE = Substrate(
    name="photoelectric",
    system=PhotoelectricMLP,
    gap=GAP_FAMILY,
    cost=COST,
    tiny={"hidden_sizes": [16]},
)
