"""torch's intra-op thread count: chosen from the free cores, and set for the duration of a block.

torch starts one intra-op thread per core. On a machine where other work already runs, those
threads wait on each other (a busy 2-core machine took 71–105 s for two epochs of the default run
with 2 threads, 10–15 s with one). :func:`free_threads` therefore counts the cores this process
may use, less the work already running on them (the one-minute load average), shared among the
workers that will run at once. ``physnn bench`` and ``physnn train`` both use it through
:func:`choose_threads`, which lets ``$PHYSNN_THREADS`` fix the count instead.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from physnn.errors import ConfigError

THREADS_ENV = "PHYSNN_THREADS"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the platform tells)."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def free_threads(workers: int = 1) -> int:
    """Threads for each of ``workers`` processes: the usable cores not already busy (one-minute
    load average, rounded), shared equally among the workers, at least one each."""
    cores = usable_cores()
    with contextlib.suppress(AttributeError, OSError):
        cores -= round(os.getloadavg()[0])
    return max(1, cores // max(1, workers))


def choose_threads(workers: int = 1) -> int:
    """Threads for each of ``workers`` processes: ``$PHYSNN_THREADS`` when set, else
    :func:`free_threads`."""
    fixed = os.environ.get(THREADS_ENV, "").strip()
    if not fixed:
        return free_threads(workers)
    if not fixed.isdigit() or int(fixed) < 1:
        raise ConfigError(f"${THREADS_ENV} must be a positive integer, got {fixed!r}")
    return int(fixed)


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[None]:
    """``torch.set_num_threads(count)`` inside the block; the previous count afterwards."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
