"""Benchmark case ``oscillators``: physnn's batched RK4 chain against the integrator of the
Physics-Aware-Training (PAT) oscillator example and the bare RK4 arithmetic.

The PAT example (Wright, Onodera et al., Nature 601, 549 (2022);
github.com/mcmahon-lab/Physics-Aware-Training, "Example 1": coupled pendula on MNIST) integrates
its oscillator network with ``ode_utils.make_ode_map(ode, Nt, dt)``: fixed-step classical RK4 on
one state tensor ``z`` of shape (B, N, 2) (displacement and velocity side by side), the
right-hand side ``ode(z, *args)`` autonomous (no time argument) and its parameters constant; the
example's ``ode`` couples the pendula through a dense N × N matrix product and adds a constant
force (its bias ``e``). The module is not on PyPI: the peer contender loads ``ode_utils.py``
from a clone of the repository named by ``$PHYSNN_PAT_DIR``, else from
``.peers/Physics-Aware-Training``.

The case is physnn's ``wright2022`` preset (196 pendula, one per 14 × 14 MNIST pixel) with the
PAT example's kind of forcing: a constant force per pendulum (drive frequency Ω = 0, so
``F_i cos(Ω t) = F_i``, PAT's bias ``e``) and no damping (PAT's pendula are undamped). "full"
is that chain over T = 10 in 100 steps at PAT's batch size 32; "small" a seconds-long one.

* physnn: :class:`~physnn.substrates.oscillators.system.OscillatorChain` ``forward`` from input
  pixels to the displacements at T (it includes the input encoding q(0) = s x + θ).
* peer ``pat``: ``make_ode_map`` on a right-hand side written in PAT's form for physnn's
  chain — the state (B, N, 2), the nearest-neighbour springs as the dense matrix product
  ``q @ Q`` with ``Q = −L(J)`` (the chain's Laplacian), the constant force added — from the same
  q(0) = s x + θ; the same N, steps, dt, batch and coupling.
* floor: the four force evaluations per step and the RK4 combinations in plain torch ops on
  separate q and v tensors (the spring forces as one difference and two shifted copies), the
  least work any explicit RK4 of this chain does.

All three are checked to give the same displacements on every run
(:func:`~physnn.perf.timing.relative_difference`).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.perf.peers import DEFAULT_DIR
from physnn.perf.timing import Case, Contender, clear_grads, relative_difference
from physnn.physics.oscillators import stiffness_matrix
from physnn.substrates.oscillators.system import OscillatorChain

PAT_ENV_VAR = "PHYSNN_PAT_DIR"
PAT_URL = "https://github.com/mcmahon-lab/Physics-Aware-Training"
PAT_CLONE = "Physics-Aware-Training"  # its directory inside the peer venv


@dataclass(frozen=True)
class OscillatorGeometry:
    """Chain size, time stepping and batch of the case."""

    oscillators: int
    steps: int
    duration: float
    batch: int

    @classmethod
    def of_size(cls, size: str) -> OscillatorGeometry:
        if size == "full":
            return cls(oscillators=196, steps=100, duration=10.0, batch=32)
        return cls(oscillators=36, steps=30, duration=3.0, batch=8)

    @property
    def dt(self) -> float:
        return self.duration / self.steps


def oscillator_system(g: OscillatorGeometry) -> OscillatorChain:
    """physnn's ``wright2022`` pendula with PAT's constant forcing and no damping."""
    return OscillatorChain.from_preset(
        "wright2022",
        num_oscillators=g.oscillators,
        num_steps=g.steps,
        duration=g.duration,
        drive_frequency=0.0,
        damping=0.0,
    )


def load_pat(directory: str | os.PathLike | None = None) -> tuple[ModuleType | None, str | None]:
    """(PAT's ``ode_utils`` module, None), or (None, a note saying why the peer is skipped).

    ``directory`` (default ``$PHYSNN_PAT_DIR``, else ``.peers/Physics-Aware-Training`` if
    present) is a clone of the PAT repository; its
    ``ode_utils.py`` is loaded under a private module name, so that nothing else on
    ``sys.path`` can shadow it or be shadowed by it.
    """
    default = Path(DEFAULT_DIR) / PAT_CLONE
    chosen = directory or os.environ.get(PAT_ENV_VAR) or (default if default.is_dir() else None)
    how = f"git clone {PAT_URL} into {default} or set {PAT_ENV_VAR} to a clone"
    if not chosen:
        return None, f"peer pat skipped: {PAT_ENV_VAR} is not set ({how})"
    path = Path(chosen) / "ode_utils.py"
    if not path.is_file():
        return None, f"peer pat skipped: no {path} ({how})"
    try:
        spec = importlib.util.spec_from_file_location("physnn_peer_pat_ode_utils", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as err:  # a broken peer of any kind is skipped, never fatal
        return None, f"peer pat skipped: {type(err).__name__}: {err}"
    if not callable(getattr(module, "make_ode_map", None)):
        return None, f"peer pat skipped: {path} has no make_ode_map ({how})"
    return module, None


def pat_rhs(z: Tensor, omega_sq: Tensor, coupling_matrix: Tensor, force: Tensor) -> Tensor:
    """PAT-style ``ode(z, *args)`` of physnn's undamped pendulum chain with a constant force:
    ż = (v, −ω² sin q + q Q + F) on the state z = (q, v) stacked last, Q = −L(J)."""
    q, v = z[..., 0], z[..., 1]
    a = -omega_sq * torch.sin(q) + q @ coupling_matrix + force
    return torch.stack((v, a), dim=-1)


def floor_integrator(g: OscillatorGeometry) -> Callable[..., Tensor]:
    """q(0) → q(T): classical RK4 with four bare force evaluations per step."""
    h = g.dt

    def force(q: Tensor, minus_omega_sq: Tensor, coupling: Tensor, drive: Tensor) -> Tensor:
        tension = coupling * torch.diff(q)
        springs = F.pad(tension, (0, 1)) - F.pad(tension, (1, 0))
        return torch.addcmul(springs + drive, minus_omega_sq, torch.sin(q))

    def integrate(q: Tensor, omega_sq: Tensor, coupling: Tensor, drive: Tensor) -> Tensor:
        w = -omega_sq
        v = torch.zeros_like(q)
        for _ in range(g.steps):
            a1 = force(q, w, coupling, drive)
            a2 = force(torch.add(q, v, alpha=h / 2), w, coupling, drive)
            v2 = torch.add(v, a1, alpha=h / 2)
            a3 = force(torch.add(q, v2, alpha=h / 2), w, coupling, drive)
            v3 = torch.add(v, a2, alpha=h / 2)
            a4 = force(torch.add(q, v3, alpha=h), w, coupling, drive)
            # q += h/6 (v + 2 v2 + 2 v3 + v4), v4 = v + h a3; v += h/6 (a1 + 2 a2 + 2 a3 + a4)
            q = q + h * (v + (h / 6) * (a1 + a2 + a3))
            v = v + (h / 6) * (a1 + 2 * (a2 + a3) + a4)
        return q

    return integrate


def _leaves(controls: dict[str, Tensor]) -> dict[str, Tensor]:
    return {name: value.clone().requires_grad_(True) for name, value in controls.items()}


def oscillators_case(
    size: str = "full",
    device: torch.device | str = "cpu",
    seed: int = 0,
    pat_dir: str | os.PathLike | None = None,
) -> Case:
    """physnn, PAT's ``make_ode_map`` (when ``pat_dir`` or ``$PHYSNN_PAT_DIR`` has it) and the
    RK4 floor on one pendulum chain; gradients flow to the offsets, springs and forces."""
    g = OscillatorGeometry.of_size(size)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    system = oscillator_system(g).to(device)
    nuisance = system.nominal_nuisance()
    side = round(g.oscillators**0.5)
    x = torch.rand(g.batch, side, side, generator=gen).to(device)
    controls0 = {k: v.to(device) for k, v in system.init_controls(gen).items()}
    pixels = x.reshape(g.batch, -1)  # side² = N pixels: the encoding is s x + θ itself
    scale = system.config.input_scale
    omega_sq = torch.ones(g.oscillators, device=device)

    mine = _leaves(controls0)
    physnn = Contender(
        "physnn", lambda: system.forward(x, mine, nuisance), clear_grads(*mine.values())
    )

    floor_fn = floor_integrator(g)
    low = _leaves(controls0)

    def floor_forward(p: dict[str, Tensor] = low) -> Tensor:
        return floor_fn(scale * pixels + p["offset"], omega_sq, p["coupling"], p["drive"])

    floor = Contender("floor", floor_forward, clear_grads(*low.values()))

    notes: list[str] = []
    with torch.no_grad():
        reference = system.forward(x, controls0, nuisance)
        error = relative_difference(reference, floor_forward(controls0))
    notes.append(
        f"oscillators: floor vs physnn final displacements agree to {error:.1e} (relative)"
    )
    peers = []
    pat, missing = load_pat(pat_dir)
    if missing:
        notes.append(missing)
    else:
        peer, note = _pat_peer(pat, g, controls0, scale * pixels, omega_sq, reference)
        notes.append(note)
        peers += [peer] if peer else []
    return Case("oscillators", physnn, floor, peers, notes)


def _pat_peer(
    pat: ModuleType,
    g: OscillatorGeometry,
    controls0: dict[str, Tensor],
    encoded: Tensor,
    omega_sq: Tensor,
    reference: Tensor,
) -> tuple[Contender | None, str]:
    """PAT's ``make_ode_map`` on physnn's chain from q(0) = ``encoded`` + θ, and a note: how far
    its displacements are from physnn's ``reference``, or why it was skipped (then None)."""
    ode_map = pat.make_ode_map(pat_rhs, g.steps, g.dt)
    theirs = _leaves(controls0)

    def pat_forward(p: dict[str, Tensor] = theirs) -> Tensor:
        q0 = encoded + p["offset"]
        z0 = torch.stack((q0, torch.zeros_like(q0)), dim=-1)
        springs = -stiffness_matrix(torch.zeros_like(omega_sq), p["coupling"])
        return ode_map(z0, omega_sq, springs, p["drive"])[..., 0]

    try:
        with torch.no_grad():
            error = relative_difference(reference, pat_forward(controls0))
    except Exception as err:  # a peer that breaks on this problem is skipped, not fatal
        return None, f"peer pat skipped: {type(err).__name__}: {err}"
    note = f"oscillators: pat vs physnn final displacements differ by {error:.1e} (relative)"
    return Contender("pat", pat_forward, clear_grads(*theirs.values())), note
