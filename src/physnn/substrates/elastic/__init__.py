"""The substrate ``elastic``: a trainable elastic spring network for allostery-type tasks (Stern et
al. 2021; Altman et al. 2024).

Its record, ``SUBSTRATE``, is what physnn registers: the system, its reality-gap family
(:mod:`.gap`), what a calibrated twin may fit and the tiny test options.
"""

from physnn.substrates import Substrate
from physnn.substrates.elastic.cost import COST
from physnn.substrates.elastic.gap import GAP_FAMILY
from physnn.substrates.elastic.system import ElasticNetwork

SUBSTRATE = Substrate(
    name="elastic",
    system=ElasticNetwork,
    gap=GAP_FAMILY,
    tiny={"num_nodes": 20, "num_inputs": 3, "num_outputs": 3, "num_pinned": 2},
    cost=COST,
)
