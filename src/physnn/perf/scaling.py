"""Scaling curves: time and peak memory of physnn substrates against problem size.

Each sweep varies one size of one substrate, times forward+backward (the median of the
harness in :mod:`physnn.perf.timing`: warm-up, repetitions, ``.backward()`` of the output's
sum) and measures the pass's peak memory (:func:`~physnn.perf.timing.peak_memory_mb`) at every
size, and fits the growth exponent — the slope of log(cost) against log(size), least squares —
to set beside the exponent the algorithm should have:

* ``d2nn-grid``: a diffractive network on an N × N grid; per layer two FFTs of the padded grid,
  O(N² log N): time exponent 2 + 1/ln N̄ (the log's local slope at the sweep's middle padded
  grid N̄), memory 2.
* ``mzi-modes``: a Clements mesh of N modes; its N × N transfer matrix is built column by column
  (N columns, each touching all N² entries) and kept for the backward pass: 3 for both. The
  build is N operator calls of N² elements each, so below N ≈ 200 the calls' fixed overhead
  (∝ N) still weighs and the measured time exponent lies between 1 and 3.
* ``crossbar-width``: a w × w crossbar (DAC, differential conductance pairs, tiles, ADC), its
  batched matrix-vector product and the w² weight maps: 2 for both.
* ``oscillators-steps`` and ``wave-steps``: RK4 steps of the oscillator chain and leapfrog steps
  of the wave RNN at a fixed step size, each step's state kept for the backward pass: 1 for both.
* ``d2nn-batch``: the batch of the diffractive network: 1 for both.

Per-call overheads (Python, operator dispatch, allocation) do not grow with size and memory has
fixed parts (parameters, buffers), so the measured exponents sit below the expected ones when the
sizes are small; the default sizes are chosen large enough for the arithmetic to dominate on a
CPU while the whole run stays within about a minute on one core. ``run(..., quick=True)`` uses
tiny sizes (a smoke run: its exponents mean little).

The sweeps run single-threaded by default: torch parallelizes an operator only above a grain
size, so with several threads the small sizes run serially and the large ones in parallel, and
the parallel efficiency would enter the exponent (on a loaded machine, threads waiting for each
other add noise as well).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physnn.perf import timing
from physnn.perf.cases import D2NNGeometry, d2nn_system
from physnn.substrates.crossbar.system import Crossbar
from physnn.substrates.mzi.system import MZIMesh
from physnn.substrates.oscillators.system import OscillatorChain
from physnn.substrates.wave.system import WaveRNN
from physnn.systems.base import System
from physnn.threads import intra_op_threads

Builder = Callable[[int, torch.device, torch.Generator], timing.Contender]


@dataclass(frozen=True)
class Sweep:
    """One substrate, one size varied: ``build(size, device, generator)`` → a contender."""

    name: str
    variable: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    build: Builder
    time_exponent: Callable[[Sequence[int]], float]
    memory_exponent: float
    why: str


def system_contender(
    name: str, system: System, x: torch.Tensor, device: torch.device, gen: torch.Generator
) -> timing.Contender:
    """``system.forward`` on ``x`` with freshly initialized controls as the gradient leaves."""
    system = system.to(device)
    controls = {k: v.to(device).requires_grad_(True) for k, v in system.init_controls(gen).items()}
    nuisance = system.nominal_nuisance()
    x = x.to(device)
    return timing.Contender(
        name, lambda: system.forward(x, controls, nuisance), timing.clear_grads(*controls.values())
    )


def d2nn_grid(
    n: int, device: torch.device, gen: torch.Generator, batch: int = 8
) -> timing.Contender:
    g = D2NNGeometry(grid=n, layers=2, batch=batch)
    x = torch.rand(batch, n // 2, n // 2, generator=gen)
    return system_contender("d2nn", d2nn_system(g), x, device, gen)


def d2nn_batch(batch: int, device: torch.device, gen: torch.Generator) -> timing.Contender:
    return d2nn_grid(96, device, gen, batch=batch)


def mzi_modes(n: int, device: torch.device, gen: torch.Generator) -> timing.Contender:
    system = MZIMesh.from_preset("clements16", modes=n)
    return system_contender("mzi", system, torch.rand(16, n, generator=gen), device, gen)


def crossbar_width(w: int, device: torch.device, gen: torch.Generator) -> timing.Contender:
    system = Crossbar.from_preset("default", num_inputs=w, num_outputs=w)
    return system_contender("crossbar", system, torch.rand(64, w, generator=gen), device, gen)


def oscillator_steps(steps: int, device: torch.device, gen: torch.Generator) -> timing.Contender:
    system = OscillatorChain.from_preset("default", num_steps=steps, duration=0.1 * steps)
    x = torch.rand(16, 8, 8, generator=gen)
    return system_contender("oscillators", system, x, device, gen)


def wave_steps(steps: int, device: torch.device, gen: torch.Generator) -> timing.Contender:
    system = WaveRNN.from_preset("default", hold=1)
    x = torch.rand(4, steps, generator=gen)
    return system_contender("wave", system, x, device, gen)


def fft_exponent(sizes: Sequence[int]) -> float:
    """Local log-log slope of N² log N̄ at the geometric middle of the padded grids (2×)."""
    middle = 2 * math.exp(sum(math.log(n) for n in sizes) / len(sizes))
    return 2 + 1 / math.log(middle)


SWEEPS: tuple[Sweep, ...] = (
    Sweep("d2nn-grid", "grid N", (64, 96, 128, 160, 192), (24, 32), d2nn_grid,
          fft_exponent, 2.0, "FFTs of the padded N × N grid: N² log N"),
    Sweep("mzi-modes", "modes N", (48, 64, 96, 128, 160), (4, 8), mzi_modes,
          lambda _: 3.0, 3.0, "N columns of the mesh, each on all N² transfer-matrix entries"),
    Sweep("crossbar-width", "width w", (512, 768, 1024, 1536, 2048), (16, 32), crossbar_width,
          lambda _: 2.0, 2.0, "w × w conductances and the batched w × w matrix-vector product"),
    Sweep("oscillators-steps", "RK4 steps", (25, 50, 100, 200), (10, 20), oscillator_steps,
          lambda _: 1.0, 1.0, "one RK4 step (4 force evaluations) per step, states kept"),
    Sweep("wave-steps", "time steps", (64, 128, 256, 512), (8, 16), wave_steps,
          lambda _: 1.0, 1.0, "one leapfrog update of the grid per step, states kept"),
    Sweep("d2nn-batch", "batch B", (4, 8, 16, 32, 64), (1, 2), d2nn_batch,
          lambda _: 1.0, 1.0, "independent samples"),
)  # fmt: skip


def fit_exponent(sizes: Sequence[float], values: Sequence[float | None]) -> float | None:
    """Least-squares slope of log(value) against log(size) over the positive values; None with
    fewer than two of them."""
    pairs = [(s, v) for s, v in zip(sizes, values, strict=True) if v is not None and v > 0]
    if len(pairs) < 2:
        return None
    logs = np.log(np.asarray(pairs, dtype=float))
    return float(np.polyfit(logs[:, 0], logs[:, 1], 1)[0])


def measure(
    sweep: Sweep, sizes: Sequence[int], *, reps: int, warmup: int, device: torch.device, seed: int
) -> dict[str, Any]:
    """Median forward+backward seconds and peak MiB at every size, and the fitted exponents.

    The sizes of a sweep alternate repetition by repetition (:func:`timing.time_alternating`),
    so that load from other processes hits every size alike and the slope stays fair.
    """
    contenders = [
        dataclasses.replace(c, name=f"{c.name}@{size}")
        for size in sizes
        for c in [sweep.build(size, device, torch.Generator().manual_seed(seed))]
    ]
    runs = timing.time_alternating(contenders, reps=reps, warmup=warmup, device=device)
    times = [timing.median(runs[c.name]["forward+backward"]) for c in contenders]
    peaks = [timing.peak_memory_mb(c, device) for c in contenders]
    return {
        "sweep": sweep.name,
        "variable": sweep.variable,
        "sizes": list(sizes),
        "time_s": times,
        "peak_mb": peaks,
        "time_exponent": fit_exponent(sizes, times),
        "expected_time_exponent": sweep.time_exponent(sizes),
        "memory_exponent": fit_exponent(sizes, peaks),
        "expected_memory_exponent": sweep.memory_exponent,
        "why": sweep.why,
    }


def plot(record: dict[str, Any], path: Path) -> None:
    """Log-log time and memory against size, with the fitted power laws."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    sizes = np.asarray(record["sizes"], dtype=float)
    panels = (
        ("time_s", "time_exponent", "forward+backward median (s)"),
        ("peak_mb", "memory_exponent", "peak memory (MiB)"),
    )
    with matplotlib.rc_context({"font.size": 10}):
        fig = Figure(figsize=(8, 3.2))  # its own Agg canvas: the caller's backend is left alone
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, 2)
        for ax, (key, exponent_key, label) in zip(axes, panels, strict=True):
            values = np.asarray([np.nan if v is None else v for v in record[key]], dtype=float)
            good = np.isfinite(values) & (values > 0)
            ax.set_xlabel(record["variable"])
            ax.set_ylabel(label)
            if not good.any():  # e.g. no peak memory where the device cannot report it
                ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center")
                continue
            ax.loglog(sizes, values, "o", label="measured")
            slope = record[exponent_key]
            if slope is not None:
                offset = np.mean(np.log(values[good]) - slope * np.log(sizes[good]))
                ax.loglog(
                    sizes, np.exp(offset) * sizes**slope, "-", label=f"fit: slope {slope:.2f}"
                )
                expected = record["expected_" + exponent_key]
                anchor = np.exp(np.mean(np.log(values[good]) - expected * np.log(sizes[good])))
                ax.loglog(sizes, anchor * sizes**expected, ":", label=f"expected {expected:.2f}")
            ax.legend(fontsize=9)
        fig.suptitle(record["sweep"])
        fig.tight_layout()
        fig.savefig(path, dpi=110)


def markdown_table(records: Sequence[dict[str, Any]]) -> str:
    """One row per sweep: sizes, exponents measured and expected, and the plot."""

    def num(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    lines = [
        "| sweep | size | sizes | time exponent | expected | memory exponent | expected | why |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        sizes = ", ".join(str(s) for s in r["sizes"])
        lines.append(
            f"| [{r['sweep']}]({r['sweep']}.png) | {r['variable']} | {sizes} "
            f"| {num(r['time_exponent'])} | {num(r['expected_time_exponent'])} "
            f"| {num(r['memory_exponent'])} | {num(r['expected_memory_exponent'])} | {r['why']} |"
        )
    return "\n".join(lines) + "\n"


def run(
    out_dir: str | Path,
    quick: bool = False,
    *,
    reps: int | None = None,
    threads: int = 1,
    device: str | torch.device | None = None,
    seed: int = 0,
    sweeps: Sequence[Sweep] = SWEEPS,
) -> list[dict[str, Any]]:
    """Measure every sweep, write ``<sweep>.png``, ``scaling.md`` and ``scaling.json`` to
    ``out_dir``, and return the records.

    ``quick``: the tiny sizes (and 2 repetitions unless ``reps`` is given; 5 otherwise). torch
    runs with ``threads`` intra-op threads (restored afterwards); ``device`` defaults to CUDA
    when present.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = timing.default_device(device)
    reps = reps or (2 if quick else 5)
    with intra_op_threads(threads):
        records = [
            measure(
                sweep,
                sweep.quick_sizes if quick else sweep.sizes,
                reps=reps,
                warmup=1,
                device=dev,
                seed=seed,
            )
            for sweep in sweeps
        ]
    for record in records:
        plot(record, out / f"{record['sweep']}.png")
    header = (
        f"Scaling on {dev}, {threads} torch threads, median of {reps} forward+backward "
        "repetitions after 1 warm-up; exponents are least-squares log-log slopes.\n\n"
    )
    (out / "scaling.md").write_text(header + markdown_table(records), encoding="utf-8")
    (out / "scaling.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return records
