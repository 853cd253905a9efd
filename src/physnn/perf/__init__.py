"""``physnn perf``: physnn against the tools users would otherwise pick, and the arithmetic floor.

:func:`run` builds each case (:mod:`physnn.perf.cases`), times physnn, every installed peer
(:mod:`physnn.perf.peers`) and the floor in one process, alternating repetition by repetition
(:mod:`physnn.perf.timing`), and returns one record per case and pass::

    {"name": "d2nn/forward+backward", "physnn_s", "peer", "peer_s", "ratio",
     "floor_s", "floor_ratio", "peak_mb", "peer_peak_mb", "physnn_iqr_s", "clock", "iqr_s",
     "noisy", "noisy_contenders"}

``ratio`` = physnn median / the fastest peer's median for that pass (None without a peer),
``floor_ratio`` = physnn median / floor median; ``peak_mb`` and ``peer_peak_mb`` are the peak
memory of physnn's and that peer's pass (forward: forward alone; the others: forward and
backward), see :func:`physnn.perf.timing.peak_memory_mb`.

``clock`` names the clock the times are on (``wall`` or ``cpu``, :data:`timing.CLOCKS`);
``iqr_s`` maps every contender timed (physnn, each peer, the floor, the compiled pass) to the
interquartile range of its repetitions for that pass, ``physnn_iqr_s`` repeats physnn's;
``noisy`` is True when any contender's IQR exceeds :data:`timing.NOISY_IQR_FRACTION` of its
median, and ``noisy_contenders`` names them (:func:`noise_warnings` words them for the user).

With ``compile=True`` physnn's pass is also timed under ``torch.compile`` (inductor), as one
more contender of the same alternation: the records gain ``compiled_s`` and ``compiled_ratio``
(compiled median / eager median) and the notes the time of the compiling first call.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

import torch

from physnn.compiling import error_reason
from physnn.errors import ConfigError, option
from physnn.perf import cases, peers, timing
from physnn.threads import intra_op_threads

RECORD_KEYS = (
    "name",
    "physnn_s",
    "peer",
    "peer_s",
    "ratio",
    "floor_s",
    "floor_ratio",
    "peak_mb",
    "peer_peak_mb",
    "physnn_iqr_s",
    "clock",
    "iqr_s",
    "noisy",
    "noisy_contenders",
)


COMPILED = "physnn + torch.compile"


def compiled_contender(
    contender: timing.Contender, device: torch.device, backward: bool
) -> tuple[timing.Contender | None, str]:
    """``contender`` with its pass under ``torch.compile``, and a note: the seconds of the first
    (compiling) call, or why it could not compile (the contender is then None)."""
    compiled = timing.Contender(COMPILED, torch.compile(contender.forward), contender.reset)
    start = time.perf_counter()
    try:
        timing.run_once(compiled, device, backward)
    except Exception as err:  # no C++ compiler, an unsupported op: a note, not a failure
        return None, f"torch.compile unavailable here ({error_reason(err)}); compiled pass skipped"
    return compiled, f"torch.compile: first call (compilation) {time.perf_counter() - start:.1f} s"


def case_records(
    case: timing.Case,
    *,
    reps: int,
    warmup: int,
    device: torch.device,
    compiled: timing.Contender | None = None,
    clock: str = "wall",
) -> list[dict[str, Any]]:
    """Time one case and summarise it as one record per pass (``case.passes``); ``compiled``
    (physnn's pass under torch.compile) is timed in the same alternation, every contender on
    the clock ``clock``."""
    contenders = [case.physnn, *case.peers, case.floor, *([compiled] if compiled else [])]
    times = timing.time_alternating(
        contenders,
        reps=reps,
        warmup=warmup,
        device=device,
        backward="backward" in case.passes,
        clock_name=clock,
    )
    spreads = {c: {p: timing.spread(t) for p, t in ps.items()} for c, ps in times.items()}
    medians = {c: {p: s[0] for p, s in ps.items()} for c, ps in spreads.items()}
    records = []
    for name in case.passes:
        backward = name != "forward"
        mine = medians["physnn"][name]
        fastest = min(case.peers, key=lambda c: medians[c.name][name], default=None)
        peer_s = None if fastest is None else medians[fastest.name][name]
        floor_s = medians["floor"][name]
        records.append(
            {
                "name": f"{case.name}/{name}",
                "physnn_s": mine,
                "peer": None if fastest is None else fastest.name,
                "peer_s": peer_s,
                "ratio": None if peer_s is None else mine / peer_s,
                "floor_s": floor_s,
                "floor_ratio": mine / floor_s,
                "peak_mb": timing.peak_memory_mb(case.physnn, device, backward=backward),
                "peer_peak_mb": None
                if fastest is None
                else timing.peak_memory_mb(fastest, device, backward=backward),
                "physnn_iqr_s": spreads["physnn"][name][1],
                "clock": clock,
                "iqr_s": {c: ps[name][1] for c, ps in spreads.items()},
                "noisy": any(ps[name][2] for ps in spreads.values()),
                "noisy_contenders": [c for c, ps in spreads.items() if ps[name][2]],
            }
        )
        if compiled is not None:
            compiled_s = medians[COMPILED][name]
            records[-1] |= {"compiled_s": compiled_s, "compiled_ratio": compiled_s / mine}
    return records


def noise_warnings(records: Sequence[dict[str, Any]]) -> list[str]:
    """One warning per noisy record, naming its noisy contenders; empty when none is noisy."""
    limit = f"{timing.NOISY_IQR_FRACTION:.0%}"
    return [
        f"warning: {r['name']}: noisy timings ({', '.join(r['noisy_contenders'])}: "
        f"interquartile range above {limit} of the median): the machine is probably loaded, "
        "the medians and ratios of this record are unreliable"
        for r in records
        if r.get("noisy")
    ]


def run(
    names: Sequence[str] = ("d2nn",),
    *,
    reps: int = 20,
    warmup: int = 2,
    threads: int = 2,
    size: str = "full",
    device: str | None = None,
    peers_dir: str | os.PathLike | None = None,
    compile: bool = False,
    clock: str = "wall",
) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of every case in ``names`` and the notes (skipped peers, agreement checks).

    ``device`` defaults to CUDA when present; torch runs with ``threads`` intra-op threads
    (restored afterwards); ``compile`` also times physnn's pass under ``torch.compile``;
    ``clock`` is ``wall`` or ``cpu`` (process CPU time: single-threaded CPU runs only make
    sense of it, see :mod:`physnn.perf.timing`).
    """
    unknown = [n for n in names if n not in cases.CASES]
    if unknown:
        raise ConfigError(f"unknown perf case {unknown[0]!r}; known: {', '.join(cases.CASES)}")
    if size not in cases.SIZES:
        raise ConfigError(f"unknown size {size!r}; known: {', '.join(cases.SIZES)}")
    if reps < 1 or threads < 1:
        raise ConfigError(f"{option('reps')} and {option('threads')} must be at least 1")
    dev = timing.default_device(device)
    notes = [f"device {dev}, {threads} torch threads, {reps} repetitions after {warmup} warm-up"]
    notes[0] += _clock_note(clock, dev, threads)
    site = peers.add_peer_path(peers_dir)
    if site is None:
        notes.append("no peer environment found (run benchmarks/install_peers.sh); peers skipped")
    records = []
    with intra_op_threads(threads):
        for name in names:
            case = cases.CASES[name](size=size, device=dev)
            notes.extend(case.notes)
            compiled = None
            if compile:
                backward = "backward" in case.passes
                compiled, note = compiled_contender(case.physnn, dev, backward)
                notes.append(f"{name}: {note}")
            records.extend(
                case_records(
                    case, reps=reps, warmup=warmup, device=dev, compiled=compiled, clock=clock
                )
            )
    return records, notes


def _clock_note(clock: str, dev: torch.device, threads: int) -> str:
    """The run note's tail on the clock (and the 1-minute load average where the OS reports
    it); a ConfigError for an unknown clock or the CPU clock on a GPU."""
    if clock not in timing.CLOCKS:
        raise ConfigError(f"unknown clock {clock!r}; known: {', '.join(timing.CLOCKS)}")
    if clock == "cpu" and dev.type != "cpu":
        raise ConfigError(
            f"{option('clock', 'cpu')} times the CPU, not the {dev.type} kernels; "
            "use the wall clock"
        )
    note = f", {clock} clock"
    with contextlib.suppress(AttributeError, OSError):
        note += f", load average {os.getloadavg()[0]:.2f}"
    if clock == "cpu" and threads > 1:
        note += (f"; with {threads} threads the cpu clock sums their CPU seconds, not elapsed "
                 "time (use --threads 1 for comparable figures)")  # fmt: skip
    return note


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of the records (times in ms)."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{1e3 * value:.2f}"

    def num(value: float | None, fmt: str = ".2f") -> str:
        return "-" if value is None else format(value, fmt)

    compiled = any("compiled_s" in r for r in records)
    header = ("case/pass", "physnn ms", "iqr ms", "peer", "peer ms", "ratio", "floor ms",
              "/floor", "peak MiB", "peer MiB")  # fmt: skip
    header += ("compiled ms", "/eager") if compiled else ()
    rows = [header]
    for r in records:
        row = (
            r["name"],
            ms(r["physnn_s"]),
            ms(r.get("physnn_iqr_s")),
            r["peer"] or "-",
            ms(r["peer_s"]),
            num(r["ratio"]),
            ms(r["floor_s"]),
            num(r["floor_ratio"]),
            num(r["peak_mb"], ".1f"),
            num(r["peer_peak_mb"], ".1f"),
        )
        if compiled:
            row += (ms(r.get("compiled_s")), num(r.get("compiled_ratio")))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )
