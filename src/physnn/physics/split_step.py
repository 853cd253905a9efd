"""Split-step Fourier solution of the multimode nonlinear Schrödinger equation (MM-NLSE).

A pulse carried by M guided modes, with slowly varying envelopes A_p(z, t) (√W) in a frame that
moves with the group velocity of the fundamental mode, obeys (Poletti & Horak, JOSA B 25, 1645
(2008); Wright et al., Opt. Express 26, 22432 (2018); Agrawal, *Nonlinear Fiber Optics*, ch. 2)

    ∂A_p/∂z = i Σ_q K_pq A_q − Δβ₁ᵖ ∂A_p/∂t − i β₂/2 ∂²A_p/∂t² + i γ Σ_lmn η_plmn A_l A_m A_n*,

where K = diag(β₀ᵖ − β₀) + C is the Hermitian matrix of propagation-constant offsets and linear
mode coupling C (1/m), Δβ₁ᵖ (ps/m) the modal walk-off, β₂ (ps²/m) the group-velocity dispersion,
γ (1/(W·m)) the nonlinear coefficient of the fundamental mode and η_plmn the normalised
nonlinear overlap tensor (η_0000 = 1). Units: z in m, t in ps, ω in rad/ps, |A|² in W.

With the discrete Fourier convention of ``torch.fft`` (A(t) = Σ_k Ã_k e^{+iω_k t}, ∂_t → iω),
the linear part is exact in the frequency domain for each ω:

    Ã(z + h, ω) = exp(i h H(ω)) Ã(z, ω),    H(ω) = K − diag(Δβ₁) ω + (β₂/2) ω² I.

The symmetrised split-step scheme applies half a linear step, a full nonlinear step (4th-order
Runge–Kutta, time-local so it acts on every time sample independently) and half a linear step:
second-order accurate in h overall, and exact for the linear part alone. The linear step is
unitary (H is Hermitian) and the Kerr term conserves Σ_p |A_p|² exactly, so the total energy is
conserved up to the Runge–Kutta truncation error.

Overlap tensor. For a parabolic graded-index (GRIN) fibre the modes are Hermite–Gauss functions
HG_{ab}(x, y) = h_a(x/w) h_b(y/w)/w with the Hermite functions h_n; a mode of order (a, b)
belongs to group g = a + b, and the groups are equally spaced in β₀. The overlap integrals
η_plmn = ∫ F_p F_l F_m F_n dx dy / ∫ F_0⁴ dx dy of Hermite–Gauss modes are products of
1-D integrals of a polynomial times exp(−2ξ²), evaluated exactly with Gauss–Hermite quadrature.
Because the group spacing (~5·10³ 1/m for a 50 µm core) is many orders of magnitude faster than
the nonlinear and coupling rates, only *resonant* four-wave-mixing terms survive averaging over
a beat length: those with g_p + g_n = g_l + g_m (GRIN self-imaging; cf. Krupa et al., Nat.
Photonics 11, 237 (2017) on beam self-cleaning). :func:`grin_overlap_tensor` keeps exactly
those; the fast group phases are then carried analytically outside the solver.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

# ----------------------------------------------------------------------------- grids


def time_grid(num_points: int, window: float, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """Centred time samples t_n = (n − N/2) Δt, Δt = window / N (ps)."""
    dt = window / num_points
    return (torch.arange(num_points, dtype=torch.float64) - num_points // 2).mul(dt).to(dtype)


def angular_frequencies(
    num_points: int, window: float, *, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Angular frequencies ω_k = 2π f_k (rad/ps) in ``torch.fft`` order for a time window (ps)."""
    frequencies = torch.fft.fftfreq(num_points, d=window / num_points, dtype=torch.float64)
    return (2 * math.pi * frequencies).to(dtype)


# ----------------------------------------------------------------------------- GRIN modes


def grin_mode_orders(num_groups: int) -> list[tuple[int, int]]:
    """Hermite–Gauss orders (a, b) of the first ``num_groups`` mode groups, group by group.

    Group g = a + b holds g + 1 modes (one polarisation), so there are G(G + 1)/2 modes.
    """
    return [(a, g - a) for g in range(num_groups) for a in range(g, -1, -1)]


def hermite_functions(max_order: int, xi: Tensor) -> Tensor:
    """Normalised Hermite functions h_0 … h_N at ξ, shape (N + 1, *ξ.shape).

    h_n(ξ) = H_n(ξ) e^{−ξ²/2} / √(2ⁿ n! √π), ∫ h_m h_n dξ = δ_mn, by the stable recurrence
    h_{n+1} = √(2/(n+1)) ξ h_n − √(n/(n+1)) h_{n−1}.
    """
    rows = [torch.exp(-(xi**2) / 2) / math.pi**0.25]
    if max_order >= 1:
        rows.append(math.sqrt(2) * xi * rows[0])
    for n in range(1, max_order):
        rows.append(math.sqrt(2 / (n + 1)) * xi * rows[n] - math.sqrt(n / (n + 1)) * rows[n - 1])
    return torch.stack(rows)


def grin_mode_fields(orders: list[tuple[int, int]], x: Tensor, y: Tensor) -> Tensor:
    """Hermite–Gauss mode fields F_p(x, y) in units of the mode radius w, shape (..., M).

    Normalised so that ∫ |F_p|² dx dy = 1 with x, y in units of w.
    """
    max_order = max(max(a, b) for a, b in orders)
    hx, hy = hermite_functions(max_order, x), hermite_functions(max_order, y)
    return torch.stack([hx[a] * hy[b] for a, b in orders], dim=-1)


def grin_overlap_tensor(orders: list[tuple[int, int]]) -> Tensor:
    """Resonant, normalised Kerr overlap tensor η_plmn of GRIN Hermite–Gauss modes (float64).

    η_plmn = I_x(a_p, a_l, a_m, a_n) I_y(b_p, b_l, b_m, b_n) / I_x(0,0,0,0)², with
    I(i, j, k, l) = ∫ h_i h_j h_k h_l dξ computed exactly by Gauss–Hermite quadrature (the
    integrand is a polynomial of degree ≤ 4N times exp(−2ξ²)); terms that are not phase-matched
    (g_p + g_n ≠ g_l + g_m) are set to zero (see the module docstring).
    """
    max_order = max(max(a, b) for a, b in orders)
    nodes, weights = np.polynomial.hermite.hermgauss(2 * max_order + 1)
    # ∫ f(ξ) e^{−2ξ²} dξ = Σ_i w_i f(s_i/√2)/√2 for the weight e^{−s²}, with ξ = s/√2
    xi = torch.as_tensor(nodes / math.sqrt(2), dtype=torch.float64)
    poly = hermite_functions(max_order, xi) * torch.exp(xi**2 / 2)  # h_n(ξ) e^{ξ²/2}
    w = torch.as_tensor(weights / math.sqrt(2), dtype=torch.float64)
    one_d = torch.einsum("s,is,js,ks,ls->ijkl", w, poly, poly, poly, poly)
    a = torch.tensor([o[0] for o in orders])
    b = torch.tensor([o[1] for o in orders])
    eta = one_d[a][:, a][:, :, a][:, :, :, a] * one_d[b][:, b][:, :, b][:, :, :, b]
    g = a + b
    resonant = (g[:, None, None, None] + g[None, None, None, :]) == (
        g[None, :, None, None] + g[None, None, :, None]
    )
    return eta * resonant / one_d[0, 0, 0, 0] ** 2


# ----------------------------------------------------------------------------- operators


def linear_propagator(
    coupling: Tensor, walk_off: Tensor, beta2: float | Tensor, omega: Tensor, dz: float | Tensor
) -> Tensor:
    """exp(i dz H(ω)) for every frequency, shape (T, M, M).

    ``coupling`` is the Hermitian K = diag(β₀ᵖ − β₀) + C (1/m), ``walk_off`` Δβ₁ (M,) in ps/m,
    ``beta2`` in ps²/m, ``omega`` (T,) in rad/ps, ``dz`` in m.
    """
    eye = torch.eye(coupling.shape[-1], dtype=coupling.dtype, device=coupling.device)
    dispersion = (-omega[:, None] * walk_off + beta2 / 2 * omega[:, None] ** 2).to(coupling.dtype)
    generator = coupling + dispersion[:, :, None] * eye
    return torch.linalg.matrix_exp(1j * dz * generator)


def apply_linear(field: Tensor, propagator: Tensor) -> Tensor:
    """One linear step of fields (..., T, M) with the per-frequency propagator (T, M, M)."""
    spectrum = torch.fft.fft(field, dim=-2)
    spectrum = torch.einsum("tpq,...tq->...tp", propagator, spectrum)
    return torch.fft.ifft(spectrum, dim=-2)


def kerr_term(field: Tensor, eta: Tensor, gamma: float | Tensor) -> Tensor:
    """i γ Σ_lmn η_plmn A_l A_m A_n* for fields (..., M), time-local.

    Written as the matrix product of the pair products A_l A_m with η reshaped to (lm, pn).
    """
    m = field.shape[-1]
    pairs = (field[..., :, None] * field[..., None, :]).reshape(*field.shape[:-1], m * m)
    eta_lm_pn = eta.permute(1, 2, 0, 3).reshape(m * m, m * m).to(field.dtype)
    mixed = (pairs @ eta_lm_pn).reshape(*field.shape, m)  # (..., p, n)
    return 1j * gamma * (mixed * field.conj()[..., None, :]).sum(dim=-1)


def rk4_step(rhs: Callable[[Tensor], Tensor], field: Tensor, h: float | Tensor) -> Tensor:
    """Classical 4th-order Runge–Kutta step of dA/dz = rhs(A)."""
    k1 = rhs(field)
    k2 = rhs(field + h / 2 * k1)
    k3 = rhs(field + h / 2 * k2)
    k4 = rhs(field + h * k3)
    return field + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


# ----------------------------------------------------------------------------- solver


def split_step(
    field: Tensor,
    *,
    length: float | Tensor,
    num_steps: int,
    omega: Tensor,
    coupling: Tensor,
    walk_off: Tensor,
    beta2: float | Tensor,
    gamma: float | Tensor,
    eta: Tensor,
    checkpoint_every: int | None = None,
) -> Tensor:
    """Propagate fields (..., T, M) over ``length`` metres in ``num_steps`` symmetrised steps.

    Each step is L(h/2) · N(h) · L(h/2) with the exact linear propagator L and a Runge–Kutta
    Kerr step N. With ``checkpoint_every = k`` and gradients enabled, blocks of k steps are
    recomputed in the backward pass (:func:`torch.utils.checkpoint.checkpoint`), so that memory
    grows with num_steps / k instead of num_steps.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {num_steps}")
    h = length / num_steps
    half = linear_propagator(coupling, walk_off, beta2, omega, h / 2)

    def nonlinear(a: Tensor) -> Tensor:
        return kerr_term(a, eta, gamma)

    def steps(a: Tensor, count: int) -> Tensor:
        for _ in range(count):
            a = apply_linear(a, half)
            a = rk4_step(nonlinear, a, h)
            a = apply_linear(a, half)
        return a

    if not checkpoint_every or not torch.is_grad_enabled():
        return steps(field, num_steps)
    done = 0
    while done < num_steps:
        count = min(checkpoint_every, num_steps - done)
        field = checkpoint(steps, field, count, use_reentrant=False)
        done += count
    return field


def energy(field: Tensor, dt: float) -> Tensor:
    """Total pulse energy Σ_p ∫ |A_p|² dt (W·ps = pJ) of fields (..., T, M)."""
    return field.abs().square().sum(dim=(-2, -1)) * dt
