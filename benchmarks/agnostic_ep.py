"""Agnostic equilibrium propagation (``agnostic-ep``, Scellier et al. 2022) on the elastic
network: the gradient the parameters' own motion measures against the time they move.

``physnn gradcheck`` at gap ``none`` (two batches of 32 digits, the default 100-node network with
trainable rest strains, ``train=rest_length``): the cosine and the relative error of
ĝ = −Δθ / (T Δβ) against the exact gradient, for the duration T = t/γ of the nudged phase
(``agnostic_time``, in units of γ/(k₀ L̄²)), with the controller's force held in a −β phase
(``agnostic_symmetric``, the default) and in the free phase (the paper's two phases). The
stiffness-trained network (the default ``train``) is shown at the default T for reference: its
parameters are far softer, so its motion bias is negligible at any T tried here. Saves
``docs/img/agnostic-ep.png`` and prints the numbers.

    python benchmarks/agnostic_ep.py [--batches 2]
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from physnn.train import TrainConfig
from physnn.train.gradcheck import gradcheck

TIMES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
PLOT = "docs/img/agnostic-ep.png"


def check(batches: int, **options: object) -> tuple[float, float]:
    """Cosine and relative error of agnostic-ep on the elastic network with these options."""
    config = TrainConfig(
        system="elastic", method="agnostic-ep", gap="none", system_options=dict(options)
    )
    report = gradcheck(config, batches=batches)
    return report["cosine"], report["relative_error"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    curves = {}
    for symmetric in (True, False):
        label = "hold at −β (symmetric)" if symmetric else "hold at free (one-sided)"
        rows = [
            check(args.batches, train="rest_length", agnostic_time=t, agnostic_symmetric=symmetric)
            for t in TIMES
        ]
        curves[label] = rows
        print(label)
        for t, (cosine, error) in zip(TIMES, rows, strict=True):
            print(f"  T = {t:<6g} cosine {cosine:.6f}  relative error {error:.4f}")
    for symmetric in (True, False):
        cosine, error = check(args.batches, agnostic_symmetric=symmetric)
        print(f"train=stiffness, T = 0.1, symmetric={symmetric}: cosine {cosine:.6f}, "
              f"relative error {error:.4f}")  # fmt: skip
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for label, rows in curves.items():
        left.semilogx(TIMES, [c for c, _ in rows], "o-", label=label)
        right.loglog(TIMES, [e for _, e in rows], "o-", label=label)
    left.set(xlabel="nudged-phase duration T = t/γ", ylabel="cosine to the gradient")
    right.set(xlabel="nudged-phase duration T = t/γ", ylabel="relative error")
    left.legend()
    figure.suptitle("agnostic EP, elastic network (rest strains), gap none")
    figure.tight_layout()
    figure.savefig(PLOT, dpi=120)
    print(f"saved {PLOT}")


if __name__ == "__main__":
    main()
