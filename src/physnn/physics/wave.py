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

Memory: plain autograd keeps every time step's fields for the backward pass. With
``checkpoint_every = K`` the loop runs in segments of K steps under
:func:`torch.utils.checkpoint.checkpoint`: only the fields at the segment boundaries are kept,
and each segment is recomputed during the backward pass (memory ∝ T/K + K instead of T).
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


def discrete_energy(u: Tensor, u_prev: Tensor, speed: Tensor, dt: float, h: float) -> Tensor:
    """The energy conserved exactly by the undamped leapfrog scheme (per batch entry).

    E^{n+½} = ½ Σ [((uⁿ⁺¹ − uⁿ)/dt)² / c² + ⟨uⁿ⁺¹, −∇²uⁿ⟩]·h², the discrete analogue of
    ½ ∫ (u_t²/c² + |∇u|²): for a linear undamped medium it does not change from step to step.
    """
    kinetic = ((u - u_prev) / dt).square() / speed.square()
    potential = -u * laplacian(u_prev, h)
    return 0.5 * (kinetic + potential).sum(dim=(-2, -1)) * h**2
