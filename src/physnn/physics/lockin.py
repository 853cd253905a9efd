"""RC dynamics of a resistive network driven by an AC current, and each edge's lock-in.

Every free node carries a capacitance C to ground, so that Kirchhoff's current law includes the
displacement current,

    C dV/dt = −∂E/∂V(V) + I(t),        I(t) = A cos ωt on the output nodes,

with E the co-content of :mod:`physnn.physics.resistive` (∂E/∂V is the net current leaving a
node through its resistors and diodes) and the source nodes held at their DC voltages. Starting
from the DC equilibrium, the dynamics are stiff (a conducting diode relaxes its node within
C/g_d), so they are integrated with BDF2 (the first step backward Euler), stable at any step:
every step solves

    α C (V − V_hist) + ∂E/∂V(V) − I(t_{n+1}) = 0,    α = 3/(2h), V_hist = (4 V_n − V_{n−1})/3,

the minimum of the convex E − ⟨I, V_out⟩ + ½ α C |V − V_hist|², by Newton's method with
backtracking, all samples at once. C = 0 is the quasi-static network (the equilibrium at every
instant).

The lock-in (Anisetti, Kandala, Scellier & Schwarz, Neural Comput. 36, 596 (2024), Sec. 3: each
edge demodulates its own dissipated power): edge e multiplies ½ ΔV_e(t)² by the reference
cos ωt and integrates over M periods T = 2π/ω after S settling periods,

    h_e = (2 / (M T)) ∫ ½ ΔV_e(t)² cos ωt dt,

sampled at the K integration steps of each period (the rectangle rule, exact for a periodic
signal's harmonics below K − 1). For a small amplitude the node voltages respond linearly,
V(t) = V_DC + Re[δV e^{iωt}] with δV = (H + iωC)⁻¹ A (H the Hessian of E at the DC state), so

    h_e = ΔV_DC,e · Re δV_e + O(|A|³):

the DC drop times the in-phase AC drop. At ωRC → 0, Re δV = H⁻¹ A is the adjoint field and h is
the gradient of ⟨−A, y⟩ (equilibrium propagation's d/dβ ∂E/∂G at β = 0, holomorphic EP's
first Fourier coefficient read from a real oscillation: Laborieux & Zenke, NeurIPS 2022). Its
errors: the RC lag, Re (H + iωC)⁻¹ = H⁻¹ − ω² H⁻¹CH⁻¹CH⁻¹ + …, O((ωRC)²); the transient of
switching the AC on, which decays within a few RC and leaks into the first M periods as O(RC /
(M T)) unless settled out; the third-order response, O(|A|²) relative; and, on a device, the
voltmeter noise of the M·K samples, averaged down as 1/√(M K).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from physnn.errors import warn_unsettled
from physnn.physics.resistive import Array, Network, armijo, current_scale, diode_diagonal


@dataclass(frozen=True)
class LockIn:
    """The AC drive, the node capacitance and the lock-in's integration window."""

    frequency: float  # ω, rad per unit of time
    capacitance: float  # C of every free node, in G₀ × the unit of time (0: quasi-static)
    periods: int  # M periods integrated
    settle: int  # S periods discarded first (the turn-on transient)
    steps: int  # K integration steps (and voltage samples) per period

    @property
    def step(self) -> float:
        """h = T / K."""
        return 2 * math.pi / (self.frequency * self.steps)


def lock_in(
    net: Network,
    g: Array,
    v_dc: Array,
    amplitude: Array,
    setting: LockIn,
    read: Callable[[Array], Array],
) -> Array:
    """The first harmonics h_e (E,) summed over the batch, for the drive I(t) = A cos ωt with
    ``amplitude`` A (B, |outputs|), starting from the DC equilibrium ``v_dc`` (B, N); every
    sampled voltage vector is ``read`` (the voltmeter: noise added). Memory: two states."""
    h, free = setting.step, net.free
    lap_ff = net.laplacian(g).toarray()[np.ix_(free, free)]
    i, j = net.edges[:, 0], net.edges[:, 1]
    previous, v = v_dc, v_dc
    total = np.zeros(len(net.edges))
    first = setting.settle * setting.steps
    for n in range(1, first + setting.periods * setting.steps + 1):
        phase = 2 * math.pi * n / setting.steps
        if n == 1:  # backward Euler from the DC state
            weight, history = setting.capacitance / h, v[:, free]
        else:
            weight = 1.5 * setting.capacitance / h
            history = (4 * v[:, free] - previous[:, free]) / 3
        force = amplitude * math.cos(phase)
        previous, v = v, implicit_step(net, g, lap_ff, v, history, weight, force)
        if n > first:
            volts = read(v)
            dv = volts[:, i] - volts[:, j]
            total += 0.5 * (dv * dv).sum(axis=0) * math.cos(phase)
    return 2 * total / (setting.periods * setting.steps)


def implicit_step(
    net: Network,
    g: Array,
    lap_ff: Array,
    v: Array,
    history: Array,
    weight: float,
    force: Array,
    *,
    tol: float = 1e-10,
    max_iter: int = 30,
) -> Array:
    """Node voltages (B, N) that solve weight·(V − history) + ∂E/∂V(V; force) = 0 on the free
    nodes: damped Newton from ``v`` to the relative residual ``tol``."""
    free = net.free
    eye = np.eye(len(free))

    def energy(trial: Array) -> Array:
        inertia = 0.5 * weight * ((trial[:, free] - history) ** 2).sum(axis=1)
        return net.energy(g, trial, force) + inertia

    for it in range(max_iter + 1):
        grad = net.currents(g, v, force)[:, free] + weight * (v[:, free] - history)
        residual = float(np.abs(grad).max()) / current_scale(g, v)
        if residual <= tol or it == max_iter:
            break
        hessian = lap_ff + (diode_diagonal(net, v) + weight)[:, :, None] * eye
        step = -np.linalg.solve(hessian, grad[..., None])[..., 0]
        v = armijo(energy, free, v, step, grad)
    if residual > tol:
        warn_unsettled(
            "resistive network", f"take an RC step in {max_iter} Newton steps", residual, tol
        )
    return v
