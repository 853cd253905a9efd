"""The figures of the benchmark report: learning curves per row and robustness sweeps, each
method in its own colour and marker in every figure, identical lines marked as such."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from physnn.bench.render import Block, Num, mean_std_text
from physnn.bench.runs import (
    REFERENCE_METHODS,
    coincidences,
    mean_std,
    method_rank,
    run_field,
    run_meta,
    run_method,
    run_row,
    unique,
)

COLORS = ("#000000", "#0072B2", "#009E73", "#D55E00", "#E69F00", "#56B4E9", "#CC79A7",
          "#8C564B", "#BCBD22", "#7F7F7F")  # Okabe-Ito (colour-blind safe), then tab10  # fmt: skip
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
CONTEXT_STYLES = ("-", "--", "-.", ":")  # sweep lines of one method on several systems/datasets
NO_QUERIES = (0, (6, 3))  # the horizontal line of a method without device queries
OVERLAID = (0, (2, 2))  # a line identical to one drawn before: dotted, on top, hollow markers
CURVES_NOTE = (
    "Validation accuracy on the device vs cumulative training device queries, mean over seeds; "
    "methods without device queries are dashed horizontal lines at their final accuracy "
    "(a group in which no method queries the device is plotted vs epoch). A line identical to "
    "another is drawn dotted on top of it, with hollow markers."
)
SWEEP_NOTE = (
    "Test accuracy on the device vs the swept parameter, mean over seeds, with a ± std band "
    "(clipped to [0, 1]) where every point has 2 seeds or more; the table below each plot gives "
    "the numbers."
)


def method_styles(methods: Iterable[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) of each method, the same in every figure: a reference method always
    takes its own of the first four (the first of its labels, if it has several with other
    options); other methods and labels the next ones, in :func:`method_rank` order."""
    slots: dict[str, int] = {}
    others = []
    for method in sorted(set(methods), key=method_rank):
        rank = method_rank(method)[0]
        if rank < len(REFERENCE_METHODS) and rank not in slots.values():
            slots[method] = rank
        else:
            others.append(method)
    slots |= {method: len(REFERENCE_METHODS) + i for i, method in enumerate(others)}
    return {m: (COLORS[i % len(COLORS)], MARKERS[i % len(MARKERS)]) for m, i in slots.items()}


def learning_section(
    plain: list[dict], out: Path, taken: set[str], styles: dict[str, tuple[str, str]]
) -> list[Block]:
    """One plot per (system/preset, dataset, gap), one line per method."""
    groups: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in plain:
        if r["result"].get("history"):
            groups[run_row(r)][run_method(r)].append(r["result"])
    blocks: list[Block] = [("p", CURVES_NOTE)] if groups else []
    for group, by_method in groups.items():
        title = f"{group[0]} · {group[1]} · gap {group[2]}"
        name = png_name(f"curve {' '.join(group)}", taken)
        lines, xlabel = _learning_lines(by_method)
        with _figure(out / name, title, xlabel, "validation accuracy on the device") as ax:
            ax.xaxis.get_major_locator().set_params(integer=True)
            draw(ax, lines, styles)
        seeds = _seeds(len(results) for results in by_method.values())
        blocks.append(("img", (name, f"Learning curves: {title} ({seeds})")))
        blocks += [("p", note) for note in line_notes(lines)]
    return blocks


def _curve(results: list[dict], x_key: str) -> tuple[list[float], list[float]]:
    """Per-epoch mean over seeds of (x_key, val_device_accuracy), up to the shortest history."""
    n = min(len(res["history"]) for res in results)
    epochs = [[res["history"][i] for res in results] for i in range(n)]
    xs = [statistics.fmean(row[x_key] for row in rows) for rows in epochs]
    return xs, [statistics.fmean(row["val_device_accuracy"] for row in rows) for rows in epochs]


@dataclasses.dataclass
class Line:
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


def _learning_lines(by_method: dict[str, list[dict]]) -> tuple[list[Line], str]:
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
        line = Line(method, method, xs, ys, data)
        if by_queries and xs[-1] == 0:
            line.xs, line.ys = [xmax * k / 5 for k in range(6)], [ys[-1]] * 6
            line.tags, line.linestyle = ("no queries",), NO_QUERIES
        lines.append(line)
    return lines, "training device queries (cumulative)" if by_queries else "epoch"


def draw(ax: Any, lines: list[Line], styles: dict[str, tuple[str, str]]) -> None:
    """Draw ``lines`` in the fixed method order, each in its method's colour and marker; a line
    identical to one drawn before goes on top of it, dotted, with hollow larger markers."""
    first: dict[tuple, Line] = {}
    for line in sorted(lines, key=lambda item: (method_rank(item.method), item.label)):
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


def line_notes(lines: list[Line]) -> list[str]:
    """Notes naming the methods whose lines are identical (the same per-seed results)."""
    return coincidences({"": {line.label: line.data for line in lines}})


def _seeds(counts: Iterable[int]) -> str:
    """ "1 seed", "3 seeds", "2–3 seeds": how many runs went into each point."""
    low, high = min(counts := list(counts)), max(counts)
    return f"{low} seed" if high == low == 1 else f"{low}{f'–{high}' * (high > low)} seeds"


def sweep_section(
    done: list[dict], styles: dict[str, tuple[str, str]], plots: tuple[Path, set[str]] | None
) -> list[Block]:
    """Per swept parameter: a plot (into the folder of ``plots``, under a name not among its
    taken ones; none if None) and a table of the numbers."""
    sweeps: dict[str, list[dict]] = defaultdict(list)
    for r in done:
        if sweep := run_meta(r, "sweep"):
            sweeps[str(sweep["parameter"])].append(r)
    blocks: list[Block] = [("p", SWEEP_NOTE)] if sweeps and plots else []
    for parameter, runs in sweeps.items():
        label = str(run_meta(runs[0], "sweep").get("label") or parameter)
        points = _sweep_points(runs)
        lines = _sweep_lines(points)
        seeds = _seeds(len(found) for by_value in points.values() for found in by_value.values())
        no_band = ", no band" if all(line.band is None for line in lines) else ""
        caption = f"Robustness: {label} ({seeds}{no_band})"
        if plots:
            name = png_name(f"sweep {parameter}", plots[1])
            _sweep_plot(plots[0] / name, label, lines, styles)
            blocks.append(("img", (name, caption)))
        else:
            blocks.append(("p", caption + "."))
        blocks += [("p", note) for note in line_notes(lines)]
        blocks.append(("table", _sweep_table(label, points)))
    return blocks


Points = dict[tuple[str, str], dict[float, list[tuple[Any, float]]]]


def _sweep_points(runs: list[dict]) -> Points:
    """(seed, device accuracy) per (method, system/dataset when they vary) and swept value."""
    several = len({run_row(r)[:2] for r in runs}) > 1
    points: Points = defaultdict(lambda: defaultdict(list))
    for r in runs:
        context = ", ".join(run_row(r)[:2]) if several else ""
        value = float(run_meta(r, "sweep")["value"])
        points[run_method(r), context][value].append(
            (run_field(r, "seed"), r["result"]["device_accuracy"])
        )
    return dict(sorted(points.items(), key=lambda item: (method_rank(item[0][0]), item[0][1])))


def _sweep_lines(points: Points) -> list[Line]:
    """One line per (method, context): mean over seeds, a ± std band where every point has
    2 seeds or more."""
    contexts = unique(context for _, context in points)
    lines = []
    for (method, context), by_value in points.items():
        xs = sorted(by_value)
        stats = [mean_std([value for _, value in by_value[x]]) for x in xs]
        ys = [mean for mean, _ in stats]
        band = None
        if all(std is not None for _, std in stats):
            band = (  # an accuracy lies in [0, 1]: so does its band
                [max(0.0, m - (s or 0.0)) for m, s in stats],
                [min(1.0, m + (s or 0.0)) for m, s in stats],
            )
        data = tuple((x, tuple(sorted(by_value[x]))) for x in xs)
        style = CONTEXT_STYLES[contexts.index(context) % len(CONTEXT_STYLES)]
        label = f"{method} ({context})" if context else method
        lines.append(Line(method, label, xs, ys, data, style, band))
    return lines


def _sweep_table(label: str, points: Points) -> tuple[list[str], list[list[str]]]:
    """Rows: the swept values; columns: the lines; cells: mean ± std over seeds."""
    values = sorted({value for by_value in points.values() for value in by_value})
    names = [f"{m} ({c})" if c else m for m, c in points]
    rows = [
        [Num(value_text(value)), *(Num(mean_std_text([acc for _, acc in by_value.get(value, [])]))
                              for by_value in points.values())]
        for value in values
    ]  # fmt: skip
    return [label, *names], rows


def value_text(value: float) -> str:
    """A swept value as written in a suite: 0.25, 1000, 1e4, 2.5e6."""
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:g}"
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _sweep_plot(
    path: Path, label: str, lines: list[Line], styles: dict[str, tuple[str, str]]
) -> None:
    """The lines of a sweep, on a log axis when the values span decades, zoomed when narrow."""
    values = [x for line in lines for x in line.xs]
    lows = [y for line in lines for y in (line.band[0] if line.band else line.ys)]
    highs = [y for line in lines for y in (line.band[1] if line.band else line.ys)]
    with _figure(path, f"Robustness: {label}", label, "test accuracy on the device") as ax:
        draw(ax, lines, styles)
        if min(values) > 0 and max(values) >= 100 * min(values):  # decades: 1 s … 1 year
            ax.set_xscale("log")
        low, high = min(lows), max(highs)
        if high - low < 0.2:  # a narrow band: zoom in, or every curve looks flat
            ax.set_ylim(max(low - 0.02, 0.0), min(high + 0.02, 1.02))


LEGEND_INSIDE = 8
"""A legend of more entries than this goes beside the axes, not over them."""
LEGEND_ROWS = 20


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
    entries = len(ax.get_legend_handles_labels()[0])
    if entries > LEGEND_INSIDE:  # beside the axes, in columns of LEGEND_ROWS, the figure wider
        columns = math.ceil(entries / LEGEND_ROWS)
        fig.set_size_inches(6.4 + 2.4 * columns, max(4.0, 0.24 * min(entries, LEGEND_ROWS)))
        fig.legend(loc="outside right upper", ncols=columns, fontsize="small")
    elif entries:
        ax.legend(loc="best")
    fig.savefig(path, dpi=120)


def png_name(text: str, taken: set[str]) -> str:
    """A file name of [a-z0-9-_] and ``.png`` only, unique among ``taken``."""
    base = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "plot"
    candidates = itertools.chain([base], (f"{base}-{i}" for i in itertools.count(2)))
    name = next(n for n in candidates if n not in taken)
    taken.add(name)
    return f"{name}.png"


PARETO_NOTE = (
    "Test accuracy on the device vs training device queries, one point per method (mean over "
    "seeds), default and tuned alike; the grey steps join the Pareto front: the points that no "
    "other point beats in accuracy with as few queries or fewer."
)


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """The labels of the (cost, accuracy) points on the Pareto front, by cost (queries, energy,
    time): each more accurate than every point that costs as much or less."""
    front: list[str] = []
    for label, (_, accuracy) in sorted(points.items(), key=lambda p: (p[1][0], -p[1][1])):
        if not front or accuracy > points[front[-1]][1]:
            front.append(label)
    return front


def pareto_plot(
    path: Path,
    title: str,
    points: dict[str, tuple[float, float]],
    styles: dict[str, tuple],
    xlabel: str = "training device queries",
) -> None:
    """``points`` (label: mean cost, mean accuracy; by default the cost is queries) in their
    methods' styles, and the steps of their Pareto front; the cost axis is symmetric-log when
    the costs span decades."""
    with _figure(path, title, xlabel, "test accuracy on the device") as ax:
        for label in sorted(points, key=method_rank):
            color, marker = styles[label]
            queries, accuracy = points[label]
            ax.plot([queries], [accuracy], linestyle="none", color=color, marker=marker,
                    markersize=8, label=label)  # fmt: skip
        front = [points[label] for label in pareto_front(points)]
        front.append((max(q for q, _ in points.values()), front[-1][1]))  # on to the right edge
        ax.plot(*zip(*front, strict=True), color="#7F7F7F", drawstyle="steps-post", zorder=0,
                label="Pareto front")  # fmt: skip
        positive = [q for q, _ in points.values() if q > 0]
        if positive and max(positive) >= 100 * min(positive):
            ax.set_xscale("symlog", linthresh=min(positive))
