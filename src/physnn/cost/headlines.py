"""Published headline figures, recomputed from the cost models (``physnn cost --check``).

Each check prices a paper's system with the substrate's preset for it and compares one figure
with the published one within a stated tolerance. Some figures are *inputs* of a preset (the
preset was built from them: reproducing them checks the arithmetic and the units, nothing
more); *predictions* the model makes from those inputs test it; a *scaling* is an exponent the
model gives under a paper's premise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from physnn.cost.bill import inference_bill
from physnn.cost.model import A100
from physnn.cost.runs import cost_model, workload

TOLERANCE = 0.05
"""Relative tolerance of a recomputed figure against the published one."""


@dataclass(frozen=True)
class Headline:
    """One published figure and ours."""

    source: str
    figure: str
    published: float
    ours: float
    unit: str
    kind: str  # "input" (the preset was built from it), "prediction" or "scaling"
    tolerance: float = TOLERANCE

    @property
    def within(self) -> bool:
        return abs(self.ours - self.published) <= self.tolerance * abs(self.published)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "figure": self.figure,
            "published": self.published,
            "ours": self.ours,
            "unit": self.unit,
            "kind": self.kind,
            "tolerance": self.tolerance,
            "within": self.within,
        }


LEGALLO = "Le Gallo et al., Nat. Electron. 6, 680 (2023)"
LEGALLO_MODES = (  # (cost preset, read mode, published TOPS, published TOPS/W, kind)
    ("legallo2023", "one-phase", 63.1, 9.76, "input"),
    ("legallo2023-fourphase", "four-phase", 16.1, 2.48, "prediction"),
)
CORES = 64


def legallo2023() -> list[Headline]:
    """The chip's throughput and efficiency for 8-bit MVMs on its 64 cores of 256 × 256: the
    one-phase figures built the preset; the four-phase ones are predicted as four reads."""
    from physnn.systems import SYSTEMS

    tile = SYSTEMS["crossbar"].from_preset("legallo2023", num_inputs=256, num_outputs=256)
    load = workload("crossbar", tile)
    ops = 2 * load.operations
    rows = []
    for preset, mode, tops, efficiency, kind in LEGALLO_MODES:
        bill = inference_bill(load, cost_model("crossbar", "legallo2023", preset), A100)
        ours_tops = CORES * ops / bill["latency_s"] / 1e12
        ours_efficiency = ops / bill["energy_J"] / 1e12
        rows += [
            Headline(LEGALLO, f"throughput, {mode}", tops, ours_tops, "TOPS", kind),
            Headline(LEGALLO, f"efficiency, {mode}", efficiency, ours_efficiency, "TOPS/W", kind),
        ]
    return rows


ANDERSON = "Anderson et al., arXiv:2302.10360 (2023)"
WIDTHS = (64, 256, 1024, 4096)
PHOTONS_PER_DETECTION = 1000.0


def anderson2023() -> list[Headline]:
    """The optical energy per MAC against the width d of a d × d optical layer, under the
    premise Anderson et al.'s simulations support: a fixed photon budget per detection (so
    n = N_det / d photons per MAC, summed over the d MACs of a detector). The photoelectric
    model then gives exponent −1 by construction of that premise: this checks the model's
    bookkeeping of photons, MACs and widths, not the premise."""
    from physnn.cost.sweep import loglog_slope
    from physnn.systems import SYSTEMS

    model = cost_model("photoelectric", "hamerly2019")
    per_mac = []
    for d in WIDTHS:
        layer = SYSTEMS["photoelectric"].from_preset(
            "hamerly2019", input_size=d, hidden_sizes=(), num_classes=d,
            photons_per_mac=PHOTONS_PER_DETECTION / d,
        )  # fmt: skip
        load = workload("photoelectric", layer)
        per_mac.append(load.operations * model.operation_energy / (d * d))
    slope = loglog_slope(WIDTHS, per_mac)
    figure = "exponent of the optical energy per MAC in the width d"
    return [Headline(ANDERSON, figure, -1.0, slope, "", "scaling")]


CHECKS: dict[str, Callable[[], list[Headline]]] = {
    "legallo2023": legallo2023,
    "anderson2023": anderson2023,
}
"""The headline checks by name."""


def check_headlines(names: list[str] | None = None) -> list[Headline]:
    """Run the named checks (all by default)."""
    return [row for name in (names or list(CHECKS)) for row in CHECKS[name]()]
