"""The benchmark commands: ``physnn bench`` (run a suite), ``physnn report`` (its report, an
export, the docs' tables) and ``physnn perf`` (timings against peers)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from physnn.errors import ConfigError


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
    if args.tuned:
        from physnn.tune.settings import default_paths, tuned_suite

        settings, total = args.settings or default_paths(args.store)[1], len(suite.runs)
        suite, tuned = tuned_suite(suite, settings)
        print(f"suite {suite.name}: {tuned} of {total} runs also run with the settings tuned in "
              f"{settings}, and at their defaults, at the tuning budget")  # fmt: skip
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
        log=tuple(args.log),
    )
    print(f"suite {suite.name}: {summarize(counts, time.monotonic() - start)}")
    if not args.no_report:
        command = "physnn " + " ".join(sys.argv[1:]) if sys.argv[1:] else "physnn bench"
        html = _write_report(args.store, suite.name, args.report_dir, command)
        print(f"report: {html}")
    return 0 if not counts.get("failed") else 1


def cmd_tune(args: argparse.Namespace) -> int:
    from physnn.tune.study import require_optuna

    require_optuna()  # before the suite imports torch: a missing Optuna is said at once
    from physnn.bench.render import settings_text
    from physnn.bench.suite import load_suite
    from physnn.tune.settings import default_paths
    from physnn.tune.study import tasks, tune_suite

    suite = load_suite(args.suite, {"data_dir": args.data_dir} if args.data_dir else {})
    study_db, settings = default_paths(args.store)
    study_db, settings = args.study_db or study_db, args.settings or settings
    if args.dry_run:
        for task in tasks(suite, args.entry, args.max_queries):
            print(f"  {task.name}  seed {task.config.seed}")
        return 0
    chosen = tune_suite(suite, study_db, settings, trials=args.trials,
                        max_queries=args.max_queries, entries=args.entry, runs_dir=args.runs_dir,
                        workers=args.workers, executor=args.executor, address=args.address,
                        progress=not args.no_progress and sys.stderr.isatty())  # fmt: skip
    for key, setting in chosen.items():
        if setting is None:
            print(f"  {key}: no finished trial")
            continue
        values = settings_text({"lr": setting["lr"], **setting["method_options"]})
        print(
            f"  {key}: validation accuracy {setting['validation_accuracy']:.3f} "
            f"(best of {setting['trials']} trials) with {values}"
        )
    print(f"studies: {study_db}; settings: {settings} (physnn bench {args.suite} --tuned)")
    return 0 if all(chosen.values()) else 1


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

        if args.clock != "wall":
            raise ConfigError("--clock applies to the cases; --scaling times on the wall clock")

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
        clock=args.clock,
    )
    if args.json:
        print(json.dumps(records, indent=2))
        print("\n".join(notes), file=sys.stderr)
    else:
        print(perf.format_table(records))
        print("\n".join(notes))
    for warning in perf.noise_warnings(records):
        print(warning, file=sys.stderr)
    return 0
