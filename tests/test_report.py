"""The benchmark report: Markdown and self-contained HTML, tables, verdicts, plots, escaping."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from physnn.bench import plots, render, tables
from physnn.bench.report import write_report

METHODS = {"insilico": 0, "pat": 40}  # device queries per epoch while training
BASE = {"none": 0.9, "moderate": 0.5}
PAT_GAIN = {"none": 0.01, "moderate": 0.4}
SEED_SHIFT = {0: 0.0, 1: 0.03}
EPOCHS = 3


def _accuracy(method: str, gap: str, seed: int) -> float:
    return BASE[gap] + (PAT_GAIN[gap] if method == "pat" else 0.0) - SEED_SHIFT[seed]


def _history(final: float, queries_per_epoch: int) -> list[dict]:
    return [
        {"epoch": e, "train_loss": 1.0 / e, "train_accuracy": final, "epoch_seconds": 0.1,
         "val_device_accuracy": final * e / EPOCHS, "val_twin_accuracy": 0.9,
         "device_queries": queries_per_epoch * e, "param_writes": e}
        for e in range(1, EPOCHS + 1)
    ]  # fmt: skip


def _bill(queries: int, writes: int) -> dict:
    """A run's bill priced by the real cost model of the default D2NN (hand-made counts)."""
    import physnn.substrates.builtin  # noqa: F401
    from physnn.cost import A100, RunCounts, bill
    from physnn.cost.runs import cost_model, workload
    from physnn.systems import SYSTEMS

    work = workload("diffractive", SYSTEMS["diffractive"].from_preset("default"))
    counts = RunCounts(queries, writes, writes * 3072, digital_flops=1e9 / (1 + queries))
    return bill(counts, work, cost_model("diffractive", "default"), A100)


def _record(method: str, gap: str, seed: int, device: float, twin: float, **extra) -> dict:
    config = {"system": "diffractive", "preset": "default", "method": method,
              "dataset": "digits", "gap": gap, "seed": seed, "epochs": EPOCHS}  # fmt: skip
    queries = METHODS.get(method, 0)
    result = {
        **{k: config[k] for k in ("system", "preset", "method", "dataset", "seed", "gap")},
        "device_accuracy": device, "twin_accuracy": twin, "headline": "device",
        "accuracy": device, "device_queries": queries * EPOCHS, "param_writes": EPOCHS,
        "eval_queries": 100, "wall_seconds": 1.0, "version": "0.1.0",
        "history": _history(device, queries), "resolved": {"torch": "2.13.0+cpu"},
        "cost": _bill(queries * EPOCHS, EPOCHS),
    }  # fmt: skip
    key = f"{method}-{gap}-{seed}"
    record = {"key": key, "suite": "test", "entry": "matrix", "status": "done", "config": config,
              "meta": {}, "result": result, "error": None, "attempts": 1}  # fmt: skip
    record.update(extra)
    return record


def example_records() -> list[dict]:
    """2 methods × 2 gaps × 2 seeds, a sweep, two reproduce claims, a gradcheck, failures."""
    records = [
        _record(m, g, s, _accuracy(m, g, s), 0.95 - 0.1 * s)
        for m in METHODS
        for g in BASE
        for s in SEED_SHIFT
    ]
    records[0]["meta"]["gradcheck"] = {"cosine": 0.97, "relative_error": 0.2}
    label = "lateral misalignment σ (pixels)"
    for value, seed, method in [
        (v, s, m) for v in (0.0, 0.4, 0.8) for s in (0, 1) for m in METHODS
    ]:
        sweep = {"parameter": "lateral_sigma", "label": label, "value": value}
        device = 0.2 - 0.1 * value + 0.01 * seed + 0.3 * (method == "pat")  # not in the tables
        records.append(_record(method, "moderate", seed, device, 0.9, meta={"sweep": sweep}))
    claims = [("Lin et al. 2018", 0.8113, 0.03, 0.82), ("Wright et al. 2022", 0.97, 0.01, 0.90)]
    for paper, reported, tolerance, ours in claims:
        reproduce = {"paper": paper, "claim": "a <claim>", "metric": "twin_accuracy",
                     "reported": reported, "tolerance": tolerance}  # fmt: skip
        for seed, shift in ((0, -0.005), (1, 0.005)):
            records.append(
                _record("pat", "none", seed, 0.5, ours + shift, meta={"reproduce": reproduce})
            )
            records[-1]["config"]["preset"] = records[-1]["result"]["preset"] = "lin2018"
            records[-1]["result"]["history"] = []
    unpublished = {"paper": "Wright et al. 2022", "claim": "in silico side", "metric": "accuracy"}
    records.append(_record("insilico", "none", 0, 0.61, 0.9, meta={"reproduce": unpublished}))
    records[-1]["config"]["preset"] = records[-1]["result"]["preset"] = "lin2018"
    records[-1]["result"]["history"] = []
    failed = _record("pat", "severe", 0, 0.0, 0.0, status="failed", result=None, attempts=3,
                     error="<script>alert(1)</script> exploded\nTraceback line two")  # fmt: skip
    pending = _record("insilico", "severe", 1, 0.0, 0.0, status="pending", result=None, attempts=0)
    return [*records, failed, pending]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "nested" / "dir"
    records = example_records()
    paths = write_report(records, out, title="Test <bench>", commands=["physnn bench run x"])
    return {"paths": paths, "records": records, "md": paths["markdown"].read_text("utf-8"),
            "html": paths["html"].read_text("utf-8")}  # fmt: skip


def _row(markdown: str, *needles: str) -> str:
    rows = [line for line in markdown.splitlines() if all(n in line for n in needles)]
    assert len(rows) == 1, (needles, rows)
    return rows[0]


def test_writes_the_files(report):
    paths = report["paths"]
    assert paths["markdown"].name == "report.md" and paths["html"].name == "index.html"
    assert paths["markdown"].is_file() and paths["html"].is_file()
    # learning curves for 2 groups (lin2018 has none), 1 sweep, bill energy and time for 3 groups
    assert len(paths["plots"]) == 3 + 2 * 3
    assert all(p.parent == paths["markdown"].parent for p in paths["plots"])


def test_header_counts_and_versions(report):
    assert "Test <bench>" not in report["md"] and "Test \\<bench\\>" in report["md"]
    assert "27 runs: 25 done, 1 failed, 1 pending." in report["md"]
    assert "physnn 0.1.0; torch 2.13.0+cpu" in report["md"]


@pytest.mark.parametrize("gap", list(BASE))
def test_main_table_mean_and_std_over_seeds(report, gap):
    row = _row(report["md"], "| diffractive/default | digits | " + gap + " |", "queries)")
    cells = {}
    for method, per_epoch in METHODS.items():
        values = np.array([_accuracy(method, gap, s) for s in SEED_SHIFT])
        expected = f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"
        cells[method] = f"{expected} ({per_epoch * EPOCHS} queries)"
    if gap == "moderate":  # PAT is better by 0.4, far more than the spread (0.021)
        assert f"**{cells['pat']}**" in row
    else:  # better by 0.01 only, within the spread: not bold
        assert f"| {cells['pat']} |" in row and "**" not in row
    assert f"| {cells['insilico']} |" in row


def test_cost_to_target_counts_queries_and_time_until_the_first_epoch_at_target(report):
    # gap moderate: best final mean 0.885 (pat), target 0.9 × 0.885; pat reaches it in epoch 3
    # (0.9 and 0.87 there, 0.6 and 0.58 in epoch 2), insilico (0.5, 0.47) never does
    row = _row(report["md"], "| moderate | 0.796 |")
    assert "| — (0/2) | 120 queries, 0.3 s (2/2) |" in row
    row = _row(report["md"], "| none | 0.805 |")  # target 0.9 × 0.895 (pat: 0.91, 0.88)
    assert "| 0 queries, 0.3 s (2/2) | 120 queries, 0.3 s (2/2) |" in row


def test_twin_table_does_not_emphasize_a_tie(report):
    twin = _row(report["md"], "| diffractive/default | digits | moderate |", "0.900 ± 0.071 |")
    assert "queries" not in twin and "**" not in twin


def test_reproduce_verdicts(report):
    lin = _row(report["md"], "Lin et al. 2018")
    assert "✓ within (ours higher)" in lin and "| 0.8200 |" in lin and "| +0.0087 |" in lin
    wright = _row(report["md"], "Wright et al. 2022", "0.9700")
    assert "✗ outside" in wright and "higher" not in wright and "| -0.0700 |" in wright
    unpublished = _row(report["md"], "in silico side")
    assert "| not published |" in unpublished and "— ours only" in unpublished


def test_the_bill_of_each_run_and_its_pareto_plots(report):
    md = report["md"]
    assert "## Hardware bill" in md
    row = _row(md, "| diffractive/default | moderate | pat |")
    assert "| 5 mJ | 5.35 µJ |" in row  # one inference on the device vs on the GPU
    plots = [p.name for p in report["paths"]["plots"]]
    assert sum(name.startswith("bill-energy-") for name in plots) == 3  # one per row
    assert sum(name.startswith("bill-time-") for name in plots) == 3


def test_gradcheck_failures_and_commands(report):
    assert "| insilico | diffractive/default | none | 0.970 | 0.200 |" in report["md"]
    failure = _row(report["md"], "exploded")
    assert "| 3 |" in failure and "Traceback" not in failure
    assert "```\nphysnn bench run x\n```" in report["md"]


def test_html_is_self_contained_and_escaped(report):
    page = report["html"]
    assert page.count("data:image/png;base64,") == len(report["paths"]["plots"])
    assert 'src="http' not in page and "<link" not in page
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<title>Test &lt;bench&gt;</title>" in page and "a &lt;claim&gt;" in page
    assert "<strong>" in page and "✓ within" in page
    assert "<script>" not in report["md"] and "\\<script\\>" in report["md"]


def test_plots_are_valid_pngs(report):
    for path in report["paths"]["plots"]:
        assert re.fullmatch(r"[a-z0-9_-]+\.png", path.name), path.name
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
        width, height = struct.unpack(">II", data[16:24])
        assert 400 <= width <= 2000 and 300 <= height <= 1500
        assert 10_000 < len(data) < 1_000_000
        assert f"]({path.name})" in report["md"]


def test_empty_records_still_write_a_report(tmp_path):
    paths = write_report([], tmp_path / "empty")
    assert paths["plots"] == []
    assert "There are no runs." in paths["markdown"].read_text("utf-8")
    assert "There are no runs." in paths["html"].read_text("utf-8")


def test_a_group_without_device_queries_is_plotted_vs_epoch(tmp_path):
    records = [_record("insilico", "none", seed, 0.8, 0.9) for seed in SEED_SHIFT]
    paths = write_report(records, tmp_path)
    assert paths["plots"][0].name == "curve-diffractive-default-digits-none.png"
    assert paths["plots"][0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 0.800 ± 0.000 (0 queries) |" in paths["markdown"].read_text("utf-8")


def _plotted(lines, styles):
    """The matplotlib lines that plots.draw makes of ``lines``."""
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    plots.draw(ax, lines, styles)
    return {line.get_label(): line for line in ax.get_lines()}


def test_each_method_keeps_its_colour_and_marker_in_every_figure():
    few = plots.method_styles(["pat", "insilico"])
    many = plots.method_styles(["zeroth-order", "pat", "backprop", "noise-aware", "insilico"])
    assert few["pat"] == many["pat"] and few["insilico"] == many["insilico"]
    assert len(set(many.values())) == 5  # five methods, five distinct (colour, marker) pairs
    with_options = plots.method_styles(["pat", "pat (lr=0.1)", "insilico"])
    assert with_options["pat"] == few["pat"] and with_options["pat (lr=0.1)"] != few["pat"]
    line = plots.Line("pat", "pat", [0, 1], [0.5, 0.6], ("pat",))
    drawn = _plotted([line], many)["pat"]
    assert (drawn.get_color(), drawn.get_marker()) == many["pat"]


def test_identical_lines_are_both_visible_and_named():
    styles = plots.method_styles(["backprop", "insilico", "pat"])
    data = ((0, (0.5, 0.9)), (1, (0.4, 0.8)))
    lines = [plots.Line(m, m, [1, 2], [0.45, 0.85], data) for m in ("insilico", "backprop")]
    lines.append(plots.Line("pat", "pat", [1, 2], [0.45, 0.85], ((0, (0.5, 0.9)),)))
    drawn = _plotted(lines, styles)
    assert set(drawn) == {"backprop", "insilico (= backprop)", "pat"}
    under, over = drawn["backprop"], drawn["insilico (= backprop)"]
    assert under.get_linestyle() == "-" and over.get_linestyle() != "-"
    assert over.get_markerfacecolor() == "none" and over.get_zorder() > under.get_zorder()
    assert plots.line_notes(lines) == [
        "backprop and insilico coincide (identical results on every seed)."
    ]


def test_tables_note_methods_with_identical_results(tmp_path):
    records = [_record(m, g, s, _accuracy("insilico", g, s), 0.9) for m in ("backprop", "insilico")
               for g in BASE for s in SEED_SHIFT]  # fmt: skip
    records += [_record("pat", g, s, _accuracy("pat", g, s), 0.9) for g in BASE for s in SEED_SHIFT]
    records[-4:-2] = [_record("pat", "none", s, _accuracy("insilico", "none", s), 0.9)
                      for s in SEED_SHIFT]  # fmt: skip
    markdown = write_report(records, tmp_path)["markdown"].read_text("utf-8")
    assert "backprop and insilico coincide (identical results on every seed)." in markdown
    assert (
        "backprop, insilico and pat coincide in the row diffractive/default · digits · none "
        "(identical results on every seed)." in markdown
    )


@pytest.mark.parametrize(
    ("cells", "bold"),
    [
        ([((0, 0.9), (1, 0.8)), ((0, 0.5), (1, 0.4))], {0}),  # 0.85 vs 0.45, std 0.07: bold
        ([((0, 0.9), (1, 0.5)), ((0, 0.5), (1, 0.4))], set()),  # 0.70 vs 0.45, std 0.28: no
        ([((0, 0.9),), ((0, 0.5),)], set()),  # one seed: no spread, never bold
        ([((0, 0.9), (1, 0.8)), ((0, 0.9), (1, 0.8)), ((0, 0.5), (1, 0.4))], {0, 1}),  # a tie
        ([((0, 0.9), (1, 0.8)), ()], set()),  # nothing to compare with
    ],
)
def test_bold_only_where_the_best_beats_the_runner_up_by_more_than_the_spread(cells, bold):
    assert tables.bold_cells(cells) == bold


def test_numbers_never_wrap_in_html_cells(report):
    assert "td.num{white-space:nowrap}" in report["html"]
    assert re.search(r'<td class="num"><strong>0\.885 ± 0\.021 \(120 queries\)</strong></td>',
                     report["html"])  # fmt: skip
    assert "<td>diffractive/default</td>" in report["html"]  # text cells may wrap
    assert render.count_text(18885) == "18\N{NARROW NO-BREAK SPACE}885"


def test_sweep_has_a_band_and_a_table_only_with_seeds(report, tmp_path):
    assert "Robustness: lateral misalignment σ (pixels) (2 seeds)" in report["md"]
    row = _row(report["md"], "| 0.4 |")
    assert row == "| 0.4 | 0.165 ± 0.007 | 0.465 ± 0.007 |"
    one_seed = [
        r for r in example_records() if (r["meta"].get("sweep") and r["config"]["seed"] == 0)
    ]
    markdown = write_report(one_seed, tmp_path)["markdown"].read_text("utf-8")
    assert "Robustness: lateral misalignment σ (pixels) (1 seed, no band)" in markdown
    assert "band" not in markdown.split("## Robustness")[1].split("(1 seed, no band)")[1]
    assert [plots.value_text(v) for v in (0.25, 1e3, 1e6, 2.5e7)] == [
        "0.25",
        "1000",
        "1e6",
        "2.5e7",
    ]


def test_reproducibility_says_what_the_runs_recorded_and_what_not(tmp_path):
    records = [_record("pat", "none", s, 0.9, 0.9) for s in SEED_SHIFT]
    environment = {"git_commit": "abc123", "python": "3.11.7", "cpu": "Some CPU", "threads": 1}
    records[0]["result"]["environment"] = environment
    markdown = write_report(records, tmp_path)["markdown"].read_text("utf-8")
    assert "| git commit | abc123 | recorded by 1 of 2 runs |" in markdown
    assert "| torch | 2.13.0+cpu | recorded by 2 of 2 runs |" in markdown
    assert "| logical CPUs |" in markdown and "(not recorded by the runs) |" in markdown
    records[1]["result"]["environment"] = {**environment, "git_commit": "def456"}
    markdown = write_report(records, tmp_path)["markdown"].read_text("utf-8")
    assert "| git commit | abc123 (1 runs), def456 (1 runs) | recorded by 2 of 2 runs |" in markdown


def test_a_robustness_band_stays_within_zero_and_one():
    points = {("pat", ""): {0.0: [(0, 0.99), (1, 0.80)], 1.0: [(0, 0.02), (1, 0.30)]}}
    (line,) = plots._sweep_lines(points)
    low, high = line.band
    assert max(high) <= 1.0 and min(low) >= 0.0
    assert high[0] == 1.0 and low[1] == 0.0  # 0.895 ± 0.134 and 0.16 ± 0.198, clipped


def test_the_procedures_table_counts_each_methods_device_operations():
    """One row per (system, gap, method): accuracy with spread, mean queries, writes, values
    written and pulses where a run reports them, the gradient cosine; bold beyond the spread."""
    records = [
        _record(m, "moderate", s, _accuracy(m, "moderate", s), 0.9) for m in METHODS for s in (0, 1)
    ]
    for r in records:
        r["result"]["values_written"] = 3 * r["result"]["param_writes"]
    for epoch, row in enumerate(records[-1]["result"]["history"]):  # pat, seed 1 only
        row["pulses"] = 500.0 * epoch  # 0 + 500 + 1000: 1 500 in all
    records[0]["meta"]["gradcheck"] = {"cosine": 0.5, "relative_error": 0.9}
    blocks = tables.procedures_section(records)
    (headers, rows) = next(body for kind, body in blocks if kind == "table")
    by_method = {row[2]: dict(zip(headers, row, strict=True)) for row in rows}
    assert set(by_method) == {"insilico", "pat"}
    pat, insilico = by_method["pat"], by_method["insilico"]
    assert pat["device accuracy"] == "0.885 ± 0.021" and isinstance(pat["device accuracy"],
                                                                    render.Bold)  # fmt: skip
    assert not isinstance(insilico["device accuracy"], render.Bold)
    assert (pat["queries"], pat["writes"], pat["values written"]) == ("120", "3", "9")
    assert (pat["pulses"], insilico["pulses"]) == ("1\N{NARROW NO-BREAK SPACE}500", "—")
    assert (insilico["gradient cosine"], pat["gradient cosine"]) == ("0.500", "—")
    assert tables.procedures_section(records, always=False) == []  # no physical method ran
    records[0]["config"]["method"] = records[0]["result"]["method"] = "adjoint"
    assert tables.procedures_section(records, always=False)
