"""Elastic spring networks: the equilibrium minimizes the elastic energy (Newton, batched).

N nodes in the plane at positions r_n; edge e = (i, j) is a central-force spring of stiffness
k_e and rest length ℓ_e (Stern et al., "Supervised learning in physical networks: from machine
learning to learning machines", PRX 11, 021045 (2021); Altman et al., PRX 14, 021023 (2024)).
Some nodes are held (pinned nodes, and the source nodes whose displacement is imposed); the
others settle at the minimum of

    F(r) = E(r) − Σ_t f_t y_t(r),    E(r) = ½ Σ_e k_e (d_e − ℓ_e)²,    d_e = |r_i − r_j|,

where y_t = n̂_tᵀ(r_a − r_b)/D_t − 1 is the strain of target pair t = (a, b) as a gauge along
the pair's reference axis n̂_t reads it (D_t its reference distance; to first order the relative
distance change), and f_t the force that nudges it (opposite forces f_t n̂_t/D_t on a and b).
A gauge along the fixed axis keeps the nudge smooth: a compressive nudge on the distance |r_a −
r_b| itself would have a kink at zero distance where strong nudges collapse the pair. With
n = (r_i − r_j)/d and tension τ = k(d − ℓ), a spring contributes ±τ n to ∂E/∂r_i, ∂E/∂r_j and
the stiffness block K = k n nᵀ + (τ/d)(I − n nᵀ) to the Hessian (+K on the diagonal blocks, −K
off it); the nudge adds only constant forces. ∇F = 0 is force balance at every free node.
The minimum is found by damped Newton steps on the dense Hessian of the free coordinates,
all samples at once (shifted towards positive definiteness where a spring under compression
makes it indefinite), with an Armijo line search on F per sample. The local derivative a
spring can measure is ∂E/∂k_e = ½ (d_e − ℓ_e)².

Clamping the target strains to c is the constrained minimum; it is the nudged minimum for the
force f that solves y(f) = c, found by Newton on f with the compliance ∂y/∂f = J H⁻¹ Jᵀ.

:func:`implicit_step` makes the settled positions differentiable: at the minimum R(q*; θ) = ∇F
= 0, so q = q* − H⁻¹ R(q*; θ) (with q* and H held constant) has the value q* and the exact
first derivatives dq*/dθ = −H⁻¹ ∂R/∂θ of the implicit function theorem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import Delaunay
from torch import Tensor

from physnn.errors import warn_unsettled

Array = np.ndarray


def triangulated_points(points: Array) -> Array:
    """Edges (E, 2), i < j, of the Delaunay triangulation of ``points`` (N, 2): a rigid
    network."""
    edges = set()
    for simplex in Delaunay(points).simplices:
        for a, b in ((0, 1), (1, 2), (0, 2)):
            i, j = sorted((int(simplex[a]), int(simplex[b])))
            edges.add((i, j))
    return np.array(sorted(edges), dtype=np.int64)


def random_points(num_nodes: int, rng: np.random.Generator, spacing: float = 0.6) -> Array:
    """Random points in the unit square no closer than ``spacing``/√N (dart throwing: a
    disordered packing without the very short springs of uniform points), scaled so that the
    mean triangulated edge is 1."""
    dmin, points = spacing / np.sqrt(num_nodes), np.zeros((0, 2))
    while len(points) < num_nodes:
        trial = rng.random(2)
        if not len(points) or np.linalg.norm(points - trial, axis=1).min() >= dmin:
            points = np.vstack([points, trial])
    return points / mean_edge_length(points)


def lattice_points(num_nodes: int, jitter: float, rng: np.random.Generator) -> Array:
    """The first ``num_nodes`` sites of a triangular lattice of unit spacing, each displaced by
    a uniform jitter of up to ``jitter`` in each coordinate."""
    cols = max(2, round(np.sqrt(num_nodes)))
    rows = -(-num_nodes // cols)
    row, col = np.divmod(np.arange(rows * cols), cols)
    points = np.stack([col + 0.5 * (row % 2), row * np.sqrt(3) / 2], axis=1)[:num_nodes]
    return points + jitter * rng.uniform(-1, 1, points.shape)


def mean_edge_length(points: Array) -> float:
    edges = triangulated_points(points)
    return float(np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1).mean())


def disjoint_pairs(edges: Array, count: int, exclude: set[int], rng: np.random.Generator) -> Array:
    """``count`` edges (node pairs) that share no node with each other or ``exclude``."""
    used, pairs = set(exclude), []
    for e in rng.permutation(len(edges)):
        i, j = (int(n) for n in edges[e])
        if i not in used and j not in used:
            pairs.append((i, j))
            used |= {i, j}
            if len(pairs) == count:
                return np.array(pairs, dtype=np.int64)
    raise ValueError(f"the network has fewer than {count} disjoint node pairs to spare")


@dataclass
class Network:
    """Springs, which nodes are held, and the target pairs that carry the nudge."""

    edges: Tensor  # (E, 2) long
    free: Tensor  # (F,) long: indices of the free nodes
    targets: Tensor  # (T, 2) long: the node pairs whose strains are the outputs
    gauge: Tensor  # (T, 2): n̂_t / D_t, the reference axis of every target pair over its length

    @property
    def num_free_coords(self) -> int:
        return 2 * len(self.free)


def geometry(r: Tensor, pairs: Tensor) -> tuple[Tensor, Tensor]:
    """Distances d (B, P) and unit vectors n (B, P, 2) of node pairs in positions r (B, N, 2)."""
    v = r[:, pairs[:, 0]] - r[:, pairs[:, 1]]
    d = v.square().sum(-1).sqrt()  # analytic in complex positions (holomorphic EP)
    return d, v / d[..., None]


def strains(net: Network, r: Tensor) -> Tensor:
    """y_t = n̂_tᵀ(r_a − r_b)/D_t − 1 of every target pair, (B, T)."""
    v = r[:, net.targets[:, 0]] - r[:, net.targets[:, 1]]
    return (v * net.gauge).sum(-1) - 1


def energy(net: Network, k: Tensor, rest: Tensor, r: Tensor, force: Tensor) -> Tensor:
    """F = ½ Σ k (d − ℓ)² − Σ f y per sample, (B,)."""
    d, _ = geometry(r, net.edges)
    return 0.5 * (k * (d - rest).square()).sum(1) - (force * strains(net, r)).sum(1)


def _pair_forces(r: Tensor, pairs: Tensor, tension: Tensor) -> Tensor:
    """∂/∂r of pair terms with tension τ (B, P): +τ n at i, −τ n at j; (B, N, 2)."""
    _, n = geometry(r, pairs)
    f = tension[..., None] * n
    out = torch.zeros_like(r)
    return out.index_add(1, pairs[:, 0], f).index_add(1, pairs[:, 1], -f)


def residual(net: Network, k: Tensor, rest: Tensor, r: Tensor, force: Tensor) -> Tensor:
    """∇F on the free coordinates (B, 2F): zero at an equilibrium (force balance)."""
    d, _ = geometry(r, net.edges)
    grad = _pair_forces(r, net.edges, k * (d - rest))
    pull = force[..., None] * net.gauge  # (B, T, 2)
    grad = grad.index_add(1, net.targets[:, 0], -pull).index_add(1, net.targets[:, 1], pull)
    return grad[:, net.free].reshape(r.shape[0], -1)


def _pair_hessian(net: Network, r: Tensor, k: Tensor, tension: Tensor) -> Tensor:
    """Σ over springs of the blocks ±K, K = k n nᵀ + (τ/d)(I − n nᵀ), on the free coordinates
    (blocks of held nodes go to a discarded slot); (B, 2F, 2F)."""
    batch, free = r.shape[0], len(net.free)
    d, n = geometry(r, net.edges)
    nn = n[..., :, None] * n[..., None, :]
    eye = torch.eye(2, dtype=r.dtype, device=r.device)
    block = k[..., None, None] * nn + (tension / d)[..., None, None] * (eye - nn)
    slot = torch.full((r.shape[1],), free, dtype=torch.long, device=r.device)
    slot[net.free] = torch.arange(free, device=r.device)
    i, j, size = slot[net.edges[:, 0]], slot[net.edges[:, 1]], free + 1
    hess = torch.zeros(batch, size * size, 2, 2, dtype=r.dtype, device=r.device)
    hess = hess.index_add(1, i * size + i, block).index_add(1, j * size + j, block)
    hess = hess.index_add(1, i * size + j, -block).index_add(1, j * size + i, -block)
    hess = hess.view(batch, size, size, 2, 2)[:, :free, :free]
    return hess.permute(0, 1, 3, 2, 4).reshape(batch, 2 * free, 2 * free)


def hessian(net: Network, k: Tensor, rest: Tensor, r: Tensor, force: Tensor) -> Tensor:
    """∇²F = ∇²E on the free coordinates (the nudge is linear in r), (B, 2F, 2F)."""
    d, _ = geometry(r, net.edges)
    return _pair_hessian(net, r, k.expand_as(d), k * (d - rest))


def set_free(r: Tensor, net: Network, q: Tensor) -> Tensor:
    """Positions with the free coordinates replaced by q (B, 2F)."""
    return r.index_copy(1, net.free, q.view(r.shape[0], -1, 2))


def positive_definite_solve(hess: Tensor, rhs: Tensor) -> Tensor:
    """H⁻¹ rhs per sample (rhs (B, n) or (B, n, m)), H shifted by μ I (μ growing
    fourfold) where it is
    not positive definite."""
    if rhs.dim() == 2:
        return positive_definite_solve(hess, rhs[..., None])[..., 0]
    eye = torch.eye(hess.shape[-1], dtype=hess.dtype, device=hess.device)
    scale = hess.diagonal(dim1=-2, dim2=-1).abs().mean(-1)
    shift = torch.zeros_like(scale)
    for _ in range(40):
        chol, info = torch.linalg.cholesky_ex(hess + shift[:, None, None] * eye)
        bad = info > 0
        if not bad.any():
            return torch.cholesky_solve(rhs, chol)
        shift = torch.where(bad, torch.clamp(4 * shift, min=1e-3 * scale), shift)
    raise RuntimeError("the spring network's Hessian could not be made positive definite")


def settle(
    net: Network,
    k: Tensor,
    rest: Tensor,
    r0: Tensor,
    force: Tensor,
    *,
    tol: float = 1e-11,
    max_iter: int = 100,
) -> Tensor:
    """Positions (B, N, 2) at the minimum of F, from the start r0 (held nodes already placed):
    Newton until the largest unbalanced force on a free node (:func:`force_residual`) is at most
    ``tol``, at most ``max_iter`` steps (a budget spent first is warned about and the state
    reached returned)."""
    r = r0.clone()
    for _ in range(max_iter):
        grad = residual(net, k, rest, r, force)
        if grad.abs().max() <= tol:
            return r
        step = -positive_definite_solve(hessian(net, k, rest, r, force), grad)
        r = line_search(net, k, rest, r, step, grad, force)
    reached = force_residual(net, k, rest, r, force)
    if reached > tol:
        warn_unsettled("spring network", f"settle in {max_iter} Newton iterations", reached, tol)
    return r


def force_residual(net: Network, k: Tensor, rest: Tensor, r: Tensor, force: Tensor) -> float:
    """The largest unbalanced force on a free node, max |∇F|, in units of k₀ × the mean spring
    length (the scale of the network's forces): the residual of the equilibrium condition."""
    return float(residual(net, k, rest, r, force).abs().max())


def line_search(
    net: Network, k: Tensor, rest: Tensor, r: Tensor, step: Tensor, grad: Tensor, force: Tensor
) -> Tensor:
    """r + α·step on the free coordinates, α halved per sample until F decreases enough
    (Armijo, up to the round-off of F)."""
    q = r[:, net.free].reshape(r.shape[0], -1)
    e0, slope = energy(net, k, rest, r, force), (grad * step).sum(1)
    roundoff = 1e-13 * (1 + e0.abs())
    alpha = torch.ones_like(e0)
    for _ in range(50):
        trial = set_free(r, net, q + alpha[:, None] * step)
        ok = energy(net, k, rest, trial, force) <= e0 + 1e-4 * alpha * slope + roundoff
        if ok.all():
            break
        alpha = torch.where(ok, alpha, alpha / 2)
    return set_free(r, net, q + torch.where(ok, alpha, 0.0)[:, None] * step)


def target_jacobian(net: Network, r: Tensor) -> Tensor:
    """J = ∂y/∂q (B, T, 2F) of the target strains with respect to the free coordinates."""
    full = torch.zeros(r.shape[0], len(net.targets), *r.shape[1:], dtype=r.dtype, device=r.device)
    rows = torch.arange(len(net.targets), device=r.device)
    full[:, rows, net.targets[:, 0]] = net.gauge
    full[:, rows, net.targets[:, 1]] = -net.gauge
    return full[:, :, net.free].reshape(r.shape[0], len(net.targets), -1)


def settle_clamped(
    net: Network,
    k: Tensor,
    rest: Tensor,
    r0: Tensor,
    clamp: Tensor,
    *,
    tol: float = 1e-9,
    max_iter: int = 30,
) -> tuple[Tensor, Tensor]:
    """Positions at the minimum of E with the target strains held at ``clamp`` (B, T) to
    ``tol``, and the force f (B, T) the clamps exert: the nudged minimum for the f with
    y(f) = clamp, f from Newton steps f += C⁻¹(c − y) (the strain error left by the inner
    tolerance is compliance × 1e-11, so ``tol`` is not tighter than 1e-9). A budget spent
    first is warned about and the state reached returned."""
    force = torch.zeros_like(clamp)
    r = settle(net, k, rest, r0, force)
    for _ in range(max_iter):
        miss = clamp - strains(net, r)
        if miss.abs().max() <= tol:
            return r, force
        jac = target_jacobian(net, r)
        hess = hessian(net, k, rest, r, force)
        comp = jac @ positive_definite_solve(hess, jac.transpose(1, 2))
        force = force + torch.linalg.solve(comp, miss)
        r = settle(net, k, rest, r, force)
    reached = float((clamp - strains(net, r)).abs().max())
    if reached > tol:
        warn_unsettled("spring network", "hold the clamped target strains", reached, tol)
    return r, force


def settle_holomorphic(
    net: Network, k: Tensor, rest: Tensor, r0: Tensor, force: Tensor, *, tol: float = 1e-11
) -> Tensor:
    """Complex positions (B, N, 2) for complex nudges: the holomorphic extension of the
    equilibrium that holomorphic EP asks a simulated device for (Laborieux & Zenke, NeurIPS
    2022). Newton on the force residual, analytic in r (d = √(v·v) without conjugation), by
    continuation from the real equilibrium at Re f along Re f + i s Im f, s: 0 → 1 (the step
    in s halved where Newton fails); converges for nudges inside the region of analyticity."""
    r = settle(net, k, rest, r0.real, force.real).to(force.dtype)
    done, step = 0.0, 1.0
    while done < 1.0:
        s = min(1.0, done + step)
        trial = _complex_newton(net, k, rest, r, force.real + 1j * s * force.imag, tol)
        if trial is not None:
            r, done, step = trial, s, 2 * step
        elif step < 1e-3:
            raise RuntimeError("the spring network did not settle for the complex nudge")
        else:
            step /= 2
    return r


def _complex_newton(
    net: Network, k: Tensor, rest: Tensor, r: Tensor, force: Tensor, tol: float
) -> Tensor | None:
    """Undamped Newton on the complex residual from r; None unless it converges quickly (or
    as soon as the residual grows)."""
    previous = float("inf")
    for _ in range(20):
        grad = residual(net, k, rest, r, force)
        size = float(grad.abs().max())
        if not size < previous:  # growing, or not finite
            return None
        if size <= tol:
            return r
        previous = size
        q = r[:, net.free].reshape(r.shape[0], -1)
        step = torch.linalg.solve(hessian(net, k, rest, r, force), grad[..., None])[..., 0]
        r = set_free(r, net, q - step)
    return None


def implicit_step(
    net: Network, k: Tensor, rest: Tensor, r: Tensor, force: Tensor, settled: Tensor
) -> Tensor:
    """Positions equal to ``settled`` with the implicit-function derivatives with respect to k,
    rest, the held positions in r and the force: q* − H⁻¹ R(q*; θ), H and q* constant."""
    settled = settled.detach()
    hess = hessian(net, k.detach(), rest.detach(), settled, force.detach())
    at = torch.where(_free_mask(net, r), settled, r)
    q = settled[:, net.free].reshape(r.shape[0], -1)
    q = q - positive_definite_solve(hess, residual(net, k, rest, at, force))
    return set_free(at, net, q)


def _free_mask(net: Network, r: Tensor) -> Tensor:
    mask = torch.zeros(r.shape[1], 1, dtype=torch.bool, device=r.device)
    mask[net.free] = True
    return mask
