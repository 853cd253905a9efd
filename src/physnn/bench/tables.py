"""The tables of the benchmark report: results per method and row, training cost to a target
accuracy, reproduced claims, gradient quality, failures, and the environment of the runs."""

from __future__ import annotations

import datetime as dt
import functools
import math
import statistics
from collections import Counter, defaultdict
from typing import Any

from physnn import __version__
from physnn.bench.render import (
    Block,
    Bold,
    Num,
    count_text,
    mean_std_text,
    number_text,
    queries_text,
)
from physnn.bench.runs import (
    coincidences,
    mean_std,
    method_rank,
    run_field,
    run_meta,
    run_method,
    run_row,
    unique,
)

BOLD_RULE = (
    "Bold: the best mean of a row, only where it beats the runner-up by more than the larger of "
    "their two standard deviations; a cell over fewer than 2 seeds has no spread, and a row with "
    "one is never bold."
)
SIMULATION_ONLY_LABEL = "(simulation-only)"
RESULTS_NOTE = (
    "Test accuracy measured on the device, mean ± std over seeds (training device queries, "
    f"mean). {BOLD_RULE} A method whose result is its twin's accuracy (backprop, the digital "
    "reference) is compared in the next table. Parameter sweeps are excluded (see Robustness)."
)
SIMULATION_ONLY_NOTE = (
    f"{SIMULATION_ONLY_LABEL}: a method whose procedure no real device of this kind can run "
    "(`physnn list matrix`), so its device accuracy is a simulation's."
)
TWIN_NOTE = f"Test accuracy on the nominal twin, mean ± std over seeds. {BOLD_RULE}"

TARGET_FRACTION = 0.9
TARGET_NOTE = (
    "Training cost until the validation accuracy on the device first reaches the target: "
    f"{TARGET_FRACTION:.0%} of the best final validation accuracy (mean over seeds) of any method "
    "in the row. Per method: device queries and training wall time (epochs and their validation, "
    "without the twin fit), mean over the seeds that reached the target, and how many did; "
    "— where none did."
)


def _versions(done: list[dict]) -> str:
    recorded = [_environment(r["result"]) for r in done]
    physnn = unique(str(env["physnn"]) for env in recorded if "physnn" in env)
    torch = unique(str(env["torch"]) for env in recorded if "torch" in env)
    return f"physnn {', '.join(physnn) or 'unknown'}; torch {', '.join(torch) or 'unknown'}"


ENVIRONMENT = (("physnn", "physnn"), ("git commit", "git_commit"), ("Python", "python"),
               ("torch", "torch"), ("CPU", "cpu"), ("logical CPUs", "cpu_count"),
               ("torch threads per run", "threads"), ("platform", "platform"))  # fmt: skip


def _environment(result: dict) -> dict[str, Any]:
    """What a run recorded about where it ran (older runs: versions and threads only)."""
    resolved = result.get("resolved") or {}
    known = {"physnn": result.get("version"), "torch": resolved.get("torch"),
             "threads": resolved.get("threads")}  # fmt: skip
    return {k: v for k, v in (known | (result.get("environment") or {})).items() if v is not None}


def reproducibility_section(done: list[dict]) -> list[Block]:
    """The environment the runs recorded; what none recorded is taken now and labelled so."""
    from physnn.bench.runner import environment

    recorded = [_environment(r["result"]) for r in done]
    now: dict[str, Any] | None = None
    rows = []
    for label, field in ENVIRONMENT:
        values = Counter(str(env[field]) for env in recorded if field in env)
        if values:
            text = ", ".join(
                v if len(values) == 1 else f"{v} ({n} runs)" for v, n in values.items()
            )
            source = f"recorded by {values.total()} of {len(done)} runs"
        else:
            now = now or {"physnn": __version__, **environment()}
            text = str(now.get(field) or "unknown")
            source = "where this report was written (not recorded by the runs)"
        rows.append([label, text, source])
    return [("table", (["what", "value", "source"], rows))]


def header_section(records: list[dict], done: list[dict]) -> list[Block]:
    blocks: list[Block] = [("p", f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.")]
    if not records:
        return [*blocks, ("p", "There are no runs.")]
    counts = Counter(str(r.get("status")) for r in records)
    runs = ", ".join(f"{counts[s]} {s}" for s in unique(["done", "failed", "pending", *counts]))
    return [*blocks, ("p", f"{len(records)} runs: {runs}."), ("p", f"Versions: {_versions(done)}.")]


def results_section(plain: list[dict]) -> list[Block]:
    if not plain:
        return [("p", "No completed runs.")]
    return [*_device_table(plain), *_twin_table(plain)]


def _device_table(plain: list[dict]) -> list[Block]:
    """Device accuracy per method and row, with training device queries."""
    table, notes = _method_table(plain, "device_accuracy", queries=True)
    if any(SIMULATION_ONLY_LABEL in str(cell) for row in table[1] for cell in row):
        notes.append(SIMULATION_ONLY_NOTE)
    return [("p", RESULTS_NOTE), ("table", table), *(("p", note) for note in notes)]


def _twin_table(plain: list[dict]) -> list[Block]:
    """Twin accuracy per method and row."""
    table, notes = _method_table(plain, "twin_accuracy", queries=False)
    return [("p", TWIN_NOTE), ("table", table), *(("p", note) for note in notes)]


def _cells(runs: list[dict]) -> tuple[list[tuple], list[str], dict[tuple, list[dict]]]:
    """The rows (groups) and columns (methods) of a table of ``runs``, in order of first
    appearance, and the results of each (group, method) cell."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        cells[run_row(r), run_method(r)].append(r["result"])
    methods = sorted(unique(run_method(r) for r in runs), key=method_rank)
    return unique(run_row(r) for r in runs), methods, cells


def _per_seed(results: list[dict], metric: str) -> tuple[tuple[Any, float], ...]:
    """(seed, value) of each result, sorted: equal tuples are identical results."""
    return tuple(sorted((res.get("seed"), res[metric]) for res in results))


def _method_table(runs: list[dict], metric: str, *, queries: bool) -> tuple[tuple, list[str]]:
    """Rows (system/preset, dataset, gap), one column per method: mean ± std over seeds, bold by
    :data:`BOLD_RULE`; and notes naming the methods whose results coincide."""
    groups, methods, cells = _cells(runs)
    seeds = {key: _per_seed(results, metric) for key, results in cells.items()}
    rows = []
    for group in groups:
        found = [seeds.get((group, method), ()) for method in methods]
        bold = bold_cells(found)
        texts = []
        for i, (method, values) in enumerate(zip(methods, found, strict=True)):
            text = mean_std_text([value for _, value in values])
            if values and queries:
                text += queries_text(cells[group, method])
            if values and queries and _simulated(cells[group, method]):
                text += f" {SIMULATION_ONLY_LABEL}"
            texts.append(Bold(text) if i in bold else Num(text))
        rows.append([*group, *texts])
    by_row = {" · ".join(g): {m: seeds[g, m] for m in methods if (g, m) in seeds} for g in groups}
    return (["system/preset", "dataset", "gap", *methods], rows), coincidences(by_row)


@functools.cache
def _simulation_only() -> frozenset[tuple[str, str]]:
    """(method, system) of the pairs that ``physnn list matrix`` marks simulation-only."""
    from physnn.catalogue import catalogue

    return frozenset((method, system)
                     for method, systems in catalogue()["learning"].items()
                     for system, entry in systems.items()
                     if entry["status"] == "simulation-only")  # fmt: skip


def _simulated(results: list[dict]) -> bool:
    """Whether the results of a cell come from a simulation-only method × system pair."""
    return any((r.get("method"), r.get("system")) in _simulation_only() for r in results)


def bold_cells(cells: list[tuple[tuple[Any, float], ...]]) -> set[int]:
    """The cells to bold by :data:`BOLD_RULE` (identical results share their place)."""
    places: dict[tuple, list[int]] = defaultdict(list)
    for i, cell in enumerate(cells):
        if cell:
            places[cell].append(i)
    ranked = sorted(
        ((mean_std([value for _, value in cell]), where) for cell, where in places.items()),
        key=lambda place: -place[0][0],
    )
    if len(ranked) < 2:
        return set()
    ((best, best_std), winners), ((second, second_std), _) = ranked[:2]
    if best_std is None or second_std is None or best - second <= max(best_std, second_std):
        return set()
    return set(winners)


def reproduce_section(done: list[dict]) -> list[Block]:
    claims: dict[tuple, list[dict]] = defaultdict(list)
    for r in done:
        if rep := run_meta(r, "reproduce"):
            claims[rep["paper"], rep["claim"], rep["metric"]].append(r)
    rows = []
    for (paper, claim, metric), runs in claims.items():
        rep = run_meta(runs[0], "reproduce")
        values = [r["result"][metric] for r in runs if metric in r["result"]]
        ours = statistics.fmean(values) if values else math.nan
        if "reported" not in rep:
            rows.append([paper, claim, metric, "not published", Num(number_text(ours)), "", "",
                         "— ours only", Num(len(values))])  # fmt: skip
            continue
        diff, tolerance = ours - rep["reported"], rep["tolerance"]
        verdict = "✓ within" if abs(diff) <= tolerance + 1e-12 else "✗ outside"
        verdict += " (ours higher)" if diff > 0 else ""
        rows.append([paper, claim, metric, Num(number_text(rep["reported"])),
                     Num(number_text(ours)), Num(f"{diff:+.4f}"), Num(f"{tolerance:g}"), verdict,
                     Num(len(values))])  # fmt: skip
    headers = ["paper", "claim", "metric", "reported", "ours", "difference", "tolerance",
               "verdict", "seeds"]  # fmt: skip
    note = "Ours: mean over seeds; within: |ours − reported| ≤ tolerance."
    return [("p", note), ("table", (headers, rows))] if rows else []


def gradcheck_section(records: list[dict]) -> list[Block]:
    """Cosine and relative error to the true gradient per (method, system, gap), methods in
    their fixed order; notes name the methods whose gradients coincide."""
    checks: dict[tuple, list[dict]] = defaultdict(list)
    by_row: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(records, key=lambda record: method_rank(run_method(record))):
        if check := run_meta(r, "gradcheck"):
            method, (system, _, gap) = run_method(r), run_row(r)
            checks[method, system, gap].append(check)
            by_row[f"{system} · {gap}"][method].append((run_field(r, "seed"), *check.values()))
    theory = any("expected_cosine" in c for found in checks.values() for c in found)
    rows = [
        [*key, Num(mean_std_text([c["cosine"] for c in found])),
         *([Num(mean_std_text([c["expected_cosine"] for c in found if "expected_cosine" in c]))]
           if theory else []),
         Num(mean_std_text([c["relative_error"] for c in found])), Num(len(found))]
        for key, found in checks.items()
    ]  # fmt: skip
    headers = ["method", "system", "gap", "cosine", *(["theory"] if theory else [])]
    headers += ["relative error", "runs"]
    note = "Against the exact gradient on the device at the initial controls; mean ± std over runs."
    if theory:
        note += (
            " Theory: the mean cosine of the same random probes on an ideal device (noise-free, "
            "infinitesimal step), where the method states one."
        )
    same = coincidences({row: {m: tuple(sorted(v)) for m, v in found.items()}
                          for row, found in by_row.items()})  # fmt: skip
    return [("p", note), ("table", (headers, rows)), *(("p", n) for n in same)] if rows else []


def failures_section(records: list[dict]) -> list[Block]:
    rows = [
        [str(r.get("entry", "")), str(r.get("key", "")), str(r.get("attempts", "")),
         (str(r.get("error") or "").strip().splitlines() or ["—"])[0][:300]]
        for r in records
        if r.get("status") == "failed"
    ]  # fmt: skip
    return [("table", (["entry", "key", "attempts", "error (first line)"], rows))] if rows else []


def cost_section(plain: list[dict]) -> list[Block]:
    """Rows (system/preset, dataset, gap), one column per method: what reaching the target took."""
    groups, methods, cells = _cells([r for r in plain if r["result"].get("history")])
    histories = {key: [res["history"] for res in results] for key, results in cells.items()}
    rows = []
    for group in groups:
        finals = [
            statistics.fmean(h[-1]["val_device_accuracy"] for h in found)
            for method in methods
            if (found := histories.get((group, method)))
        ]
        target = TARGET_FRACTION * max(finals)
        texts = [Num(_cost_cell(histories.get((group, m), []), target)) for m in methods]
        rows.append([*group, Num(f"{target:.3f}"), *texts])
    headers = ["system/preset", "dataset", "gap", "target", *methods]
    return [("p", TARGET_NOTE), ("table", (headers, rows))] if rows else []


def _cost_cell(histories: list[list[dict]], target: float) -> str:
    """ "Q queries, T s (k/n)" to the first epoch at or above ``target``; "" without runs."""
    if not histories:
        return ""
    reached = []
    for history in histories:
        for i, row in enumerate(history):
            if row["val_device_accuracy"] >= target:
                seconds = sum(r.get("epoch_seconds", 0.0) for r in history[: i + 1])
                reached.append((row.get("device_queries", 0), seconds))
                break
    if not reached:
        return f"— (0/{len(histories)})"
    queries = statistics.fmean(q for q, _ in reached)
    seconds = statistics.fmean(t for _, t in reached)
    return f"{count_text(queries)} queries, {seconds:.1f} s ({len(reached)}/{len(histories)})"
