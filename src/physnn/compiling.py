"""``torch.compile`` where it pays: whether it works here (inductor generates C++ on the CPU
and Triton code on CUDA and needs a compiler for it, which a machine may lack), and time-stepped
integrators whose one step is compiled once for every time."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def error_reason(err: BaseException) -> str:
    """The first line of an error's message, or its type's name when it has none."""
    message = str(err).strip()
    return message.splitlines()[0] if message else type(err).__name__


@functools.cache
def compile_unavailable(device_type: str = "cpu") -> str | None:
    """None when ``torch.compile`` compiles and runs a small function on a ``device_type``
    device here, else why not (the first line of its error). Cached: the probe compiles once
    per process and device type."""
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(2, device=device_type))
    except Exception as err:  # no compiler, a broken toolchain: a reason, not a crash
        return error_reason(err)
    return None


@functools.cache
def _compiled(step: Callable[..., Any]) -> Callable[..., Any]:
    return torch.compile(step)


def time_stepper(step: Callable[..., Any], compiled: bool) -> Callable[..., Any]:
    """``step(t, q, *rest)`` of an integrator as it is, or (``compiled``) under
    ``torch.compile`` with the time t handed over as a 0-d tensor like q, so that one compiled
    graph serves every step instead of one per value of t. The few dozen element-wise
    operations of an RK4 step of the oscillator chain fuse into a few loops: about 5× faster
    on CPU for the 196-pendulum chain, after seconds of compilation per input shape."""
    if not compiled:
        return step
    fused = _compiled(step)

    def timed(t: float, q: Tensor, *rest: Any) -> Any:
        return fused(torch.tensor(t, dtype=q.dtype, device=q.device), q, *rest)

    return timed
