"""Benchmark report: ``report.md`` and a self-contained ``index.html`` with tables and PNG plots.

Only runs with status ``done`` enter the tables and plots; the others are counted and failures
listed. Both files are rendered from one list of sections, so they always show the same things.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import html
import itertools
import math
import os
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

from physnn import __version__
from physnn.model_spec import substrate_label

# One colour and one marker per method in every figure: the reference methods always take the
# first four, other methods the next ones in alphabetical order (see _styles).
REFERENCE_METHODS = ("backprop", "insilico", "noise-aware", "pat")
COLORS = ("#000000", "#0072B2", "#009E73", "#D55E00", "#E69F00", "#56B4E9", "#CC79A7",
          "#8C564B", "#BCBD22", "#7F7F7F")  # Okabe-Ito (colour-blind safe), then tab10  # fmt: skip
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
CONTEXT_STYLES = ("-", "--", "-.", ":")  # sweep lines of one method on several systems/datasets
NO_QUERIES = (0, (6, 3))  # the horizontal line of a method without device queries
OVERLAID = (0, (2, 2))  # a line identical to one drawn before: dotted, on top, hollow markers
CSS = """body{font-family:system-ui,sans-serif;max-width:90rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.92rem;
font-variant-numeric:tabular-nums}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;
vertical-align:top}td.num{white-space:nowrap}thead th{background:#eee}
tbody tr:nth-child(even){background:#f8f8f8}img{max-width:100%}.wide{overflow-x:auto}
figcaption{font-size:.9rem;color:#444}pre{background:#f4f4f4;padding:.75rem}
@media print{body{max-width:none;margin:0}table,figure,pre{break-inside:avoid}
thead{display:table-header-group}tbody tr:nth-child(even){background:none}}"""
BOLD_RULE = (
    "Bold: the best mean of a row, only where it beats the runner-up by more than the larger of "
    "their two standard deviations; a cell over fewer than 2 seeds has no spread, and a row with "
    "one is never bold."
)
RESULTS_NOTE = (
    "Test accuracy measured on the device, mean ± std over seeds (training device queries, "
    f"mean). {BOLD_RULE} A method whose result is its twin's accuracy (backprop, the digital "
    "reference) is compared in the next table. Parameter sweeps are excluded (see Robustness)."
)
TWIN_NOTE = f"Test accuracy on the nominal twin, mean ± std over seeds. {BOLD_RULE}"
CURVES_NOTE = (
    "Validation accuracy on the device vs cumulative training device queries, mean over seeds; "
    "methods without device queries are dashed horizontal lines at their final accuracy "
    "(a group in which no method queries the device is plotted vs epoch). A line identical to "
    "another is drawn dotted on top of it, with hollow markers."
)
SWEEP_NOTE = (
    "Test accuracy on the device vs the swept parameter, mean over seeds, with a ± std band "
    "where every point has 2 seeds or more; the table below each plot gives the numbers."
)


TARGET_FRACTION = 0.9
TARGET_NOTE = (
    "Training cost until the validation accuracy on the device first reaches the target: "
    f"{TARGET_FRACTION:.0%} of the best final validation accuracy (mean over seeds) of any method "
    "in the row. Per method: device queries and training wall time (epochs and their validation, "
    "without the twin fit), mean over the seeds that reached the target, and how many did; "
    "— where none did."
)


class Num(str):
    """A table cell of numbers: never wrapped in HTML."""


class Bold(Num):
    """A table cell of numbers shown in bold."""


# ("p", text) | ("table", (headers, rows)) | ("img", (file name, caption)) | ("code", text)
Block = tuple[str, Any]


def write_report(
    records: list[dict],
    report_dir: str | os.PathLike,
    *,
    title: str = "physnn benchmark",
    commands: list[str] | None = None,
) -> dict[str, Path]:
    """Write ``report.md``, ``index.html`` and the PNG plots into ``report_dir`` (created).

    Returns ``{"markdown": path, "html": path, "plots": [paths]}``.
    """
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = _done(records)
    plain = _plain(done)
    styles = _styles(_method(r) for r in done)
    taken: set[str] = set()
    with matplotlib.rc_context({"font.size": 10}):  # ticks and legends ≥ 9 pt
        curves = _learning_section(plain, out, taken, styles)
        sweeps = _sweep_section(done, styles, (out, taken))
    code: list[Block] = [("code", "\n".join(commands))] if commands else []
    sections = [
        ("", _header(records, done)),
        ("Results", _results(plain)),
        ("Learning curves", curves),
        ("Cost to reach a target accuracy", _cost_to_target(plain)),
        ("Robustness", sweeps),
        ("Reproduced claims", _reproduce(done)),
        ("Gradient quality", _gradcheck(records)),
        ("Failures", _failures(records)),
        ("Reproducibility", [*code, *_reproducibility(done)]),
    ]
    sections = [s for s in sections if s[1]]
    markdown, page = out / "report.md", out / "index.html"
    markdown.write_text(_markdown(title, sections), encoding="utf-8")
    page.write_text(_html(title, sections, out), encoding="utf-8")
    plots = [out / body[0] for _, blocks in sections for kind, body in blocks if kind == "img"]
    return {"markdown": markdown, "html": page, "plots": plots}


def markdown_tables(name: str, records: list[dict]) -> str:
    """The Markdown of one part of the report (a key of :data:`DOC_TABLES`) for ``records``,
    made by the same code as in ``report.md``: for tables in the docs that cannot drift."""
    blocks = DOC_TABLES[name](_done(records))
    return "\n\n".join("\n".join(_md_block(kind, body)) for kind, body in blocks)


def _done(records: list[dict]) -> list[dict]:
    """The runs with a result: the only ones in the tables and plots."""
    return [r for r in records if r.get("status") == "done" and r.get("result")]


def _plain(done: list[dict]) -> list[dict]:
    """The runs that are not part of a parameter sweep."""
    return [r for r in done if not _meta(r, "sweep")]


def _get(record: dict, name: str) -> Any:
    """A run field from its result, falling back to its configuration."""
    result = record.get("result") or {}
    return result[name] if name in result else (record.get("config") or {}).get(name)


def _meta(record: dict, name: str) -> Any:
    return (record.get("meta") or {}).get(name)


def _group(record: dict) -> tuple[str, str, str]:
    """(system/preset, dataset, gap): the rows of the tables and the learning-curve plots; runs
    of a system with other options are other rows."""
    config = record.get("config") or {}
    system = substrate_label(config.get("system"), config.get("preset"), config.get("model", "pnn"))
    system += _options(_get(record, "system_options"))
    return system, str(_get(record, "dataset")), str(_get(record, "gap"))


def _method(record: dict) -> str:
    """The method's name, with its options when it has some: the columns of the tables."""
    return f"{_get(record, 'method')}{_options(_get(record, 'method_options'))}"


def _options(options: dict | None) -> str:
    """The label suffix " (k=v, …)" of a table of options; "" for none."""
    if not options:
        return ""
    return " (" + ", ".join(f"{key}={value}" for key, value in sorted(options.items())) + ")"


def _rank(method: str) -> tuple[int, str]:
    """The fixed order of methods (labels with options, "pat (lr=0.1)") in tables and legends:
    the reference methods, then the others alphabetically."""
    name = method.split(" (")[0]
    known = name in REFERENCE_METHODS
    return (REFERENCE_METHODS.index(name) if known else len(REFERENCE_METHODS), method)


def _styles(methods: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) of each method, the same in every figure: a reference method always
    takes its own of the first four (the first of its labels, if it has several with other
    options); other methods and labels the next ones, in :func:`_rank` order."""
    slots: dict[str, int] = {}
    others = []
    for method in sorted(set(methods), key=_rank):
        rank = _rank(method)[0]
        if rank < len(REFERENCE_METHODS) and rank not in slots.values():
            slots[method] = rank
        else:
            others.append(method)
    slots |= {method: len(REFERENCE_METHODS) + i for i, method in enumerate(others)}
    return {m: (COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]) for m, i in slots.items()}


def _names(names: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _coincidences(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Notes naming the methods whose results (per seed, in ``rows[row][method]``) are
    identical: on every row where both have runs, or only in the rows named."""
    same: dict[tuple[str, str], list[str]] = defaultdict(list)
    shared: Counter[tuple[str, str]] = Counter()
    for row, by_method in rows.items():
        for pair in itertools.combinations(sorted(by_method, key=_rank), 2):
            shared[pair] += 1
            if by_method[pair[0]] == by_method[pair[1]]:
                same[pair].append(row)
    components: dict[tuple[str, ...], list[set[str]]] = defaultdict(list)
    for pair, where in same.items():  # methods identical to each other in the same rows
        key = () if len(where) == shared[pair] else tuple(where)
        joined = [c for c in components[key] if c & set(pair)]
        rest = [c for c in components[key] if not c & set(pair)]
        components[key] = [*rest, set(pair).union(*joined)]
    return [
        f"{_names(sorted(methods, key=_rank))} coincide"
        + (f" in the row{'s' * (len(where) > 1)} {'; '.join(where)}" if where else "")
        + " (identical results on every seed)."
        for where, found in components.items()
        for methods in found
    ]


def _unique(items: Iterable[Any]) -> list[Any]:
    """The distinct items in order of first appearance."""
    return list(dict.fromkeys(items))


def _mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None below two values)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) >= 2 else None


def _fmt(values: list[float]) -> str:
    if not values:
        return "—"
    mean, std = _mean_std(values)
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _num(value: float) -> str:
    return _count(value) if abs(value) >= 100 else f"{value:.4f}"


def _count(value: float) -> str:
    """A whole number in groups of thousands split by a narrow no-break space: 18 885."""
    return f"{value:,.0f}".replace(",", "\N{NARROW NO-BREAK SPACE}")


def _versions(done: list[dict]) -> str:
    physnn = _unique(str(r["result"]["version"]) for r in done if r["result"].get("version"))
    torch = _unique(str(v) for r in done if (v := (r["result"].get("resolved") or {}).get("torch")))
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


def _reproducibility(done: list[dict]) -> list[Block]:
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


def _header(records: list[dict], done: list[dict]) -> list[Block]:
    blocks: list[Block] = [("p", f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.")]
    if not records:
        return [*blocks, ("p", "There are no runs.")]
    counts = Counter(str(r.get("status")) for r in records)
    runs = ", ".join(f"{counts[s]} {s}" for s in _unique(["done", "failed", "pending", *counts]))
    return [*blocks, ("p", f"{len(records)} runs: {runs}."), ("p", f"Versions: {_versions(done)}.")]


def _results(plain: list[dict]) -> list[Block]:
    if not plain:
        return [("p", "No completed runs.")]
    return [*_device_table(plain), *_twin_table(plain)]


def _device_table(plain: list[dict]) -> list[Block]:
    """Device accuracy per method and row, with training device queries."""
    table, notes = _method_table(plain, "device_accuracy", queries=True)
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
        cells[_group(r), _method(r)].append(r["result"])
    methods = sorted(_unique(_method(r) for r in runs), key=_rank)
    return _unique(_group(r) for r in runs), methods, cells


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
        bold = _bold(found)
        texts = []
        for i, (method, values) in enumerate(zip(methods, found, strict=True)):
            text = _fmt([value for _, value in values])
            if values and queries:
                mean_queries = statistics.fmean(
                    r.get("device_queries", 0) for r in cells[group, method]
                )
                text += f" ({_count(mean_queries)} queries)"
            texts.append(Bold(text) if i in bold else Num(text))
        rows.append([*group, *texts])
    by_row = {" · ".join(g): {m: seeds[g, m] for m in methods if (g, m) in seeds} for g in groups}
    return (["system/preset", "dataset", "gap", *methods], rows), _coincidences(by_row)


def _bold(cells: list[tuple[tuple[Any, float], ...]]) -> set[int]:
    """The cells to bold by :data:`BOLD_RULE` (identical results share their place)."""
    places: dict[tuple, list[int]] = defaultdict(list)
    for i, cell in enumerate(cells):
        if cell:
            places[cell].append(i)
    ranked = sorted(
        ((_mean_std([value for _, value in cell]), where) for cell, where in places.items()),
        key=lambda place: -place[0][0],
    )
    if len(ranked) < 2:
        return set()
    ((best, best_std), winners), ((second, second_std), _) = ranked[:2]
    if best_std is None or second_std is None or best - second <= max(best_std, second_std):
        return set()
    return set(winners)


def _reproduce(done: list[dict]) -> list[Block]:
    claims: dict[tuple, list[dict]] = defaultdict(list)
    for r in done:
        if rep := _meta(r, "reproduce"):
            claims[rep["paper"], rep["claim"], rep["metric"]].append(r)
    rows = []
    for (paper, claim, metric), runs in claims.items():
        rep = _meta(runs[0], "reproduce")
        values = [r["result"][metric] for r in runs if metric in r["result"]]
        ours = statistics.fmean(values) if values else math.nan
        if "reported" not in rep:
            rows.append([paper, claim, metric, "not published", Num(_num(ours)), "", "",
                         "— ours only", Num(len(values))])  # fmt: skip
            continue
        diff, tolerance = ours - rep["reported"], rep["tolerance"]
        verdict = "✓ within" if abs(diff) <= tolerance + 1e-12 else "✗ outside"
        verdict += " (ours higher)" if diff > 0 else ""
        rows.append([paper, claim, metric, Num(_num(rep["reported"])), Num(_num(ours)),
                     Num(f"{diff:+.4f}"), Num(f"{tolerance:g}"), verdict,
                     Num(len(values))])  # fmt: skip
    headers = ["paper", "claim", "metric", "reported", "ours", "difference", "tolerance",
               "verdict", "seeds"]  # fmt: skip
    note = "Ours: mean over seeds; within: |ours − reported| ≤ tolerance."
    return [("p", note), ("table", (headers, rows))] if rows else []


def _gradcheck(records: list[dict]) -> list[Block]:
    """Cosine and relative error to the true gradient per (method, system, gap), methods in
    their fixed order; notes name the methods whose gradients coincide."""
    checks: dict[tuple, list[dict]] = defaultdict(list)
    by_row: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(records, key=lambda record: _rank(_method(record))):
        if check := _meta(r, "gradcheck"):
            method, (system, _, gap) = _method(r), _group(r)
            checks[method, system, gap].append(check)
            by_row[f"{system} · {gap}"][method].append((_get(r, "seed"), *check.values()))
    rows = [
        [*key, Num(_fmt([c["cosine"] for c in found])),
         Num(_fmt([c["relative_error"] for c in found])), Num(len(found))]
        for key, found in checks.items()
    ]  # fmt: skip
    headers = ["method", "system", "gap", "cosine", "relative error", "runs"]
    note = "Against the exact gradient on the device at the initial controls; mean ± std over runs."
    same = _coincidences({row: {m: tuple(sorted(v)) for m, v in found.items()}
                          for row, found in by_row.items()})  # fmt: skip
    return [("p", note), ("table", (headers, rows)), *(("p", n) for n in same)] if rows else []


def _failures(records: list[dict]) -> list[Block]:
    rows = [
        [str(r.get("entry", "")), str(r.get("key", "")), str(r.get("attempts", "")),
         (str(r.get("error") or "").strip().splitlines() or ["—"])[0][:300]]
        for r in records
        if r.get("status") == "failed"
    ]  # fmt: skip
    return [("table", (["entry", "key", "attempts", "error (first line)"], rows))] if rows else []


def _learning_section(
    plain: list[dict], out: Path, taken: set[str], styles: dict[str, tuple[str, str]]
) -> list[Block]:
    """One plot per (system/preset, dataset, gap), one line per method."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in plain:
        if r["result"].get("history"):
            groups[_group(r)][_method(r)].append(r["result"])
    blocks: list[Block] = [("p", CURVES_NOTE)] if groups else []
    for group, by_method in groups.items():
        title = f"{group[0]} · {group[1]} · gap {group[2]}"
        name = _png_name(f"curve {' '.join(group)}", taken)
        lines, xlabel = _learning_lines(by_method)
        with _figure(out / name, title, xlabel, "validation accuracy on the device") as ax:
            ax.xaxis.get_major_locator().set_params(integer=True)
            _draw(ax, lines, styles)
        seeds = _seeds(len(results) for results in by_method.values())
        blocks.append(("img", (name, f"Learning curves: {title} ({seeds})")))
        blocks += [("p", note) for note in _line_notes(lines)]
    return blocks


def _cost_to_target(plain: list[dict]) -> list[Block]:
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
    return f"{_count(queries)} queries, {seconds:.1f} s ({len(reached)}/{len(histories)})"


def _curve(results: list[dict], x_key: str) -> tuple[list[float], list[float]]:
    """Per-epoch mean over seeds of (x_key, val_device_accuracy), up to the shortest history."""
    n = min(len(res["history"]) for res in results)
    epochs = [[res["history"][i] for res in results] for i in range(n)]
    xs = [statistics.fmean(row[x_key] for row in rows) for rows in epochs]
    return xs, [statistics.fmean(row["val_device_accuracy"] for row in rows) for rows in epochs]


@dataclasses.dataclass
class _Line:
    """One line of a figure; equal ``data`` (the per-seed results it is drawn from) means an
    identical line. Its legend is ``label`` and, in parentheses, ``tags``."""

    method: str
    label: str
    xs: list[float]
    ys: list[float]
    data: tuple
    linestyle: Any = "-"
    band: tuple[list[float], list[float]] | None = None
    tags: tuple[str, ...] = ()

    def legend(self, *more: str) -> str:
        tags = (*self.tags, *more)
        return f"{self.label} ({', '.join(tags)})" if tags else self.label


def _learning_lines(by_method: dict[str, list[dict]]) -> tuple[list[_Line], str]:
    """Accuracy vs device queries (vs epoch when no method of the group queries the device);
    a method without queries is a dashed horizontal line at its final accuracy. Also returns
    the x label."""
    curves = {m: _curve(res, "device_queries") for m, res in by_method.items()}
    by_queries = any(xs[-1] > 0 for xs, _ in curves.values())
    if not by_queries:
        curves = {m: _curve(res, "epoch") for m, res in by_method.items()}
    xmax = max(xs[-1] for xs, _ in curves.values())
    lines = []
    for method, (xs, ys) in curves.items():
        data = tuple(sorted(
            (res.get("seed"), tuple((row.get("device_queries", 0), row["val_device_accuracy"])
                                    for row in res["history"]))
            for res in by_method[method]
        ))  # fmt: skip
        line = _Line(method, method, xs, ys, data)
        if by_queries and xs[-1] == 0:
            line.xs, line.ys = [xmax * k / 5 for k in range(6)], [ys[-1]] * 6
            line.tags, line.linestyle = ("no queries",), NO_QUERIES
        lines.append(line)
    return lines, "training device queries (cumulative)" if by_queries else "epoch"


def _draw(ax: Any, lines: list[_Line], styles: dict[str, tuple[str, str]]) -> None:
    """Draw ``lines`` in the fixed method order, each in its method's colour and marker; a line
    identical to one drawn before goes on top of it, dotted, with hollow larger markers."""
    first: dict[tuple, _Line] = {}
    for line in sorted(lines, key=lambda item: (_rank(item.method), item.label)):
        color, marker = styles[line.method]
        under = first.setdefault(line.data, line)
        style: dict[str, Any] = {"linestyle": line.linestyle, "label": line.legend()}
        if under is not line:
            style = {"linestyle": OVERLAID, "markerfacecolor": "none", "markersize": 10,
                     "markeredgewidth": 1.5, "zorder": 3,
                     "label": line.legend(f"= {under.label}")}  # fmt: skip
        ax.plot(line.xs, line.ys, color=color, marker=marker, **style)
        if line.band:
            ax.fill_between(line.xs, *line.band, color=color, alpha=0.15, linewidth=0)


def _line_notes(lines: list[_Line]) -> list[str]:
    """Notes naming the methods whose lines are identical (the same per-seed results)."""
    return _coincidences({"": {line.label: line.data for line in lines}})


def _seeds(counts: Iterable[int]) -> str:
    """ "1 seed", "3 seeds", "2–3 seeds": how many runs went into each point."""
    low, high = min(counts := list(counts)), max(counts)
    return f"{low} seed" if high == low == 1 else f"{low}{f'–{high}' * (high > low)} seeds"


def _sweep_section(
    done: list[dict], styles: dict[str, tuple[str, str]], plots: tuple[Path, set[str]] | None
) -> list[Block]:
    """Per swept parameter: a plot (into the folder of ``plots``, under a name not among its
    taken ones; none if None) and a table of the numbers."""
    sweeps: dict[str, list[dict]] = defaultdict(list)
    for r in done:
        if sweep := _meta(r, "sweep"):
            sweeps[str(sweep["parameter"])].append(r)
    blocks: list[Block] = [("p", SWEEP_NOTE)] if sweeps and plots else []
    for parameter, runs in sweeps.items():
        label = str(_meta(runs[0], "sweep").get("label") or parameter)
        points = _sweep_points(runs)
        lines = _sweep_lines(points)
        seeds = _seeds(len(found) for by_value in points.values() for found in by_value.values())
        no_band = ", no band" if all(line.band is None for line in lines) else ""
        caption = f"Robustness: {label} ({seeds}{no_band})"
        if plots:
            name = _png_name(f"sweep {parameter}", plots[1])
            _sweep_plot(plots[0] / name, label, lines, styles)
            blocks.append(("img", (name, caption)))
        else:
            blocks.append(("p", caption + "."))
        blocks += [("p", note) for note in _line_notes(lines)]
        blocks.append(("table", _sweep_table(label, points)))
    return blocks


Points = dict[tuple[str, str], dict[float, list[tuple[Any, float]]]]


def _sweep_points(runs: list[dict]) -> Points:
    """(seed, device accuracy) per (method, system/dataset when they vary) and swept value."""
    several = len({_group(r)[:2] for r in runs}) > 1
    points: Points = defaultdict(lambda: defaultdict(list))
    for r in runs:
        context = ", ".join(_group(r)[:2]) if several else ""
        value = float(_meta(r, "sweep")["value"])
        points[_method(r), context][value].append((_get(r, "seed"), r["result"]["device_accuracy"]))
    return dict(sorted(points.items(), key=lambda item: (_rank(item[0][0]), item[0][1])))


def _sweep_lines(points: Points) -> list[_Line]:
    """One line per (method, context): mean over seeds, a ± std band where every point has
    2 seeds or more."""
    contexts = _unique(context for _, context in points)
    lines = []
    for (method, context), by_value in points.items():
        xs = sorted(by_value)
        stats = [_mean_std([value for _, value in by_value[x]]) for x in xs]
        ys = [mean for mean, _ in stats]
        band = None
        if all(std is not None for _, std in stats):
            band = ([m - (s or 0.0) for m, s in stats], [m + (s or 0.0) for m, s in stats])
        data = tuple((x, tuple(sorted(by_value[x]))) for x in xs)
        style = CONTEXT_STYLES[contexts.index(context) % len(CONTEXT_STYLES)]
        label = f"{method} ({context})" if context else method
        lines.append(_Line(method, label, xs, ys, data, style, band))
    return lines


def _sweep_table(label: str, points: Points) -> tuple[list[str], list[list[str]]]:
    """Rows: the swept values; columns: the lines; cells: mean ± std over seeds."""
    values = sorted({value for by_value in points.values() for value in by_value})
    names = [f"{m} ({c})" if c else m for m, c in points]
    rows = [
        [Num(_value(value)), *(Num(_fmt([acc for _, acc in by_value.get(value, [])]))
                              for by_value in points.values())]
        for value in values
    ]  # fmt: skip
    return [label, *names], rows


def _value(value: float) -> str:
    """A swept value as written in a suite: 0.25, 1000, 1e4, 2.5e6."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _sweep_plot(
    path: Path, label: str, lines: list[_Line], styles: dict[str, tuple[str, str]]
) -> None:
    """The lines of a sweep, on a log axis when the values span decades, zoomed when narrow."""
    values = [x for line in lines for x in line.xs]
    lows = [y for line in lines for y in (line.band[0] if line.band else line.ys)]
    highs = [y for line in lines for y in (line.band[1] if line.band else line.ys)]
    with _figure(path, f"Robustness: {label}", label, "test accuracy on the device") as ax:
        _draw(ax, lines, styles)
        if min(values) > 0 and max(values) >= 100 * min(values):  # decades: 1 s … 1 year
            ax.set_xscale("log")
        low, high = min(lows), max(highs)
        if high - low < 0.2:  # a narrow band: zoom in, or every curve looks flat
            ax.set_ylim(max(low - 0.02, 0.0), min(high + 0.02, 1.02))


# The parts of the report that docs can hold (see physnn.bench.docs), from the runs with a result
DOC_TABLES: dict[str, Callable[[list[dict]], list[Block]]] = {
    "results": lambda done: _results(_plain(done)),
    "cost": lambda done: _cost_to_target(_plain(done)),
    "robustness": lambda done: _sweep_section(done, {}, None),
    "gradient": _gradcheck,
    "reproduce": _reproduce,
}


@contextlib.contextmanager
def _figure(path: Path, title: str, xlabel: str, ylabel: str) -> Iterator[Any]:
    """Axes to draw on (Agg canvas, no pyplot state); saved with a legend to ``path`` on exit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02))
    ax.grid(alpha=0.3)
    yield ax
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    fig.savefig(path, dpi=120)


def _png_name(text: str, taken: set[str]) -> str:
    """A file name of [a-z0-9-_] and ``.png`` only, unique among ``taken``."""
    base = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "plot"
    candidates = itertools.chain([base], (f"{base}-{i}" for i in itertools.count(2)))
    name = next(n for n in candidates if n not in taken)
    taken.add(name)
    return f"{name}.png"


def _md(text: Any) -> str:
    """Markdown text on one line, with the characters that would change its meaning escaped."""
    return re.sub(r"([\\|<>`*])", r"\\\1", " ".join(str(text).split()))


def _markdown(title: str, sections: list[tuple[str, list[Block]]]) -> str:
    lines = [f"# {_md(title)}", ""]
    for heading, blocks in sections:
        lines += [f"## {_md(heading)}", ""] if heading else []
        for kind, body in blocks:
            lines += [*_md_block(kind, body), ""]
    return "\n".join(lines)


def _md_block(kind: str, body: Any) -> list[str]:
    if kind == "code":
        return ["```", body, "```"]
    if kind == "img":
        return [f"![{_md(body[1])}]({body[0]})"]
    if kind == "table":
        headers, rows = body
        lines = ["| " + " | ".join(map(_md, headers)) + " |", "|" + "---|" * len(headers)]
        cells = ((f"**{_md(c)}**" if isinstance(c, Bold) else _md(c) for c in row) for row in rows)
        return lines + ["| " + " | ".join(row) + " |" for row in cells]
    return [_md(body)]


def _html(title: str, sections: list[tuple[str, list[Block]]], out: Path) -> str:
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, blocks in sections:
        parts += [f"<h2>{html.escape(heading)}</h2>"] if heading else []
        parts += [_html_block(kind, body, out) for kind, body in blocks]
    head = f'<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n<style>{CSS}</style>'
    body = "\n".join(parts)
    return f'<!DOCTYPE html>\n<html lang="en"><head>{head}</head>\n<body>\n{body}\n</body></html>\n'


def _html_block(kind: str, body: Any, out: Path) -> str:
    if kind == "code":
        return f"<pre><code>{html.escape(body)}</code></pre>"
    if kind == "img":
        data = base64.b64encode((out / body[0]).read_bytes()).decode("ascii")
        caption = html.escape(body[1])
        image = f'<img alt="{caption}" src="data:image/png;base64,{data}">'
        return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"
    if kind == "table":
        headers, rows = body
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        rows_html = "".join("<tr>" + "".join(map(_html_cell, row)) + "</tr>" for row in rows)
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"
        return f'<div class="wide">{table}</div>'  # scrolls, not the page, when too wide
    return f"<p>{html.escape(body)}</p>"


def _html_cell(text: str) -> str:
    inner = f"<strong>{html.escape(text)}</strong>" if isinstance(text, Bold) else html.escape(text)
    return f'<td class="num">{inner}</td>' if isinstance(text, Num) else f"<td>{inner}</td>"
