"""Feedback alignment and direct feedback alignment vs backpropagation on a digital MLP (MNIST).

    python benchmarks/digital_reference.py [--epochs 10] [--seeds 0 1 2] [--lr 0.001]
                                           [--data-dir ../shared/data] [--out DIR]

The substrate-free reference of the two methods: the same tanh MLP 784-256-256-10 (physnn model
``mlp:256,256``), the same data order, initialization, Adam and learning rate, trained by
``backprop``, ``fa`` and ``dfa`` (digital projector). This is the setting of Nøkland (NeurIPS
2016, tanh MLPs on permutation-invariant MNIST) and of the GPU baseline of Launay et al. (2020),
scaled to a CPU: 256 instead of 800–1024 hidden units and 10 instead of hundreds of epochs. The
script prints the test accuracy (mean ± std over seeds), the wall time and the final angles
between each method's update and the exact gradient (``alignment_deg``: all weights,
``alignment_hidden_deg``: the hidden layers), from physnn's own training loop.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import physnn.methods.feedback_alignment  # noqa: F401  (registers fa and dfa)
from physnn.train import TrainConfig, train

METHODS = ("backprop", "fa", "dfa")
ANGLES = {"alignment_deg": "all", "alignment_hidden_deg": "hidden"}


def run(method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    options = {} if method == "backprop" else {"track_alignment": True}
    config = TrainConfig(
        method=method,
        method_options=options,
        model="mlp:256,256",
        dataset="mnist",
        data_dir=args.data_dir,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=seed,
        gap="none",
    )
    return train(config, Path(args.out) / f"{method}-s{seed}", overwrite=True, progress=False)


def summary(results: list[dict[str, Any]]) -> str:
    accuracy = [r["device_accuracy"] for r in results]
    spread = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
    last = results[0]["history"][-1]
    angles = "".join(f"  {name} {last[key]:5.1f}°" for key, name in ANGLES.items() if key in last)
    wall = statistics.mean(r["wall_seconds"] for r in results)
    return f"{statistics.mean(accuracy):.4f} ± {spread:.4f}  {wall:7.1f} s{angles}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=str(Path(__file__).parents[2] / "shared" / "data"))
    parser.add_argument("--out", default="physnn-runs/digital-reference")
    args = parser.parse_args()
    print(f"mlp:256,256 on MNIST, {args.epochs} epochs, Adam lr {args.lr}, seeds {args.seeds}")
    print("method    test accuracy      wall time  angle to the exact gradient (first seed)")
    for method in METHODS:
        results = [run(method, seed, args) for seed in args.seeds]
        print(f"{method:9s} {summary(results)}")


if __name__ == "__main__":
    main()
