"""The ``physnn`` command line's parser: one function per command, and the options of a run
shared by ``train`` and ``gradcheck``. Building it imports no torch."""

from __future__ import annotations

import argparse
from typing import Any

from physnn import __version__
from physnn.cli.listing import LIST_SECTIONS
from physnn.cli.parsing import Parser, key_value, positive_int
from physnn.train.config import DIGITAL_LEARNING_RATE, TrainConfig

PRECEDENCE = "The defaults shown are TrainConfig's; a --config file overrides them, flags the file."


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``physnn`` and its commands."""
    parser = Parser(prog="physnn", description="Train physical neural networks.")
    parser.add_argument("--version", action="version", version=f"physnn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add in (
        _add_train_parser,
        _add_list_parser,
        _add_bench_parser,
        _add_tune_parser,
        _add_report_parser,
        _add_serve_parser,
        _add_replay_parser,
        _add_gradcheck_parser,
        _add_perf_parser,
        _add_cost_parser,
    ):
        add(sub)
    return parser


def _add_train_parser(sub: Any) -> None:
    """``physnn train``: a run's options, its folder, resuming, a remote device."""
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
        type=positive_int,
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
    _add_log_flag(train)


def _add_log_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", action="append", default=[], choices=("tensorboard", "mlflow"),
                   help="also write each run's history and result to TensorBoard (OUT/tensorboard) "
                   "or MLflow (OUT/mlruns, or $MLFLOW_TRACKING_URI); pip install "
                   "'physnn[tracking]'")  # fmt: skip


def _add_list_parser(sub: Any) -> None:
    """``physnn list``: one section or all, as text or JSON."""
    lst = sub.add_parser("list", help="systems, methods, datasets, gap levels, suites, and the "
                         "method × system compatibility matrix")  # fmt: skip
    lst.add_argument("what", nargs="?", choices=LIST_SECTIONS, metavar="SECTION",
                     help=f"one section only: {', '.join(LIST_SECTIONS)} "
                     "(default: all but the matrix; all with --verbose)")  # fmt: skip
    full = "full detail: presets, learning rates, controls, gap knobs, references"
    lst.add_argument("--verbose", "-v", action="store_true", help=full)
    lst.add_argument("--json", action="store_true", help="machine-readable output, complete")


def _add_bench_parser(sub: Any) -> None:
    """``physnn bench``: the suite, where its runs and results go, how they run."""
    bench = sub.add_parser("bench", help="run a benchmark suite, store every run, write a report")
    bench.add_argument("suite", nargs="?", default="quick", help="shipped suite name or TOML file")
    bench.add_argument("--store", default="physnn-results.db", help="SQLite results store")
    _add_executor_arguments(bench, "physnn-runs/bench", "run")
    bench.add_argument("--report-dir", default="physnn-report", help="where the report goes")
    bench.add_argument("--no-report", action="store_true", help="do not write the report")
    bench.add_argument("--dry-run", action="store_true", help="validate and list the runs only")
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_log_flag(bench)
    bench.add_argument("--tuned", action="store_true",
                       help="also run every run physnn tune has a setting for with it, and at "
                       "its defaults, at the tuning budget (see --settings)")  # fmt: skip
    bench.add_argument("--settings", metavar="FILE", help="tuned settings, with --tuned "
                       "(default: beside --store, e.g. physnn-results.tuned.json)")  # fmt: skip


def _add_executor_arguments(parser: Any, runs_dir: str, unit: str) -> None:
    """Where the runs (or trials) of a suite go and what runs them: shared by bench and tune."""
    parser.add_argument("--workers", type=positive_int, default=2, help="local worker processes")
    parser.add_argument("--executor", default="local", help="local or ray")
    parser.add_argument("--address", help="Ray cluster address, with --executor ray "
                        "(default: a local Ray)")  # fmt: skip
    parser.add_argument("--runs-dir", default=runs_dir, help=f"{unit} folders (checkpoints)")
    parser.add_argument("--data-dir", help=f"folder with dataset files, for every {unit} "
                        "(default: the suite's, else $PHYSNN_DATA_DIR and the cache)")  # fmt: skip


def _add_tune_parser(sub: Any) -> None:
    """``physnn tune``: the suite, the trials and their budget, where studies go, how they run."""
    tune = sub.add_parser("tune", help="tune each method's hyperparameters and learning rate "
                          "under an equal device-query budget (Optuna)")  # fmt: skip
    tune.add_argument("suite", metavar="SUITE", help="shipped suite name or TOML file")
    tune.add_argument("--trials", type=positive_int, default=20, help="trials per study")
    tune.add_argument("--max-queries", type=positive_int, help="device queries per trial "
                      "(default: the suite's max_queries)")  # fmt: skip
    tune.add_argument("--entry", action="append", metavar="NAME",
                      help="tune only this entry (repeatable; default: every entry)")  # fmt: skip
    tune.add_argument("--store", default="physnn-results.db",
                      help="results store, beside which the studies and settings go")  # fmt: skip
    tune.add_argument("--study-db", metavar="FILE", help="Optuna SQLite database "
                      "(default: beside --store, e.g. physnn-results.tune.db)")  # fmt: skip
    tune.add_argument("--settings", metavar="FILE", help="where the chosen settings go "
                      "(default: beside --store, e.g. physnn-results.tuned.json)")  # fmt: skip
    _add_executor_arguments(tune, "physnn-runs/tune", "trial")
    tune.add_argument("--dry-run", action="store_true", help="validate and list the studies only")
    tune.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_report_parser(sub: Any) -> None:
    """``physnn report``: the report, an export, or the docs' generated tables."""
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


def _add_serve_parser(sub: Any) -> None:
    """``physnn serve``: the device served, where, for whom, and the limits on its clients."""
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
            *flags, type=key_value, action="append", default=[], metavar="KEY=VALUE", help=meaning
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


def _add_replay_parser(sub: Any) -> None:
    """``physnn replay``: the recorded run and where its replay goes."""
    replay = sub.add_parser("replay", help="train a recorded run again from its device record")
    replay.add_argument("run_dir", metavar="RUN_DIR", help="run folder made with train --record")
    replay.add_argument("--out", help="folder of the replayed run (default RUN_DIR/replay)")
    replay.add_argument("--overwrite", action="store_true", help="replay again into --out")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_gradcheck_parser(sub: Any) -> None:
    """``physnn gradcheck``: a run's options and the batches compared."""
    grad = sub.add_parser(
        "gradcheck",
        help="compare a method's gradient with the true one",
        description=f"Compare a method's gradient with the true one. {PRECEDENCE}",
    )
    _add_experiment_flags(grad)
    grad.add_argument("--batches", type=positive_int, default=3, help="batches compared")
    grad.add_argument("--json", action="store_true", help="machine-readable output")


def _add_perf_parser(sub: Any) -> None:
    """``physnn perf``: the cases, the timing and the scaling sweep."""
    perf = sub.add_parser("perf", help="time physnn against peer simulators and the FFT floor")
    cases = "d2nn, crossbar, crossbar-pcm, wave, oscillators or reservoir"
    perf.add_argument("cases", nargs="*", metavar="CASE", default=["d2nn"], help=cases)
    perf.add_argument("--reps", type=positive_int, help="timed repetitions "
                      "(default: 20; with --scaling: 5, or 2 with --size small)")  # fmt: skip
    perf.add_argument("--warmup", type=positive_int, default=2, help="untimed rounds")
    perf.add_argument("--threads", type=positive_int,
                      help="torch threads (default: 2; with --scaling: 1)")  # fmt: skip
    perf.add_argument("--size", choices=("small", "full"), default="full",
                      help="problem sizes (--scaling: small is the quick sweep)")  # fmt: skip
    perf.add_argument("--scaling", metavar="DIR",
                      help="measure time and memory vs problem size instead; plots and a "
                      "table with the growth exponents go to DIR (default: off)")  # fmt: skip
    perf.add_argument("--device", help="torch device (default: cuda if present, else cpu)")
    perf.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                      help="wall: elapsed time (default); cpu: the process's CPU time, which "
                      "ignores time lost to other processes; meant for --threads 1 on the CPU, "
                      "with T threads it sums their CPU seconds")  # fmt: skip
    perf.add_argument("--peers", help="peer venv (default: $PHYSNN_PEERS, else .peers)")
    perf.add_argument(
        "--compile",
        action="store_true",
        help="also time physnn's pass under torch.compile (inductor)",
    )
    perf.add_argument("--json", action="store_true", help="print the records as JSON")


def _add_cost_parser(sub: Any) -> None:
    """``physnn cost``: a run's bill again, a configuration's projected, sweeps, presets, checks."""
    cost = sub.add_parser(
        "cost",
        help="energy, time and wear of a run on the hardware, and where a substrate beats a GPU",
        description="The bill of a finished run (RUN_DIR) under other cost parameters, or of "
        "the configuration the options describe, projected from a few measured steps without "
        f"training; or a size sweep, the presets, the published figures. {PRECEDENCE}",
    )
    cost.add_argument(
        "run_dir",
        nargs="?",
        metavar="RUN_DIR",
        help="a finished run's folder (default: none, the options' run projected)",
    )
    _add_experiment_flags(cost)
    cost.add_argument(
        "--sweep",
        metavar="KEY=V1,V2,...",
        help="price one inference at each value of a system field, e.g. "
        "grid=16,32,64,128, against the digital processor (default: no sweep)",
    )
    cost.add_argument("--plot", metavar="FILE.png", help="with --sweep: the plot (default: none)")
    cost.add_argument(
        "--presets",
        action="store_true",
        help="the cost presets of every substrate (or --system) and their sources",
    )
    cost.add_argument("--markdown", action="store_true",
                      help="with --presets or --check: Markdown tables")  # fmt: skip
    cost.add_argument(
        "--docs",
        metavar="FILE.md",
        help="rewrite the blocks of FILE.md generated by physnn cost … --markdown (default: none)",
    )
    cost.add_argument(
        "--check",
        action="store_true",
        help="recompute the published headline figures (exit 1 if one is off)",
    )
    cost.add_argument("--json", action="store_true", help="machine-readable output")


def _config_defaults() -> dict[str, Any]:
    """TrainConfig's default of each field that has a plain one (importing no torch)."""
    from dataclasses import MISSING, fields

    return {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def _add_experiment_flags(p: argparse.ArgumentParser) -> None:
    """The options of a run (``train``, ``gradcheck``). Their parser default is None, so that a
    --config file can set them; the help shows TrainConfig's default, which applies otherwise."""
    defaults = _config_defaults()
    for add in (_add_setup_flags, _add_training_flags, _add_option_flags):
        add(p, defaults)


def _add_setup_flags(p: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    """What is trained on what: config file, system, method, data, model, gap, seed."""
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
        type=positive_int,
        help="use only the first N training samples (default: all)",
    )
    p.add_argument(
        "--gap", help=f"reality-gap level: none, mild, moderate, severe (default: {d['gap']})"
    )
    p.add_argument(
        "--seed", type=int, help=f"run seed: data order, init, hidden device (default: {d['seed']})"
    )


def _add_training_flags(p: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    """How it is trained: epochs, batches, learning rate, step size, budgets, torch device."""
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"passes over the training set (default: {d['epochs']})",
    )
    p.add_argument(
        "--batch-size", type=positive_int, help=f"training batch size (default: {d['batch_size']})"
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
        type=positive_int,
        help="budget: device queries in training (default: no limit)",
    )
    p.add_argument(
        "--max-seconds", type=float, help="budget: wall time of training, s (default: no limit)"
    )
    p.add_argument(
        "--torch-device", help=f"cpu, cuda, cuda:N or auto (default: {d['torch_device']})"
    )


def _add_option_flags(p: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    """KEY=VALUE options of the system, the method, the gap and the twin, and the twin."""
    p.add_argument(
        "--system-option",
        "-S",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a system field, e.g. grid=48",
    )
    p.add_argument(
        "--method-option",
        "-M",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method option, e.g. assumed_gap=mild",
    )
    p.add_argument("--gap-option", "-G", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="gap knob, e.g. lateral=0.2")  # fmt: skip
    p.add_argument(
        "--twin", help=f"digital twin: nominal, calibrated or learned (default: {d['twin']})"
    )
    p.add_argument("--twin-option", "-T", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="twin option, e.g. settings=64")  # fmt: skip
    p.add_argument(
        "--cost",
        help="the substrate's cost preset for the run's bill (default: auto, the preset named "
        "like the system preset, else default; physnn cost --presets)",
    )
    p.add_argument("--cost-option", "-K", type=key_value, action="append", default=[],
                   metavar="KEY=VALUE",
                   help='cost parameter, e.g. adc_energy="2 pJ" (docs/costs.md)')  # fmt: skip
