"""Benchmark case ``reservoir``: an echo state network with a ridge readout (Mackey–Glass).

Issue 9's acceptance size ("full"): 1000 leaky-tanh units, 10⁵ input steps, float64, a ridge
readout fitted in closed form to the one-step-ahead Mackey–Glass target after a washout; "small" is
a seconds-long one for tests. There is no backward pass (the readout is solved, not trained by
gradient), so only the forward pass is timed: states, normal equations and solve.

* physnn: :meth:`Reservoir.states <physnn.substrates.reservoir.system.Reservoir.states>` of an
  ``esn`` reservoir (no autograd: the in-place path of
  :func:`~physnn.physics.reservoir.echo_state_network`) and
  :func:`~physnn.methods.ridge.ridge_solution` of the augmented normal equations.
* peer: reservoirpy's ``Reservoir >> Ridge`` model, ``fit`` on the same series, configured with
  physnn's matrices: W = α W_physnn as a scipy CSR matrix (reservoirpy's default format for a
  connectivity of 0.1), W_in = γ w_in (dense, one input), bias φ, leak rate a, ridge λ and the
  same washout. Its ``Ridge`` centres the data, which is the same as physnn's unpenalised bias.
* floor: the bare recurrence x ← lerp(x, tanh(α W x + γ w_in u + φ), a) with a prebuilt CSR
  α W (sparse, as reservoirpy's default; int32 indices), written in place, one intra-op
  thread, then the normal equations and a Cholesky solve.

The normal equations of physnn and the floor use
:func:`~physnn.methods.ridge.normal_equations` (the upper block
triangle of XᵀX, mirrored; reservoirpy's numpy ``X.T @ X`` is a BLAS syrk, which also computes
half). Agreement of the states and readouts of all three is checked whenever the case is
built, on the first :data:`CHECK_STEPS` steps.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from physnn.data.timeseries import mackey_glass, nmse
from physnn.methods.ridge import normal_equations, ridge_solution
from physnn.perf.peers import import_peer
from physnn.perf.timing import Case, Contender, relative_difference
from physnn.physics.reservoir import csr_if_sparse, serial_threads
from physnn.substrates.reservoir.system import Reservoir, ReservoirConfig


@dataclass(frozen=True)
class ESNProblem:
    """Size and operating point of the benchmarked echo state network (``bias`` ≠ 0 so that the
    bias mapping between the contenders is checked too; λ = ``ridge``)."""

    units: int
    steps: int
    washout: int = 100
    leak: float = 0.5
    spectral_radius: float = 0.9
    density: float = 0.1
    input_scaling: float = 0.5
    bias: float = 0.1
    ridge: float = 1e-6

    @classmethod
    def of_size(cls, size: str) -> ESNProblem:
        if size == "full":
            return cls(units=1000, steps=100_000)
        return cls(units=200, steps=3000)


CHECK_STEPS = 3000  # steps of the agreement checks run when a case is built


def esn_system(p: ESNProblem, seed: int) -> Reservoir:
    config = ReservoirConfig(
        kind="esn",
        nodes=p.units,
        leak=p.leak,
        density=p.density,
        spectral_radius=p.spectral_radius,
        feedback=1.0,
        input_scaling=p.input_scaling,
        bias=p.bias,
        readout_times=1,
        seed=seed,
    )
    return Reservoir(config)


def esn_floor(
    p: ESNProblem, w_in: Tensor, w: Tensor, bias: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """(u (T,), y (T,)) → readout (N + 1, 1) with nothing but the unavoidable work, for the
    scaled input weights γ w_in, recurrent matrix α W and bias φ."""
    recurrent = csr_if_sparse(w)

    def floor(u: Tensor, y: Tensor) -> Tensor:
        states = torch.addcmul(torch.tensor(bias, dtype=u.dtype, device=u.device), u[:, None], w_in)
        x = states.new_zeros(p.units)
        with serial_threads(u.device):
            for slot in states.unbind(0):
                torch.lerp(x, torch.addmv(slot, recurrent, x).tanh_(), p.leak, out=slot)
                x = slot
        gram, cross = normal_equations(states[p.washout :], y[p.washout :])
        gram.diagonal()[:-1] += p.ridge
        return torch.cholesky_solve(cross, torch.linalg.cholesky(gram))

    return floor


def reservoirpy_fit(
    p: ESNProblem, w_in: Tensor, w: Tensor, bias: float
) -> tuple[Callable[[Tensor, Tensor], Tensor], Callable[[Tensor], Tensor], Callable[[], None]]:
    """reservoirpy's ``Reservoir >> Ridge`` on physnn's matrices: (fit(u, y) → readout
    (N + 1, 1), run(u) → states (T, N), reset)."""
    nodes = importlib.import_module("reservoirpy.nodes")
    scipy_sparse = importlib.import_module("scipy.sparse")
    reservoir = nodes.Reservoir(
        units=p.units,
        lr=p.leak,
        W=scipy_sparse.csr_array(w.cpu().numpy()),
        Win=w_in.cpu().numpy()[:, None],
        bias=bias,
    )
    ridge = nodes.Ridge(ridge=p.ridge)
    model = reservoir >> ridge

    def fit(u: Tensor, y: Tensor) -> Tensor:
        model.fit(u.cpu().numpy()[:, None], y.cpu().numpy()[:, None], warmup=p.washout)
        weights = torch.from_numpy(ridge.Wout)
        bias = torch.as_tensor(ridge.bias, dtype=weights.dtype).reshape(1, -1)
        return torch.cat([weights, bias]).to(u.device)

    def run(u: Tensor) -> Tensor:
        return torch.from_numpy(reservoir.run(u.cpu().numpy()[:, None])).to(u.device)

    def reset() -> None:
        if getattr(reservoir, "initialized", False):
            reservoir.reset()

    return fit, run, reset


def esn_series(steps: int, seed: int) -> tuple[Tensor, Tensor]:
    """Input u (T,) and one-step-ahead target y (T,) from the Mackey–Glass series (τ = 17), the
    classic ESN task (Jaeger & Haas, Science 304, 78 (2004)); NARMA10 diverges on some seeds at
    10⁵ steps. u is rounded to float32 as :meth:`Reservoir.encode` rounds it, for everyone."""
    series = mackey_glass(steps + 1, seed)
    return series[:-1].float().double(), series[1:]


def reservoir_case(size: str = "full", device: torch.device | str = "cpu", seed: int = 0) -> Case:
    """physnn's echo-state fit, the floor and reservoirpy (when installed) on one Mackey–Glass
    series, each checked against physnn's states and readout on its first steps."""
    p = ESNProblem.of_size(size)
    device = torch.device(device)
    system = esn_system(p, seed).to(device)
    start = system.init_controls(torch.Generator())
    controls = {k: v.double().to(device) for k, v in start.items()}
    nuisance = system.nominal_nuisance()
    u, y = (t.to(device) for t in esn_series(p.steps, seed))
    # the contenders' γ w_in, α W and φ: physnn's, rounded as physnn rounds them
    w_in = controls["input_scaling"] * system.mask.double().to(device)
    w = controls["feedback"] * system.recurrent.double().to(device)
    bias = float(controls["bias"])

    @torch.no_grad()
    def physnn_states(u: Tensor) -> Tensor:
        return system.states(u[None], controls, nuisance)[0]

    @torch.no_grad()
    def physnn_fit(u: Tensor, y: Tensor) -> Tensor:
        states = physnn_states(u)[p.washout :]
        return ridge_solution(*normal_equations(states, y[p.washout :]), p.ridge)

    floor_fn = esn_floor(p, w_in, w, bias)
    physnn = Contender("physnn", lambda: physnn_fit(u, y))
    floor = Contender("floor", lambda: floor_fn(u, y))

    # agreement on the first CHECK_STEPS steps (the full length is what the repetitions run)
    k = min(p.steps, CHECK_STEPS)
    states = physnn_states(u[:k])
    reference = physnn_fit(u[:k], y[:k])
    design = torch.cat([states, states.new_ones(k, 1)], dim=1)[p.washout :]
    prediction = design @ reference
    notes = [
        f"reservoir: {p.units} units, {p.steps} Mackey–Glass steps (washout {p.washout}), "
        f"float64, density {p.density}, ρ {p.spectral_radius}, leak {p.leak}, ridge "
        f"{p.ridge:g}; one-step NMSE {nmse(prediction[:, 0], y[p.washout : k]):.1e} "
        f"(first {k} steps)",
        f"reservoir: floor vs physnn readout weights differ by "
        f"{relative_difference(reference, floor_fn(u[:k], y[:k])):.1e} (relative, {k} steps)",
    ]
    peers = []
    module, missing = import_peer("reservoirpy")
    if module is None:
        notes.append(missing)
    else:
        peer, note = _reservoirpy_peer(p, (w_in, w, bias), (u, y), k, states, design, reference)
        notes.append(note)
        peers += [peer] if peer else []
    return Case("reservoir", physnn, floor, peers, notes, passes=("forward",))


def _reservoirpy_peer(
    p: ESNProblem,
    weights: tuple[Tensor, Tensor, float],
    series: tuple[Tensor, Tensor],
    k: int,
    states: Tensor,
    design: Tensor,
    reference: Tensor,
) -> tuple[Contender | None, str]:
    """reservoirpy with physnn's ``weights`` (γ w_in, α W, φ) fitting ``series`` (u, y), and a
    note: how far its states, predictions and readout on the first ``k`` steps are from
    physnn's (``states``, ``design`` @ ``reference``), or why it was skipped (then None)."""
    u, y = series
    try:
        fit, run, reset = reservoirpy_fit(p, *weights)
        state_error = relative_difference(states, run(u[:k]))
        reset()
        readout = fit(u[:k], y[:k])
        reset()
    except Exception as err:  # a peer that breaks is skipped, not fatal
        return None, f"peer reservoirpy skipped: {type(err).__name__}: {err}"
    prediction = design @ reference
    note = (
        f"reservoir: reservoirpy vs physnn states differ by {state_error:.1e}, readout "
        f"predictions by {relative_difference(prediction, design @ readout):.1e}, "
        f"readout weights by {relative_difference(reference, readout):.1e} (relative, "
        f"{k} steps; a small ridge lets rounding move the weights, not the predictions)"
    )
    return Contender("reservoirpy", lambda: fit(u, y), reset), note
