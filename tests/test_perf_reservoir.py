"""physnn perf, case ``reservoir``: the in-place ESN path, the normal equations, forward-only
timing, agreement of physnn, the floor and reservoirpy, on tiny sizes."""

from __future__ import annotations

import pytest
import torch

from physnn import perf
from physnn.perf import cases, peers, timing
from physnn.perf import reservoir as rcase
from physnn.physics.reservoir import (
    csr_if_sparse,
    echo_state_network,
    serial_threads,
    sparse_recurrent_matrix,
)

F64 = torch.float64
TINY = rcase.ESNProblem(units=30, steps=400, washout=20)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(rcase.ESNProblem, "of_size", classmethod(lambda cls, size: TINY))


@pytest.mark.parametrize(("batch", "density"), [(1, 0.1), (1, 1.0), (3, 0.1)])
def test_inplace_esn_matches_the_autograd_path(batch, density):
    gen = torch.Generator().manual_seed(0)
    nodes = 40
    w = sparse_recurrent_matrix(nodes, density, 0.9, gen).double()
    w_in = 2 * torch.rand(nodes, generator=gen, dtype=F64) - 1
    u = torch.rand(batch, 25, generator=gen, dtype=F64)
    initial = 0.1 * torch.rand(batch, nodes, generator=gen, dtype=F64)
    alpha, gamma, phi = (torch.tensor(v, dtype=F64) for v in (1.1, 0.6, 0.2))

    def run(noise_seed: int, track: bool) -> torch.Tensor:
        controls = [c.clone().requires_grad_(track) for c in (alpha, gamma, phi)]
        noise = torch.Generator().manual_seed(noise_seed)
        return echo_state_network(u, w_in, w, *controls, 0.4, 0.01, noise, initial)

    tracked, inplace = run(5, True), run(5, False)
    assert tracked.requires_grad and not inplace.requires_grad
    torch.testing.assert_close(inplace, tracked.detach(), rtol=1e-12, atol=1e-14)
    assert not torch.allclose(run(6, False), inplace)  # the loop noise is really drawn


def test_csr_if_sparse_keeps_the_product():
    gen = torch.Generator().manual_seed(1)
    sparse = sparse_recurrent_matrix(50, 0.1, 0.9, gen).double()
    csr = csr_if_sparse(sparse)
    assert csr.layout == torch.sparse_csr and csr.col_indices().dtype == torch.int32
    x = torch.rand(50, generator=gen, dtype=F64)
    torch.testing.assert_close(csr @ x, sparse @ x)
    dense = torch.rand(50, 50, generator=gen, dtype=F64)
    assert csr_if_sparse(dense) is dense


def test_serial_threads_is_one_thread_on_cpu_and_restores():
    before = torch.get_num_threads()
    with serial_threads(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_forward_only_timing_never_runs_backward():
    w = torch.ones(3)  # no grad: a backward would raise
    contender = timing.Contender("a", lambda: w * 2)
    times = timing.time_alternating([contender], reps=3, warmup=1, backward=False)
    assert set(times["a"]) == {"forward"} and len(times["a"]["forward"]) == 3
    assert timing.run_once(contender, torch.device("cpu"), backward=False)[1] == 0.0


def test_floor_and_physnn_fit_the_same_readout(tiny, monkeypatch):
    monkeypatch.setattr(rcase, "import_peer", lambda name: (None, f"peer {name} skipped: test"))
    case = rcase.reservoir_case("small")
    assert case.passes == ("forward",) and case.peers == []
    readout = case.physnn.forward()
    assert readout.shape == (TINY.units + 1, 1) and torch.isfinite(readout).all()
    torch.testing.assert_close(case.floor.forward(), readout, rtol=1e-9, atol=1e-9)
    assert any("skipped" in n for n in case.notes)


def test_records_of_a_forward_only_case(tiny, monkeypatch):
    monkeypatch.setattr(rcase, "import_peer", lambda name: (None, f"peer {name} skipped: test"))
    monkeypatch.setitem(cases.CASES, "reservoir", rcase.reservoir_case)
    records, notes = perf.run(["reservoir"], reps=2, warmup=0, threads=1, size="small")
    assert [r["name"] for r in records] == ["reservoir/forward"]
    assert records[0]["floor_ratio"] == pytest.approx(
        records[0]["physnn_s"] / records[0]["floor_s"]
    )
    assert any("floor vs physnn" in n for n in notes)


def test_installed_reservoirpy_matches_physnn():
    """Skipped unless reservoirpy is installed in the peer environment."""
    peers.add_peer_path()
    if peers.import_peer("reservoirpy")[0] is None:
        pytest.skip("peer reservoirpy not installed")
    p = TINY
    system = rcase.esn_system(p, seed=3)
    controls = {k: v.double() for k, v in system.init_controls(torch.Generator()).items()}
    u, y = rcase.esn_series(p.steps, seed=3)
    w_in = controls["input_scaling"] * system.mask.double()
    w = controls["feedback"] * system.recurrent.double()
    fit, run, reset = rcase.reservoirpy_fit(p, w_in, w, float(controls["bias"]))
    with torch.no_grad():
        states = system.states(u[None], controls, system.nominal_nuisance())[0]
    torch.testing.assert_close(run(u), states, rtol=1e-12, atol=1e-13)
    reset()
    theirs = fit(u, y)
    ours = rcase.esn_floor(p, w_in, w, float(controls["bias"]))(u, y)
    design = torch.cat([states, torch.ones(p.steps, 1, dtype=F64)], dim=1)[p.washout :]
    assert timing.relative_difference(design @ ours, design @ theirs) < 1e-6
