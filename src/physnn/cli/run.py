"""The commands that run an experiment: ``physnn train``, ``physnn gradcheck`` and ``physnn
replay``; and the run's configuration from defaults, a --config file and flags."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from physnn import __version__
from physnn.errors import ConfigError
from physnn.train.config import TrainConfig, load_toml

# TrainConfig keys that have a command-line flag of the same name (dashes for underscores).
TRAIN_FLAGS = (
    "system", "preset", "method", "dataset", "data_dir", "limit_train", "gap",
    "seed", "epochs", "batch_size", "lr", "max_step", "max_queries", "max_seconds", "torch_device",
    "model", "device_url", "twin", "cost",
)  # fmt: skip


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any]]:
    """TrainConfig from defaults < config file < flags, its names checked against the static
    catalogue (no torch yet); also the file's extra keys (out, resume, overwrite)."""
    from physnn.catalogue import catalogue, check_names

    values: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    if args.config:
        values = load_toml(args.config)
        for key in ("out", "resume", "overwrite"):
            if key in values:
                extras[key] = values.pop(key)
    for key in TRAIN_FLAGS:
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    tables = (("system_options", "system_option"), ("method_options", "method_option"),
              ("gap_options", "gap_option"), ("twin_options", "twin_option"),
              ("cost_options", "cost_option"))  # fmt: skip
    for table, flag in tables:
        updates = dict(getattr(args, flag))
        if updates:
            values[table] = {**values.get(table, {}), **updates}
    source = f"config file {args.config!r}" if args.config else "options"
    config = TrainConfig.from_dict(values, source=source)
    check_names(system=config.system, preset=config.preset, method=config.method,
                dataset=config.dataset, gap=config.gap, info=catalogue())  # fmt: skip
    return config, extras


def cmd_train(args: argparse.Namespace) -> int:
    from physnn.train.folder import check_run_folder

    config, extras = resolve_config(args)  # names checked against the catalogue: no torch yet
    out = (
        args.out
        or extras.get("out")
        or (
            f"physnn-runs/{config.substrate.replace('/', '-').replace(':', '-')}"
            f"-{config.method}-{config.dataset}"
            f"-{config.gap_label}-seed{config.seed}"
        )
    )
    resume = _resume_mode(args, extras)
    overwrite = args.overwrite or bool(extras.get("overwrite"))
    check_run_folder(Path(out), resume=resume, overwrite=overwrite)  # before torch, too
    from physnn.train.loop import train
    from physnn.train.setup import validate_names

    validate_names(config)
    if args.token_file:  # the device client reads the token from the environment
        from physnn.hardware.protocol import TOKEN_ENV, resolve_token

        os.environ[TOKEN_ENV] = resolve_token(token_file=args.token_file) or ""
    print(f"physnn {__version__}: {config.method} on {config.substrate}, "
          f"{config.dataset}, gap {config.gap_label}, seed {config.seed} → {out}")  # fmt: skip

    def report(row: dict[str, Any]) -> None:
        print(f"epoch {row['epoch']:3d}  loss {row['train_loss']:.4f}  "
              f"val device {row['val_device_accuracy']:.3f}  twin {row['val_twin_accuracy']:.3f}  "
              f"queries {row['device_queries']}  {row['epoch_seconds']:.1f}s",
              flush=True)  # fmt: skip

    result = train(
        config,
        out,
        resume=resume,
        overwrite=overwrite,
        progress=not args.no_progress and sys.stderr.isatty(),
        on_epoch=report,
        record=args.record,
        threads=args.threads,
        log=args.log,
    )
    print(
        f"test accuracy: device {result['device_accuracy']:.4f}, twin {result['twin_accuracy']:.4f}"
        f" ({result['headline']} is this method's result)\n"
        f"device queries {result['device_queries']}, parameter writes {result['param_writes']}, "
        f"wall time {result['wall_seconds']:.1f} s\n"
        f"{_bill_line(result.get('cost') or {}, out)}"
        f"wrote {Path(out) / 'result.json'} and {Path(out) / 'history.png'}"
    )
    if args.record:
        print(f"recorded every device interaction in {Path(out) / 'device-record'} "
              f"(physnn replay {out})")  # fmt: skip
    return 0


def _resume_mode(args: argparse.Namespace, extras: dict[str, Any]) -> bool | str:
    """``train``'s resume argument from --resume, --resume-if-possible or the config file's
    ``resume`` key (true, false or "if-possible")."""
    if args.resume and args.resume_if_possible:
        raise ConfigError("pass --resume or --resume-if-possible, not both")
    if args.resume_if_possible:
        return "if-possible"
    return args.resume or extras.get("resume", False)


def cmd_replay(args: argparse.Namespace) -> int:
    from physnn.hardware.record import load_record
    from physnn.train.folder import RECORD
    from physnn.train.replay import differences, replay

    out = Path(args.out or Path(args.run_dir) / "replay")
    record = load_record(Path(args.run_dir) / RECORD)
    print(f"physnn {__version__}: replaying {len(record)} device events of {args.run_dir} "
          f"(recorded with physnn {record.meta['physnn']}) → {out}")  # fmt: skip
    replayed, recorded = replay(
        args.run_dir,
        out,
        overwrite=args.overwrite,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    rows = [("replayed", replayed)] + ([("recorded", recorded)] if recorded else [])
    for name, result in rows:
        print(f"{name} test accuracy: device {result['device_accuracy']:.4f}, "
              f"twin {result['twin_accuracy']:.4f}")  # fmt: skip
    info = replayed["replay"]
    print(f"replayed {info['replayed']} of {info['events']} recorded device events")
    found = differences(replayed, recorded)
    print("identical" if not found else "differences:\n" + "\n".join(f"  {d}" for d in found))
    return 0 if not found else 1


def _bill_line(cost: dict[str, Any], out: str) -> str:
    """One line of the run's bill on the hardware (none where it has none)."""
    if "training" not in cost:
        return ""
    from physnn.cost.units import format_quantity

    train, infer = cost["training"], cost["inference"]
    return (
        f"on the hardware ({cost['model']['name']} costs; physnn cost {out}): training "
        f"{format_quantity(train['energy_J']['total'], 'J')} in "
        f"{format_quantity(train['time_s']['total'], 's')}, one inference "
        f"{format_quantity(infer['energy_J'], 'J')} (the GPU: "
        f"{format_quantity(infer['digital_energy_J'], 'J')})\n"
    )


def cmd_gradcheck(args: argparse.Namespace) -> int:
    config, _ = resolve_config(args)
    from physnn.train.gradcheck import gradcheck  # torch: only once the names are known good

    report = gradcheck(config, batches=args.batches)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"gradcheck: {config.method} on {config.substrate}, gap {config.gap_label}, "
          f"{args.batches} batch(es) of {config.batch_size}")  # fmt: skip
    print(f"reference: {report['reference']}")
    theory = "expected_cosine" in report
    for row in report["batches"]:
        print(
            f"  batch {row['batch']}: cosine {row['cosine']:.6f}  "
            f"relative error {row['relative_error']:.3e}"
            + (f"  (ideal estimator: {row['expected_cosine']:.6f})" if theory else "")
        )
    print(
        f"mean cosine similarity {report['cosine']:.6f}, "
        f"mean relative error {report['relative_error']:.3e}"
    )
    if theory:
        print(
            f"theory: the same probes on an ideal device (noise-free, infinitesimal step) give "
            f"cosine {report['expected_cosine']:.6f} on average"
        )
    return 0
