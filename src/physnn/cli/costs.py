"""``physnn cost``: what a run costs on the hardware (energy, time, wear) — of a finished run
priced again, of a configuration projected without training, across a substrate's sizes, the
cost presets and their sources, and the published headline figures recomputed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError

PARTS = ("queries", "conversions", "memory", "writes", "static", "digital")


def cmd_cost(args: argparse.Namespace) -> int:
    import physnn.substrates.builtin  # noqa: F401  (the substrates' cost models)

    if args.docs:
        return _docs(args)
    if args.check:
        return _check(args)
    if args.presets:
        return _presets(args)
    if args.sweep:
        return _sweep(args)
    bill = _reprice(args) if args.run_dir else _project(args)
    print(json.dumps(bill, indent=2) if args.json else bill_text(bill))
    return 0


def _reprice(args: argparse.Namespace) -> dict[str, Any]:
    """The bill of the finished run in ``args.run_dir`` (its recorded counts and workload),
    under this command's cost settings."""
    from physnn.cost.bill import RunCounts, bill
    from physnn.cost.model import Workload
    from physnn.cost.runs import cost_model, digital_cost

    path = Path(args.run_dir) / "result.json"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist: give the folder of a finished run")
    result = json.loads(path.read_text())
    recorded = result.get("cost") or {}
    if "counts" not in recorded:
        reason = recorded.get("unavailable", "a run older than the cost model")
        raise ConfigError(f"{str(path)!r} holds no cost counts ({reason})")
    config = result["config"]
    cost, options = _cost_settings(args, config.get("cost", "auto"), config.get("cost_options", {}))
    model = cost_model(config["system"], config["preset"], cost, options)
    work = Workload(**recorded["workload"])
    return bill(RunCounts(**recorded["counts"]), work, model, digital_cost(options))


def _cost_settings(args: argparse.Namespace, cost: str, options: dict) -> tuple[str, dict]:
    """The cost preset and options: the run's, then a --config file's, then the flags."""
    from physnn.train.config import load_toml

    if args.config:
        values = load_toml(args.config)
        cost = values.get("cost", cost)
        options = {**options, **values.get("cost_options", {})}
    return args.cost or cost, {**options, **dict(args.cost_option)}


def _project(args: argparse.Namespace) -> dict[str, Any]:
    from physnn.cli.run import resolve_config
    from physnn.train.costing import projected_cost
    from physnn.train.setup import validate_names

    config, _ = resolve_config(args)
    validate_names(config)
    return projected_cost(config)


def _sweep(args: argparse.Namespace) -> int:
    from physnn.cost.sweep import crossover, size_sweep
    from physnn.cost.units import format_quantity

    key, sep, raw = args.sweep.partition("=")
    if not sep or not raw:
        raise ConfigError(f"--sweep takes KEY=V1,V2,..., got {args.sweep!r}")
    values = [_number(v) for v in raw.split(",")]
    system = args.system or "diffractive"
    cost, options = _cost_settings(args, "auto", {})
    rows = size_sweep(system, key, values, preset=args.preset or "default",
                      system_options=dict(args.system_option), cost=cost,
                      cost_options=options)  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"one inference of {system} vs the same network on the digital processor:")
    print(f"  {key:>10} {'operations':>12} {'device':>12} {'digital':>12} {'advantage':>10}")
    for row in rows:
        device, digital = row["energy_J"], row["digital_energy_J"]
        print(f"  {row[key]:>10g} {row['operations']:>12.4g} "
              f"{format_quantity(device, 'J'):>12} {format_quantity(digital, 'J'):>12} "
              f"{row['advantage']:>10.3g}")  # fmt: skip
    where = crossover(rows, key)
    print(f"crossover at {key} ≈ {where:.3g}" if where else "no crossover in this range")
    if args.plot:
        from physnn.cost.plots import plot_sweep

        plot_sweep(rows, key, system, Path(args.plot))
        print(f"wrote {args.plot}")
    return 0


def _number(text: str) -> float | int:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--sweep values must be numbers, got {text!r}") from None
    return int(value) if value.is_integer() else value


def _presets(args: argparse.Namespace) -> int:
    from physnn.cost.docs import presets_markdown, presets_text

    systems = [args.system] if args.system else None
    print(presets_markdown(systems) if args.markdown else presets_text(systems))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from physnn.cost.docs import regenerate

    path = Path(args.docs)
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    new = regenerate(text)
    path.write_text(new, encoding="utf-8")
    print(f"{path}: generated blocks {'updated' if new != text else 'unchanged'}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from physnn.cost.docs import headlines_markdown
    from physnn.cost.headlines import check_headlines

    rows = check_headlines()
    if args.markdown:
        print(headlines_markdown())
    elif args.json:
        print(json.dumps([r.describe() for r in rows], indent=2))
    else:
        for r in rows:
            mark = "✓" if r.within else "✗"
            print(f"{mark} {r.source}: {r.figure} — published {r.published:g} {r.unit}, ours "
                  f"{r.ours:.4g} {r.unit} ({r.kind}; tolerance {r.tolerance:.0%})")  # fmt: skip
    return 0 if all(r.within for r in rows) else 1


def bill_text(bill: dict[str, Any]) -> str:
    """A bill in a few lines, with units."""
    from physnn.cost.units import format_quantity

    if "unavailable" in bill:
        return f"no bill: {bill['unavailable']}"
    model, train, infer = bill["model"], bill["training"], bill["inference"]
    energy, time = train["energy_J"], train["time_s"]
    lines = [f"cost model: {model['name']} — {model['reference']}"]
    if "projected" in bill:
        steps = bill["projected"]
        lines.append(f"projected from {steps['measured_steps']} measured steps to "
                     f"{steps['training_steps']} (no training)")  # fmt: skip
    parts = ", ".join(f"{p} {format_quantity(energy[p], 'J')}" for p in PARTS if energy[p])
    lines += [
        f"training energy: {format_quantity(energy['total'], 'J')} ({parts or 'nothing'})",
        f"training time on the hardware: {format_quantity(time['total'], 's')} (queries "
        f"{format_quantity(time['queries'], 's')}, writes {format_quantity(time['writes'], 's')},"
        f" digital {format_quantity(time['digital'], 's')})",
        f"wear: {train['writes_per_control']:.3g} writes per control, "
        f"{train['endurance_used']:.3g} of the endurance",
        f"one inference: {format_quantity(infer['energy_J'], 'J')} in "
        f"{format_quantity(infer['latency_s'], 's')}; the same network digitally "
        f"{format_quantity(infer['digital_energy_J'], 'J')} "
        f"({infer['advantage']:.3g}× the device's energy)",
    ]
    return "\n".join(lines)
