"""Benchmark case ``wave``: physnn's wave RNN against wavetorch and the bare leapfrog stencil.

Hughes, Williamson, Minkov & Fan, "Wave physics as an analog recurrent neural network",
Sci. Adv. 5, eaay6946 (2019); their code is wavetorch (PyPI sdist 0.2.1). Issue 9's size: a
100 × 100 grid, 1000 time steps, batch 8, forward and backward ("full"); "small" is a
seconds-long one. Both run the linear medium (no nonlinearity) of physnn's ``hughes2019``
settings (dt = 0.707, h = 1.42107, c0 = 1, c1 = 0.5, absorbing layer of polynomial order 4)
with a random speed map in the design region, one point source and three intensity probes.

* physnn: :class:`~physnn.substrates.wave.system.WaveRNN` ``forward`` from the raw input to
  Σ_t u(probe)² (it includes the input encoding), with gradient checkpointing every ``every`` steps.
* peer ``wavetorch``: its ``WaveRNN`` of a ``WaveCell`` with a ``WaveSource`` at physnn's source
  cell and a ``WaveIntensityProbe`` per probe cell, fed the encoded signal; its per-step probe
  intensities are summed over time. Its update (1/dt² + b/dt) uⁿ⁺¹ = 2uⁿ/dt² − (1/dt² −
  b/dt) uⁿ⁻¹ + c²∇²uⁿ is physnn's with b_wavetorch = b_physnn / 2, and its source adds X to
  uⁿ⁺¹ where physnn adds dt² f (b = 0 at the source), so it gets physnn's damping map halved
  and the signal times dt². Its geometry classes parametrize c by a blurred, projected
  density (and ``geom`` imports ``skimage.draw.circle``, removed from scikit-image), so the
  cell gets a geometry object of this module that exposes the same c, b and h as physnn's
  system (WaveCell only reads ``c``, ``b``, ``rho``, ``h``, ``cmax``, ``domain_shape`` and
  ``parameters()`` of it). With the same inputs the two schemes coincide; the run checks it.
* floor (:class:`BareLeapfrog`): the stencil work no leapfrog step avoids, on the same batch of
  grids for the same number of steps: forward one in-place update uⁿ⁺¹ = 2uⁿ − uⁿ⁻¹ + κ∇²uⁿ
  per step, backward one adjoint stencil update per step (to ∂J/∂u⁰ of a random initial
  field); no absorption, source, probes, recomputation or ∂J/∂κ.

wavetorch runs on the CPU only (its Laplacian kernel and its source term are built on the CPU
at every step); on CUDA it is skipped with the error as a note.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor

from physnn.perf.timing import Case, Contender, clear_grads, relative_difference
from physnn.physics.wave import interior, neighbour_sum
from physnn.substrates.wave.system import WaveConfig, WaveRNN, probe_cells, source_cell

PEER = "wavetorch"
PEER_MODULES = ("cell", "rnn", "source", "probe")


@dataclass(frozen=True)
class WaveGeometry:
    """Grid, time steps, batch and checkpoint interval of the case."""

    grid: int
    steps: int
    batch: int
    every: int

    @classmethod
    def of_size(cls, size: str) -> WaveGeometry:
        if size == "full":
            return cls(grid=100, steps=1000, batch=8, every=50)
        return cls(grid=30, steps=80, batch=2, every=10)


def wave_system(g: WaveGeometry) -> WaveRNN:
    """``hughes2019``'s materials and time step on a ``grid`` × ``grid`` grid: absorbing layer of
    grid/10 cells, source at x = grid/5, three probes grid/5 apart at x = 4 grid/5."""
    fifth = g.grid // 5
    config = WaveConfig(
        nx=g.grid,
        ny=g.grid,
        dt=0.707,
        h=1.42107,
        pml_cells=g.grid // 10,
        pml_order=4.0,
        pml_max=3.0,
        src_x=fifth,
        probe_x=g.grid - fifth,
        num_probes=3,
        probe_spacing=fifth,
        design_margin=g.grid // 20,
        hold=1,
        checkpoint_every=g.every,
    )
    return WaveRNN(config)


def load_wavetorch() -> tuple[dict[str, ModuleType] | None, str | None]:
    """wavetorch's cell/rnn/source/probe modules, or (None, a note saying why not).

    wavetorch's ``__init__`` imports modules that are missing from the sdist (``data``) or broken
    here (``geom``: ``skimage.draw.circle``; ``plot``, ``train``: seaborn, pandas), so an empty
    package module named ``wavetorch`` pointing at the installed files is registered (unless a
    real one is already imported) and only the submodules the RNN needs are imported from it.
    """
    try:
        if PEER not in sys.modules:
            spec = importlib.util.find_spec(PEER)
            if spec is None or not spec.submodule_search_locations:
                return None, f"peer {PEER} skipped: not installed"
            package = ModuleType(PEER)
            package.__path__ = list(spec.submodule_search_locations)
            package.__package__ = PEER
            sys.modules[PEER] = package
        return {m: importlib.import_module(f"{PEER}.{m}") for m in PEER_MODULES}, None
    except Exception as err:  # a broken peer of any kind is skipped, never fatal
        return None, f"peer {PEER} skipped: {type(err).__name__}: {err}"


class PhysnnGeometry(torch.nn.Module):
    """What wavetorch's ``WaveCell`` reads from a geometry, for physnn's system: the speed map
    c from the trainable design-region speeds, its damping b (halved, see the module
    docstring), the design mask as ``rho`` (unused: no nonlinearity), h and the grid shape."""

    def __init__(self, system: WaveRNN, speed: Tensor) -> None:
        super().__init__()
        self.system = system
        self.speed = torch.nn.Parameter(speed.clone())
        self.register_buffer("b", system.damping.to(speed) / 2)
        self.register_buffer("rho", system.design_mask.to(speed))
        self.register_buffer("h", torch.tensor(system.config.h, dtype=speed.dtype))
        self.cmax = system.config.c0
        self.domain_shape = (system.config.nx, system.config.ny)

    @property
    def c(self) -> Tensor:
        return self.system.speed_map({"speed": self.speed}, self.system.nominal_nuisance())


def wavetorch_rnn(
    modules: dict[str, ModuleType], system: WaveRNN, speed: Tensor
) -> tuple[torch.nn.Module, PhysnnGeometry]:
    """wavetorch's WaveRNN configured as physnn's system (see the module docstring)."""
    c = system.config
    geometry = PhysnnGeometry(system, speed)
    cell = modules["cell"].WaveCell(c.dt, geometry)
    source = modules["source"].WaveSource(*source_cell(c))
    probes = [modules["probe"].WaveIntensityProbe(x, y) for x, y in probe_cells(c)]
    return modules["rnn"].WaveRNN(cell, source, probes).to(speed.device), geometry


class BareLeapfrog(torch.autograd.Function):
    """The floor: T steps of uⁿ⁺¹ = (2 − 4κ) uⁿ + κ Σ_nb uⁿ − uⁿ⁻¹ (= 2uⁿ − uⁿ⁻¹ + κ∇²uⁿ with
    κ = (c dt/h)², 5-point, zero outside) from rest at u⁰, in place on zero-bordered buffers;
    the backward pass is T steps of the adjoint stencil λⁿ = (2 − 4κ) λⁿ⁺¹ + Σ_nb(κλⁿ⁺¹) − λⁿ⁺²,
    which yields ∂J/∂u⁰. One stencil update per step each way and nothing else: no graph, no
    absorption, source, probes, recomputation or gradient of κ."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, kappa: Tensor, u0: Tensor, steps: int):
        batch, nx, ny = u0.shape
        centre = 2 - 4 * kappa
        ring = u0.new_zeros((3, batch, nx + 2, ny + 2))
        interior(ring[0]).copy_(u0)
        interior(ring[1]).copy_(u0)
        scratch = u0.new_empty(u0.shape)
        for n in range(steps):
            prev, cur, nxt = ring[n % 3], ring[(n + 1) % 3], ring[(n + 2) % 3]
            out = interior(nxt)
            torch.mul(neighbour_sum(cur, scratch), kappa, out=out)
            out.addcmul_(centre, interior(cur)).sub_(interior(prev))
        ctx.save_for_backward(kappa)
        ctx.steps = steps
        return interior(ring[(steps + 1) % 3]).clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor):
        (kappa,) = ctx.saved_tensors
        centre = 2 - 4 * kappa
        weighted = grad.new_zeros((grad.shape[0], grad.shape[1] + 2, grad.shape[2] + 2))
        lam = [grad.clone(), torch.zeros_like(grad), torch.zeros_like(grad)]  # λⁿ, λⁿ⁺¹, λⁿ⁺²
        for _ in range(ctx.steps):
            lam = [lam[2], lam[0], lam[1]]
            new, nxt, nxt2 = lam
            torch.mul(nxt, kappa, out=interior(weighted))
            neighbour_sum(weighted, new).addcmul_(centre, nxt).sub_(nxt2)
        return None, lam[0] - lam[1], None  # u⁻¹ = u⁰ too: ∂J/∂u⁻¹ = −λ¹


def wave_case(size: str = "full", device: torch.device | str = "cpu", seed: int = 0) -> Case:
    g = WaveGeometry.of_size(size)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    system = wave_system(g).to(device)
    c = system.config
    nuisance = system.nominal_nuisance()
    speed0 = system.init_controls(gen)["speed"].to(device)
    x = torch.randn(g.batch, g.steps, generator=gen).to(device)

    speed = speed0.clone().requires_grad_(True)
    physnn = Contender(
        "physnn", lambda: system.forward(x, {"speed": speed}, nuisance), clear_grads(speed)
    )
    kappa = (system.speed_map({"speed": speed0}, nuisance) * c.dt / c.h) ** 2
    u0 = torch.randn(g.batch, c.nx, c.ny, generator=gen).to(device).requires_grad_()
    floor = Contender("floor", lambda: BareLeapfrog.apply(kappa, u0, g.steps), clear_grads(u0))

    notes = [
        f"wave: {c.nx}×{c.ny} grid, {g.steps} steps, batch {g.batch}, linear medium; physnn "
        f"checkpoints every {g.every} steps; floor: one in-place stencil update per step forward "
        f"and one adjoint update per step backward"
    ]
    with torch.no_grad():
        reference = system.forward(x, {"speed": speed0}, nuisance)
        signal = system.encode(x).to(reference) * c.dt**2
    peers = []
    modules, missing = load_wavetorch()
    if missing:
        notes.append(missing)
    else:
        try:
            rnn, geometry = wavetorch_rnn(modules, system, speed0)
            with torch.no_grad():
                error = relative_difference(reference, rnn(signal).sum(dim=1))
        except Exception as err:  # a peer that breaks here (e.g. on CUDA) is skipped
            notes.append(f"peer {PEER} skipped: {type(err).__name__}: {err}")
        else:
            notes.append(
                f"wave: {PEER} vs physnn probe intensities differ by {error:.1e} (relative, "
                f"{reference.dtype}); b and the source scaled to its convention"
            )
            peers.append(
                Contender(PEER, lambda: rnn(signal).sum(dim=1), clear_grads(geometry.speed))
            )
    return Case("wave", physnn, floor, peers, notes)
