"""Benchmark report: ``report.md`` and a self-contained ``index.html`` with tables and PNG plots.

Only runs with status ``done`` enter the tables and plots; the others are counted and failures
listed. Both files are rendered from one list of sections, so they always show the same things.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import html
import itertools
import math
import os
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import matplotlib

from physnn.model_spec import substrate_label

STYLES = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-"), ("P", "--"), ("X", "-.")]
DASHES = [(0, (6, 3)), (0, (2, 2)), (0, (8, 3, 2, 3)), (0, (12, 4))]
CSS = """body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.92rem;
font-variant-numeric:tabular-nums}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;
vertical-align:top}thead th{background:#eee}tbody tr:nth-child(even){background:#f8f8f8}
img{max-width:100%}figcaption{font-size:.9rem;color:#444}pre{background:#f4f4f4;padding:.75rem}
@media print{body{max-width:none;margin:0}table,figure,pre{break-inside:avoid}
thead{display:table-header-group}tbody tr:nth-child(even){background:none}}"""
RESULTS_NOTE = (
    "Test accuracy measured on the device, mean ± std over seeds (training device queries, "
    "mean); the best method per row is bold. A method whose result is its twin's accuracy "
    "(backprop, the digital reference) is compared in the next table. Parameter sweeps are "
    "excluded (see Robustness)."
)
CURVES_NOTE = (
    "Validation accuracy on the device vs cumulative training device queries, mean over seeds; "
    "methods without device queries are dashed horizontal lines at their final accuracy "
    "(a group in which no method queries the device is plotted vs epoch)."
)


TARGET_FRACTION = 0.9
TARGET_NOTE = (
    "Training cost until the validation accuracy on the device first reaches the target: "
    f"{TARGET_FRACTION:.0%} of the best final validation accuracy (mean over seeds) of any method "
    "in the row. Per method: device queries and training wall time (epochs and their validation, "
    "without the twin fit), mean over the seeds that reached the target, and how many did; "
    "— where none did."
)


class Bold(str):
    """A table cell shown in bold."""


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
    done = [r for r in records if r.get("status") == "done" and r.get("result")]
    plain = [r for r in done if not _meta(r, "sweep")]
    taken: set[str] = set()
    with matplotlib.rc_context({"font.size": 10}):  # ticks and legends ≥ 9 pt
        curves, sweeps = _learning_section(plain, out, taken), _sweep_section(done, out, taken)
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
        ("Reproducibility", [*code, ("p", f"Versions: {_versions(done)}.")]),
    ]
    sections = [s for s in sections if s[1]]
    markdown, page = out / "report.md", out / "index.html"
    markdown.write_text(_markdown(title, sections), encoding="utf-8")
    page.write_text(_html(title, sections, out), encoding="utf-8")
    plots = [out / body[0] for _, blocks in sections for kind, body in blocks if kind == "img"]
    return {"markdown": markdown, "html": page, "plots": plots}


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
    """A whole number with thin groups of thousands: 18 885."""
    return f"{value:,.0f}".replace(",", " ")


def _versions(done: list[dict]) -> str:
    physnn = _unique(str(r["result"]["version"]) for r in done if r["result"].get("version"))
    torch = _unique(str(v) for r in done if (v := (r["result"].get("resolved") or {}).get("torch")))
    return f"physnn {', '.join(physnn) or 'unknown'}; torch {', '.join(torch) or 'unknown'}"


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
    headline = _method_table(plain, "device_accuracy", queries=True)
    twin = _method_table(plain, "twin_accuracy", queries=False)
    return [("p", RESULTS_NOTE), ("table", headline),
            ("p", "Twin test accuracy, mean ± std over seeds."), ("table", twin)]  # fmt: skip


def _cells(runs: list[dict]) -> tuple[list[tuple], list[str], dict[tuple, list[dict]]]:
    """The rows (groups) and columns (methods) of a table of ``runs``, in order of first
    appearance, and the results of each (group, method) cell."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for r in runs:
        cells[_group(r), _method(r)].append(r["result"])
    return _unique(_group(r) for r in runs), _unique(_method(r) for r in runs), cells


def _method_table(runs: list[dict], metric: str, *, queries: bool) -> tuple:
    """Rows (system/preset, dataset, gap), one column per method; best mean per row in bold."""
    groups, methods, cells = _cells(runs)
    rows = []
    for group in groups:
        texts, means = [], []
        for method in methods:
            results = cells.get((group, method), [])
            values = [res[metric] for res in results]
            texts.append(_fmt(values))
            means.append(round(statistics.fmean(values), 3) if values else None)
            if results and queries:
                mean_queries = statistics.fmean(res.get("device_queries", 0) for res in results)
                texts[-1] += f" ({_count(mean_queries)} queries)"
        best = max((m for m in means if m is not None), default=None)
        if len(set(means) - {None}) >= 2:  # bold only where methods differ
            texts = [Bold(t) if m == best else t for t, m in zip(texts, means, strict=True)]
        rows.append([*group, *texts])
    return ["system/preset", "dataset", "gap", *methods], rows


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
            rows.append([paper, claim, metric, "not published", _num(ours), "", "",
                         "— ours only", str(len(values))])  # fmt: skip
            continue
        diff, tolerance = ours - rep["reported"], rep["tolerance"]
        verdict = "✓ within" if abs(diff) <= tolerance + 1e-12 else "✗ outside"
        rows.append([paper, claim, metric, _num(rep["reported"]), _num(ours), f"{diff:+.4f}",
                     f"{tolerance:g}", verdict + (" (ours higher)" if diff > 0 else ""),
                     str(len(values))])  # fmt: skip
    headers = ["paper", "claim", "metric", "reported", "ours", "difference", "tolerance",
               "verdict", "seeds"]  # fmt: skip
    note = "Ours: mean over seeds; within: |ours − reported| ≤ tolerance."
    return [("p", note), ("table", (headers, rows))] if rows else []


def _gradcheck(records: list[dict]) -> list[Block]:
    checks: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        if check := _meta(r, "gradcheck"):
            checks[_method(r), _group(r)[0], _group(r)[2]].append(check)
    rows = [
        [*key, _fmt([c["cosine"] for c in found]), _fmt([c["relative_error"] for c in found]),
         str(len(found))]
        for key, found in checks.items()
    ]  # fmt: skip
    headers = ["method", "system", "gap", "cosine", "relative error", "runs"]
    note = "Against the exact gradient on the device at the initial controls; mean ± std over runs."
    return [("p", note), ("table", (headers, rows))] if rows else []


def _failures(records: list[dict]) -> list[Block]:
    rows = [
        [str(r.get("entry", "")), str(r.get("key", "")), str(r.get("attempts", "")),
         (str(r.get("error") or "").strip().splitlines() or ["—"])[0][:300]]
        for r in records
        if r.get("status") == "failed"
    ]  # fmt: skip
    return [("table", (["entry", "key", "attempts", "error (first line)"], rows))] if rows else []


def _learning_section(plain: list[dict], out: Path, taken: set[str]) -> list[Block]:
    """One plot per (system/preset, dataset, gap), one line per method."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in plain:
        if r["result"].get("history"):
            groups[_group(r)][_method(r)].append(r["result"])
    blocks: list[Block] = [("p", CURVES_NOTE)] if groups else []
    for group, by_method in groups.items():
        title = f"{group[0]} · {group[1]} · gap {group[2]}"
        name = _png_name(f"curve {' '.join(group)}", taken)
        _learning_plot(out / name, title, by_method)
        blocks.append(("img", (name, f"Learning curves: {title}")))
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
        texts = [_cost_cell(histories.get((group, m), []), target) for m in methods]
        rows.append([*group, f"{target:.3f}", *texts])
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


def _learning_plot(path: Path, title: str, by_method: dict[str, list[dict]]) -> None:
    """Accuracy vs device queries; vs epoch when no method of the group queries the device."""
    curves = {m: _curve(res, "device_queries") for m, res in by_method.items()}
    by_queries = any(xs[-1] > 0 for xs, _ in curves.values())
    if not by_queries:
        curves = {m: _curve(res, "epoch") for m, res in by_method.items()}
    xlabel = "training device queries (cumulative)" if by_queries else "epoch"
    xmax = max(xs[-1] for xs, _ in curves.values())
    with _figure(path, title, xlabel, "validation accuracy on the device") as ax:
        ax.xaxis.get_major_locator().set_params(integer=True)
        for i, (method, (xs, ys)) in enumerate(curves.items()):
            marker, style = STYLES[i % len(STYLES)]
            if by_queries and xs[-1] == 0:  # a dashed horizontal line at the final accuracy
                xs, ys = [xmax * k / 5 for k in range(6)], [ys[-1]] * 6
                style, method = DASHES[i % len(DASHES)], f"{method} (no queries)"
            ax.plot(xs, ys, marker=marker, linestyle=style, label=method)


def _sweep_section(done: list[dict], out: Path, taken: set[str]) -> list[Block]:
    """One plot per swept parameter."""
    sweeps: dict[str, list[dict]] = defaultdict(list)
    for r in done:
        if sweep := _meta(r, "sweep"):
            sweeps[str(sweep["parameter"])].append(r)
    note = "Test accuracy on the device vs the swept parameter; band: ± std over seeds."
    blocks: list[Block] = [("p", note)] if sweeps else []
    for parameter, runs in sweeps.items():
        label = str(_meta(runs[0], "sweep").get("label") or parameter)
        name = _png_name(f"sweep {parameter}", taken)
        _sweep_plot(out / name, label, runs)
        blocks.append(("img", (name, f"Robustness: {label}")))
    return blocks


def _sweep_plot(path: Path, label: str, runs: list[dict]) -> None:
    """One line per method (and system/dataset when they vary), mean ± std band over seeds."""
    contexts = {_group(r)[:2] for r in runs}
    points: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        context = f" ({', '.join(_group(r)[:2])})" if len(contexts) > 1 else ""
        name = _method(r) + context
        points[name][float(_meta(r, "sweep")["value"])].append(r["result"]["device_accuracy"])
    spans: list[tuple[float, float]] = []
    values: list[float] = []
    with _figure(path, f"Robustness: {label}", label, "test accuracy on the device") as ax:
        for i, (name, by_value) in enumerate(points.items()):
            xs = sorted(by_value)
            band = [(m, s or 0.0) for m, s in (_mean_std(by_value[x]) for x in xs)]
            marker, style = STYLES[i % len(STYLES)]
            (line,) = ax.plot(xs, [m for m, _ in band], marker=marker, linestyle=style, label=name)
            lower, upper = [m - s for m, s in band], [m + s for m, s in band]
            ax.fill_between(xs, lower, upper, color=line.get_color(), alpha=0.15, linewidth=0)
            spans.append((min(lower), max(upper)))
            values += xs
        if min(values) > 0 and max(values) >= 100 * min(values):  # decades: 1 s … 1 year
            ax.set_xscale("log")
        low, high = min(s[0] for s in spans), max(s[1] for s in spans)
        if high - low < 0.2:  # a narrow band: zoom in, or every curve looks flat
            ax.set_ylim(max(low - 0.02, 0.0), min(high + 0.02, 1.02))


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
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"
    return f"<p>{html.escape(body)}</p>"


def _html_cell(text: str) -> str:
    inner = html.escape(text)
    return f"<td><strong>{inner}</strong></td>" if isinstance(text, Bold) else f"<td>{inner}</td>"
