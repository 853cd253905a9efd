"""A chain of driven, damped, coupled nonlinear oscillators, integrated by batched RK4.

Oscillator i of an open chain of N (a mass on a spring, a pendulum, an LC tank) has a
displacement ``q_i`` and velocity ``v_i``; neighbours are joined by springs of stiffness ``J_i``
(between i and i + 1), each oscillator is damped at rate ``γ`` and driven with amplitude ``F_i``
at angular frequency ``Ω``:

    q̈_i = −V'(q_i; ω_i) − γ q̇_i + J_i (q_{i+1} − q_i) − J_{i−1} (q_i − q_{i−1}) + F_i cos(Ω t),

with the on-site potential of a Duffing oscillator, ``V = ω² q²/2 + β q⁴/4`` (restoring force
``−ω² q − β q³``), or of a pendulum, ``V = ω² (1 − cos q)`` (force ``−ω² sin q``). Time is in
units of 1/ω₀ of the design oscillator. Without damping and drive the chain is Hamiltonian,

    H = Σ_i v_i²/2 + Σ_i V(q_i; ω_i) + Σ_i J_i (q_{i+1} − q_i)²/2,

and for small amplitudes (β = 0, or sin q ≈ q) it is linear, ``q̈ = −K q`` with the stiffness
matrix ``K = diag(ω²) + L(J)`` (L: the weighted graph Laplacian of the chain), solved by normal
modes: ``q(t) = U [cos(√λ t) Uᵀ q₀ + sin(√λ t)/√λ Uᵀ v₀]`` for ``K = U diag(λ) Uᵀ``.

This is the physical system of the Physics-Aware-Training example of Wright, Onodera et al.,
"Deep physical neural networks trained with backpropagation", Nature 601, 549 (2022) (coupled
pendula, github.com/mcmahon-lab/Physics-Aware-Training), and a one-dimensional stand-in for the
mechanical (driven multimode plate) PNN of the same paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.compiling import time_stepper

KINDS = ("duffing", "pendulum")


@dataclass(frozen=True)
class Chain:
    """Parameters of the chain; tensors broadcast against the batch ``(B, N)``.

    ``omega_sq`` (N,) natural frequencies squared, ``coupling`` (N − 1,) spring constants,
    ``drive`` (N,) drive amplitudes, ``nonlinearity`` β (Duffing only), ``damping`` γ,
    ``drive_frequency`` Ω, ``drive_phase`` φ of the drive waveform cos(Ω t + φ) (a time-reversed
    protocol cos(Ω (T − t)) is Ω → −Ω, φ → Ω T).
    """

    omega_sq: Tensor
    coupling: Tensor
    drive: Tensor | float = 0.0
    nonlinearity: float = 0.0
    damping: float = 0.0
    drive_frequency: float = 1.0
    kind: str = "duffing"
    drive_phase: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def onsite_force(q: Tensor, chain: Chain) -> Tensor:
    """−V'(q): ``−ω² q − β q³`` (Duffing) or ``−ω² sin q`` (pendulum)."""
    if chain.kind == "pendulum":
        return -chain.omega_sq * torch.sin(q)
    return -chain.omega_sq * q - chain.nonlinearity * q.pow(3)


def coupling_force(q: Tensor, coupling: Tensor) -> Tensor:
    """``J_i (q_{i+1} − q_i) − J_{i−1} (q_i − q_{i−1})`` on every oscillator of the open chain."""
    tension = coupling * (q[..., 1:] - q[..., :-1])
    return F.pad(tension, (0, 1)) - F.pad(tension, (1, 0))


def drive_waveform(t: float | Tensor, chain: Chain) -> float | Tensor:
    """cos(Ω t + φ): the time dependence of the drive force F_i cos(Ω t + φ) (t a number, or a
    0-d tensor inside a compiled step)."""
    phase = chain.drive_frequency * t + chain.drive_phase
    return torch.cos(phase) if isinstance(phase, Tensor) else math.cos(phase)


def acceleration(t: float | Tensor, q: Tensor, v: Tensor, chain: Chain) -> Tensor:
    """q̈ of the equation of motion at time t (terms that vanish are skipped)."""
    a = onsite_force(q, chain) + coupling_force(q, chain.coupling)
    if chain.damping:
        a = a - chain.damping * v
    if isinstance(chain.drive, Tensor) or chain.drive:
        a = a + chain.drive * drive_waveform(t, chain)
    return a


def rk4_stages(
    t: float | Tensor, q: Tensor, v: Tensor, dt: float, chain: Chain
) -> tuple[Tensor, Tensor, tuple[tuple[float | Tensor, Tensor], ...]]:
    """One classical Runge–Kutta step of (q̇, v̇) = (v, a(t, q, v)), and the (time, position) of
    its four stages. The position slopes are k_q = v, v + a₁ dt/2, v + a₂ dt/2, v + a₃ dt, so
    their weighted sum is folded: Σ w k_q = 6 v + dt (a₁ + a₂ + a₃)."""
    h = 0.5 * dt
    a1 = acceleration(t, q, v, chain)
    v2, q2 = torch.add(v, a1, alpha=h), torch.add(q, v, alpha=h)
    a2 = acceleration(t + h, q2, v2, chain)
    v3, q3 = torch.add(v, a2, alpha=h), torch.add(q, v2, alpha=h)
    a3 = acceleration(t + h, q3, v3, chain)
    v4, q4 = torch.add(v, a3, alpha=dt), torch.add(q, v3, alpha=dt)
    a4 = acceleration(t + dt, q4, v4, chain)
    q_next = q + dt * (v + dt / 6 * (a1 + a2 + a3))
    v_next = v + dt / 6 * (a1 + 2 * (a2 + a3) + a4)
    return q_next, v_next, ((t, q), (t + h, q2), (t + h, q3), (t + dt, q4))


def rk4_step(
    t: float | Tensor, q: Tensor, v: Tensor, dt: float, chain: Chain
) -> tuple[Tensor, Tensor]:
    """One classical Runge–Kutta step of (q̇, v̇) = (v, a(t, q, v))."""
    q, v, _ = rk4_stages(t, q, v, dt, chain)
    return q, v


def integrate(
    q0: Tensor,
    v0: Tensor,
    chain: Chain,
    duration: float,
    num_steps: int,
    num_samples: int = 1,
    compiled: bool = False,
) -> tuple[Tensor, Tensor]:
    """Positions and velocities (B, S, N) at the S times ``duration · k / S``, k = 1 … S.

    ``num_steps`` fixed RK4 steps of ``dt = duration / num_steps``; ``num_steps`` must be a
    multiple of ``num_samples``. ``compiled``: each step runs under ``torch.compile``
    (:func:`physnn.compiling.time_stepper`).
    """
    if num_steps < 1 or num_samples < 1 or num_steps % num_samples:
        raise ValueError(
            f"num_steps ({num_steps}) must be a positive multiple of num_samples ({num_samples})"
        )
    dt = duration / num_steps
    every = num_steps // num_samples
    q, v = q0, v0
    positions, velocities = [], []
    step_fn = time_stepper(rk4_step, compiled)
    for step in range(num_steps):
        q, v = step_fn(step * dt, q, v, dt, chain)
        if (step + 1) % every == 0:
            positions.append(q)
            velocities.append(v)
    return torch.stack(positions, dim=-2), torch.stack(velocities, dim=-2)


def energy(q: Tensor, v: Tensor, chain: Chain) -> Tensor:
    """Hamiltonian H of the undriven, undamped chain (kinetic + on-site + spring energy)."""
    if chain.kind == "pendulum":
        onsite = chain.omega_sq * (1 - torch.cos(q))
    else:
        onsite = chain.omega_sq * q.square() / 2 + chain.nonlinearity * q.pow(4) / 4
    springs = chain.coupling * (q[..., 1:] - q[..., :-1]).square() / 2
    return (v.square() / 2 + onsite).sum(-1) + springs.sum(-1)


def stiffness_matrix(omega_sq: Tensor, coupling: Tensor) -> Tensor:
    """K = diag(ω²) + L(J): the linearized chain obeys q̈ = −K q."""
    tension = F.pad(coupling, (0, 1)) + F.pad(coupling, (1, 0))
    return torch.diag(omega_sq + tension) - torch.diag(coupling, 1) - torch.diag(coupling, -1)


def normal_mode_solution(
    q0: Tensor, v0: Tensor, omega_sq: Tensor, coupling: Tensor, t: float
) -> Tensor:
    """Exact q(t) of the linear, undamped, undriven chain from its normal modes."""
    eigenvalues, modes = torch.linalg.eigh(stiffness_matrix(omega_sq, coupling))
    frequency = eigenvalues.sqrt()
    a, b = q0 @ modes, v0 @ modes  # mode amplitudes Uᵀ q₀, Uᵀ v₀ (row vectors)
    return (a * torch.cos(frequency * t) + b * torch.sin(frequency * t) / frequency) @ modes.T
