"""The report's content and its two renderings: blocks of paragraphs, tables, images and code,
the table cells of numbers, and the Markdown and self-contained HTML made of the same blocks."""

from __future__ import annotations

import base64
import html
import re
import statistics
from pathlib import Path
from typing import Any

from physnn.bench.runs import mean_std

CSS = """body{font-family:system-ui,sans-serif;max-width:90rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;line-height:1.45}table{border-collapse:collapse;margin:1rem 0;font-size:.92rem;
font-variant-numeric:tabular-nums}th,td{border:1px solid #bbb;padding:.3rem .6rem;text-align:left;
vertical-align:top}td.num{white-space:nowrap}thead th{background:#eee}
tbody tr:nth-child(even){background:#f8f8f8}img{max-width:100%}.wide{overflow-x:auto}
figcaption{font-size:.9rem;color:#444}pre{background:#f4f4f4;padding:.75rem}
@media print{body{max-width:none;margin:0}table,figure,pre{break-inside:avoid}
thead{display:table-header-group}tbody tr:nth-child(even){background:none}}"""


class Num(str):
    """A table cell of numbers: never wrapped in HTML."""


class Bold(Num):
    """A table cell of numbers shown in bold."""


# ("p", text) | ("table", (headers, rows)) | ("img", (file name, caption)) | ("code", text)
Block = tuple[str, Any]


def mean_std_text(values: list[float]) -> str:
    if not values:
        return "—"
    mean, std = mean_std(values)
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def number_text(value: float) -> str:
    return count_text(value) if abs(value) >= 100 else f"{value:.4f}"


def count_text(value: float) -> str:
    """A whole number in groups of thousands split by a narrow no-break space: 18 885."""
    return f"{value:,.0f}".replace(",", "\N{NARROW NO-BREAK SPACE}")


def settings_text(values: dict[str, Any]) -> str:
    """ "name=value, …" of hyperparameters, floats to 3 significant digits."""
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in values.items())  # fmt: skip


def queries_text(results: list[dict]) -> str:
    """ " (N queries)": the mean training device queries of runs' results."""
    mean = statistics.fmean(res.get("device_queries", 0) for res in results)
    return f" ({count_text(mean)} queries)"


def _md(text: Any) -> str:
    """Markdown text on one line, with the characters that would change its meaning escaped."""
    return re.sub(r"([\\|<>`*])", r"\\\1", " ".join(str(text).split()))


def markdown_page(title: str, sections: list[tuple[str, list[Block]]]) -> str:
    lines = [f"# {_md(title)}", ""]
    for heading, blocks in sections:
        lines += [f"## {_md(heading)}", ""] if heading else []
        for kind, body in blocks:
            lines += [*markdown_block(kind, body), ""]
    return "\n".join(lines)


def markdown_block(kind: str, body: Any) -> list[str]:
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


def html_page(title: str, sections: list[tuple[str, list[Block]]], out: Path) -> str:
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
