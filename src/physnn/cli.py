"""The ``physnn`` command: train, list, gradcheck.

User mistakes (unknown names, bad values, bad config files, missing data) print one sentence and
exit with code 2; bugs keep their traceback.
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
from physnn.errors import ConfigError, PhysnnError

# TrainConfig keys that have a command-line flag of the same name (dashes for underscores).
TRAIN_FLAGS = (
    "system", "preset", "method", "dataset", "data_dir", "limit_train", "gap",
    "seed", "epochs", "batch_size", "lr", "max_step", "max_queries", "max_seconds", "torch_device",
    "model", "device_url", "twin",
)  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors and exit code 2."""

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


def _add_experiment_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml", help="TOML file with the same options")
    p.add_argument("--system", help="substrate (physnn list)")
    p.add_argument("--preset", help="named configuration of the system")
    p.add_argument("--method", help="training method (physnn list)")
    p.add_argument("--dataset", help="dataset name (physnn list datasets)")
    p.add_argument(
        "--model",
        help="architecture: pnn (default), stack:K, hybrid:H, post:H1,H2,..., mlp:H1,H2,... "
        "or ffnet:H1,H2,... (docs/methods.md)",
    )
    p.add_argument("--data-dir", help="folder with dataset files (else cache / known places)")
    p.add_argument(
        "--limit-train", type=_positive_int, help="use only the first N training samples"
    )
    p.add_argument("--gap", help="reality-gap level: none, mild, moderate, severe")
    p.add_argument("--seed", type=int, help="run seed (data order, init, hidden device)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--lr", type=float, help="Adam learning rate (default: the system's)")
    p.add_argument("--max-step", type=float, help="largest change of a control per step")
    p.add_argument("--max-queries", type=_positive_int, help="budget: device queries in training")
    p.add_argument("--max-seconds", type=float, help="budget: wall time of training")
    p.add_argument("--torch-device", help="cpu, cuda, cuda:N or auto")
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
    p.add_argument("--twin", help="digital twin: nominal (default), calibrated or learned")
    p.add_argument("--twin-option", "-T", type=_option, action="append", default=[],
                   metavar="KEY=VALUE", help="twin option, e.g. settings=64")  # fmt: skip


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve a device (simulated or a lab instrument) over HTTP")
    serve.add_argument("--system", help="the system served (simulated), or the instrument's")
    serve.add_argument("--preset", help="named configuration of the simulated system")
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
    serve.add_argument("--adapter", metavar="MODULE:CLASS", help="serve a lab instrument")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    serve.add_argument("--port", type=int, default=8765, help="port (0: any free one)")
    serve.add_argument("--token-file", help="file holding the token (else $PHYSNN_TOKEN)")
    lease = "seconds a silent writer keeps its lease (then: device → safe state)"
    serve.add_argument("--lease-seconds", type=float, default=30.0, help=lease)
    serve.add_argument("--max-request-mb", type=float, default=64.0, help="largest request body")
    log = "every write attempt, one JSON line each"
    serve.add_argument("--write-log", default="physnn-serve-writes.jsonl", help=log)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="physnn", description="Train physical neural networks.")
    parser.add_argument("--version", action="version", version=f"physnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = sub.add_parser(
        "train", help="train one method on one system and evaluate on the device"
    )
    _add_experiment_flags(train)
    train.add_argument("--out", help="run folder (default physnn-runs/<system>-<method>-…)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--overwrite", action="store_true", help="start again in an existing --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--device-url", help="train the device served at URL (physnn serve)")
    train.add_argument("--token-file", help="the device server's token (else $PHYSNN_TOKEN)")
    train.add_argument(
        "--record", action="store_true", help="record every device interaction (physnn replay)"
    )

    lst = sub.add_parser("list", help="systems, methods, datasets, and the compatibility matrix")
    lst.add_argument("what", nargs="?", choices=LIST_SECTIONS, help="one section only")
    lst.add_argument("--json", action="store_true", help="machine-readable output")

    bench = sub.add_parser("bench", help="run a benchmark suite, store every run, write a report")
    bench.add_argument("suite", nargs="?", default="quick", help="shipped suite name or TOML file")
    bench.add_argument("--store", default="physnn-results.db", help="SQLite results store")
    bench.add_argument("--workers", type=_positive_int, default=2, help="local worker processes")
    bench.add_argument("--executor", default="local", help="local or ray")
    bench.add_argument("--address", help="Ray cluster address (with --executor ray)")
    bench.add_argument("--runs-dir", default="physnn-runs/bench", help="run folders (checkpoints)")
    bench.add_argument("--data-dir", help="folder with dataset files, for every run")
    bench.add_argument("--report-dir", default="physnn-report", help="where the report goes")
    bench.add_argument("--no-report", action="store_true", help="do not write the report")
    bench.add_argument("--dry-run", action="store_true", help="validate and list the runs only")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")

    report = sub.add_parser("report", help="write the report of a results store")
    report.add_argument("--store", default="physnn-results.db", help="SQLite results store")
    report.add_argument("--suite", help="only this suite's runs")
    report.add_argument("--report-dir", default="physnn-report", help="output folder")
    report.add_argument("--export", metavar="FILE", help="also export runs to .csv or .parquet")

    _add_serve_parser(sub)

    replay = sub.add_parser("replay", help="train a recorded run again from its device record")
    replay.add_argument("run_dir", metavar="RUN_DIR", help="run folder made with train --record")
    replay.add_argument("--out", help="folder of the replayed run (default RUN_DIR/replay)")
    replay.add_argument("--overwrite", action="store_true", help="replay again into --out")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")

    grad = sub.add_parser("gradcheck", help="compare a method's gradient with the true one")
    _add_experiment_flags(grad)
    grad.add_argument("--batches", type=_positive_int, default=3)
    grad.add_argument("--json", action="store_true", help="machine-readable output")

    perf = sub.add_parser("perf", help="time physnn against peer simulators and the FFT floor")
    perf.add_argument("cases", nargs="*", metavar="CASE", default=["d2nn"], help="default: d2nn")
    perf.add_argument("--reps", type=_positive_int, help="timed repetitions (20; --scaling: 5)")
    perf.add_argument("--warmup", type=_positive_int, default=2, help="untimed rounds (2)")
    perf.add_argument("--threads", type=_positive_int, help="torch threads (2; --scaling: 1)")
    perf.add_argument("--size", choices=("small", "full"), default="full",
                      help="problem sizes (--scaling: small is the quick sweep)")  # fmt: skip
    perf.add_argument("--scaling", metavar="DIR",
                      help="measure time and memory vs problem size instead; plots and a "
                      "table with the growth exponents go to DIR")  # fmt: skip
    perf.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    perf.add_argument("--peers", help="peer venv (default: $PHYSNN_PEERS, else .peers)")
    perf.add_argument(
        "--compile",
        action="store_true",
        help="also time physnn's pass under torch.compile (inductor)",
    )
    perf.add_argument("--json", action="store_true", help="print the records as JSON")
    return parser


def resolve_config(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """TrainConfig from defaults < config file < flags; also the file's extra keys (out, resume)."""
    from physnn.train.config import TrainConfig, load_toml

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
    return TrainConfig.from_dict(values, source=source), extras


def cmd_train(args: argparse.Namespace) -> int:
    from physnn.train.loop import train
    from physnn.train.setup import validate_names

    config, extras = resolve_config(args)
    validate_names(config)
    if args.token_file:  # the device client reads the token from the environment
        from physnn.hardware.protocol import TOKEN_ENV, resolve_token

        os.environ[TOKEN_ENV] = resolve_token(token_file=args.token_file) or ""
    out = (
        args.out
        or extras.get("out")
        or (
            f"physnn-runs/{config.substrate.replace('/', '-').replace(':', '-')}"
            f"-{config.method}-{config.dataset}"
            f"-{config.gap}-seed{config.seed}"
        )
    )
    print(f"physnn {__version__}: {config.method} on {config.substrate}, "
          f"{config.dataset}, gap {config.gap}, seed {config.seed} → {out}")  # fmt: skip

    def report(row: dict[str, Any]) -> None:
        print(f"epoch {row['epoch']:3d}  loss {row['train_loss']:.4f}  "
              f"val device {row['val_device_accuracy']:.3f}  twin {row['val_twin_accuracy']:.3f}  "
              f"queries {row['device_queries']}  {row['epoch_seconds']:.1f}s",
              flush=True)  # fmt: skip

    result = train(
        config,
        out,
        resume=args.resume or bool(extras.get("resume")),
        overwrite=args.overwrite or bool(extras.get("overwrite")),
        progress=not args.no_progress and sys.stderr.isatty(),
        on_epoch=report,
        record=args.record,
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


def cmd_replay(args: argparse.Namespace) -> int:
    from physnn.hardware.record import load_record
    from physnn.train.loop import RECORD
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


def catalog() -> dict[str, Any]:
    """Systems, methods, datasets, gap levels and the method × system compatibility matrix."""
    from physnn.bench.suite import load_suite, shipped_suites
    from physnn.data import dataset_info
    from physnn.methods import METHODS, incompatibility
    from physnn.reality import GAP_FAMILIES, LEVELS
    from physnn.systems import SYSTEMS

    systems = [
        {"name": name, "description": cls.capabilities.description, "presets": sorted(cls.presets),
         "capabilities": {k: v for k, v in vars(cls.capabilities).items() if k != "description"},
         "controls": _controls_of(cls.from_preset("default")),
         "non_idealities": GAP_FAMILIES[name].knobs if name in GAP_FAMILIES else {}}
        for name, cls in SYSTEMS.items()
    ]  # fmt: skip
    methods = [
        {"name": name, "summary": cls.summary, "reference": cls.reference,
         "requirements": vars(cls.requirements), "headline": cls.headline}
        for name, cls in METHODS.items()
    ]  # fmt: skip
    matrix = {
        system: [
            m for m, mcls in METHODS.items() if not incompatibility(mcls, system, scls.capabilities)
        ]
        for system, scls in SYSTEMS.items()
    }
    knobs = {name: {"knobs": fam.knobs, "levels": fam.levels} for name, fam in GAP_FAMILIES.items()}
    suites = [{"name": name, "description": load_suite(path).description, "path": str(path)}
              for name, path in sorted(shipped_suites().items())]  # fmt: skip
    datasets = dataset_info()
    return {"systems": systems, "methods": methods, "datasets": datasets, "gaps": list(LEVELS),
            "gap_knobs": knobs, "suites": suites, "matrix": matrix}  # fmt: skip


def _controls_of(system: Any) -> dict[str, str]:
    """Each control group of a system as "shape in [low, high] unit" (default preset)."""
    out = {}
    for name, spec in system.control_specs().items():
        shape = "×".join(str(n) for n in spec.shape)
        interval = f"[{spec.low:g}, {spec.high:g}{')' if spec.periodic else ']'}"
        levels = f", {spec.levels} levels" if spec.levels else ""
        out[name] = f"{shape} in {interval}{' ' + spec.unit if spec.unit else ''}{levels}"
    return out


def cmd_list(args: argparse.Namespace) -> int:
    info = catalog()
    if args.json:
        print(json.dumps(info if args.what is None else {args.what: _section(info, args.what)},
                         indent=2))  # fmt: skip
        return 0
    for section in [args.what] if args.what else LIST_SECTIONS:
        PRINTERS[section](info)
    return 0


LIST_SECTIONS = ("systems", "methods", "datasets", "gaps", "suites", "matrix")


def _section(info: dict[str, Any], what: str) -> Any:
    return {"gaps": {"levels": info["gaps"], "knobs": info["gap_knobs"]}}.get(what, info.get(what))


def _print_systems(info: dict[str, Any]) -> None:
    print("systems:")
    for s in info["systems"]:
        print(f"  {s['name']:<14} {s['description']}")
        print(f"  {'':<14} presets: {', '.join(s['presets'])}")
        controls = "; ".join(f"{k} {v}" for k, v in s["controls"].items())
        print(f"  {'':<14} controls (default preset): {controls}")
        if s["non_idealities"]:
            print(f"  {'':<14} non-idealities: {', '.join(s['non_idealities'])}")


def _print_methods(info: dict[str, Any]) -> None:
    print("methods:")
    for m in info["methods"]:
        print(f"  {m['name']:<14} {m['summary']} [{m['reference']}]")


def _print_datasets(info: dict[str, Any]) -> None:
    print("datasets:")
    for d in info["datasets"]:
        print(f"  {d['name']:<14} {d['description']}")


def _print_gaps(info: dict[str, Any]) -> None:
    print(f"reality-gap levels: {', '.join(info['gaps'])}")
    for system, family in info["gap_knobs"].items():
        print(f"  gap knobs of {system} (-G KEY=VALUE):")
        for knob, meaning in family["knobs"].items():
            print(f"    {knob:<16} {meaning}")


def _print_suites(info: dict[str, Any]) -> None:
    print("benchmark suites:")
    for suite in info["suites"]:
        print(f"  {suite['name']:<14} {suite['description']}")


def _print_matrix(info: dict[str, Any]) -> None:
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

    from physnn.hardware.device import simulated_device
    from physnn.hardware.protocol import resolve_token
    from physnn.hardware.server import MIB, DeviceServer, check_exposure, serve

    token = resolve_token(token_file=args.token_file)
    check_exposure(args.host, token)  # before a lab instrument is touched
    if not args.max_request_mb > 0 or not args.lease_seconds > 0:
        raise ConfigError("--max-request-mb and --lease-seconds must be positive")
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
    )
    # uvicorn stops gracefully on SIGINT/SIGTERM (device → safe state), then raises the signal
    # again: both end here as KeyboardInterrupt, with exit code 0.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        serve(server, args.host, args.port)
    print("physnn serve: stopped; the device is in its safe state", file=sys.stderr)
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from physnn.train.gradcheck import gradcheck

    config, _ = resolve_config(args)
    report = gradcheck(config, batches=args.batches)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"gradcheck: {config.method} on {config.substrate}, gap {config.gap}, "
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
    from physnn.bench.runner import records_for_report
    from physnn.bench.store import ResultStore

    with ResultStore(store_path) as store:
        records = records_for_report(store, suite)
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

    if not Path(args.store).is_file():
        raise ConfigError(f"results store {args.store!r} does not exist; run physnn bench first")
    if args.export:
        with ResultStore(args.store) as store:
            print(f"exported {store.export(args.export)}")
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
        print(f"physnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(
            "\ninterrupted; the last finished epoch is checkpointed (rerun with --resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
