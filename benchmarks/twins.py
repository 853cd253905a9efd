"""Fitted digital twins: PAT with a learned twin, and calibration of a misaligned D2NN.

    python benchmarks/twins.py learned [--system oscillators] [--gap moderate] [--epochs 5]
        [--seeds 0 1] [--twin-option k=v ...] [--out /tmp/physnn-twins] [--threads 1] [--json]
    python benchmarks/twins.py calibration [--gap moderate] [--lateral 1.0] [--gap-option k=v ...]
        [--tolerance 0.2] [--epochs 10] [--seeds 0] [--twin-option k=v ...]
        [--out /tmp/physnn-twins] [--threads 1] [--json]

``learned`` trains the same PNN three ways on the same hidden device: ``pat`` with a learned
neural twin (Wright et al., Nature 601, 549 (2022): a surrogate fitted to measured data, no
physics), ``pat`` with the nominal physics twin, and ``insilico`` with the nominal twin; it
reports the test accuracy on the device, the twin's held-out error and the calibration queries.

``calibration`` draws the diffractive network's hidden device at ``--gap`` with the lateral
misalignment σ set by ``--lateral`` (pixel pitches) and any other knob set by ``--gap-option``
(e.g. ``--gap none --gap-option photons=1e6``: misalignment and detector noise only), fits a
calibrated twin (plane shifts, axial offsets, absorption), prints the true and fitted shift of
every plane against ``--tolerance`` (pixels), then trains ``insilico`` with the nominal and with
the calibrated twin and reports their accuracy on the device. The truth is read from the
simulated device for this report only; the fit never sees it. Perturbations the twin does not
model (fabrication phase error, phase quantization) stay unmodelled.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path
from typing import Any

import torch

from physnn.train import TrainConfig, train
from physnn.train.setup import build_experiment

LEARNED_TWIN = {"settings": 512, "samples_per_setting": 8, "steps": 3000, "width": 256,
                "depth": 2, "lr": 1e-3}  # fmt: skip
"""The learned twin of the ``learned`` comparison (4096 calibration queries)."""


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs, values read as JSON where they parse (numbers, lists), else strings."""
    options = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def tag(options: dict[str, Any]) -> str:
    """A short name for a set of twin options (runs with other options go elsewhere)."""
    if not options:
        return ""
    return "-" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]


def mean_std(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}"


def learned(args: argparse.Namespace) -> list[dict[str, Any]]:
    twin_options = {**LEARNED_TWIN, **parse_options(args.twin_option)}
    arms = (
        ("pat", "learned", twin_options),
        ("pat", "nominal", {}),
        ("insilico", "nominal", {}),
    )
    rows = []
    for method, twin, options in arms:
        results = []
        for seed in args.seeds:
            config = TrainConfig(
                system=args.system, method=method, dataset="digits", gap=args.gap, seed=seed,
                epochs=args.epochs, twin=twin, twin_options=options,
            )  # fmt: skip
            out = Path(args.out) / f"{args.system}-{method}-{twin}{tag(options)}-{args.gap}-{seed}"
            results.append(train(config, out, resume=True, progress=False))
        fits = [r.get("twin_fit", {}) for r in results]
        rows.append(
            {
                "method": method,
                "twin": twin,
                "device_accuracy": [r["device_accuracy"] for r in results],
                "twin_accuracy": [r["twin_accuracy"] for r in results],
                "twin_error": [f["validation_error"] for f in fits if f],
                "nominal_error": [f["error_before"] for f in fits if f],
                "calibration_queries": statistics.fmean(r["calibration_queries"] for r in results),
                "refits": [r["history"][-1].get("twin_refits", 0) for r in results],
                "wall_seconds": statistics.fmean(r["wall_seconds"] for r in results),
            }
        )
    return rows


def learned_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'method':9} {'twin':8} {'device acc':>15} {'twin err':>15} {'nominal err':>12} "
        f"{'cal. queries':>12} {'refits':>7} {'wall s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        error = mean_std(r["twin_error"]) if r["twin_error"] else "-"
        nominal = f"{statistics.fmean(r['nominal_error']):.3f}" if r["nominal_error"] else "-"
        lines.append(
            f"{r['method']:9} {r['twin']:8} {mean_std(r['device_accuracy']):>15} {error:>15} "
            f"{nominal:>12} {r['calibration_queries']:>12.0f} {sum(r['refits']):>7} "
            f"{r['wall_seconds']:>7.0f}"
        )
    lines.append("twin err: relative rms error on held-out control settings (nominal err: the")
    lines.append("nominal physics twin on the same data); accuracy: test set, on the device")
    return "\n".join(lines)


def calibration(args: argparse.Namespace) -> list[dict[str, Any]]:
    options = parse_options(args.twin_option)
    gap_options = {"lateral": args.lateral, **parse_options(args.gap_option)}
    rows = []
    for seed in args.seeds:
        config = TrainConfig(
            system="diffractive", method="insilico", gap=args.gap, gap_options=gap_options,
            seed=seed, epochs=args.epochs, twin="calibrated", twin_options=options,
        )  # fmt: skip
        exp = build_experiment(config)  # its simulated device holds the hidden truth
        pitch = exp.system.config.pitch
        true = exp.device._nuisance["plane_shift"] / pitch  # diagnostics only
        results = {}
        for twin, twin_options in (("nominal", {}), ("calibrated", options)):
            run = TrainConfig(**{**config.to_dict(), "twin": twin, "twin_options": twin_options})
            name = f"diffractive-insilico-{twin}{tag(twin_options)}-{exp.reality.level}-{seed}"
            out = Path(args.out) / name
            results[twin] = train(run, out, resume=True, progress=False)
        fit = results["calibrated"]["twin_fit"]
        found = torch.tensor(fit["parameters"]["plane_shift"]["values"])
        rows.append(
            {
                "seed": seed,
                "pitch_um": pitch * 1e6,
                "true_shift_px": true.tolist(),
                "fitted_shift_px": found.tolist(),
                "max_shift_error_px": float((found - true).abs().max()),
                "rms_shift_error_px": float((found - true).square().mean().sqrt()),
                "true_dz_wavelengths": (
                    exp.device._nuisance["plane_dz"] / exp.system.config.wavelength
                ).tolist(),
                "fitted_dz_wavelengths": fit["parameters"]["plane_dz"]["values"],
                "error_before": fit["error_before"],
                "validation_error": fit["validation_error"],
                "calibration_queries": fit["queries"],
                "fit_seconds": fit["seconds"],
                "start_errors": fit["starts"]["errors"],
                "chosen_start": fit["starts"]["chosen"],
                "insilico_nominal": results["nominal"]["device_accuracy"],
                "insilico_calibrated": results["calibrated"]["device_accuracy"],
            }
        )
    return rows


def calibration_table(rows: list[dict[str, Any]], tolerance: float) -> str:
    lines = []
    for r in rows:
        lines.append(f"seed {r['seed']} (pixel pitch {r['pitch_um']:.0f} µm)")
        lines.append(f"  {'plane':>5} {'true x, y (px)':>18} {'fitted x, y (px)':>18}")
        for k, (t, f) in enumerate(zip(r["true_shift_px"], r["fitted_shift_px"], strict=True)):
            lines.append(f"  {k:>5} {t[0]:>8.3f} {t[1]:>8.3f}   {f[0]:>8.3f} {f[1]:>8.3f}")
        ok = "within" if r["max_shift_error_px"] <= tolerance else "OUTSIDE"
        lines.append(
            f"  max |error| {r['max_shift_error_px']:.3f} px "
            f"({r['max_shift_error_px'] * r['pitch_um']:.0f} µm), {ok} the {tolerance} px "
            f"tolerance; rms {r['rms_shift_error_px']:.3f} px "
            f"({r['rms_shift_error_px'] * r['pitch_um']:.0f} µm)"
        )
        starts = ", ".join(f"{e:.3f}" for e in r["start_errors"])
        lines.append(f"  starts' errors after scouting: {starts}; continued: {r['chosen_start']}")
        pairs = zip(r["true_dz_wavelengths"], r["fitted_dz_wavelengths"], strict=True)
        dz = ", ".join(f"{t:.2f}→{f:.2f}" for t, f in pairs)
        lines.append(f"  axial offsets true→fitted (wavelengths): {dz}")
        lines.append(
            f"  twin error {r['error_before']:.3f} (nominal) → {r['validation_error']:.3f} "
            f"(calibrated), {r['calibration_queries']} queries, {r['fit_seconds']:.0f} s"
        )
        lines.append(
            f"  insilico device accuracy: nominal twin {r['insilico_nominal']:.3f}, "
            f"calibrated twin {r['insilico_calibrated']:.3f}"
        )
    inside = sum(r["max_shift_error_px"] <= tolerance for r in rows)
    worst = max(r["max_shift_error_px"] for r in rows)
    lines.append(
        f"{inside}/{len(rows)} seeds within {tolerance} px; worst max |error| {worst:.3f} px; "
        f"fit {statistics.fmean(r['fit_seconds'] for r in rows):.0f} s on average"
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("learned", "calibration"))
    p.add_argument("--system", default="oscillators", help="learned: the substrate")
    p.add_argument("--gap", default="moderate")
    p.add_argument("--lateral", type=float, default=1.0, help="calibration: σ in pixel pitches")
    p.add_argument(
        "--gap-option", action="append", default=[], metavar="K=V", help="calibration: gap knob"
    )
    p.add_argument("--tolerance", type=float, default=0.2, help="calibration: pixels")
    p.add_argument("--epochs", type=int, default=None, help="default: 5 (learned), 10")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 (learned), 0")
    p.add_argument("--twin-option", action="append", default=[], metavar="K=V")
    p.add_argument("--out", default="/tmp/physnn-twins")
    p.add_argument("--threads", type=int, default=1, help="torch threads (small tensors: 1)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.part == "learned":
        args.epochs, args.seeds = args.epochs or 5, args.seeds or [0, 1]
        rows = learned(args)
        print(json.dumps(rows, indent=2) if args.json else learned_table(rows))
    else:
        args.epochs, args.seeds = args.epochs or 10, args.seeds or [0]
        rows = calibration(args)
        print(json.dumps(rows, indent=2) if args.json else calibration_table(rows, args.tolerance))


if __name__ == "__main__":
    main()
