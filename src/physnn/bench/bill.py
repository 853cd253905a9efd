"""The report's hardware bill: what each run's training and one inference would cost on the
hardware (``result.json``'s ``cost``, :mod:`physnn.cost`), as a table and as Pareto plots of
device accuracy against projected training energy and against training time on the hardware."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from physnn.bench.plots import pareto_front, pareto_plot, png_name
from physnn.bench.render import Block, Num
from physnn.bench.runs import method_rank, run_method, run_row
from physnn.cost.units import format_quantity

BILL_NOTE = (
    "Projected from each run's counts (training and calibration queries, writes, digital FLOPs "
    "of its credit path) with its substrate's cost preset (physnn cost --presets; "
    "docs/costs.md): mean over seeds. Energy: the whole training bill, of which the digital "
    "part (a GPU at its peak, a lower bound) in parentheses; time: on the hardware, samples in "
    "sequence; wear: the mean writes per control as a fraction of the endurance; inference: "
    "one sample on the device against the same network on the GPU (their ratio: >1 favours "
    "the device)."
)
PARETO_AXES = (
    (("energy_J", "total"), "projected training energy (J)"),
    (("time_s", "total"), "training time on the hardware (s)"),
)
HEADERS = ["system/preset", "gap", "method", "accuracy", "training energy", "time", "wear",
           "inference", "digital", "ratio"]  # fmt: skip


def _billed(plain: list[dict]) -> dict[tuple, dict[str, list[dict]]]:
    """Runs with a bill, by row and method."""
    rows: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in plain:
        if "training" in ((r.get("result") or {}).get("cost") or {}):
            rows[run_row(r)][run_method(r)].append(r["result"])
    return rows


def _mean(results: list[dict], *path: str) -> float:
    def value(result: dict) -> float:
        node = result["cost"]
        for key in path:
            node = node[key]
        return float(node)

    return statistics.fmean(value(r) for r in results)


def _row(row: tuple, method: str, results: list[dict]) -> list:
    energy = _mean(results, "training", "energy_J", "total")
    digital = _mean(results, "training", "energy_J", "digital")
    return [
        row[0], row[2], method,
        Num(f"{statistics.fmean(r['device_accuracy'] for r in results):.3f}"),
        Num(f"{format_quantity(energy, 'J')} ({format_quantity(digital, 'J')})"),
        Num(format_quantity(_mean(results, "training", "time_s", "total"), "s")),
        Num(f"{_mean(results, 'training', 'endurance_used'):.2g}"),
        Num(format_quantity(_mean(results, "inference", "energy_J"), "J")),
        Num(format_quantity(_mean(results, "inference", "digital_energy_J"), "J")),
        Num(f"{_mean(results, 'inference', 'advantage'):.3g}"),
    ]  # fmt: skip


def bill_section(
    plain: list[dict], styles: dict[str, tuple[str, str]], plots: tuple[Path, set[str]] | None
) -> list[Block]:
    """The bill table and, per row (with ``plots``), the accuracy–energy and accuracy–time
    Pareto plots."""
    billed = _billed(plain)
    if not billed:
        return []
    rows = [
        _row(row, method, by_method[method])
        for row, by_method in billed.items()
        for method in sorted(by_method, key=method_rank)
    ]
    blocks: list[Block] = [("p", BILL_NOTE), ("table", (HEADERS, rows))]
    if plots is None:
        return blocks
    for row, by_method in billed.items():
        title = f"{row[0]} · {row[1]} · gap {row[2]}"
        for path, label in PARETO_AXES:
            points = {
                method: (_mean(results, "training", *path),
                         statistics.fmean(r["device_accuracy"] for r in results))
                for method, results in by_method.items()
            }  # fmt: skip
            what = "energy" if path[0] == "energy_J" else "time"
            name = png_name(f"bill {what} {' '.join(row)}", plots[1])
            pareto_plot(plots[0] / name, f"Accuracy vs {what}: {title}", points, styles, label)
            front = ", ".join(pareto_front(points))
            blocks.append(("img", (name, f"Accuracy vs training {what}, {title}; front: {front}")))
    return blocks
