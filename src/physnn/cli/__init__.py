"""The ``physnn`` command: train, list, gradcheck, bench, tune, report, serve, replay, perf, cost.

User mistakes (unknown names, bad values, bad config files, missing data) print one sentence and
exit with code 2; bugs keep their traceback. Parsing, ``--help``, ``physnn list`` and the check of
names (against the static :mod:`physnn.catalogue`) import no torch: each command imports what it
runs only once its options are known to be good.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from physnn.cli.benchmarks import cmd_bench, cmd_perf, cmd_report, cmd_tune
from physnn.cli.costs import cmd_cost
from physnn.cli.listing import cmd_list
from physnn.cli.parser import build_parser
from physnn.cli.run import cmd_gradcheck, cmd_replay, cmd_train, resolve_config
from physnn.cli.serve import cmd_serve
from physnn.errors import PhysnnError, TrainingInterrupted

__all__ = ["build_parser", "main", "resolve_config"]

COMMANDS: dict[str, Callable[..., int]] = {
    "train": cmd_train, "list": cmd_list, "gradcheck": cmd_gradcheck, "bench": cmd_bench,
    "report": cmd_report, "replay": cmd_replay, "serve": cmd_serve, "perf": cmd_perf,
    "tune": cmd_tune, "cost": cmd_cost,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
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
