"""The ``physnn`` command: train, list, gradcheck, bench, report, serve, replay, perf.

User mistakes (unknown names, bad values, bad config files, missing data) print one sentence and
exit with code 2; bugs keep their traceback. Parsing, ``--help``, ``physnn list`` and the check of
names (against the static :mod:`physnn.catalogue`) import no torch: each command imports what it
runs only once its options are known to be good.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from physnn import __version__
from physnn.errors import ConfigError, PhysnnError, TrainingInterrupted
from physnn.train.config import DIGITAL_LEARNING_RATE, TrainConfig, load_toml

PRECEDENCE = "The defaults shown are TrainConfig's; a --config file overrides them, flags the file."

# TrainConfig keys that have a command-line flag of the same name (dashes for underscores).
TRAIN_FLAGS = (
    "system", "preset", "method", "dataset", "data_dir", "limit_train", "gap",
    "seed", "epochs", "batch_size", "lr", "max_step", "max_queries", "max_seconds", "torch_device",
    "model", "device_url", "twin",
)  # fmt: skip


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, unless the help already names it or there is
    none to show (a switch, a repeatable option, nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, argparse.SUPPRESS) or default is False:
            return text
        if isinstance(default, list | tuple):
            if not default:
                return text
            default = " ".join(str(d) for d in default)
        return f"{text} (default: {str(default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors, exit code 2, and defaults in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _option(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a TOML literal (bare words are strings)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().replace("-", "_"), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _config_defaults() -> dict[str, Any]:
    """TrainConfig's default of each field that has a plain one (importing no torch)."""
    from dataclasses import MISSING, fields

    return {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def _add_experiment_flags(p: argparse.ArgumentParser) -> None:
    """The options of a run (``train``, ``gradcheck``). Their parser default is None, so that a
    --config file can set them; the help shows TrainConfig's default, which applies otherwise."""
    d = _config_defaults()
    p.add_argument(
        "--config",
        metavar="FILE.toml",
        help="TOML file with the same options; flags override it (default: none)",
    )
    p.add_argument("--system", help=f"substrate, see physnn list (default: {d['system']})")
    p.add_argument("--preset", help=f"named configuration of the system (default: {d['preset']})")
    p.add_argument("--method", help=f"training method, see physnn list (default: {d['method']})")
    p.add_argument("--dataset", help=f"dataset, see physnn list datasets (default: {d['dataset']})")
    p.add_argument(
        "--model",
        help="architecture: pnn, stack:K, hybrid:H, post:H1,H2,..., "
        "mlp:H1,H2,... or ffnet:H1,H2,... (docs/methods.md) "
        f"(default: {d['model']})",
    )
    p.add_argument(
        "--data-dir",
        help="folder with dataset files (default: $PHYSNN_DATA_DIR, "
        "the cache, known places, else download)",
    )
    p.add_argument(
        "--limit-train",
        type=_positive_int,
        help="use only the first N training samples (default: all)",
    )
    p.add_argument(
        "--gap", help=f"reality-gap level: none, mild, moderate, severe (default: {d['gap']})"
    )
    p.add_argument(
        "--seed", type=int, help=f"run seed: data order, init, hidden device (default: {d['seed']})"
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        help=f"passes over the training set (default: {d['epochs']})",
    )
    p.add_argument(
        "--batch-size", type=_positive_int, help=f"training batch size (default: {d['batch_size']})"
    )
    p.add_argument(
        "--lr",
        type=float,
        help="Adam learning rate (default: the system's, see "
        f"physnn list systems -v; {DIGITAL_LEARNING_RATE:g} for mlp and ffnet models)",
    )
    p.add_argument(
        "--max-step", type=float, help="largest change of a control per step (default: no limit)"
    )
    p.add_argument(
        "--max-queries",
        type=_positive_int,
        help="budget: device queries in training (default: no limit)",
    )
    p.add_argument(
        "--max-seconds", type=float, help="budget: wall time of training, s (default: no limit)"
    )
    p.add_argument(
        "--torch-device", help=f"cpu, cuda, cuda:N or auto (default: {d['torch_device']})"
    )
    p.add_argument(
        "--system-option",
        "-S",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a system field, e.g. grid=48",
    )
    p.add_argument(
        "--method-option",
        "-M",
        type=_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, e.g. assumed_gap=mild",
    )
    p.add_argument("--gap-option", "-G", type=_option, action="append", default=[],
                   metavar="KEY=VALUE", help="gap knob, e.g. lateral=0.2")  # fmt: skip
    p.add_argument(
        "--twin", help=f"digital twin: nominal, calibrated or learned (default: {d['twin']})"
    )
    p.add_argument("--twin-option", "-T", type=_option, action="append", default=[],
                   metavar="KEY=VALUE", help="twin option, e.g. settings=64")  # fmt: skip


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve a device (simulated or a lab instrument) over HTTP")
    serve.add_argument("--system", help="the system served (simulated), or the instrument's "
                       "(default: none; needed unless --adapter)")  # fmt: skip
    serve.add_argument("--preset", help="named configuration of the simulated system "
                       "(default: default)")  # fmt: skip
    serve.add_argument("--gap", help="reality gap of the simulated device (default moderate)")
    serve.add_argument("--seed", type=int, help="seed of the simulated device (default 0)")
    for flags, meaning in (
        (("--system-option", "-S"), "override a system field, e.g. grid=48"),
        (("--gap-option", "-G"), "gap knob, e.g. lateral=0.2"),
        (("--adapter-option",), "keyword option of the --adapter class"),
    ):
        serve.add_argument(
            *flags, type=_option, action="append", default=[], metavar="KEY=VALUE", help=meaning
        )
    serve.add_argument(
        "--adapter",
        metavar="MODULE:CLASS",
        help="serve a lab instrument (default: none, a simulated device)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    for flag, kind, meaning in (  # slow or greedy clients (physnn.hardware.connections)
        ("--header-seconds", float, "time to send a request head (default 10 s)"),
        ("--body-stall-seconds", float, "longest pause within a request body (default 10 s)"),
        ("--body-seconds", float, "time to send a whole request body (default 60 s)"),
        ("--keep-alive-seconds", float, "an idle connection is closed after (default 15 s)"),
        ("--max-connections", int, "open connections at most (default 128)"),
        ("--max-connections-per-client", int, "open connections per address (default 16)"),
    ):
        serve.add_argument(flag, type=kind, help=meaning)
    serve.add_argument("--token-file", help="file holding the token (default: $PHYSNN_TOKEN; "
                       "none: loopback only)")  # fmt: skip
    serve.add_argument("--credentials", metavar="FILE", help="TOML file of per-client tokens and "
                       "roles (reader, writer, admin) (default: none, one token)")  # fmt: skip
    lease = "seconds a silent writer keeps its lease (then: device → safe state)"
    serve.add_argument("--lease-seconds", type=float, default=30.0, help=lease)
    serve.add_argument("--max-request-mb", type=float, default=64.0, help="largest request body")
    log = "every write and every refusal (rate limited), one JSON line each"
    serve.add_argument("--write-log", default="physnn-serve-writes.jsonl", help=log)
    serve.add_argument("--write-log-mb", type=float, default=16.0,
                       help="size of a write-log file before it rotates")  # fmt: skip
    serve.add_argument("--write-log-backups", type=int, default=8,
                       help="rotated write-log files kept (FILE.1 … FILE.N)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="physnn", description="Train physical neural networks.")
    parser.add_argument("--version", action="version", version=f"physnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser(
        "train",
        help="train one method on one system and evaluate on the device",
        description=f"Train one method on one system and evaluate on the device. {PRECEDENCE}",
    )
    _add_experiment_flags(train)
    train.add_argument(
        "--out",
        help="run folder (default: physnn-runs/<system>-<preset>-<method>-<dataset>-<gap>-seed<K>)",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the run in --out (an error if none)"
    )
    train.add_argument(
        "--resume-if-possible",
        action="store_true",
        help="continue the run in --out if it holds one, else start it",
    )
    train.add_argument(
        "--threads",
        type=_positive_int,
        help="torch threads (default: the free cores, as physnn bench chooses them)",
    )
    train.add_argument("--overwrite", action="store_true", help="start again in an existing --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--device-url", help="train the device served at URL by physnn serve "
                       "(default: a simulated device in this process)")  # fmt: skip
    train.add_argument("--token-file",
                       help="the device server's token (default: $PHYSNN_TOKEN)")  # fmt: skip
    train.add_argument(
        "--record", action="store_true", help="record every device interaction (physnn replay)"
    )

    lst = sub.add_parser("list", help="systems, methods, datasets, gap levels, suites, and the "
                         "method × system compatibility matrix")  # fmt: skip
    lst.add_argument("what", nargs="?", choices=LIST_SECTIONS, metavar="SECTION",
                     help=f"one section only: {', '.join(LIST_SECTIONS)} "
                     "(default: all but the matrix; all with --verbose)")  # fmt: skip
    full = "full detail: presets, learning rates, controls, gap knobs, references"
    lst.add_argument("--verbose", "-v", action="store_true", help=full)
    lst.add_argument("--json", action="store_true", help="machine-readable output, complete")

    bench = sub.add_parser("bench", help="run a benchmark suite, store every run, write a report")
    bench.add_argument("suite", nargs="?", default="quick", help="shipped suite name or TOML file")
    bench.add_argument("--store", default="physnn-results.db", help="SQLite results store")
    bench.add_argument("--workers", type=_positive_int, default=2, help="local worker processes")
    bench.add_argument("--executor", default="local", help="local or ray")
    bench.add_argument("--address", help="Ray cluster address, with --executor ray "
                       "(default: a local Ray)")  # fmt: skip
    bench.add_argument("--runs-dir", default="physnn-runs/bench", help="run folders (checkpoints)")
    bench.add_argument("--data-dir", help="folder with dataset files, for every run "
                       "(default: the suite's, else $PHYSNN_DATA_DIR and the cache)")  # fmt: skip
    bench.add_argument("--report-dir", default="physnn-report", help="where the report goes")
    bench.add_argument("--no-report", action="store_true", help="do not write the report")
    bench.add_argument("--dry-run", action="store_true", help="validate and list the runs only")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")

    report = sub.add_parser("report", help="write the report of a results store")
    report.add_argument("--store", default="physnn-results.db",
                        help="SQLite results store, or its .jsonl export")  # fmt: skip
    report.add_argument("--suite", help="only this suite's runs (default: every run)")
    report.add_argument("--report-dir", default="physnn-report", help="output folder")
    report.add_argument(
        "--export", metavar="FILE",
        help="also export runs to .csv, .parquet or .jsonl (default: no export)",
    )  # fmt: skip
    report.add_argument("--docs", metavar="FILE.md", nargs="+",
                        help="only rewrite the generated tables of these Markdown files from the "
                        "exports their markers name (default: off, write the report)")  # fmt: skip

    _add_serve_parser(sub)

    replay = sub.add_parser("replay", help="train a recorded run again from its device record")
    replay.add_argument("run_dir", metavar="RUN_DIR", help="run folder made with train --record")
    replay.add_argument("--out", help="folder of the replayed run (default RUN_DIR/replay)")
    replay.add_argument("--overwrite", action="store_true", help="replay again into --out")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")

    grad = sub.add_parser(
        "gradcheck",
        help="compare a method's gradient with the true one",
        description=f"Compare a method's gradient with the true one. {PRECEDENCE}",
    )
    _add_experiment_flags(grad)
    grad.add_argument("--batches", type=_positive_int, default=3, help="batches compared")
    grad.add_argument("--json", action="store_true", help="machine-readable output")

    perf = sub.add_parser("perf", help="time physnn against peer simulators and the FFT floor")
    cases = "d2nn, crossbar, crossbar-pcm, wave, oscillators or reservoir"
    perf.add_argument("cases", nargs="*", metavar="CASE", default=["d2nn"], help=cases)
    perf.add_argument("--reps", type=_positive_int, help="timed repetitions "
                      "(default: 20; with --scaling: 5, or 2 with --size small)")  # fmt: skip
    perf.add_argument("--warmup", type=_positive_int, default=2, help="untimed rounds")
    perf.add_argument("--threads", type=_positive_int,
                      help="torch threads (default: 2; with --scaling: 1)")  # fmt: skip
    perf.add_argument("--size", choices=("small", "full"), default="full",
                      help="problem sizes (--scaling: small is the quick sweep)")  # fmt: skip
    perf.add_argument("--scaling", metavar="DIR",
                      help="measure time and memory vs problem size instead; plots and a "
                      "table with the growth exponents go to DIR (default: off)")  # fmt: skip
    perf.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    perf.add_argument("--peers", help="peer venv (default: $PHYSNN_PEERS, else .peers)")
    perf.add_argument(
        "--compile",
        action="store_true",
        help="also time physnn's pass under torch.compile (inductor)",
    )
    perf.add_argument("--json", action="store_true", help="print the records as JSON")
    return parser


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
              ("gap_options", "gap_option"), ("twin_options", "twin_option"))  # fmt: skip
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
    )
    print(
        f"test accuracy: device {result['device_accuracy']:.4f}, twin {result['twin_accuracy']:.4f}"
        f" ({result['headline']} is this method's result)\n"
        f"device queries {result['device_queries']}, parameter writes {result['param_writes']}, "
        f"wall time {result['wall_seconds']:.1f} s\n"
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


def cmd_list(args: argparse.Namespace) -> int:
    from physnn.catalogue import catalogue

    # plug-ins are named without importing them, except where their details are shown
    info = catalogue(load_plugins=args.json or args.verbose or args.what == "matrix")
    if args.json:
        print(json.dumps(info if args.what is None else {args.what: _section(info, args.what)},
                         indent=2))  # fmt: skip
        return 0
    sections = [args.what] if args.what else LIST_SECTIONS if args.verbose else OVERVIEW
    for section in sections:
        PRINTERS[section](info, args.verbose)
    if not args.what and not args.verbose:
        print("more: physnn list --verbose (presets, controls, gap knobs, references), "
              "physnn list matrix (which method trains which system), "
              "physnn list --json")  # fmt: skip
    return 0


LIST_SECTIONS = ("systems", "methods", "datasets", "gaps", "suites", "matrix")
OVERVIEW = LIST_SECTIONS[:-1]  # `physnn list` without the matrix (one row per method)


def _section(info: dict[str, Any], what: str) -> Any:
    return {"gaps": {"levels": info["gaps"], "knobs": info["gap_knobs"]}}.get(what, info.get(what))


def _print_systems(info: dict[str, Any], verbose: bool) -> None:
    print("systems:")
    for s in info["systems"]:
        print(f"  {s['name']:<14} {s['description']}")
        if not verbose:
            continue
        print(f"  {'':<14} presets: {', '.join(s['presets'])}; "
              f"learning rate {s['learning_rate']:g}")  # fmt: skip
        controls = "; ".join(f"{k} {v}" for k, v in s["controls"].items())
        print(f"  {'':<14} controls (default preset): {controls}")
        if s["non_idealities"]:
            print(f"  {'':<14} non-idealities: {', '.join(s['non_idealities'])}")


def _print_methods(info: dict[str, Any], verbose: bool) -> None:
    print("methods:")
    for m in info["methods"]:
        reference = f" [{m['reference']}]" if verbose else ""
        print(f"  {m['name']:<14} {m['summary']}{reference}")


def _print_datasets(info: dict[str, Any], verbose: bool) -> None:
    print("datasets:")
    for d in info["datasets"]:
        print(f"  {d['name']:<14} {d['description']}")
        if verbose and "source" in d:
            files = "; needs files (--data-dir)" if d["needs_files"] else ""
            print(f"  {'':<14} {d['size']}; {d['source']}{files}")


def _print_gaps(info: dict[str, Any], verbose: bool) -> None:
    more = "" if verbose else " (each system's knobs: physnn list gaps -v)"
    print(f"reality-gap levels: {', '.join(info['gaps'])}{more}")
    if not verbose:
        return
    for system, family in info["gap_knobs"].items():
        print(f"  gap knobs of {system} (-G KEY=VALUE):")
        for knob, meaning in family["knobs"].items():
            print(f"    {knob:<16} {meaning}")


def _print_suites(info: dict[str, Any], verbose: bool) -> None:
    print("benchmark suites:")
    for suite in info["suites"]:
        print(f"  {suite['name']:<14} {suite['description']}")
        if verbose:
            print(f"  {'':<14} {suite['path']}")


def _print_matrix(info: dict[str, Any], verbose: bool) -> None:
    """Methods as rows (they are many), systems as columns (each as wide as its name)."""
    methods = [m["name"] for m in info["methods"]]
    systems = list(info["matrix"])
    first = max(len(m) for m in methods) + 4
    print("compatibility (method × system):")
    print(" " * first + "  ".join(systems))
    for method in methods:
        cells = "  ".join(
            f"{'yes' if method in info['matrix'][s] else '-':<{len(s)}}" for s in systems
        )
        print(f"  {method:<{first - 2}}{cells}".rstrip())


PRINTERS = {"systems": _print_systems, "methods": _print_methods, "datasets": _print_datasets,
            "gaps": _print_gaps, "suites": _print_suites, "matrix": _print_matrix}  # fmt: skip


def cmd_serve(args: argparse.Namespace) -> int:
    import contextlib
    import logging
    import signal

    from physnn.hardware.connections import ConnectionLimits
    from physnn.hardware.credentials import Credentials
    from physnn.hardware.protocol import resolve_token
    from physnn.hardware.replies import MIB
    from physnn.hardware.server import DeviceServer, check_exposure, serve
    from physnn.hardware.simulated import simulated_device

    if args.credentials and args.token_file:
        raise ConfigError("give --credentials or --token-file, not both")
    token: str | Credentials | None = (
        Credentials.load(args.credentials)
        if args.credentials
        else resolve_token(token_file=args.token_file)
    )
    check_exposure(args.host, token)  # before a lab instrument is touched
    if not args.max_request_mb > 0 or not args.lease_seconds > 0:
        raise ConfigError("--max-request-mb and --lease-seconds must be positive")
    limits = ConnectionLimits.given(vars(args))
    if args.adapter:
        simulation = [f for f in ("preset", "gap", "seed") if getattr(args, f) is not None]
        simulation += ["-S"] * bool(args.system_option) + ["-G"] * bool(args.gap_option)
        if simulation:
            raise ConfigError(
                f"{', '.join(simulation)} configure a simulated device, not --adapter; pass the "
                "instrument's options as --adapter-option KEY=VALUE"
            )
        from physnn.hardware.adapter import load_instrument_device

        device = load_instrument_device(args.adapter, dict(args.adapter_option))
    elif args.system:
        device = simulated_device(
            args.system,
            preset=args.preset or "default",
            gap=args.gap or "moderate",
            seed=0 if args.seed is None else args.seed,
            system_options=dict(args.system_option),
            gap_options=dict(args.gap_option),
        )
    else:
        raise ConfigError("serve needs --system (a simulated device) or --adapter MODULE:CLASS")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = DeviceServer(
        device,
        system_name=args.system,
        token=token,
        lease_seconds=args.lease_seconds,
        max_request_bytes=int(args.max_request_mb * MIB),
        write_log=args.write_log,
        log_max_bytes=int(args.write_log_mb * MIB),
        log_backups=args.write_log_backups,
    )
    # uvicorn stops gracefully on SIGINT/SIGTERM (device → safe state), then raises the signal
    # again: both end here as KeyboardInterrupt, with exit code 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        serve(server, args.host, args.port, limits)
    print("physnn serve: stopped; the device is in its safe state", file=sys.stderr)
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    config, _ = resolve_config(args)
    from physnn.train.gradcheck import gradcheck  # torch: only once the names are known good

    report = gradcheck(config, batches=args.batches)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"gradcheck: {config.method} on {config.substrate}, gap {config.gap_label}, "
          f"{args.batches} batch(es) of {config.batch_size}")  # fmt: skip
    for row in report["batches"]:
        print(
            f"  batch {row['batch']}: cosine {row['cosine']:.6f}  "
            f"relative error {row['relative_error']:.3e}"
        )
    print(
        f"mean cosine similarity {report['cosine']:.6f}, "
        f"mean relative error {report['relative_error']:.3e}"
    )
    return 0


def _write_report(store_path: str, suite: str | None, report_dir: str, command: str) -> Path:
    from physnn.bench.report import write_report
    from physnn.bench.runner import read_records

    records = read_records(store_path, suite)
    title = f"physnn benchmark: {suite}" if suite else "physnn benchmark"
    paths = write_report(records, report_dir, title=title, commands=[command])
    return Path(paths["html"])


def cmd_bench(args: argparse.Namespace) -> int:
    import time

    from physnn.bench.runner import run_suite, summarize
    from physnn.bench.suite import load_suite

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    suite = load_suite(args.suite, overrides)
    print(f"suite {suite.name}: {len(suite.runs)} runs → {args.store}")
    if args.dry_run:
        for run in suite.runs:
            c = run.config
            print(f"  {run.key}  {c.substrate} {c.method} {c.dataset} gap {c.gap} "
                  f"seed {c.seed}{' ' + str(c.gap_options) if c.gap_options else ''}")  # fmt: skip
        return 0
    start = time.monotonic()
    counts = run_suite(
        suite,
        args.store,
        runs_dir=args.runs_dir,
        workers=args.workers,
        executor=args.executor,
        address=args.address,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(f"suite {suite.name}: {summarize(counts, time.monotonic() - start)}")
    if not args.no_report:
        command = "physnn " + " ".join(sys.argv[1:]) if sys.argv[1:] else "physnn bench"
        html = _write_report(args.store, suite.name, args.report_dir, command)
        print(f"report: {html}")
    return 0 if not counts.get("failed") else 1


def cmd_report(args: argparse.Namespace) -> int:
    from physnn.bench.store import ResultStore

    if args.docs:
        from physnn.bench import docs

        for path in args.docs:
            changed = docs.update(path)
            count = docs.blocks(Path(path).read_text(encoding="utf-8"))
            print(f"{path}: {count} generated tables, {'updated' if changed else 'up to date'}")
        return 0
    if not Path(args.store).is_file():
        raise ConfigError(f"results store {args.store!r} does not exist; run physnn bench first")
    if args.export:
        with ResultStore(args.store) as store:
            print(f"exported {store.export(args.export, args.suite)}")
    html = _write_report(args.store, args.suite, args.report_dir, "physnn report")
    print(f"report: {html}")
    return 0


def cmd_perf(args: argparse.Namespace) -> int:
    from physnn import perf

    if args.scaling:
        from physnn.perf import scaling

        records = scaling.run(args.scaling, quick=args.size == "small", reps=args.reps,
                              threads=args.threads or 1, device=args.device)  # fmt: skip
        if args.json:
            print(json.dumps(records, indent=2))
        else:
            print(scaling.markdown_table(records))
            print(f"plots and scaling.md in {args.scaling}")
        return 0
    records, notes = perf.run(
        args.cases,
        reps=args.reps or 20,
        warmup=args.warmup,
        threads=args.threads or 2,
        size=args.size,
        device=args.device,
        peers_dir=args.peers,
        compile=args.compile,
    )
    if args.json:
        print(json.dumps(records, indent=2))
        print("\n".join(notes), file=sys.stderr)
    else:
        print(perf.format_table(records))
        print("\n".join(notes))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"train": cmd_train, "list": cmd_list, "gradcheck": cmd_gradcheck,
                "bench": cmd_bench, "report": cmd_report, "replay": cmd_replay,
                "serve": cmd_serve, "perf": cmd_perf}  # fmt: skip
    command = commands[args.command]
    try:
        return command(args)
    except PhysnnError as err:
        print(f"physnn {args.command}: error: {err.for_cli()}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0
    except TrainingInterrupted as interrupt:
        print(f"\nphysnn {args.command}: {interrupt.for_cli()}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"\nphysnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
