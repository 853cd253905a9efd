"""Queries to accuracy: the zeroth-order estimators against backpropagation on the digits.

    python benchmarks/zeroth_order.py [--system diffractive] [--gap moderate] [--max-queries 200000]
        [--epochs 30] [--seeds 0 1 2] [--target 0.5] [--out /tmp/physnn-zo] [--json]

Each zeroth-order method (default options) trains under the same device-query budget; the table
gives, per method, the mean test accuracy on the device, the training queries spent, and the
queries after which the validation accuracy on the device first reached ``--target`` (median over
the seeds that reached it, and how many did). ``backprop`` (twin accuracy, no device queries) is
the digital reference; ``pat`` is the model-based method that queries the device.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import physnn.methods.zeroth_order  # noqa: F401  (registers fd, spsa, mgd, es)
from physnn.train import TrainConfig, train

METHODS = ("backprop", "pat", "fd", "spsa", "mgd", "es")


def queries_to(target: float, history: list[dict]) -> int | None:
    """Training queries when the device's validation accuracy first reached ``target``."""
    for row in history:
        if row["val_device_accuracy"] >= target:
            return row["device_queries"]
    return None


def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    for method in args.methods:
        results = []
        for seed in args.seeds:
            config = TrainConfig(
                system=args.system,
                method=method,
                dataset="digits",
                gap=args.gap,
                seed=seed,
                epochs=args.epochs,
                max_queries=args.max_queries,
            )
            out = Path(args.out) / f"{args.system}-{method}-{args.gap}-{seed}"
            results.append(train(config, out, resume="if-possible", progress=False))
        reached = [q for r in results if (q := queries_to(args.target, r["history"])) is not None]
        accuracy = [r["accuracy"] for r in results]
        rows.append(
            {
                "method": method,
                "headline": results[0]["headline"],
                "accuracy_mean": statistics.fmean(accuracy),
                "accuracy_std": statistics.pstdev(accuracy),
                "device_queries": statistics.fmean(r["device_queries"] for r in results),
                "queries_to_target": statistics.median(reached) if reached else None,
                "seeds_reaching_target": len(reached),
                "seeds": len(results),
                "wall_seconds": statistics.fmean(r["wall_seconds"] for r in results),
            }
        )
    return rows


def table(rows: list[dict], target: float) -> str:
    head = f"{'method':10} {'accuracy':>15} {'queries':>10} {f'to {target:.0%}':>12} {'wall s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        acc = f"{r['accuracy_mean']:.3f} ± {r['accuracy_std']:.3f}"
        if r["headline"] == "twin":
            acc += "*"
        to, reached = r["queries_to_target"], f"({r['seeds_reaching_target']}/{r['seeds']})"
        to_text = "never" if to is None else f"{to:.0f} {reached}"
        lines.append(
            f"{r['method']:10} {acc:>15} {r['device_queries']:>10.0f} {to_text:>12} "
            f"{r['wall_seconds']:>8.1f}"
        )
    lines.append("* twin accuracy (the digital reference makes no device queries)")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--system", default="diffractive")
    p.add_argument("--gap", default="moderate")
    p.add_argument("--max-queries", type=int, default=200_000)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--target", type=float, default=0.5)
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--out", default="/tmp/physnn-zo")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args()
    rows = run(args)
    print(json.dumps(rows, indent=2) if args.json else table(rows, args.target))


if __name__ == "__main__":
    main()
