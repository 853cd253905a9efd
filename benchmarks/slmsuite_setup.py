"""Training slmsuite's simulated SLM and camera through physnn's slmsuite adapter.

    python benchmarks/slmsuite_setup.py [--seeds 0 1 2] [--level moderate] [--pat-epochs 10]
        [--zeroth spsa] [--zeroth-epochs 20] [--twin-option k=v ...]
        [--out /tmp/physnn-slmsuite] [--threads 1] [--json results.json]

For each seed, :func:`physnn.hardware.slm.simulated_setup` builds slmsuite's SimulatedSLM and
SimulatedCamera with a hidden imperfection drawn from the seed at the fourier gap ``--level``
(camera offset, magnification and rotation, beam waist, defocus and astigmatism, the SLM's
grey-level response; slmsuite adds its own 8-bit grey levels, FFT sampling, dark level, read
noise and 16-bit camera). The Fourier-plane classifier (``fourier``, default preset: a 32 × 32
SLM, 64 × 64 camera, 10 ROIs) is trained on 8×8 digits through
:class:`~physnn.hardware.slm.SlmsuiteInstrument` three ways: ``pat`` with the nominal twin,
``pat`` with the calibrated twin (fitted on data acquired from the device before training), and
a zeroth-order method (``--zeroth``, SPSA by default) given about twice pat's device queries.
It prints the device's test accuracy (measured on the device), the device queries, the wall
time, and the calibrated twin's fitted values beside the hidden truth (read from the setup for
this report only; the fit never sees it).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from twins import mean_std  # benchmarks/twins.py, beside this script

from physnn.cli.parsing import key_value
from physnn.hardware.adapter import InstrumentDevice
from physnn.hardware.slm import simulated_setup
from physnn.substrates import SUBSTRATES
from physnn.substrates.fourier.system import FourierNetwork
from physnn.train import TrainConfig, train


def truth_in_fit_units(system: FourierNetwork, truth: dict[str, Any], name: str) -> list[float]:
    """A hidden nuisance entry as the calibrated twin reports it: offset from the design in
    the entry's fit unit."""
    entry = SUBSTRATES["fourier"].calibratable[name]
    design = torch.as_tensor(system.nominal_nuisance()[name], dtype=torch.float64)
    value = torch.as_tensor(truth[name], dtype=torch.float64)
    return ((value - design) / entry.size(system)).reshape(-1).tolist()


def run_arm(
    args: argparse.Namespace, seed: int, method: str, twin: str, epochs: int
) -> dict[str, Any]:
    system = FourierNetwork.from_preset("default")
    setup = simulated_setup(system, seed, level=args.level)
    np.random.seed(seed)  # slmsuite's camera noise draws from numpy's global generator
    device = InstrumentDevice(setup.instrument(system))
    config = TrainConfig(
        system="fourier", method=method, dataset="digits", gap="none", seed=seed, epochs=epochs,
        twin=twin, twin_options=dict(args.twin_option) if twin == "calibrated" else {},
    )  # fmt: skip
    out = Path(args.out) / f"{method}-{twin}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = train(config, out, device=device, progress=False)
    row = {
        "seed": seed, "method": method, "twin": twin, "epochs": epochs,
        "device_accuracy": result["device_accuracy"], "twin_accuracy": result["twin_accuracy"],
        "device_queries": result["device_queries"],
        "calibration_queries": result["calibration_queries"],
        "eval_queries": result["eval_queries"], "wall_seconds": time.perf_counter() - start,
    }  # fmt: skip
    fit = result.get("twin_fit")
    if fit:
        row["fit"] = {
            name: {"unit": p["unit"], "fitted": np.ravel(p["values"]).tolist(),
                   "truth": truth_in_fit_units(system, setup.truth, name)}
            for name, p in fit["parameters"].items()
        }  # fmt: skip
        row["fit_error_before"], row["fit_error_after"] = (
            fit["error_before"],
            fit["validation_error"],
        )
        row["fit_seconds"] = fit["seconds"]
    return row


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'method':6} {'twin':10} {'epochs':>6} {'device accuracy':>16} {'per seed':>20} "
        f"{'queries':>8} {'+ calib.':>8} {'wall s':>7}"
    )
    lines = [head, "-" * len(head)]
    arms = dict.fromkeys((r["method"], r["twin"]) for r in rows)
    for method, twin in arms:
        mine = [r for r in rows if (r["method"], r["twin"]) == (method, twin)]
        accuracy = [r["device_accuracy"] for r in mine]
        seeds = ", ".join(f"{a:.3f}" for a in accuracy)
        lines.append(
            f"{method:6} {twin:10} {mine[0]['epochs']:>6} {mean_std(accuracy):>16} {seeds:>20} "
            f"{statistics.fmean(r['device_queries'] for r in mine):>8.0f} "
            f"{statistics.fmean(r['calibration_queries'] for r in mine):>8.0f} "
            f"{statistics.fmean(r['wall_seconds'] for r in mine):>7.0f}"
        )
    lines.append("device accuracy: digits test set (359 samples), measured on the device")
    return "\n".join(lines)


def fit_table(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in (r for r in rows if "fit" in r):
        lines.append(
            f"seed {r['seed']}: twin error {r['fit_error_before']:.3f} (nominal) → "
            f"{r['fit_error_after']:.3f} (calibrated), {r['calibration_queries']} queries, "
            f"{r['fit_seconds']:.0f} s"
        )
        for name, f in r["fit"].items():
            fitted = ", ".join(f"{v:+.2f}" for v in f["fitted"])
            truth = ", ".join(f"{v:+.2f}" for v in f["truth"])
            lines.append(f"  {name:15} fitted {fitted:>16}   truth {truth:>16}   ({f['unit']})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--level", default="moderate")
    parser.add_argument("--pat-epochs", type=int, default=10)
    parser.add_argument("--zeroth", default="spsa")
    parser.add_argument("--zeroth-epochs", type=int, default=20)
    parser.add_argument("--twin-option", type=key_value, action="append", default=[])
    parser.add_argument("--out", default="/tmp/physnn-slmsuite")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.WARNING)  # slmsuite logs every SLM and camera it builds
    warnings.filterwarnings("ignore", message="cupy is not installed")
    arms = (("pat", "nominal", args.pat_epochs), ("pat", "calibrated", args.pat_epochs),
            (args.zeroth, "nominal", args.zeroth_epochs))  # fmt: skip
    rows = [run_arm(args, seed, *arm) for arm in arms for seed in args.seeds]
    print(table(rows))
    print()
    print(fit_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
