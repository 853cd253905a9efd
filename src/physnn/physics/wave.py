"""The scalar wave equation on a 2-D grid, integrated by centred differences (leapfrog).

Hughes, Williamson, Minkov & Fan, "Wave physics as an analog recurrent neural network",
Sci. Adv. 5, eaay6946 (2019): the field u(x, y, t) obeys

    u_tt = c(x)² ∇²u − b(x) u_t + f(t) δ(x − x_s),

with a trainable wave-speed map c, a damping b that rises polynomially inside an absorbing layer
at the edges of the grid, and a source term f injected at one cell. Centred differences in time
(step dt) and the 5-point Laplacian in space (spacing h, u = 0 outside the grid) give

    (1/dt² + b/2dt) u⁺ = 2u/dt² − (1/dt² − b/2dt) u⁻ + c² ∇²u + f,

which is stable for dt · c_max / h ≤ 1/√2 (the 2-D CFL condition). Hughes et al. make the
recurrence nonlinear through an intensity-dependent material response; here the wave speed
can carry a Kerr-like term, c = c_lin + c_nl u² (capped at the CFL speed), and the damping a
saturable absorption, b = b_lin + b_nl / (1 + u²/u_th²), both only inside the design region.
The output of the network is the time-integrated intensity Σ_t u(x_p, t)² at a few probe cells.

Speed and memory. A linear medium (no Kerr term, no saturable absorption) takes a fused path,
:class:`LinearLeapfrog`: the update is rewritten as uⁿ⁺¹ = α′ uⁿ + κ Σ_nb uⁿ − γ uⁿ⁻¹ + σ f
with maps computed once per run (Σ_nb: the sum of the four neighbours; κ = c²/(h² D),
α′ = 2/(dt² D) − 4κ, γ = (1/dt² − b/2dt)/D, σ = 1/D, D = 1/dt² + b/2dt), the fields live in
zero-bordered buffers that are overwritten in place (no autograd graph, no padding, no
allocation per step), only the probe values are recorded, and the backward pass is the
hand-written adjoint recurrence λⁿ = ∂J/∂uⁿ + α′ λⁿ⁺¹ + Σ_nb(κ λⁿ⁺¹) − γ λⁿ⁺² (the 5-point
stencil is symmetric), run backwards in time. A nonlinear medium goes through plain
autograd. Either way, plain reverse mode keeps every time step's fields for the backward pass;
with ``checkpoint_every = K`` only the fields at every K-th step are kept and each segment of
K steps is recomputed during the backward pass (memory ∝ T/K + K instead of T; the nonlinear
path uses :func:`torch.utils.checkpoint.checkpoint`). Results and gradients do not depend on K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

CFL_LIMIT = 1 / math.sqrt(2)


def courant_number(c_max: float, dt: float, h: float) -> float:
    """dt · c_max / h; the 2-D leapfrog scheme is stable up to 1/√2."""
    return dt * c_max / h


def laplacian(u: Tensor, h: float) -> Tensor:
    """5-point Laplacian over the last two dims with u = 0 outside the grid."""
    p = F.pad(u, (1, 1, 1, 1))
    return (
        p[..., 2:, 1:-1] + p[..., :-2, 1:-1] + p[..., 1:-1, 2:] + p[..., 1:-1, :-2] - 4 * u
    ) / h**2


def absorbing_profile(
    nx: int,
    ny: int,
    cells: int,
    b_max: float,
    order: float,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Damping b(x, y) of the absorbing layer: b_max · (d/N)^p summed over x and y.

    d is the depth into the layer (N for the outermost cell, 0 at its inner edge), N = ``cells``;
    b = 0 everywhere outside the layer.
    """

    def axis(n: int) -> Tensor:
        index = torch.arange(n, dtype=dtype, device=device)
        depth = torch.clamp(torch.maximum(cells - index, index - (n - 1 - cells)), min=0)
        return b_max * (depth / max(cells, 1)) ** order

    return axis(nx)[:, None] + axis(ny)[None, :]


@dataclass(frozen=True)
class WaveMedium:
    """Everything the update needs besides the fields (maps broadcast against (B, Nx, Ny)).

    ``speed`` is c_lin, ``damping`` b_lin; ``kerr`` (c_nl map) and ``saturable`` (b_nl map)
    are zero outside the design region, or None when the medium is linear.
    """

    speed: Tensor
    damping: Tensor
    dt: float
    h: float
    kerr: Tensor | None = None
    saturable: Tensor | None = None
    u_threshold: float = 1.0

    def local_speed(self, u: Tensor) -> Tensor:
        """c = c_lin + c_nl u² (Kerr-like), capped at the CFL speed h/(dt√2) so that a strong
        field cannot make the explicit scheme unstable (the cap passes no gradient)."""
        if self.kerr is None:
            return self.speed
        return (self.speed + self.kerr * u.square()).clamp_max(CFL_LIMIT * self.h / self.dt)

    def local_damping(self, u: Tensor) -> Tensor:
        """b = b_lin + b_nl / (1 + u²/u_th²) (saturable absorption)."""
        if self.saturable is None:
            return self.damping
        return self.damping + self.saturable / (1 + u.square() / self.u_threshold**2)


def leapfrog_step(u: Tensor, u_prev: Tensor, medium: WaveMedium, source: Tensor) -> Tensor:
    """One step: (1/dt² + b/2dt) u⁺ = 2u/dt² − (1/dt² − b/2dt) u⁻ + c² ∇²u + f."""
    dt = medium.dt
    c = medium.local_speed(u)
    b = medium.local_damping(u)
    rhs = 2 * u / dt**2 - (1 / dt**2 - b / (2 * dt)) * u_prev + c.square() * laplacian(u, medium.h)
    return (rhs + source) / (1 / dt**2 + b / (2 * dt))


def point_source(signal_t: Tensor, shape: tuple[int, int], cell: tuple[int, int]) -> Tensor:
    """The source term f: the batch's signal values (B,) at one cell of an (Nx, Ny) grid."""
    field = signal_t.new_zeros((signal_t.shape[0], *shape))
    field[:, cell[0], cell[1]] = signal_t
    return field


def interior(padded: Tensor) -> Tensor:
    """The grid inside the zero border of a (B, Nx + 2, Ny + 2) buffer (a view)."""
    return padded[:, 1:-1, 1:-1]


def neighbour_sum(padded: Tensor, out: Tensor) -> Tensor:
    """Σ of the four neighbours of every cell of a zero-bordered buffer, written into ``out``."""
    torch.add(padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], out=out)
    out.add_(padded[:, 1:-1, :-2])
    return out.add_(padded[:, 1:-1, 2:])


@dataclass(frozen=True)
class _LinearUpdate:
    """uⁿ⁺¹ = α′ uⁿ + κ Σ_nb uⁿ − γ uⁿ⁻¹ + σ fⁿ on zero-bordered buffers (α′ = α − 4κ)."""

    alpha: Tensor  # α − 4κ: the centre weight of the stencil
    kappa: Tensor
    gamma: Tensor
    drive: Tensor  # σ f at the source cell, (T, B)
    source: tuple[int, int]  # source cell, padded coordinates
    probes: Tensor  # flat indices of the probe cells in a padded buffer
    scratch: Tensor  # (B, Nx, Ny)

    def run(self, fields: Tensor, first: int, count: int, record: Tensor) -> None:
        """fields[0], fields[1] = u^{first−1}, u^{first}: write the next ``count`` steps into
        fields[2], fields[3], … (cyclically) and the probe values of uⁿ⁺¹ into record[n]."""
        size = fields.shape[0]
        for i in range(count):
            n = first + i
            prev, cur, nxt = fields[i % size], fields[(i + 1) % size], fields[(i + 2) % size]
            out = interior(nxt)
            torch.mul(neighbour_sum(cur, self.scratch), self.kappa, out=out)
            out.addcmul_(self.alpha, interior(cur))
            out.addcmul_(self.gamma, interior(prev), value=-1)
            nxt[:, self.source[0], self.source[1]].add_(self.drive[n])
            torch.index_select(nxt.flatten(1), 1, self.probes, out=record[n])


class LinearLeapfrog(torch.autograd.Function):
    """The leapfrog run of a linear medium with its adjoint; returns the probe trace (T, B, P).

    Inputs: the source signal f (B, T); the maps α = 2/(dt² D), κ = c²/(h² D), γ = (1/dt² −
    b/2dt)/D with D = 1/dt² + b/2dt; σ = 1/D at the source cell (a 0-dim tensor); the source
    cell; the probe cells; ``every`` (K, or None to keep the whole trajectory).

    Forward: the fields start at rest and are overwritten in place (three buffers in turn when
    no input needs a gradient); with K the pair (uⁿ, uⁿ⁻¹) is kept at every K-th step, without
    K every step's field. Backward (reverse mode by hand): each segment is recomputed from
    its pair, then the adjoint λⁿ = ∂J/∂uⁿ + α′λⁿ⁺¹ + Σ_nb(κλⁿ⁺¹) − γλⁿ⁺² runs back through it
    and accumulates ∂J/∂κ = Σ λⁿ⁺¹ ∇²ₕuⁿ (∇²ₕ: the 5-point stencil without 1/h²), ∂J/∂α = Σ
    λⁿ⁺¹uⁿ, ∂J/∂γ = −Σ λⁿ⁺¹uⁿ⁻¹, ∂J/∂fⁿ = σ λⁿ⁺¹(source) (only those the inputs need).
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        signal: Tensor,
        alpha: Tensor,
        kappa: Tensor,
        gamma: Tensor,
        sigma: Tensor,
        source_cell: tuple[int, int],
        probe_cells: tuple[tuple[int, int], ...],
        every: int | None,
    ) -> Tensor:
        batch, steps = signal.shape
        nx, ny = kappa.shape[-2:]
        padded = (batch, nx + 2, ny + 2)
        every = steps if every is None else min(every, steps)
        flat = [(x + 1) * (ny + 2) + y + 1 for x, y in probe_cells]
        update = _LinearUpdate(
            alpha=alpha - 4 * kappa,
            kappa=kappa,
            gamma=gamma,
            drive=(sigma * signal).t().contiguous(),
            source=(source_cell[0] + 1, source_cell[1] + 1),
            probes=torch.tensor(flat, device=signal.device),
            scratch=signal.new_empty((batch, nx, ny)),
        )
        record = signal.new_empty((steps, batch, len(probe_cells)))
        if not any(ctx.needs_input_grad[:5]):  # nothing to differentiate: three buffers suffice
            update.run(signal.new_zeros((3, *padded)), 0, steps, record)
            return record
        keep_all = every >= steps
        fields = signal.new_zeros((every + 2, *padded))
        starts = range(0, steps, max(every, 1))
        pairs = None if keep_all else signal.new_empty((len(starts), 2, *padded))
        for k, start in enumerate(starts):
            if pairs is not None:
                pairs[k].copy_(fields[:2])
            stop = min(start + every, steps)
            update.run(fields, start, stop - start, record)
            if pairs is not None and stop < steps:
                fields[0].copy_(fields[stop - start])
                fields[1].copy_(fields[stop - start + 1])
        ctx.save_for_backward(signal, sigma, fields if keep_all else pairs)
        ctx.keep_all = keep_all
        ctx.update = update
        ctx.every = every
        ctx.cells = (source_cell, probe_cells)
        return record

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_record: Tensor):
        signal, sigma, kept = ctx.saved_tensors
        update: _LinearUpdate = ctx.update
        kappa, gamma = update.kappa, update.gamma
        (sx, sy), probe_cells = ctx.cells
        batch, steps = signal.shape
        nx, ny = kappa.shape[-2:]
        need_signal, need_alpha, need_kappa, need_gamma, need_sigma = ctx.needs_input_grad[:5]
        keep_all = ctx.keep_all
        fields = kept if keep_all else signal.new_zeros((ctx.every + 2, batch, nx + 2, ny + 2))
        probes = torch.tensor([x * ny + y for x, y in probe_cells], device=signal.device)
        scratch = update.scratch
        weighted = signal.new_zeros((batch, nx + 2, ny + 2))  # κλ with a zero border
        lam = [signal.new_zeros((batch, nx, ny)) for _ in range(3)]  # λᵐ, λᵐ⁺¹, λᵐ⁺²
        acc = {
            name: signal.new_zeros((batch, nx, ny))
            for name, needed in (
                ("alpha", need_alpha),
                ("kappa", need_kappa),
                ("gamma", need_gamma),
            )
            if needed
        }
        at_source = signal.new_zeros((steps, batch))
        throwaway = signal.new_empty((steps, batch, len(probe_cells)))
        for k in reversed(range(len(range(0, steps, max(ctx.every, 1))))):
            start = k * ctx.every
            stop = min(start + ctx.every, steps)
            if not keep_all:
                fields[:2].copy_(kept[k])
                update.run(fields, start, stop - start, throwaway)
            for m in range(stop, start, -1):  # λᵐ from λᵐ⁺¹, λᵐ⁺²; fields[j] = u^{start + j − 1}
                lam = [lam[2], lam[0], lam[1]]
                new, nxt, nxt2 = lam
                torch.mul(nxt, kappa, out=interior(weighted))
                neighbour_sum(weighted, new)
                new.addcmul_(update.alpha, nxt).addcmul_(gamma, nxt2, value=-1)
                new.flatten(1).index_add_(1, probes, grad_record[m - 1])
                at_source[m - 1] = new[:, sx, sy]
                cur, prev = fields[m - start], fields[m - start - 1]  # u^{m−1}, u^{m−2}
                if "kappa" in acc:
                    neighbour_sum(cur, scratch).add_(interior(cur), alpha=-4)
                    acc["kappa"].addcmul_(new, scratch)
                if "alpha" in acc:
                    acc["alpha"].addcmul_(new, interior(cur))
                if "gamma" in acc:
                    acc["gamma"].addcmul_(new, interior(prev), value=-1)
        grads = {name: total.sum_to_size(kappa.shape) for name, total in acc.items()}
        grad_signal = (sigma * at_source).t() if need_signal else None
        grad_sigma = (at_source * signal.t()).sum() if need_sigma else None
        return (
            grad_signal,
            grads.get("alpha"),
            grads.get("kappa"),
            grads.get("gamma"),
            grad_sigma,
            None,
            None,
            None,
        )


def _run_segment(
    u: Tensor,
    u_prev: Tensor,
    intensity: Tensor,
    signal: Tensor,
    medium: WaveMedium,
    source_cell: tuple[int, int],
    probes: tuple[Tensor, Tensor],
) -> tuple[Tensor, Tensor, Tensor]:
    """Advance ``signal.shape[1]`` steps, accumulating Σ_t u(probe)²."""
    shape = (u.shape[-2], u.shape[-1])
    for t in range(signal.shape[1]):
        u, u_prev = (
            leapfrog_step(u, u_prev, medium, point_source(signal[:, t], shape, source_cell)),
            u,
        )
        intensity = intensity + u[:, probes[0], probes[1]].square()
    return u, u_prev, intensity


def propagate(
    signal: Tensor,
    medium: WaveMedium,
    source_cell: tuple[int, int],
    probe_cells: tuple[tuple[int, int], ...],
    *,
    checkpoint_every: int | None = None,
) -> Tensor:
    """Drive the grid (from rest) with ``signal`` (B, T) at the source; return Σ_t u(probe)² (B, P).

    ``checkpoint_every = K`` recomputes segments of K steps in the backward pass; the result and
    its gradients are the same as without checkpointing.
    """
    if medium.kerr is None and medium.saturable is None:
        return _linear_propagate(signal, medium, source_cell, probe_cells, checkpoint_every)
    batch, steps = signal.shape
    nx, ny = medium.speed.shape[-2:]
    u = signal.new_zeros((batch, nx, ny))
    u_prev = torch.zeros_like(u)
    intensity = signal.new_zeros((batch, len(probe_cells)))
    device = signal.device
    probes = (
        torch.tensor([p[0] for p in probe_cells], device=device),
        torch.tensor([p[1] for p in probe_cells], device=device),
    )
    if checkpoint_every is None:
        return _run_segment(u, u_prev, intensity, signal, medium, source_cell, probes)[2]
    for start in range(0, steps, checkpoint_every):
        chunk = signal[:, start : start + checkpoint_every]
        u, u_prev, intensity = checkpoint(
            _run_segment,
            u,
            u_prev,
            intensity,
            chunk,
            medium,
            source_cell,
            probes,
            use_reentrant=False,
        )
    return intensity


def _linear_propagate(
    signal: Tensor,
    medium: WaveMedium,
    source_cell: tuple[int, int],
    probe_cells: tuple[tuple[int, int], ...],
    every: int | None,
) -> Tensor:
    """Σ_t u(probe)² of a linear medium through :class:`LinearLeapfrog`."""
    alpha, kappa, gamma, inv_d = linear_coefficients(medium)
    sigma = inv_d[..., source_cell[0], source_cell[1]]
    trace = LinearLeapfrog.apply(
        signal, alpha, kappa, gamma, sigma, source_cell, probe_cells, every
    )
    return trace.square().sum(dim=0)


def linear_coefficients(medium: WaveMedium) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The maps α = 2/(dt² D), κ = c²/(h² D), γ = (1/dt² − b/2dt)/D and σ = 1/D of the update
    uⁿ⁺¹ = α uⁿ + κ ∇²ₕuⁿ − γ uⁿ⁻¹ + σ fⁿ of a linear medium (D = 1/dt² + b/2dt; ∇²ₕ: the
    5-point stencil without 1/h²), broadcast to one shape."""
    dt, h = medium.dt, medium.h
    shape = torch.broadcast_shapes(medium.speed.shape, medium.damping.shape)
    inv_d = 1 / (1 / dt**2 + medium.damping / (2 * dt))
    alpha = (2 / dt**2 * inv_d).expand(shape)
    kappa = (medium.speed.square() / h**2 * inv_d).expand(shape)
    gamma = ((1 / dt**2 - medium.damping / (2 * dt)) * inv_d).expand(shape)
    return alpha, kappa, gamma, inv_d.expand(shape)


def discrete_energy(u: Tensor, u_prev: Tensor, speed: Tensor, dt: float, h: float) -> Tensor:
    """The energy conserved exactly by the undamped leapfrog scheme (per batch entry).

    E^{n+½} = ½ Σ [((uⁿ⁺¹ − uⁿ)/dt)² / c² + ⟨uⁿ⁺¹, −∇²uⁿ⟩]·h², the discrete analogue of
    ½ ∫ (u_t²/c² + |∇u|²): for a linear undamped medium it does not change from step to step.
    """
    kinetic = ((u - u_prev) / dt).square() / speed.square()
    potential = -u * laplacian(u_prev, h)
    return 0.5 * (kinetic + potential).sum(dim=(-2, -1)) * h**2
