"""``physnn list``: systems, methods, datasets, gap levels and suites from the static catalogue
(no torch), as text or JSON, and the method × system matrix of what learns."""

from __future__ import annotations

import argparse
import json
from typing import Any

LIST_SECTIONS = ("systems", "methods", "datasets", "gaps", "suites", "matrix")
OVERVIEW = LIST_SECTIONS[:-1]  # `physnn list` without the matrix (one row per method)


def cmd_list(args: argparse.Namespace) -> int:
    from physnn.catalogue import catalogue

    # plug-ins are named without importing them, except where their details are shown
    info = catalogue(load_plugins=args.json or args.verbose or args.what == "matrix")
    if args.json:
        print(json.dumps(info if args.what is None else {args.what: _section(info, args.what)},
                         indent=2))  # fmt: skip
        return 0
    sections = [args.what] if args.what else LIST_SECTIONS if args.verbose else OVERVIEW
    for section in sections:
        PRINTERS[section](info, args.verbose)
    if not args.what and not args.verbose:
        print("more: physnn list --verbose (presets, controls, gap knobs, references), "
              "physnn list matrix (which method learns on which system), "
              "physnn list --json")  # fmt: skip
    return 0


def _section(info: dict[str, Any], what: str) -> Any:
    return {"gaps": {"levels": info["gaps"], "knobs": info["gap_knobs"]}}.get(what, info.get(what))


def _print_systems(info: dict[str, Any], verbose: bool) -> None:
    print("systems:")
    for s in info["systems"]:
        print(f"  {s['name']:<14} {s['description']}")
        if not verbose:
            continue
        print(f"  {'':<14} presets: {', '.join(s['presets'])}; "
              f"learning rate {s['learning_rate']:g}")  # fmt: skip
        controls = "; ".join(f"{k} {v}" for k, v in s["controls"].items())
        print(f"  {'':<14} controls (default preset): {controls}")
        if s["non_idealities"]:
            print(f"  {'':<14} non-idealities: {', '.join(s['non_idealities'])}")


def _print_methods(info: dict[str, Any], verbose: bool) -> None:
    print("methods:")
    for m in info["methods"]:
        reference = f" [{m['reference']}]" if verbose else ""
        print(f"  {m['name']:<14} {m['summary']}{reference}")


def _print_datasets(info: dict[str, Any], verbose: bool) -> None:
    print("datasets:")
    for d in info["datasets"]:
        print(f"  {d['name']:<14} {d['description']}")
        if verbose and "source" in d:
            files = "; needs files (--data-dir)" if d["needs_files"] else ""
            print(f"  {'':<14} {d['size']}; {d['source']}{files}")


def _print_gaps(info: dict[str, Any], verbose: bool) -> None:
    more = "" if verbose else " (each system's knobs: physnn list gaps -v)"
    print(f"reality-gap levels: {', '.join(info['gaps'])}{more}")
    if not verbose:
        return
    for system, family in info["gap_knobs"].items():
        print(f"  gap knobs of {system} (-G KEY=VALUE):")
        for knob, meaning in family["knobs"].items():
            print(f"    {knob:<16} {meaning}")


def _print_suites(info: dict[str, Any], verbose: bool) -> None:
    print("benchmark suites:")
    for suite in info["suites"]:
        print(f"  {suite['name']:<14} {suite['description']}")
        if verbose:
            print(f"  {'':<14} {suite['path']}")


# the cell of each learning status (catalogue "learning"; a pair of "matrix" not in it trains)
_CELLS = {"trains": "yes", "cannot learn here": "no", "simulation-only": "sim"}


def _cell(info: dict[str, Any], method: str, system: str) -> str:
    if method not in info["matrix"][system]:
        return "-"
    return _CELLS[info["learning"].get(method, {}).get(system, {}).get("status", "trains")]


def _print_matrix(info: dict[str, Any], verbose: bool) -> None:
    """Methods as rows (they are many), systems as columns (each as wide as its name), then the
    reason of every pair that runs but cannot learn, or learns in simulation only."""
    methods = [m["name"] for m in info["methods"]]
    systems = list(info["matrix"])
    first = max(len(m) for m in methods) + 4
    print("compatibility and learning (method × system, pnn model): yes trains (shown by a test), "
          "no runs but cannot learn here, sim simulation-only, - not applicable")  # fmt: skip
    print(" " * first + "  ".join(systems))
    for method in methods:
        cells = "  ".join(f"{_cell(info, method, s):<{len(s)}}" for s in systems)
        print(f"  {method:<{first - 2}}{cells}".rstrip())
    groups: dict[tuple[str, str, str], list[str]] = {}  # (status, systems, reason) → methods
    for method, statuses in info["learning"].items():
        for status, reason in sorted({(v["status"], v["reason"]) for v in statuses.values()}):
            where = ", ".join(s for s, v in statuses.items() if v["reason"] == reason)
            groups.setdefault((status, where, reason), []).append(method)
    for (status, where, reason), names in groups.items():
        print(f"{status}: {', '.join(names)} on {where}: {reason}")


PRINTERS = {"systems": _print_systems, "methods": _print_methods, "datasets": _print_datasets,
            "gaps": _print_gaps, "suites": _print_suites, "matrix": _print_matrix}  # fmt: skip
