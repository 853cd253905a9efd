"""The digital side of a run's bill: FLOPs of its credit path, with the device's physics left out.

A method's digital work — the twin's forward and backward for ``pat`` and ``insilico``, the
readout and its gradient, the probes' bookkeeping of zeroth-order methods, a ridge solve, the
fit of a calibrated twin — is counted with torch's own
:class:`~torch.utils.flop_counter.FlopCounterMode` (matrix products and convolutions), extended
here by the fast Fourier transforms of the optical twins (5 N log₂ N real FLOPs for a complex
transform of N points, half that for a real one; Cooley–Tukey's radix-2 count as FFTW's
benchmarks state it) and dense linear solves (⅔ n³ + 2 n² k for k right-hand sides, LU; four
times that for complex matrices). Element-
wise operations are not counted: the digital figures are lower bounds, which never flatters
the physical side.

What the *simulated* device computes is physics, not digital work: the device contract runs its
operations inside :func:`physical`, during which counting pauses.

Counting costs Python dispatch on every operation, so a :class:`DigitalMeter` measures the first
``SAMPLED_STEPS`` training steps and scales their mean by the number of steps (the steps of a
run do the same work, up to the last, shorter batch); one-off phases (fitting a twin) are
counted whole.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

SAMPLED_STEPS = 2
"""Training steps whose FLOPs are counted; the others are assumed to cost their mean."""


def _points(shape: Any, dim: Any) -> tuple[int, int]:
    """(all points, points per transform) of an FFT over ``dim`` of a tensor of ``shape``."""
    total = math.prod(shape)
    per_transform = math.prod(shape[d] for d in dim)
    return total, per_transform


def _fft_complex(x_shape: Any, dim: Any, *args: Any, **kwargs: Any) -> int:
    total, n = _points(x_shape, dim)
    return int(5 * total * math.log2(max(n, 2)))


def _fft_real(x_shape: Any, dim: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    shape = (
        out_shape
        if out_shape is not None and math.prod(out_shape) > math.prod(x_shape)
        else x_shape
    )
    total, n = _points(shape, dim)
    return int(2.5 * total * math.log2(max(n, 2)))


def _solve(a: torch.Tensor, b: torch.Tensor, *args: Any, **kwargs: Any) -> int:
    n = a.shape[-1]
    batch = math.prod(a.shape[:-2])
    k = 1 if b.dim() == a.dim() - 1 else b.shape[-1]
    real = batch * (2 * n**3 / 3 + 2 * n**2 * k)
    return int(COMPLEX_PRODUCT * real if a.is_complex() else real)


_solve._get_raw = True  # type: ignore[attr-defined]  (torch passes the tensors, not shapes)
COMPLEX_PRODUCT = 4
"""Real FLOPs of a complex multiply-add against a real one (4 products, 4 sums vs 1 and 1)."""


EXTRA_FORMULAS = {
    torch.ops.aten._fft_c2c: _fft_complex,
    torch.ops.aten._fft_r2c: _fft_real,
    torch.ops.aten._fft_c2r: _fft_real,
    torch.ops.aten._linalg_solve_ex: _solve,
}
"""The operations counted beyond torch's own table, with their FLOP formulas."""


@dataclass
class _Count:
    flops: float = 0.0
    mode: FlopCounterMode | None = None

    def start(self) -> None:
        self.mode = FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS)
        self.mode.__enter__()

    def stop(self) -> None:
        assert self.mode is not None
        self.mode.__exit__(None, None, None)
        self.flops += self.mode.get_total_flops()
        self.mode = None


_COUNTING: list[_Count] = []
"""The counts in progress (innermost last)."""


@contextmanager
def counting() -> Iterator[_Count]:
    """Count the digital FLOPs of the block (its ``flops`` are final on exit): every counted
    operation outside :func:`physical` blocks."""
    count = _Count()
    _COUNTING.append(count)
    count.start()
    try:
        yield count
    finally:
        if count.mode is not None:
            count.stop()
        _COUNTING.pop()


@contextmanager
def physical() -> Iterator[None]:
    """Mark the block as the device's physics, not digital work: every count in progress is
    paused while it runs (so a long relaxation is neither counted nor slowed by counting)."""
    running = [count for count in _COUNTING if count.mode is not None]
    for count in reversed(running):  # the innermost mode first: the mode stack's order
        count.stop()
    try:
        yield
    finally:
        for count in running:
            count.start()


class DigitalMeter:
    """The digital FLOPs of a run: its training steps (the first ``SAMPLED_STEPS`` counted, the
    rest at their mean) and its one-off phases; saved with a checkpoint."""

    def __init__(self) -> None:
        self.steps = 0
        self.sampled_steps = 0
        self.sampled_flops = 0.0
        self.phases: dict[str, float] = {}
        self.readout_flops_per_sample: float | None = None

    @contextmanager
    def step(self) -> Iterator[None]:
        """One training step."""
        self.steps += 1
        if self.sampled_steps >= SAMPLED_STEPS:
            yield
            return
        with counting() as count:
            yield
        self.sampled_steps += 1
        self.sampled_flops += count.flops

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A one-off phase, counted whole (added to what ``name`` counted before)."""
        with counting() as count:
            yield
        self.phases[name] = self.phases.get(name, 0.0) + count.flops

    @contextmanager
    def inference(self, samples: int) -> Iterator[None]:
        """An evaluation of ``samples`` samples on the device: the first one is counted, for the
        digital FLOPs of one inference beside the device (the readout)."""
        if self.readout_flops_per_sample is not None or samples == 0:
            yield
            return
        with counting() as count:
            yield
        self.readout_flops_per_sample = count.flops / samples

    def step_flops(self) -> float:
        """The FLOPs of all training steps."""
        if not self.sampled_steps:
            return 0.0
        return self.steps * self.sampled_flops / self.sampled_steps

    def total(self) -> float:
        return self.step_flops() + sum(self.phases.values())

    def describe(self) -> dict[str, Any]:
        return {
            "flops": self.total(),
            "training_steps": self.steps,
            "flops_per_step": self.sampled_flops / self.sampled_steps
            if self.sampled_steps
            else 0.0,
            "phases": dict(self.phases),
            "readout_flops_per_sample": self.readout_flops_per_sample or 0.0,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "sampled_steps": self.sampled_steps,
            "sampled_flops": self.sampled_flops,
            "phases": dict(self.phases),
            "readout_flops_per_sample": self.readout_flops_per_sample,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self.sampled_steps = state["sampled_steps"]
        self.sampled_flops = state["sampled_flops"]
        self.phases = dict(state["phases"])
        self.readout_flops_per_sample = state["readout_flops_per_sample"]
