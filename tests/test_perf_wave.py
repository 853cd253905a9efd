"""physnn perf case ``wave``: wavetorch configured as physnn's wave RNN computes the same thing,
the floor is the bare leapfrog stencil, and the small case runs through the harness."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from physnn.perf import peers, timing
from physnn.perf import wave as wave_perf
from physnn.perf.wave import BareLeapfrog, WaveGeometry

F64 = torch.float64
REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def wavetorch():
    peers.add_peer_path(REPO / ".peers")
    modules, missing = wave_perf.load_wavetorch()
    if missing:
        pytest.skip(missing)
    return modules


def test_wavetorch_matches_physnn_outputs_and_gradients_in_float64(wavetorch):
    g = WaveGeometry(grid=24, steps=40, batch=2, every=7)
    system = wave_perf.wave_system(g)
    c = system.config
    gen = torch.Generator().manual_seed(3)
    speed0 = system.init_controls(gen)["speed"].to(F64)
    x = torch.randn(g.batch, g.steps, generator=gen)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(F64)  # wavetorch builds its buffers and source term in it
    try:
        rnn, geometry = wave_perf.wavetorch_rnn(wavetorch, system, speed0)
        theirs = rnn(system.encode(x).to(F64) * c.dt**2).sum(dim=1)
        theirs.sum().backward()
    finally:
        torch.set_default_dtype(previous)
    speed = speed0.clone().requires_grad_()
    ours = system(x, {"speed": speed}, system.nominal_nuisance())
    ours.sum().backward()
    assert ours.dtype == theirs.dtype == F64 and (ours > 1e-8).all()
    torch.testing.assert_close(theirs, ours, rtol=1e-10, atol=0)
    torch.testing.assert_close(geometry.speed.grad, speed.grad, rtol=1e-8, atol=1e-14)


def test_floor_is_the_plain_leapfrog_stencil_and_its_adjoint():
    gen = torch.Generator().manual_seed(0)
    kappa = 0.1 + 0.3 * torch.rand(7, 6, generator=gen, dtype=F64)
    u0 = torch.randn(2, 7, 6, generator=gen, dtype=F64).requires_grad_()
    weights = torch.randn(2, 7, 6, generator=gen, dtype=F64)

    def reference(u: torch.Tensor) -> torch.Tensor:
        a, b = u, u
        for _ in range(9):
            p = torch.nn.functional.pad(a, (1, 1, 1, 1))
            lap = p[:, 2:, 1:-1] + p[:, :-2, 1:-1] + p[:, 1:-1, 2:] + p[:, 1:-1, :-2] - 4 * a
            a, b = 2 * a - b + kappa * lap, a
        return a

    ours = BareLeapfrog.apply(kappa, u0, 9)
    torch.testing.assert_close(ours, reference(u0), rtol=1e-12, atol=1e-12)
    (grad,) = torch.autograd.grad((weights * ours).sum(), u0)
    (expected,) = torch.autograd.grad((weights * reference(u0)).sum(), u0)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_small_case_runs_through_the_harness_and_checks_agreement(wavetorch):
    case = wave_perf.wave_case("small")
    assert [p.name for p in case.peers] == ["wavetorch"]
    agreement = next(n for n in case.notes if "wavetorch vs physnn" in n)
    assert float(agreement.split("differ by ")[1].split(" ")[0]) < 1e-4  # float32
    contenders = [case.physnn, *case.peers, case.floor]
    times = timing.time_alternating(contenders, reps=1, warmup=0, device="cpu")
    assert all(times[c.name]["forward+backward"][0] > 0 for c in contenders)
    assert case.physnn.forward().shape == (2, 3)
