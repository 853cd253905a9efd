"""What training and inference would cost on the hardware: energy, time and wear.

* :mod:`~physnn.cost.units` — quantities with units ("7 fJ") and the photon energy;
* :mod:`~physnn.cost.components` — figures of parts several substrates share (converters, DRAM,
  SLMs, cameras, thermo-optic phase shifters), each with its source;
* :mod:`~physnn.cost.model` — a substrate's :class:`CostModel` (cited parameters), the
  :class:`Workload` of one query, the digital processor's :class:`DigitalCost`;
* :mod:`~physnn.cost.flops` — the digital FLOPs of a run's credit path (device physics excluded);
* :mod:`~physnn.cost.bill` — the bill of a run from its counts;
* :mod:`~physnn.cost.runs` — the cost model a run's configuration selects, and its bill.

Each substrate keeps its own cost model in ``substrates/NAME/cost.py``; docs/costs.md lists
every preset with its sources.
"""

from physnn.cost.bill import RunCounts, bill, inference_bill, training_bill
from physnn.cost.model import A100, CostModel, DigitalCost, SubstrateCost, Workload

__all__ = [
    "A100",
    "CostModel",
    "DigitalCost",
    "RunCounts",
    "SubstrateCost",
    "Workload",
    "bill",
    "inference_bill",
    "training_bill",
]
