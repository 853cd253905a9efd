"""Benchmark report: ``report.md`` and a self-contained ``index.html`` with tables and PNG plots.

Only runs with status ``done`` enter the tables and plots; the others are counted and failures
listed. Both files are rendered from one list of sections, so they always show the same things.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import matplotlib

from physnn.bench.bill import bill_section
from physnn.bench.plots import learning_section, method_styles, sweep_section
from physnn.bench.render import Block, html_page, markdown_block, markdown_page
from physnn.bench.runs import done_runs, plain_runs, run_method
from physnn.bench.tables import (
    cost_section,
    failures_section,
    gradcheck_section,
    header_section,
    procedures_section,
    reproduce_section,
    reproducibility_section,
    results_section,
)
from physnn.bench.tuned import tuned_section


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
    done = done_runs(records)
    plain = plain_runs(done)
    styles = method_styles(run_method(r) for r in done)
    taken: set[str] = set()
    with matplotlib.rc_context({"font.size": 10}):  # ticks and legends ≥ 9 pt
        curves = learning_section(plain, out, taken, styles)
        sweeps = sweep_section(done, styles, (out, taken))
        tuning = tuned_section(plain, styles, (out, taken))
        bill = bill_section(plain, styles, (out, taken))
    code: list[Block] = [("code", "\n".join(commands))] if commands else []
    sections = [
        ("", header_section(records, done)),
        ("Results", results_section(plain) if plain or not done else []),  # not: checks only
        ("Device operations", procedures_section(plain, always=False)),
        ("Learning curves", curves),
        ("Cost to reach a target accuracy", cost_section(plain)),
        ("Hardware bill", bill),
        ("Robustness", sweeps),
        ("Tuned vs default", tuning),
        ("Reproduced claims", reproduce_section(done)),
        ("Gradient quality", gradcheck_section(records)),
        ("Failures", failures_section(records)),
        ("Reproducibility", [*code, *reproducibility_section(done)]),
    ]
    sections = [s for s in sections if s[1]]
    markdown, page = out / "report.md", out / "index.html"
    markdown.write_text(markdown_page(title, sections), encoding="utf-8")
    page.write_text(html_page(title, sections, out), encoding="utf-8")
    plots = [out / body[0] for _, blocks in sections for kind, body in blocks if kind == "img"]
    return {"markdown": markdown, "html": page, "plots": plots}


def markdown_tables(name: str, records: list[dict]) -> str:
    """The Markdown of one part of the report (a key of :data:`DOC_TABLES`) for ``records``,
    made by the same code as in ``report.md``: for tables in the docs that cannot drift."""
    blocks = DOC_TABLES[name](done_runs(records))
    return "\n\n".join("\n".join(markdown_block(kind, body)) for kind, body in blocks)


# The parts of the report that docs can hold (see physnn.bench.docs), from the runs with a result
DOC_TABLES: dict[str, Callable[[list[dict]], list[Block]]] = {
    "results": lambda done: results_section(plain_runs(done)),
    "cost": lambda done: cost_section(plain_runs(done)),
    "bill": lambda done: bill_section(plain_runs(done), {}, None),
    "robustness": lambda done: sweep_section(done, {}, None),
    "tuned": lambda done: tuned_section(plain_runs(done), {}, None),
    "gradient": gradcheck_section,
    "procedures": lambda done: procedures_section(plain_runs(done)),
    "reproduce": reproduce_section,
}
