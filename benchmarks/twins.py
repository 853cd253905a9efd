"""Fitted digital twins: PAT with a learned twin, and calibration of a misaligned D2NN.

    python benchmarks/twins.py learned [--system oscillators] [--gap moderate] [--epochs 5]
        [--seeds 0 1] [--twin-option k=v ...] [--out /tmp/physnn-twins] [--threads 1] [--json]
    python benchmarks/twins.py calibration [--gap moderate] [--lateral 1.0] [--gap-option k=v ...]
        [--method insilico] [--tolerance 0.2] [--dz-tolerance 0.2] [--absorption-tolerance 0.1]
        [--epochs 10] [--seeds 0] [--twin-option k=v ...] [--out /tmp/physnn-twins]
        [--threads 1] [--json]

``learned`` trains the same PNN three ways on the same hidden device: ``pat`` with a learned
neural twin (Wright et al., Nature 601, 549 (2022): a surrogate fitted to measured data, no
physics), ``pat`` with the nominal physics twin, and ``insilico`` with the nominal twin; it
reports the test accuracy on the device, the twin's held-out error and the calibration queries.

``calibration`` draws the diffractive network's hidden device at ``--gap`` with the lateral
misalignment σ set by ``--lateral`` (pixel pitches) and any other knob set by ``--gap-option``
(e.g. ``--gap none --gap-option photons=1e6``: misalignment and detector noise only), fits a
calibrated twin (plane shifts, axial offsets, absorption), prints the true and fitted values of
every parameter against its tolerance (``--tolerance`` in pixels for the shifts,
``--dz-tolerance`` in wavelengths for the axial offsets, ``--absorption-tolerance`` relative),
then trains ``--method`` (``insilico`` or ``pat``) with the nominal and with the calibrated twin
and reports their accuracy on the device. The truth is read from the
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

from physnn.cli.parsing import key_value
from physnn.train import TrainConfig, train
from physnn.train.setup import build_experiment

LEARNED_TWIN = {"settings": 512, "samples_per_setting": 8, "steps": 3000, "width": 256,
                "depth": 2, "lr": 1e-3}  # fmt: skip
"""The learned twin of the ``learned`` comparison (4096 calibration queries)."""


def tag(options: dict[str, Any]) -> str:
    """A short name for a set of twin options (runs with other options go elsewhere)."""
    if not options:
        return ""
    return "-" + hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:8]


def mean_std(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.pstdev(values):.3f}"


def learned(args: argparse.Namespace) -> list[dict[str, Any]]:
    twin_options = {**LEARNED_TWIN, **dict(args.twin_option)}
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
            results.append(train(config, out, resume="if-possible", progress=False))
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
    options = dict(args.twin_option)
    gap_options = {"lateral": args.lateral, **dict(args.gap_option)}
    rows = []
    for seed in args.seeds:
        config = TrainConfig(
            system="diffractive", method=args.method, gap=args.gap, gap_options=gap_options,
            seed=seed, epochs=args.epochs, twin="calibrated", twin_options=options,
        )  # fmt: skip
        exp = build_experiment(config)  # its simulated device holds the hidden truth
        pitch = exp.system.config.pitch
        true = exp.device._nuisance["plane_shift"] / pitch  # diagnostics only
        results = {}
        for twin, twin_options in (("nominal", {}), ("calibrated", options)):
            run = TrainConfig(**{**config.to_dict(), "twin": twin, "twin_options": twin_options})
            name = f"diffractive-{args.method}-{twin}{tag(twin_options)}-{exp.reality.level}"
            name += f"{tag(gap_options)}-{seed}"
            out = Path(args.out) / name
            results[twin] = train(run, out, resume="if-possible", progress=False)
        fit = results["calibrated"]["twin_fit"]
        found = torch.tensor(fit["parameters"]["plane_shift"]["values"])
        true_dz = exp.device._nuisance["plane_dz"] / exp.system.config.wavelength
        found_dz = torch.tensor(fit["parameters"]["plane_dz"]["values"])
        true_alpha = float(exp.device._nuisance["absorption"])
        found_alpha = 0.1 * fit["parameters"]["absorption"]["values"]  # fit unit: 0.1 per rad
        rows.append(
            {
                "seed": seed,
                "pitch_um": pitch * 1e6,
                "true_shift_px": true.tolist(),
                "fitted_shift_px": found.tolist(),
                "max_shift_error_px": float((found - true).abs().max()),
                "rms_shift_error_px": float((found - true).square().mean().sqrt()),
                "true_dz_wavelengths": true_dz.tolist(),
                "fitted_dz_wavelengths": found_dz.tolist(),
                "max_dz_error_wavelengths": float((found_dz - true_dz).abs().max()),
                "true_absorption": true_alpha,
                "fitted_absorption": found_alpha,
                "absorption_relative_error": (
                    abs(found_alpha - true_alpha) / true_alpha if true_alpha else None
                ),
                "error_before": fit["error_before"],
                "validation_error": fit["validation_error"],
                "calibration_queries": fit["queries"],
                "fit_seconds": fit["seconds"],
                "start_errors": fit["starts"]["errors"],
                "chosen_start": fit["starts"]["chosen"],
                "method": args.method,
                "accuracy_nominal_twin": results["nominal"]["device_accuracy"],
                "accuracy_calibrated_twin": results["calibrated"]["device_accuracy"],
            }
        )
    return rows


def calibration_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    tolerances = {"shift": args.tolerance, "dz": args.dz_tolerance,
                  "absorption": args.absorption_tolerance}  # fmt: skip
    lines = []
    for r in rows:
        lines.append(f"seed {r['seed']} (pixel pitch {r['pitch_um']:.0f} µm)")
        lines.append(f"  {'plane':>5} {'true x, y (px)':>18} {'fitted x, y (px)':>18}")
        for k, (t, f) in enumerate(zip(r["true_shift_px"], r["fitted_shift_px"], strict=True)):
            lines.append(f"  {k:>5} {t[0]:>8.3f} {t[1]:>8.3f}   {f[0]:>8.3f} {f[1]:>8.3f}")
        lines.append(
            f"  shifts: max |error| {r['max_shift_error_px']:.3f} px "
            f"({r['max_shift_error_px'] * r['pitch_um']:.0f} µm), {_within(r, 'shift', tolerances)}"
            f"; rms {r['rms_shift_error_px']:.3f} px"
        )
        pairs = zip(r["true_dz_wavelengths"], r["fitted_dz_wavelengths"], strict=True)
        dz = ", ".join(f"{t:.2f}→{f:.2f}" for t, f in pairs)
        lines.append(f"  axial offsets true→fitted (wavelengths): {dz}")
        lines.append(
            f"  axial: max |error| {r['max_dz_error_wavelengths']:.3f} λ, "
            f"{_within(r, 'dz', tolerances)}"
        )
        if r["absorption_relative_error"] is not None:
            lines.append(
                f"  absorption α true {r['true_absorption']:.4f} → fitted "
                f"{r['fitted_absorption']:.4f} per rad, relative error "
                f"{r['absorption_relative_error']:.3f}, {_within(r, 'absorption', tolerances)}"
            )
        starts = ", ".join(f"{e:.3f}" for e in r["start_errors"])
        lines.append(f"  starts' errors after the first round: {starts}; won: {r['chosen_start']}")
        lines.append(
            f"  twin error {r['error_before']:.3f} (nominal) → {r['validation_error']:.3f} "
            f"(calibrated), {r['calibration_queries']} queries, fit {r['fit_seconds']:.0f} s"
        )
        lines.append(
            f"  {r['method']} device accuracy: nominal twin {r['accuracy_nominal_twin']:.3f}, "
            f"calibrated twin {r['accuracy_calibrated_twin']:.3f}"
        )
    for what, unit in (("shift", "px"), ("dz", "λ"), ("absorption", "relative")):
        inside = sum(_error(r, what) is not None and _error(r, what) <= tolerances[what]
                     for r in rows)  # fmt: skip
        lines.append(f"{what}: {inside}/{len(rows)} seeds within {tolerances[what]} {unit}")
    better = sum(r["accuracy_calibrated_twin"] >= r["accuracy_nominal_twin"] for r in rows)
    lines.append(
        f"calibrated twin at least as accurate on the device: {better}/{len(rows)} seeds; "
        f"fit {statistics.fmean(r['fit_seconds'] for r in rows):.0f} s on average"
    )
    return "\n".join(lines)


def _error(row: dict[str, Any], what: str) -> float | None:
    keys = {"shift": "max_shift_error_px", "dz": "max_dz_error_wavelengths",
            "absorption": "absorption_relative_error"}  # fmt: skip
    return row[keys[what]]


def _within(row: dict[str, Any], what: str, tolerances: dict[str, float]) -> str:
    inside = (_error(row, what) or 0.0) <= tolerances[what]
    return f"{'within' if inside else 'OUTSIDE'} the tolerance {tolerances[what]}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("learned", "calibration"))
    p.add_argument("--system", default="oscillators", help="learned: the substrate")
    p.add_argument("--gap", default="moderate")
    p.add_argument("--lateral", type=float, default=1.0, help="calibration: σ in pixel pitches")
    p.add_argument(
        "--gap-option",
        type=key_value,
        action="append",
        default=[],
        metavar="K=V",
        help="calibration: gap knob",
    )
    p.add_argument("--method", default="insilico", choices=("insilico", "pat"))
    p.add_argument("--tolerance", type=float, default=0.2, help="calibration: pixels")
    p.add_argument("--dz-tolerance", type=float, default=0.2, help="calibration: wavelengths")
    p.add_argument("--absorption-tolerance", type=float, default=0.1, help="calibration: relative")
    p.add_argument("--epochs", type=int, default=None, help="default: 5 (learned), 10")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 (learned), 0")
    p.add_argument("--twin-option", type=key_value, action="append", default=[], metavar="K=V")
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
        print(json.dumps(rows, indent=2) if args.json else calibration_table(rows, args))


if __name__ == "__main__":
    main()
