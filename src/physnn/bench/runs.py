"""What the benchmark report reads from run records: which runs count, each run's row (system/
preset, dataset, gap) and column (its method), the fixed order of methods, and the statistics
over seeds that its tables and plots share."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from physnn.model_spec import substrate_label

# The reference methods come first in tables and legends, and take the first four colours and
# markers in every figure (physnn.bench.plots.method_styles); the others follow alphabetically.
REFERENCE_METHODS = ("backprop", "insilico", "noise-aware", "pat")


def done_runs(records: list[dict]) -> list[dict]:
    """The runs with a result: the only ones in the tables and plots."""
    return [r for r in records if r.get("status") == "done" and r.get("result")]


def plain_runs(done: list[dict]) -> list[dict]:
    """The trained runs that are not part of a parameter sweep (a ``gradcheck = "only"`` run
    has no training result: it is in the gradient-quality table alone)."""
    return [r for r in done if not run_meta(r, "sweep") and "device_accuracy" in r["result"]]


def run_field(record: dict, name: str) -> Any:
    """A run field from its result, falling back to its configuration."""
    result = record.get("result") or {}
    return result[name] if name in result else (record.get("config") or {}).get(name)


def run_meta(record: dict, name: str) -> Any:
    return (record.get("meta") or {}).get(name)


def run_row(record: dict) -> tuple[str, str, str]:
    """(system/preset, dataset, gap): the rows of the tables and the learning-curve plots; runs
    of a system with other options are other rows."""
    config = record.get("config") or {}
    system = substrate_label(config.get("system"), config.get("preset"), config.get("model", "pnn"))
    system += _options(run_field(record, "system_options"))
    return system, str(run_field(record, "dataset")), str(run_field(record, "gap"))


def run_method(record: dict) -> str:
    """The method's name, with its options when it has some: the columns of the tables. A run
    with the settings ``physnn tune`` chose is "method (tuned)", beside the method's default;
    a default that ``bench --tuned`` added at the tuning budget is "method (budget N)"."""
    method = run_field(record, "method")
    if run_meta(record, "tuned"):
        return f"{method} (tuned)"
    budget = f" (budget {budget})" if (budget := run_meta(record, "budget")) else ""
    return f"{method}{_options(run_field(record, 'method_options'))}{budget}"


def _options(options: dict | None) -> str:
    """The label suffix " (k=v, …)" of a table of options; "" for none."""
    if not options:
        return ""
    return " (" + ", ".join(f"{key}={value}" for key, value in sorted(options.items())) + ")"


def method_rank(method: str) -> tuple[int, str]:
    """The fixed order of methods (labels with options, "pat (lr=0.1)") in tables and legends:
    the reference methods, then the others alphabetically."""
    name = method.split(" (")[0]
    known = name in REFERENCE_METHODS
    return (REFERENCE_METHODS.index(name) if known else len(REFERENCE_METHODS), method)


def _names(names: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def coincidences(rows: dict[str, dict[str, Any]]) -> list[str]:
    """Notes naming the methods whose results (per seed, in ``rows[row][method]``) are
    identical: on every row where both have runs, or only in the rows named."""
    same: dict[tuple[str, str], list[str]] = defaultdict(list)
    shared: Counter[tuple[str, str]] = Counter()
    for row, by_method in rows.items():
        for pair in itertools.combinations(sorted(by_method, key=method_rank), 2):
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
        f"{_names(sorted(methods, key=method_rank))} coincide"
        + (f" in the row{'s' * (len(where) > 1)} {'; '.join(where)}" if where else "")
        + " (identical results on every seed)."
        for where, found in components.items()
        for methods in found
    ]


def unique(items: Iterable[Any]) -> list[Any]:
    """The distinct items in order of first appearance."""
    return list(dict.fromkeys(items))


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None below two values)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) >= 2 else None
