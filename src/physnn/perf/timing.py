"""Timing harness: warm-up, alternating repetitions, medians, and peak memory.

Every contender of a case (physnn, its peers, the arithmetic floor) runs in the same process and
the repetitions alternate, A B C A B C …, so that load from other processes, frequency scaling
and cache state hit all of them alike; a ratio of two medians from one such run is then a fair
comparison even on a shared machine. Each repetition times the forward pass and, separately,
the ``.backward()`` of a scalar (the sum) of its output; on CUDA both are bracketed by
``torch.cuda.synchronize`` so that the times are those of the kernels, not of their launches.

Two clocks (:data:`CLOCKS`): ``wall`` (``time.perf_counter``, the default) and ``cpu``
(``time.process_time``: the CPU seconds of every thread of this process, torch's intra-op pool
included). The CPU clock does not count the time the process waits while other processes hold
its cores, so it resists a loaded machine; but with T threads it is the *sum* over the threads,
not the elapsed time, so it is meant for single-threaded runs (``--threads 1``), and it says
nothing about a GPU's kernels (CUDA runs use the wall clock).

A noisy machine shows as a wide spread of the repetitions: :func:`spread` gives each series'
median, interquartile range and a ``noisy`` flag, set when the IQR exceeds
:data:`NOISY_IQR_FRACTION` of the median.

Peak memory is measured outside the timed repetitions, one contender at a time:

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the memory
  allocated before the pass — the tensors the pass itself allocates (PyTorch's allocator).
* CPU (Linux): the growth of the process's resident-set high-water mark (``VmHWM`` in
  ``/proc/self/status``) over the pass, after resetting the mark (``clear_refs`` = 5) and handing
  freed heap back to the OS (``malloc_trim``). It counts every page the pass touches, allocator
  slack included, so it is an upper bound on the pass's tensor memory. Elsewhere it is None.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

PASSES = ("forward", "backward", "forward+backward")

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}
"""The clocks a run can time with, by name (see the module docstring)."""

NOISY_IQR_FRACTION = 0.25
"""A series is *noisy* when its interquartile range exceeds this fraction of its median.

On a lightly loaded machine the repetitions of one pass sit within a few per cent of each
other (physnn's IQRs in docs/performance.md are 3–17 % of the median, the larger ones with
other processes sharing the cores); on an overloaded machine single repetitions stretch by
factors (issue 24: a pass whose halves took 0.9 and 1.4 ms measured 48 ms whole) and the IQR
grows to the size of the median. 0.25 lies between the two: above the jitter of a usable run,
well below the spread of a broken one; a median with an IQR under a quarter of it still ranks
contenders that differ by more than that."""


@dataclass(frozen=True)
class Contender:
    """One implementation of a case: ``forward()`` returns a real tensor; the backward pass is
    the ``.backward()`` of its sum. ``reset()`` (optional) clears gradients between repetitions."""

    name: str
    forward: Callable[[], Tensor]
    reset: Callable[[], None] | None = None


@dataclass
class Case:
    """The contenders of one case; ``physnn`` and ``floor`` are named so. ``passes`` are the
    passes timed and reported: ``("forward",)`` for a case without a backward pass (a reservoir
    whose readout is solved in closed form)."""

    name: str
    physnn: Contender
    floor: Contender
    peers: list[Contender]
    notes: list[str]
    passes: tuple[str, ...] = PASSES


def clear_grads(*params: Tensor) -> Callable[[], None]:
    """A ``reset`` that drops the gradients of ``params`` (so that none accumulate)."""

    def reset() -> None:
        for p in params:
            p.grad = None

    return reset


def relative_difference(reference: Tensor, other: Tensor) -> float:
    """max |a − b| / max |a|: how closely two contenders' results agree."""
    reference, other = reference.detach(), other.detach().to(reference)
    return float((reference - other).abs().max() / reference.abs().max())


def default_device(device: str | torch.device | None) -> torch.device:
    """``device``, else CUDA when present, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def median(values: Sequence[float]) -> float:
    """The median (mean of the two middle values for an even count)."""
    return statistics.median(values)


def iqr(values: Sequence[float]) -> float:
    """Interquartile range (inclusive quartiles); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q3 - q1


def spread(
    values: Sequence[float], fraction: float = NOISY_IQR_FRACTION
) -> tuple[float, float, bool]:
    """``(median, iqr, noisy)`` of one series of repetition times; ``noisy`` is True when the
    interquartile range exceeds ``fraction`` × the median (:data:`NOISY_IQR_FRACTION`)."""
    mid, width = median(values), iqr(values)
    return mid, width, width > fraction * mid


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(name: str) -> Callable[[], float]:
    """The clock called ``name`` (:data:`CLOCKS`); ValueError for an unknown name."""
    try:
        return CLOCKS[name]
    except KeyError:
        raise ValueError(f"unknown clock {name!r}; known: {', '.join(CLOCKS)}") from None


def run_once(
    contender: Contender, device: torch.device, backward: bool = True, clock_name: str = "wall"
) -> tuple[float, float]:
    """Seconds of one forward pass and of the backward of the sum of its output (0 when
    ``backward`` is False: the pass is then not run), on the clock ``clock_name``."""
    now = clock(clock_name)
    _sync(device)
    start = now()
    out = contender.forward()
    _sync(device)
    forward = now() - start
    backward_s = 0.0
    if backward:
        loss = out.sum()
        _sync(device)
        start = now()
        loss.backward()
        _sync(device)
        backward_s = now() - start
    if contender.reset is not None:
        contender.reset()
    return forward, backward_s


def time_alternating(
    contenders: Sequence[Contender],
    *,
    reps: int,
    warmup: int = 2,
    device: torch.device | str = "cpu",
    backward: bool = True,
    clock_name: str = "wall",
) -> dict[str, dict[str, list[float]]]:
    """Per contender and pass (:data:`PASSES`), the seconds of each of ``reps`` repetitions,
    on the clock ``clock_name`` (:data:`CLOCKS`).

    ``warmup`` untimed rounds come first (caches, FFT plans, allocator); then each round runs
    every contender once, in order, so the contenders alternate. ``forward+backward`` is the
    per-repetition sum of the two. With ``backward`` False only ``forward`` is run and timed.
    """
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    device = torch.device(device)
    clock(clock_name)  # an unknown clock fails before any pass runs
    for _ in range(warmup):
        for contender in contenders:
            run_once(contender, device, backward, clock_name)
    passes = PASSES if backward else ("forward",)
    times = {c.name: {p: [] for p in passes} for c in contenders}
    for _ in range(reps):
        for contender in contenders:
            fwd, bwd = run_once(contender, device, backward, clock_name)
            times[contender.name]["forward"].append(fwd)
            if backward:
                times[contender.name]["backward"].append(bwd)
                times[contender.name]["forward+backward"].append(fwd + bwd)
    return times


_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _rss_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"{field} not in {_STATUS}")


def _release_heap() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_memory_mb(
    contender: Contender, device: torch.device | str = "cpu", *, backward: bool = True
) -> float | None:
    """Peak memory (MiB) that one forward (and backward) pass adds; see the module docstring.

    None where it cannot be measured (a CPU that is not Linux's /proc).
    """
    device = torch.device(device)
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = contender.forward()
        if backward:
            out.sum().backward()
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        try:
            _release_heap()
            _CLEAR_REFS.write_text("5")
            base = _rss_kib("VmRSS")
            out = contender.forward()
            if backward:
                out.sum().backward()
            peak = (_rss_kib("VmHWM") - base) * 1024
        except OSError:
            return None
    del out
    if contender.reset is not None:
        contender.reset()
    return max(peak, 0) / 2**20
