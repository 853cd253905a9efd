"""Every foundation method at every reality-gap level: test accuracy on the device and the twin.

    python benchmarks/gap_matrix.py [--seeds 0 1 2] [--out physnn-runs/gap-matrix] [train options]

Runs `physnn train` in-process for methods × gaps × seeds (finished runs are reused through
--resume) and prints a Markdown table of mean ± std test accuracy, device queries and wall time.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from physnn.train import TrainConfig, train

METHODS = ("backprop", "insilico", "noise-aware", "pat")
GAPS = ("none", "mild", "moderate", "severe")


def _fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--gaps", nargs="+", default=list(GAPS))
    parser.add_argument("--out", default="physnn-runs/gap-matrix")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--dataset", default=TrainConfig.dataset)
    args = parser.parse_args()

    print("| gap | method | device accuracy | twin accuracy | device queries | wall s |")
    print("|---|---|---|---|---|---|")
    for gap in args.gaps:
        for method in args.methods:
            results = []
            for seed in args.seeds:
                config = TrainConfig(
                    method=method, gap=gap, seed=seed, epochs=args.epochs, dataset=args.dataset
                )
                out = Path(args.out) / f"{method}-{gap}-seed{seed}"
                results.append(train(config, out, resume=True, progress=False))
            device = [r["device_accuracy"] for r in results]
            twin = [r["twin_accuracy"] for r in results]
            queries = results[0]["device_queries"]
            wall = max(r["wall_seconds"] for r in results)
            print(f"| {gap} | {method} | {_fmt(device)} | {_fmt(twin)} | {queries} | {wall:.1f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
