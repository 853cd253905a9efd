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


PROCEDURES_NOTE = (
    "Per substrate and gap, each method's test accuracy on the device and on its nominal twin "
    "(mean ± std over seeds), and what training cost the device: queries (each physical pass of "
    "a sample counts one), control writes, values written (controls changed, summed over the "
    "writes) and, where the method fires update pulses on the device itself, the pulses; the "
    "gradient's cosine to the exact device gradient at the initial controls where the run "
    f"checked it. {BOLD_RULE}"
)


@functools.cache
def _physical_methods() -> frozenset[str]:
    """The methods whose credit assignment runs on the device: a physical gradient procedure
    or relaxations of an energy-based device."""
    from physnn.catalogue import catalogue

    return frozenset(m["name"] for m in catalogue()["methods"]
                     if m["requirements"].get("gradient_procedure")
                     or m["requirements"].get("energy_based"))  # fmt: skip


def procedures_section(plain: list[dict], *, always: bool = True) -> list[Block]:
    """One row per (system/preset, gap, method): device and twin accuracy, the device's
    training operations and the gradient check (the table of ``physnn bench physical``); in a
    report (``always=False``) only where a method's credit assignment runs on the device."""
    if not always and not any(run_field(r, "method") in _physical_methods() for r in plain):
        return []
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in plain:
        (system, _, gap), method = run_row(r), run_method(r)
        cells[system, gap, method].append(r)
    rows = []
    for system, gap in unique((s, g) for s, g, _ in cells):
        methods = sorted((m for s, g, m in cells if (s, g) == (system, gap)), key=method_rank)
        found = [_per_seed([r["result"] for r in cells[system, gap, m]], "device_accuracy")
                 for m in methods]  # fmt: skip
        bold = bold_cells(found)
        for i, (method, seeds) in enumerate(zip(methods, found, strict=True)):
            runs = cells[system, gap, method]
            device = mean_std_text([value for _, value in seeds])
            rows.append([system, gap, method, Bold(device) if i in bold else Num(device),
                         *_operation_cells(runs)])  # fmt: skip
    headers = ["system/preset", "gap", "method", "device accuracy", "twin accuracy",
               "queries", "writes", "values written", "pulses", "gradient cosine"]  # fmt: skip
    return [("p", PROCEDURES_NOTE), ("table", (headers, rows))] if rows else []


def _operation_cells(runs: list[dict]) -> list[Num]:
    """Twin accuracy, mean training queries, writes, values written and pulses, and the mean
    gradient cosine of ``runs`` ("—" where none has it)."""
    results = [r["result"] for r in runs]

    def mean_count(field: str) -> str:
        values = [total for res in results if (total := _run_total(res, field)) is not None]
        return count_text(statistics.fmean(values)) if values else "—"

    cosines = [check["cosine"] for r in runs if (check := run_meta(r, "gradcheck"))]
    twin = mean_std_text([res["twin_accuracy"] for res in results if "twin_accuracy" in res])
    counts = [mean_count(f) for f in ("device_queries", "param_writes", "values_written", "pulses")]
    return [Num(twin), *map(Num, counts), Num(mean_std_text(cosines))]


def _run_total(result: dict, field: str) -> float | None:
    """A count of a run's training: its result's ``field``, else the sum of the epochs' (a
    method's own figure, such as the pulses ``analog-sgd`` fires); None where neither has it."""
    if result.get(field) is not None:
        return result[field]
    per_epoch = [row[field] for row in result.get("history") or [] if field in row]
    return sum(per_epoch) if per_epoch else None
