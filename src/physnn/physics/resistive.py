"""Nonlinear resistive networks: the equilibrium minimizes the co-content (a convex function).

A network of N nodes and E edges; edge e = (i, j) is a linear resistor of conductance G_e and
every "diode node" n carries two clipping diodes (to the rails ±V_t,n) with the smooth
rectifying I–V r(u) = (u + √(u² + s²))/2 of conductance g_d,n (Kendall et al., "Training
end-to-end analog neural networks with equilibrium propagation", arXiv:2006.01981 (2020): diodes
bound the node voltages; Dillavou et al., PR Applied 18, 014040 (2022), PNAS 121, e2319718121
(2024)). Some nodes are held by voltage sources (inputs, bias, and — when clamped — the outputs);
the others settle at the minimum of the total co-content

    E(V) = Σ_e ½ G_e (V_i − V_j)² + Σ_n g_d,n [R(V_n − V_t,n) + R(−V_n − V_t,n)] − Σ_k f_k V_k,

R(u) = ∫ r = (u² + u√(u² + s²) + s² asinh(u/s))/4, where f are currents injected at the output
nodes (the nudge). ∇E = 0 is Kirchhoff's current law at every free node. Linear networks are one
sparse Laplacian solve (factorized once, all batch right-hand sides at once); with diodes,
Newton's method with an Armijo line search on E (convex, so it converges) on the sparse
Hessian L_FF + diag(g_d r'). The local derivative an edge can measure is ∂E/∂G_e = ½ ΔV_e².

:class:`SettleFunction` makes the free voltages differentiable by implicit differentiation: at
the solution r(V*; G, V_S, f) = 0, so the vector-Jacobian product of u is −λᵀ ∂r/∂(G, V_S, f)
with λ = H⁻¹ u (H symmetric) — one more sparse solve per sample, no unrolling.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import splu
from torch import Tensor

from physnn.errors import warn_unsettled

Array = np.ndarray


def rectifier(u: Array, s: float) -> Array:
    """r(u) = (u + √(u² + s²))/2: a ReLU smoothed over s volts."""
    return (u + np.sqrt(u * u + s * s)) / 2


def rectifier_slope(u: Array, s: float) -> Array:
    """r'(u) = (1 + u/√(u² + s²))/2."""
    return (1 + u / np.sqrt(u * u + s * s)) / 2


def rectifier_cocontent(u: Array, s: float) -> Array:
    """R(u) = ∫₀ r: the co-content of one smooth diode (R' = r)."""
    root = np.sqrt(u * u + s * s)
    return (u * u + u * root + s * s * np.arcsinh(u / s)) / 4


def ring_and_chords(num_nodes: int, degree: float, rng: np.random.Generator) -> Array:
    """A connected random graph: a ring through all nodes plus random chords up to the mean
    ``degree`` (no self-loops, no repeated edges); (E, 2) node pairs with i < j."""
    ring = {(min(n, (n + 1) % num_nodes), max(n, (n + 1) % num_nodes)) for n in range(num_nodes)}
    target = max(len(ring), round(degree * num_nodes / 2))
    edges = set(ring)
    while len(edges) < min(target, num_nodes * (num_nodes - 1) // 2):
        i, j = rng.choice(num_nodes, size=2, replace=False)
        edges.add((int(min(i, j)), int(max(i, j))))
    return np.array(sorted(edges), dtype=np.int64)


def layered(layers: list[list[int]], bias: list[int]) -> Array:
    """All-to-all edges between consecutive layers of node indices; the bias nodes connect to
    every node after the first layer; (E, 2)."""
    edges = [(i, j) for a, b in itertools.pairwise(layers) for i in a for j in b]
    edges += [(i, j) for layer in layers[1:] for j in layer for i in bias]
    return np.array(edges, dtype=np.int64)


@dataclass
class Network:
    """Topology and fixed elements: edges, which nodes are held, the diodes."""

    num_nodes: int
    edges: Array  # (E, 2)
    fixed: Array  # indices of source-held nodes
    outputs: Array  # indices of output nodes (free unless clamped)
    diode_nodes: Array  # indices of nodes with a clipping diode pair
    diode_conductance: Array  # (D,) g_d
    diode_threshold: Array  # (D,) V_t
    smoothing: float  # s, volts
    free: Array = field(init=False)

    def __post_init__(self) -> None:
        self.free = np.setdiff1d(np.arange(self.num_nodes), self.fixed)

    def laplacian(self, g: Array) -> sp.csr_matrix:
        """L = Σ_e G_e (e_i − e_j)(e_i − e_j)ᵀ, sparse (N, N)."""
        i, j = self.edges[:, 0], self.edges[:, 1]
        rows = np.concatenate([i, j, i, j])
        cols = np.concatenate([i, j, j, i])
        vals = np.concatenate([g, g, -g, -g])
        n = self.num_nodes
        return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))

    def diode_current(self, v: Array) -> Array:
        """Current leaving each diode node through its two diodes, (..., D)."""
        vt, s = self.diode_threshold, self.smoothing
        return self.diode_conductance * (rectifier(v - vt, s) - rectifier(-v - vt, s))

    def diode_slope(self, v: Array) -> Array:
        vt, s = self.diode_threshold, self.smoothing
        return self.diode_conductance * (rectifier_slope(v - vt, s) + rectifier_slope(-v - vt, s))

    def energy(self, g: Array, v: Array, force: Array) -> Array:
        """Co-content minus the work of the injected currents, per sample; v (B, N)."""
        dv = v[:, self.edges[:, 0]] - v[:, self.edges[:, 1]]
        e = 0.5 * (g * dv * dv).sum(axis=1) - (force * v[:, self.outputs]).sum(axis=1)
        if len(self.diode_nodes):
            vd, vt, s = v[:, self.diode_nodes], self.diode_threshold, self.smoothing
            co = rectifier_cocontent(vd - vt, s) + rectifier_cocontent(-vd - vt, s)
            e = e + (self.diode_conductance * co).sum(axis=1)
        return e

    def currents(self, g: Array, v: Array, force: Array) -> Array:
        """∂E/∂V: the net current leaving every node through its elements (B, N); zero at the
        free nodes of an equilibrium (Kirchhoff's current law)."""
        out = (self.laplacian(g) @ v.T).T
        out[:, self.outputs] -= force
        if len(self.diode_nodes):
            out[:, self.diode_nodes] += self.diode_current(v[:, self.diode_nodes])
        return out


@dataclass
class Solution:
    """Settled node voltages and what solves H λ = u at them (for the adjoint pass)."""

    voltages: Array  # (B, N)
    hessian_solve: Callable[[Array], Array]  # (B, |free|) → (B, |free|)
    iterations: int
    residual: float
    """Largest net current at a free node (Kirchhoff's law) over the scale of the network's
    currents, max(1, max|V|·max G): round-off for a linear network (one exact solve), at most
    ``tol`` after Newton's method unless its budget ran out (which is warned about)."""


def current_scale(g: Array, v: Array) -> float:
    """The scale of the network's currents, max(1, max|V|·max G): what residuals are relative to."""
    return max(1.0, float(np.abs(v).max()) * float(g.max()))


def kirchhoff_residual(net: Network, g: Array, v: Array, force: Array) -> float:
    """The largest net current at a free node (B, N voltages), in units of :func:`current_scale`:
    the relative residual of the equilibrium condition ∇E = 0."""
    return float(np.abs(net.currents(g, v, force)[:, net.free]).max()) / current_scale(g, v)


DENSE_LIMIT = 400
"""Up to this many free nodes the Newton iterations use dense batched solves (all samples at
once); larger networks factorize the sparse Hessian of each sample."""


def settle(
    net: Network,
    g: Array,
    fixed_values: Array,
    force: Array,
    *,
    tol: float = 1e-10,
    max_iter: int = 60,
) -> Solution:
    """Minimize E over the free node voltages for every sample.

    ``fixed_values`` (B, |fixed|) are the source voltages, ``force`` (B, |outputs|) the injected
    currents (zero on clamped outputs). Linear part first (one sparse factorization, all samples
    at once), then Newton with backtracking if there are diodes.
    """
    batch = fixed_values.shape[0]
    lap = net.laplacian(g).tocsc()
    lap_ff = lap[net.free][:, net.free].tocsc()
    v = np.zeros((batch, net.num_nodes))
    v[:, net.fixed] = fixed_values
    injected = np.zeros((batch, net.num_nodes))
    injected[:, net.outputs] = force
    rhs = injected[:, net.free] - (lap[net.free][:, net.fixed] @ fixed_values.T).T
    lu = splu(lap_ff)
    v[:, net.free] = lu.solve(np.ascontiguousarray(rhs.T)).T
    if not len(net.diode_nodes):
        return Solution(v, _transposed(lu.solve), 0, kirchhoff_residual(net, g, v, force))
    if len(net.free) <= DENSE_LIMIT:
        return newton_dense(net, g, lap_ff.toarray(), v, force, tol, max_iter)
    return newton_sparse(net, g, lap_ff, v, force, tol, max_iter)


def _transposed(solve: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """u (B, F) ↦ solve(uᵀ)ᵀ: a factorization's solve applied to every row."""
    return lambda u: solve(np.ascontiguousarray(u.T)).T


def diode_diagonal(net: Network, v: Array) -> Array:
    """diag(g_d r') on the free nodes, (B, |free|)."""
    diag = np.zeros_like(v)
    diag[:, net.diode_nodes] = net.diode_slope(v[:, net.diode_nodes])
    return diag[:, net.free]


def line_search(net: Network, g: Array, v: Array, step: Array, grad: Array, force: Array) -> Array:
    """v + α·step on the free nodes, α halved per sample until E decreases enough."""
    return armijo(lambda trial: net.energy(g, trial, force), net.free, v, step, grad)


def armijo(
    energy: Callable[[Array], Array], free: Array, v: Array, step: Array, grad: Array
) -> Array:
    """v + α·step on the ``free`` nodes, α halved per sample until ``energy`` (per sample)
    decreases enough (Armijo, up to the round-off of the energy, so that the last
    quadratically convergent steps are taken)."""
    e0, slope = energy(v), (grad * step).sum(axis=1)
    roundoff = 1e-13 * (1 + np.abs(e0))
    alpha = np.ones(v.shape[0])
    for _ in range(50):
        trial = v.copy()
        trial[:, free] += alpha[:, None] * step
        ok = energy(trial) <= e0 + 1e-4 * alpha * slope + roundoff
        if ok.all():
            break
        alpha = np.where(ok, alpha, alpha / 2)
    return trial


def batched_solver(matrices: Array) -> Callable[[Array], Array]:
    """u (B, F) ↦ (H_b⁻¹ u_b)_b for the stacked matrices H (B, F, F)."""
    return lambda u: np.linalg.solve(matrices, u[..., None])[..., 0]


def newton_dense(
    net: Network, g: Array, lap_ff: Array, v: Array, force: Array, tol: float, max_iter: int
) -> Solution:
    """Damped Newton, all samples at once: δ = −H⁻¹ ∇E with H = L_FF + diag(g_d r'), to the
    relative residual ``tol``."""
    for it in range(max_iter + 1):
        grad = net.currents(g, v, force)[:, net.free]
        hessian = lap_ff + diode_diagonal(net, v)[:, :, None] * np.eye(len(net.free))
        residual = float(np.abs(grad).max()) / current_scale(g, v)
        if residual <= tol or it == max_iter:
            break
        step = -np.linalg.solve(hessian, grad[..., None])[..., 0]
        v = line_search(net, g, v, step, grad, force)
    if residual > tol:
        warn_unsettled(
            "resistive network", f"settle in {max_iter} Newton iterations", residual, tol
        )
    return Solution(v, batched_solver(hessian), it, residual)


def newton_sparse(
    net: Network, g: Array, lap_ff: sp.csc_matrix, v: Array, force: Array, tol: float, max_iter: int
) -> Solution:
    """Damped Newton per sample on the sparse Hessian (large networks), to the relative
    residual ``tol``."""
    factors, iterations, worst = [], 0, 0.0
    for b in range(v.shape[0]):
        for it in range(max_iter + 1):
            grad = net.currents(g, v[b : b + 1], force[b : b + 1])[:, net.free]
            diag = diode_diagonal(net, v[b : b + 1])[0]
            lu = splu((lap_ff + sp.diags(diag)).tocsc())
            residual = float(np.abs(grad).max()) / current_scale(g, v[b : b + 1])
            if residual <= tol or it == max_iter:
                break
            step = -lu.solve(grad[0])[None]
            v[b : b + 1] = line_search(net, g, v[b : b + 1], step, grad, force[b : b + 1])
        factors.append(lu)
        iterations, worst = max(iterations, it), max(worst, residual)
    if worst > tol:
        warn_unsettled("resistive network", f"settle in {max_iter} Newton iterations", worst, tol)

    def solve(u: Array) -> Array:
        return np.stack([lu.solve(u[b]) for b, lu in enumerate(factors)])

    return Solution(v, solve, iterations, worst)


def settle_holomorphic(
    net: Network, g: Array, fixed_values: Array, force: Array, *, tol: float = 1e-10
) -> Array:
    """Node voltages (B, N), complex, for complex injected currents: the holomorphic extension
    of the equilibrium that holomorphic EP asks a simulated device for (Laborieux & Zenke,
    NeurIPS 2022). Newton on the complex Kirchhoff residual (which is analytic in V), started
    from the real equilibrium at Re f; converges for nudges inside the region of analyticity."""
    v = settle(net, g, fixed_values, force.real, tol=tol).voltages.astype(complex)
    lap_ff = net.laplacian(g).tocsc()[net.free][:, net.free].tocsc()
    scale = current_scale(g, v)
    for _ in range(60):
        grad = net.currents(g, v, force)[:, net.free]
        if np.abs(grad).max() <= tol * scale:
            return v
        diag = diode_diagonal(net, v)
        for b in range(v.shape[0]):
            v[b, net.free] -= splu((lap_ff + sp.diags(diag[b])).tocsc()).solve(grad[b])
    raise RuntimeError("resistive network did not settle for the complex nudge")


class SettleFunction(torch.autograd.Function):
    """Free node voltages (B, |free|) as a differentiable function of the conductances (E,),
    the source voltages (B, |fixed|) and the injected currents (B, |outputs|), by implicit
    differentiation (the backward pass solves H λ = u per sample)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, net: Network, g: Tensor, fixed_values: Tensor, force: Tensor
    ) -> Tensor:
        solution = settle(net, to_numpy(g), to_numpy(fixed_values), to_numpy(force))
        ctx.net, ctx.solution = net, solution
        ctx.save_for_backward(g)
        return torch.as_tensor(solution.voltages[:, net.free]).to(g)

    @staticmethod
    def backward(ctx: Any, upstream: Tensor) -> tuple[None, Tensor, Tensor, Tensor]:  # type: ignore[override]
        net, solution = ctx.net, ctx.solution
        (g,) = ctx.saved_tensors
        u = to_numpy(upstream)
        lam = np.zeros_like(solution.voltages)
        lam[:, net.free] = solution.hessian_solve(u)
        i, j = net.edges[:, 0], net.edges[:, 1]
        v = solution.voltages
        grad_g = -((lam[:, i] - lam[:, j]) * (v[:, i] - v[:, j])).sum(axis=0)
        grad_fixed = -(net.laplacian(to_numpy(g)) @ lam.T).T[:, net.fixed]
        grad_force = lam[:, net.outputs]
        return (None, *(torch.as_tensor(a).to(g) for a in (grad_g, grad_fixed, grad_force)))


def to_numpy(t: Tensor) -> Array:
    """A real tensor as a float64 numpy array on the CPU."""
    return t.detach().to("cpu", torch.float64).numpy()
