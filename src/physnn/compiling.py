"""Whether ``torch.compile`` works here: inductor generates C++ (CPU) or Triton (CUDA) code and
needs a compiler for it, which a machine may lack."""

from __future__ import annotations

import functools

import torch


@functools.cache
def compile_unavailable(device_type: str = "cpu") -> str | None:
    """None when ``torch.compile`` compiles and runs a small function on a ``device_type``
    device here, else why not (the first line of its error). Cached: the probe compiles once
    per process and device type."""
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(2, device=device_type))
    except Exception as err:  # no compiler, a broken toolchain: a reason, not a crash
        return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return None
