"""Benchmark time series of reservoir computing, generated in code from a seed.

* NARMA10 (Atiya & Parlos, IEEE Trans. Neural Netw. 11, 697 (2000)): with u(t) ~ U[0, 0.5] i.i.d.,

      y(t+1) = 0.3 y(t) + 0.05 y(t) Σ_{i=0}^{9} y(t−i) + 1.5 u(t−9) u(t) + 0.1.

* Mackey–Glass (Mackey & Glass, Science 197, 287 (1977)), chaotic for τ = 17:

      ẋ(t) = β x(t−τ) / (1 + x(t−τ)ⁿ) − γ x(t),   β = 0.2, γ = 0.1, n = 10,

  integrated by Heun's method with a small step from a random history and sampled every
  ``sample_every`` time units.

* The normalised mean squared error NMSE = mean((ŷ − y)²) / var(y).
"""

from __future__ import annotations

import torch
from torch import Tensor


def narma10(length: int, seed: int, warmup: int = 200) -> tuple[Tensor, Tensor]:
    """Input u (length,) and target y (length,) of NARMA10; y[t] is the one-step-ahead output
    y(t+1) computed from u up to time t. The first ``warmup`` steps are discarded."""
    generator = torch.Generator().manual_seed(seed)
    total = length + warmup
    u = 0.5 * torch.rand(total, generator=generator, dtype=torch.float64)
    y = torch.zeros(total + 1, dtype=torch.float64)
    for t in range(total):
        history = y[max(t - 9, 0) : t + 1].sum()
        delayed = u[t - 9] if t >= 9 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * history + 1.5 * delayed * u[t] + 0.1
    return u[warmup:], y[warmup + 1 :]


def mackey_glass(
    length: int,
    seed: int,
    tau: float = 17.0,
    dt: float = 0.1,
    sample_every: float = 1.0,
    warmup: float = 500.0,
) -> Tensor:
    """``length`` samples of the Mackey–Glass series, one every ``sample_every`` time units,
    after a transient of ``warmup`` time units from a random constant history in [0.5, 1.5]."""
    generator = torch.Generator().manual_seed(seed)
    lag = round(tau / dt)
    stride = round(sample_every / dt)
    steps = round(warmup / dt) + length * stride
    x = [0.5 + float(torch.rand((), generator=generator, dtype=torch.float64))] * (lag + 1)

    def rate(now: float, delayed: float) -> float:
        return 0.2 * delayed / (1 + delayed**10) - 0.1 * now

    for k in range(lag, lag + steps):
        slope = rate(x[k], x[k - lag])
        guess = x[k] + dt * slope
        x.append(x[k] + 0.5 * dt * (slope + rate(guess, x[k + 1 - lag])))
    start = lag + round(warmup / dt) + stride
    return torch.tensor(x[start : start + length * stride : stride], dtype=torch.float64)


def nmse(prediction: Tensor, target: Tensor) -> float:
    """Normalised mean squared error mean((ŷ − y)²) / var(y)."""
    return float((prediction - target).square().mean() / target.var(unbiased=False))
