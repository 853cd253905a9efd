"""Hamiltonian echo backpropagation on a chain of coupled oscillators.

López-Pastor & Marquardt, "Self-learning machines based on Hamiltonian echo backpropagation",
Phys. Rev. X 13, 031020 (2023). A time-reversible Hamiltonian system ż = 𝐉 ∇_z H(z, t; θ),
z = (q, p), 𝐉 = [[0, 1], [−1, 0]], with H(q, −p, t) = H(q, p, t), evolves for a time T from an
input-dependent initial state z(0); a loss L depends on the positions q(t_k) at the measured
times. The adjoint λ(t) = ∂L/∂z(t) of backpropagation through time obeys λ̇ = H_zz 𝐉 λ, so 𝐉 λ
obeys the *tangent* (linearized) dynamics: a small perturbation δz(t) = ε 𝐉 λ(t) of the
trajectory, injected at T and propagated backwards in time, carries the whole gradient:

    kick at t_k:          δp(t_k) = −ε ∂L/∂q(t_k)                   (δz = ε 𝐉 ∂L/∂z)
    initial conditions:   ∂L/∂q(0) = −δp(0) / ε,   ∂L/∂p(0) = δq(0) / ε
    Hamiltonian params:   dL/dθ = −(1/ε) ∫₀ᵀ δz · ∇_z ∂H/∂θ dt
                                ≈ −(1/ε) ∫₀ᵀ [∂H/∂θ(z + δz, t) − ∂H/∂θ(z, t)] dt.

Propagating backwards in time is physical: flip the momenta (time reversal 𝐑), evolve forward
for T under the time-reversed protocol H(z, T − s) (here the drive waveform played backwards,
cos(Ω (T − s) + φ)), flip back. Without kicks this *echo* returns to z(0); with the kicks its
deviation from z(0) is δz(0), and the local quantities ∂H/∂θ integrated along the echo (a
sensor on every spring: the extension energy (q_{i+1} − q_i)²/2 for the spring constant J_i;
on every drive: −q_i cos(Ω t + φ) for its amplitude F_i) differ from those of the unperturbed
trajectory by the gradient above. Here two echoes with kicks ±ε are subtracted (central
difference): this cancels the O(ε²) response and everything that does not depend on the kick's
sign — including imperfect reversal, in simulation the O(dt⁴) irreversibility of RK4 — at the
price of a third pass (the paper uses one echo and the forward pass as reference).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from physnn.compiling import time_stepper
from physnn.physics.oscillators import Chain, drive_waveform, rk4_stages

Work = dict[str, Tensor]
"""Per sample, ∫ ∂H/∂θ dt for every trainable Hamiltonian parameter: "coupling" (B, N − 1),
"drive" (B, N)."""


def local_derivatives(t: float | Tensor, q: Tensor, chain: Chain) -> Work:
    """∂H/∂J_i = (q_{i+1} − q_i)²/2 and ∂H/∂F_i = −q_i cos(Ω t + φ) at time t."""
    return {
        "coupling": (q[..., 1:] - q[..., :-1]).square() / 2,
        "drive": -q * drive_waveform(t, chain),
    }


def step(
    t: float | Tensor, q: Tensor, v: Tensor, dt: float, chain: Chain
) -> tuple[Tensor, Tensor, Work]:
    """One RK4 step of (q, v) (:func:`physics.oscillators.rk4_stages`, the device's arithmetic)
    and of the integrals A_θ = ∫ ∂H/∂θ dt, advanced as extra state variables with the same
    stages."""
    q, v, stages = rk4_stages(t, q, v, dt, chain)
    s1, s2, s3, s4 = (local_derivatives(time, position, chain) for time, position in stages)
    work = {name: dt / 6 * (s1[name] + 2 * s2[name] + 2 * s3[name] + s4[name]) for name in s1}
    return q, v, work


def evolve(
    q: Tensor,
    v: Tensor,
    chain: Chain,
    duration: float,
    num_steps: int,
    every: int,
    kicks: dict[int, Tensor] | None = None,
    compiled: bool = False,
) -> tuple[Tensor, Tensor, Tensor, Work]:
    """Evolve for ``duration`` in ``num_steps`` RK4 steps, adding ``kicks[j]`` to the velocities
    after j steps. Returns the final (q, v), the positions (B, S, N) after every ``every`` steps
    and the integrals ∫₀ᵀ ∂H/∂θ dt. ``compiled``: each step runs under ``torch.compile``
    (:func:`physnn.compiling.time_stepper`)."""
    kicks = kicks or {}
    dt = duration / num_steps
    work = {
        name: torch.zeros_like(value) for name, value in local_derivatives(0.0, q, chain).items()
    }
    positions = []
    step_fn = time_stepper(step, compiled)
    for j in range(num_steps):
        if j in kicks:
            v = v + kicks[j]
        q, v, increment = step_fn(j * dt, q, v, dt, chain)
        work = {name: work[name] + increment[name] for name in work}
        if (j + 1) % every == 0:
            positions.append(q)
    return q, v, torch.stack(positions, dim=-2), work


def reversed_protocol(chain: Chain, duration: float) -> Chain:
    """The chain under the time-reversed drive: cos(Ω (T − s) + φ) = cos(−Ω s + Ω T + φ)."""
    return dataclasses.replace(
        chain,
        drive_frequency=-chain.drive_frequency,
        drive_phase=chain.drive_frequency * duration + chain.drive_phase,
    )


def echo(
    q_end: Tensor,
    v_end: Tensor,
    chain: Chain,
    duration: float,
    num_steps: int,
    kicks: Tensor,
    compiled: bool = False,
) -> tuple[Tensor, Tensor, Work]:
    """Time-reverse the state at T, evolve for T under the reversed protocol and reverse again.

    ``kicks`` (B, S, N) are the momentum changes δp(t_k) to inject at the measured times
    t_k = T k / S (in the reversed frame, where momenta are flipped, they enter as −δp at
    echo time T − t_k). Returns the echo's final (q, p) — z(0) + δz(0) — and ∫ ∂H/∂θ dt along
    the echo.
    """
    samples = kicks.shape[-2]
    every = num_steps // samples
    injected = {num_steps - (k + 1) * every: -kicks[..., k, :] for k in range(samples)}
    reverse = reversed_protocol(chain, duration)
    q, v, _, work = evolve(q_end, -v_end, reverse, duration, num_steps, every, injected, compiled)
    return q, -v, work
