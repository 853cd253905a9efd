"""The report's tuning section: each method tuned by ``physnn tune`` beside its default at the
same device-query budget, and per row the Pareto front of device accuracy against device queries.

``physnn bench SUITE --tuned`` runs every tuned run beside its default at the budget it was tuned
for (:func:`physnn.tune.settings.tuned_suite`); a tuned run names that default's key in
``meta["tuned"]["default"]``, which pairs them here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from physnn.bench.plots import PARETO_NOTE, pareto_front, pareto_plot, png_name
from physnn.bench.render import (
    Block,
    Num,
    count_text,
    mean_std_text,
    queries_text,
    settings_text,
)
from physnn.bench.runs import method_rank, run_field, run_meta, run_method, run_row

TUNED_NOTE = (
    "Each tuned method (the learning rate and the method's options that physnn tune chose on the "
    "validation split) beside its default, both limited to the same device-query budget: test "
    "accuracy on the device, mean ± std over seeds (training device queries, mean); the last "
    "column is the validation accuracy that chose the setting. A run stops at the first step that "
    "reaches the budget: a method whose one step costs more (fd over every coordinate) exceeds it."
)
HEADERS = ["system/preset", "dataset", "gap", "method", "budget", "default", "tuned",
           "tuned setting", "validation"]  # fmt: skip


def tuned_section(
    plain: list[dict], styles: dict[str, tuple[str, str]], plots: tuple[Path, set[str]] | None
) -> list[Block]:
    """The table of default vs tuned and a Pareto plot per row (into the folder of ``plots``,
    under names not among its taken ones; none if None); nothing without tuned runs."""
    pairs = _pairs(plain)
    if not pairs:
        return []
    rows = [_pair_row(key, defaults, tuned) for key, (defaults, tuned) in pairs.items()]
    blocks: list[Block] = [("p", TUNED_NOTE), ("table", (HEADERS, rows))]
    if plots:
        blocks += _pareto_blocks(plain, styles, plots)
    return blocks


Pairs = dict[tuple, tuple[list[dict], list[dict]]]


def _pairs(plain: list[dict]) -> Pairs:
    """(defaults, tuned runs) by (row, method, budget), in the fixed order of methods."""
    by_key = {r.get("key"): r for r in plain}
    pairs: Pairs = defaultdict(lambda: ([], []))
    for r in plain:
        if setting := run_meta(r, "tuned"):
            key = (*run_row(r), str(run_field(r, "method")), setting["max_queries"])
            pairs[key][1].append(r)
            if (default := by_key.get(setting["default"])) and default not in pairs[key][0]:
                pairs[key][0].append(default)
    return dict(sorted(pairs.items(), key=lambda item: (item[0][:3], method_rank(item[0][3]))))


def _pair_row(key: tuple, defaults: list[dict], tuned: list[dict]) -> list[str]:
    """One row of the table: the default and tuned cells, the setting and its validation."""
    settings = [run_meta(r, "tuned") for r in tuned]
    values = {"lr": settings[0]["lr"], **settings[0]["method_options"]}
    chosen = settings_text(values)
    distinct = {str({k: v for k, v in s.items() if k != "default"}) for s in settings}
    if len(distinct) > 1:
        chosen += f" ({len(distinct)} settings)"
    validation = f"{settings[0]['validation_accuracy']:.3f}"
    return [*key[:4], Num(count_text(key[4])), Num(_cell(defaults)), Num(_cell(tuned)), chosen,
            Num(validation)]  # fmt: skip


def _cell(runs: list[dict]) -> str:
    """Device accuracy mean ± std over seeds, with the mean training device queries."""
    if not runs:
        return "—"
    results = [r["result"] for r in runs]
    return mean_std_text([res["device_accuracy"] for res in results]) + queries_text(results)


def _pareto_blocks(
    plain: list[dict], styles: dict[str, tuple[str, str]], plots: tuple[Path, set[str]]
) -> list[Block]:
    """Per row with a tuned run: every method's (mean queries, mean accuracy), plotted with
    the Pareto front, which the caption names."""
    rows: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in plain:
        rows[run_row(r)][run_method(r)].append(r["result"])
    blocks: list[Block] = [("p", PARETO_NOTE)]
    for row, by_method in rows.items():
        if not any(m.endswith(" (tuned)") for m in by_method):
            continue
        points = {
            method: (statistics.fmean(res.get("device_queries", 0) for res in results),
                     statistics.fmean(res["device_accuracy"] for res in results))
            for method, results in by_method.items()
        }  # fmt: skip
        title = f"{row[0]} · {row[1]} · gap {row[2]}"
        name = png_name(f"pareto {' '.join(row)}", plots[1])
        pareto_plot(plots[0] / name, f"Accuracy vs queries: {title}", points, styles)
        front = ", ".join(pareto_front(points))
        blocks.append(("img", (name, f"Pareto front, {title}: {front}")))
    return blocks
