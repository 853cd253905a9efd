# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Reading a benchmark report
#
# `physnn bench` runs a *suite* — systems × methods × gaps × seeds — stores every run in a SQLite
# store and writes a report (`report.md` and a self-contained `index.html`). Here a small suite of
# our own, in the same TOML format as the shipped ones (`physnn list suites`), through the Python
# API.

# %%
import tempfile
from pathlib import Path

from IPython.display import Image, Markdown, display

from physnn.bench.report import write_report
from physnn.bench.runner import report_records, run_suite
from physnn.bench.store import ResultStore
from physnn.bench.suite import load_suite

work = Path(tempfile.mkdtemp(prefix="physnn-suite-"))
(work / "mini.toml").write_text("""
name = "mini"
[defaults]
system = "diffractive"
dataset = "digits"
epochs = 2
limit_train = 256

[[entry]]
name = "methods"
methods = ["insilico", "pat"]
gaps = ["none", "moderate"]
seeds = [0, 1]
""")
suite = load_suite(work / "mini.toml")
print(len(suite.runs), "runs")
counts = run_suite(suite, work / "store.db", runs_dir=work / "runs", workers=1, progress=False)
print(counts)

# %% [markdown]
# The report's sections are tables and plots of the same runs: results (device accuracy, mean ±
# std over seeds, bold only where a method beats the others beyond the spread), learning curves,
# the cost to reach a target accuracy, the hardware bill with its Pareto plots, reproducibility.

# %%
with ResultStore(work / "store.db") as store:
    records = report_records(store.records("mini"))
paths = write_report(records, work / "report", title="mini")
text = paths["markdown"].read_text()
results = text.split("## Results", 1)[1].split("\n## ", 1)[0]
display(Markdown("## Results" + results))

# %%
curve = next(p for p in paths["plots"] if p.name.startswith("curve-") and "moderate" in p.name)
display(Image(filename=str(curve)))
print("the whole report:", paths["html"])
