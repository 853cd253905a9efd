"""In-memory SGD on the crossbar (``analog-sgd``, Gokmen & Vlasov 2016): the pulsed update's
quality against the pulse train length, and short trainings against ``pat`` and ``insilico``.

(a) On one batch of digits on the default crossbar (64 → 32, 8-bit converters, ReLU), with the
untrained readout: the cosine and the relative error of the weight change that the stochastic
pulse coincidences write, Σ_b n_b Δw_min, against the update they stand for, −η Σ_b δ_b x_bᵀ,
averaged over draws, for BL = 1 … 50, at η = 0.01 and (i) the paper's Δw_min = 0.001
(C = √(η/(BL Δw_min)) falls with BL) and (ii) Δw_min = η/BL (C = 1: a longer train holds finer
pulses). Saves ``docs/img/crossbar-pulsed-bl.png``.

(b) Digits on the default crossbar, a few epochs: ``analog-sgd`` against ``pat``,
``insilico`` and ``analog-sgd`` with η ≈ 0 (the readout alone), at gap ``moderate``
(write-verified PCM) and with RRAM pulsed updates (gap ``none`` with ``pulse_step`` 0.002,
``update_asymmetry`` 0.1, ``device_variation`` 0.3, ``cycle_variation`` 0.3, soft bounds):
test accuracy on the device and, for ``analog-sgd``, the pulses fired per epoch. The
Tiki-Taka row (Gokmen & Haensch, Front. Neurosci. 14, 103 (2020)) trains a crossbar with a
fast array (``tiki_taka``) by ``analog-sgd`` with ``algorithm`` tiki-taka.

(c) ``--mnist``: the same trainings on MNIST on the ``legallo2023`` crossbar (784 → 256, ReLU,
a digital readout), ``--limit-train`` samples, with the RRAM knobs' ``pulse_step`` 0.001.

    python benchmarks/crossbar_pulsed.py [--draws 20] [--epochs 5] [--skip-training]
    python benchmarks/crossbar_pulsed.py --mnist --skip-bl --epochs 2 --limit-train 2000 \
        [--data-dir DIR] [--gaps moderate rram]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from physnn.physics.crossbar import pulse_coincidences
from physnn.train import TrainConfig, build_experiment, train

LR, PAPER_DW_MIN = 0.01, 0.001
LENGTHS = (1, 2, 5, 10, 20, 50)
RRAM = {"pulse_step": 0.002, "update_nonlinearity": 1.0, "update_asymmetry": 0.1,
        "device_variation": 0.3, "cycle_variation": 0.3}  # fmt: skip
PLOT = "docs/img/crossbar-pulsed-bl.png"


def batch_signals(batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows' DAC inputs and the columns' per-sample errors of one measured batch."""
    exp = build_experiment(TrainConfig(system="crossbar", method="analog-sgd", gap="none"))
    split = exp.model.physical_first("analog-sgd", "writes pulses into")
    x, y = exp.dataset.x_train[:batch], exp.dataset.y_train[:batch]
    measured = split.measure(x)
    _, _, g = split.readout_gradient(measured, y, F.cross_entropy)
    return exp.system.update_signals(x, measured, g * batch)


def quality(inputs, errors, bl: int, dw_min: float, draws: int) -> tuple[float, float]:
    """Mean cosine and relative error of the pulsed update against −η Σ δ xᵀ."""
    exact = (-LR * errors.T @ inputs).flatten()
    gen = torch.Generator().manual_seed(0)
    scale = math.sqrt(LR / (bl * dw_min))
    cosines, errs = [], []
    for _ in range(draws):
        update = (pulse_coincidences(inputs, errors, scale, bl, gen).sum(0) * dw_min).flatten()
        cosines.append(float(F.cosine_similarity(update, exact, dim=0)))
        errs.append(float((update - exact).norm() / exact.norm()))
    return sum(cosines) / draws, sum(errs) / draws


def pulse_quality(draws: int) -> None:
    inputs, errors = batch_signals()
    series = {
        f"Δw_min = {PAPER_DW_MIN:g} (C falls with BL)": lambda bl: PAPER_DW_MIN,
        "Δw_min = η/BL (C = 1)": lambda bl: LR / bl,
    }
    fig, (ax_cos, ax_err) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120)
    print("| setting | " + " | ".join(f"BL = {bl}" for bl in LENGTHS) + " |")
    print("|---|" + "---|" * len(LENGTHS))
    for label, dw_min in series.items():
        rows = [quality(inputs, errors, bl, dw_min(bl), draws) for bl in LENGTHS]
        print(f"| {label}: cosine | " + " | ".join(f"{c:.3f}" for c, _ in rows) + " |")
        print(f"| {label}: rel. error | " + " | ".join(f"{e:.3f}" for _, e in rows) + " |")
        ax_cos.plot(LENGTHS, [c for c, _ in rows], "o-", label=label)
        ax_err.plot(LENGTHS, [e for _, e in rows], "o-", label=label)
    for ax, what in ((ax_cos, "cosine to −η Σ δ xᵀ"), (ax_err, "relative error")):
        ax.set_xscale("log")
        ax.set_xlabel("pulse train length BL")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    ax_cos.legend(fontsize=7)
    fig.suptitle(f"stochastic pulse update, one batch of 64 digits, η = {LR}", fontsize=9)
    fig.tight_layout()
    fig.savefig(PLOT)
    print(f"saved {PLOT}")


@dataclass(frozen=True)
class Task:
    """What the trainings learn: a dataset on a crossbar preset."""

    dataset: str = "digits"
    preset: str = "default"
    limit_train: int | None = None
    data_dir: str | None = None
    pulse_step: float = RRAM["pulse_step"]


# label: (method, analog-sgd's η or None, analog-sgd's algorithm)
RUNS = {"analog-sgd": ("analog-sgd", LR, "sgd"), "analog-sgd, tiki-taka": ("analog-sgd", LR,
        "tiki-taka"), "pat": ("pat", None, None), "insilico": ("insilico", None, None),
        "analog-sgd, tile frozen (readout only)": ("analog-sgd", 1e-12, "sgd")}  # fmt: skip


def trainings(epochs: int, task: Task, gaps: list[str]) -> None:
    rram = {**RRAM, "pulse_step": task.pulse_step}
    settings = {"moderate": ("moderate (PCM, verified writes)", "moderate", {}, PAPER_DW_MIN),
                "rram": ("RRAM pulsed updates", "none", rram, task.pulse_step)}  # fmt: skip
    print("| gap | method | device accuracy | pulses per epoch | writes | wall time (s) |")
    print("|---|---|---|---|---|---|")
    for label, gap, knobs, dw_min in (settings[g] for g in gaps):
        for name, (method, lr, algorithm) in RUNS.items():
            options = {"dw_min": dw_min, "lr": lr, "algorithm": algorithm} if lr else {}
            config = TrainConfig(system="crossbar", preset=task.preset, method=method,
                                 system_options={"tiki_taka": algorithm == "tiki-taka"},
                                 method_options=options, dataset=task.dataset,
                                 data_dir=task.data_dir, limit_train=task.limit_train, gap=gap,
                                 gap_options=knobs, epochs=epochs, seed=0)  # fmt: skip
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as out:
                result = train(config, out, progress=False)
            wall = time.perf_counter() - start
            pulses = [row["pulses"] for row in result["history"] if "pulses" in row]
            shown = f"{sum(pulses) / len(pulses):.3g}" if pulses else "—"
            print(f"| {label} | {name} | {result['device_accuracy']:.3f} | {shown} | "
                  f"{result['param_writes']} | {wall:.0f} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-bl", action="store_true", help="skip (a), the pulse quality")
    parser.add_argument("--mnist", action="store_true", help="train on MNIST, legallo2023")
    parser.add_argument("--limit-train", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--gaps", nargs="+", choices=("moderate", "rram"),
                        default=["moderate", "rram"])  # fmt: skip
    args = parser.parse_args()
    if not args.skip_bl:
        pulse_quality(args.draws)
    task = Task(limit_train=args.limit_train, data_dir=args.data_dir)
    if args.mnist:
        task = Task("mnist", "legallo2023", args.limit_train, args.data_dir, PAPER_DW_MIN)
    if not args.skip_training:
        trainings(args.epochs, task, args.gaps)


if __name__ == "__main__":
    main()
