"""The gradient of the linear wave RNN read from measured fields: time reversal and echo.

Hughes, Williamson, Minkov & Fan, "Wave physics as an analog recurrent neural network",
Sci. Adv. 5, eaay6946 (2019), give the adjoint of the wave RNN; López-Pastor & Marquardt,
"Self-learning machines based on Hamiltonian echo backpropagation", Phys. Rev. X 13, 031020
(2023), read it from a time-reversed echo. Here both are carried out on the leapfrog update of a
linear medium (:func:`physnn.physics.wave.linear_coefficients`),

    uⁿ⁺¹ = α uⁿ + κ ∇²ₕuⁿ − γ uⁿ⁻¹ + σ fⁿ,      κ = c²/(h² D),  ∇²ₕ: the 5-point stencil,

with the output J = Σₙ Σ_p g_p (u_pⁿ)² (n = 1 … T): the adjoint source is ∂J/∂u_pⁿ = 2 g_p u_pⁿ,
which needs the probes' measured time traces.

**Time reversal.** Backpropagation through time runs λᵐ = jᵐ + αλᵐ⁺¹ + ∇²ₕ(κλᵐ⁺¹) − γλᵐ⁺²
backwards. The field μ = κλ obeys μᵐ = αμᵐ⁺¹ + κ∇²ₕμᵐ⁺¹ − γμᵐ⁺² + κjᵐ: in reversed time
ν = μ(T + 1 − ·) this is the *same* update, losses included (the damping γ enters both alike),
driven by the time-reversed adjoint source σF with F = (c_p²/h²) jᵀ⁻ⁿ at the probes. So the
probes play their own error-weighted traces backwards into the same medium, monitors record ν in
the design region, and with ∂κ/∂c = 2κ/c

    ∂J/∂c = (2/c) Σₖ νᵏ ∇²ₕuᵀ⁻ᵏ      (k = 1 … T; u the forward field the monitors stored).

**Hamiltonian echo.** Without losses (γ = 1) the update is reversible: from the flipped state
(uᵀ⁺¹, uᵀ) it retraces uᵀ⁻¹ … u⁰ when the input is played backwards. Sources ±εF injected at the
probes during this echo displace it by e± − u = ±ε μ (one more step of the forward run precedes
the flip so that the first kick lands where BPTT's first adjoint source does). The energy
H = ½ Σ h² (c²p² + |∇u|²), p = u_t/c² (:func:`physnn.physics.wave.discrete_energy`), has the
local derivative ∂H/∂c = h² c p² = h² u_t²/c³ per cell; its integral along the echo,
K(e) = Σₙ h² (eⁿ⁺¹ − eⁿ)²/(dt c³), gives by summation by parts (δ²uⁿ = κ∇²ₕuⁿ in a lossless,
source-free cell; the boundary terms vanish outside the probe cells)

    ∂J/∂c = −(K(e⁺) − K(e⁻)) / (2ε dt),

exact for any ε since e± is affine in ε (the central difference also removes the unkicked echo).
Both procedures need each cell's speed c: the monitors give it, c² ∇²ₕuⁿ/h² = δ²uⁿ/dt² + b (uⁿ⁺¹
− uⁿ⁻¹)/(2dt) in a source-free cell, fitted over the forward record (:func:`local_speed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.physics.wave import WaveMedium, laplacian, linear_coefficients

Cells = tuple[tuple[int, int], ...]
Monitors = tuple[float, torch.Generator | None]
"""(σ, generator): every monitor reading is multiplied by (1 + σ ε), ε ~ N(0, 1) (σ = 0: exact)."""


def read(values: Tensor, monitors: Monitors) -> Tensor:
    """The monitors' readings of ``values`` (one per sample and cell), with their noise."""
    sigma, generator = monitors
    if not sigma or generator is None:
        return values
    eps = torch.randn(values.shape, generator=generator, dtype=values.dtype, device=values.device)
    return values * (1 + sigma * eps)


@dataclass(frozen=True)
class Stencil:
    """The maps of uⁿ⁺¹ = α uⁿ + κ ∇²ₕuⁿ − γ uⁿ⁻¹ + σ fⁿ and the medium they came from."""

    alpha: Tensor
    kappa: Tensor
    gamma: Tensor
    sigma: Tensor
    medium: WaveMedium

    @classmethod
    def of(cls, medium: WaveMedium) -> Stencil:
        if medium.kerr is not None or medium.saturable is not None:
            raise ValueError("the stencil of a nonlinear medium depends on the field")
        return cls(*linear_coefficients(medium), medium=medium)

    def step(self, prev: Tensor, cur: Tensor, drive: Tensor) -> Tensor:
        lap = laplacian(cur, 1.0)
        return self.alpha * cur + self.kappa * lap - self.gamma * prev + self.sigma * drive


def run(stencil: Stencil, start: tuple[Tensor, Tensor], cells: Cells, sources: Tensor) -> Tensor:
    """Step from ``start`` = (uⁿ⁻¹, uⁿ) (B, Nx, Ny) with the source amplitudes ``sources[s]``
    (S, B, K) at ``cells`` in step s; the fields (S + 1, B, Nx, Ny): uⁿ and the S that follow."""
    prev, cur = start
    ny = cur.shape[-1]
    flat = torch.tensor([x * ny + y for x, y in cells], device=cur.device)
    fields = [cur]
    for amplitudes in sources:
        drive = torch.zeros_like(cur)
        drive.view(drive.shape[0], -1).index_add_(1, flat, amplitudes)
        prev, cur = cur, stencil.step(prev, cur, drive)
        fields.append(cur)
    return torch.stack(fields)


def trace(fields: Tensor, cells: Cells) -> Tensor:
    """The fields (S, B, Nx, Ny) at ``cells``: (S, B, K)."""
    xs, ys = zip(*cells, strict=True)
    return fields[:, :, list(xs), list(ys)]


def forward(stencil: Stencil, signal: Tensor, source: tuple[int, int]) -> Tensor:
    """The forward run from rest for T = ``signal.shape[1]`` steps and one more without input:
    the fields u⁰ … uᵀ⁺¹ (T + 2, B, Nx, Ny), as the design region's monitors record them."""
    batch = signal.shape[0]
    nx, ny = stencil.kappa.shape[-2:]
    rest = signal.new_zeros((batch, nx, ny))
    drive = torch.cat([signal, signal.new_zeros(batch, 1)], dim=1).t()[..., None]
    return run(stencil, (rest, rest), (source,), drive)


def adjoint_source(probe_trace: Tensor, g: Tensor, c_probe: float, h: float) -> Tensor:
    """F = (c_p²/h²) · 2 g_p u_pᵀ⁻ⁿ (n = 0 … T − 1) from the probe trace u¹ … uᵀ (T, B, P): the
    time-reversed error, as the amplitude that drives σF = κ_p jᵀ⁻ⁿ at the probes."""
    return c_probe**2 / h**2 * 2 * g * probe_trace.flip(0)


def local_speed(fields: Tensor, medium: WaveMedium) -> Tensor:
    """Each cell's speed c (Nx, Ny) from the recorded field u⁰ … (S, B, Nx, Ny): the least-squares
    fit of c² ∇²ₕuⁿ/h² = δ²uⁿ/dt² + b (uⁿ⁺¹ − uⁿ⁻¹)/(2dt) over steps and samples (exact in a
    source-free linear cell; 1 where the field never curved)."""
    dt, h = medium.dt, medium.h
    before, now, after = fields[:-2], fields[1:-1], fields[2:]
    rate = (after - 2 * now + before) / dt**2 + medium.damping * (after - before) / (2 * dt)
    curvature = laplacian(now, 1.0)
    num = (rate * curvature).sum(dim=(0, 1))
    den = (curvature.square()).sum(dim=(0, 1))
    square = torch.where(den > 0, h**2 * num / den.clamp_min(1e-300), torch.ones_like(den))
    return square.clamp_min(0).sqrt()


def time_reversal(
    stencil: Stencil, signal: Tensor, source: tuple[int, int], probes: Cells, g: Tensor,
    c_probe: float, monitors: Monitors = (0.0, None),
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The probe trace u¹ … uᵀ (T, B, P) and ∂J/∂c (Nx, Ny), batch summed, read from the
    forward monitors and the time-reversed adjoint field (two passes); each sample's correlation
    is one noisy reading per cell."""
    steps = signal.shape[1]
    fields = forward(stencil, signal, source)
    probe_trace = trace(fields[1 : steps + 1], probes)
    drive = adjoint_source(probe_trace, g, c_probe, stencil.medium.h)
    rest = torch.zeros_like(fields[0])
    adjoint = run(stencil, (rest, rest), probes, drive)
    speed = local_speed(fields, stencil.medium)
    correlation = (adjoint[1:] * laplacian(fields[:steps].flip(0), 1.0)).sum(dim=0)
    return probe_trace, 2 / speed * read(correlation, monitors).sum(dim=0)


def echo(
    stencil: Stencil, signal: Tensor, source: tuple[int, int], probes: Cells, g: Tensor,
    c_probe: float, kick: float, monitors: Monitors = (0.0, None),
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The probe trace (T, B, P) and ∂J/∂c (Nx, Ny), batch summed, from the forward run and two
    echoes with error kicks ±ε_b F (ε_b ‖F_b‖ = ``kick`` · ‖u_p‖_b: as strong as ``kick`` times
    the probe signal; three passes). Exact without losses;
    with losses the echo does not retrace the forward run and the reading degrades. Each echo's
    integral K is one noisy reading per sample and cell."""
    steps = signal.shape[1]
    medium = stencil.medium
    fields = forward(stencil, signal, source)
    probe_trace = trace(fields[1 : steps + 1], probes)
    source_f = adjoint_source(probe_trace, g, c_probe, medium.h)
    norm = source_f.norm(dim=(0, 2))  # per sample
    signal_norm = probe_trace.norm(dim=(0, 2))
    epsilon = torch.where(norm > 0, kick * signal_norm / norm.clamp_min(1e-300), 0.0)
    error = epsilon[:, None] * source_f
    played_back = signal.flip(1).t()[..., None]  # fᵀ⁻ˢ for s = 0 … T − 1 (fᵀ = 0 ahead of it)
    played_back = torch.cat([torch.zeros_like(played_back[:1]), played_back[:-1]])
    cells = (source, *probes)
    flipped = (fields[steps + 1], fields[steps])
    speed = local_speed(fields, medium)
    readings = []
    for sign in (1.0, -1.0):
        echoed = run(stencil, flipped, cells, torch.cat([played_back, sign * error], dim=-1))
        steps_taken = echoed[1:].diff(dim=0)  # eⁿ⁺¹ − eⁿ for n = T − 2 … 0
        integral = (medium.h**2 * steps_taken.square() / (medium.dt * speed**3)).sum(dim=0)
        readings.append(read(integral, monitors))  # (B, Nx, Ny)
    weight = -1 / (2 * epsilon.clamp_min(1e-300) * medium.dt)
    difference = readings[0] - readings[1]
    return probe_trace, (torch.where(norm > 0, weight, 0.0)[:, None, None] * difference).sum(0)
