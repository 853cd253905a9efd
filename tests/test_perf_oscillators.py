"""perf case ``oscillators``: the floor and the PAT-style right-hand side integrate physnn's
chain, a missing or broken PAT clone is a note, and the case times end to end."""

from __future__ import annotations

import pytest
import torch

from physnn import perf
from physnn.perf import cases
from physnn.perf import oscillators as osc
from physnn.physics.oscillators import Chain, integrate, stiffness_matrix

G = osc.OscillatorGeometry(oscillators=9, steps=20, duration=2.0, batch=3)

PAT_STANDIN = '''
def make_ode_map(ode, Nt, dt):
    """Fixed-step RK4 on one state tensor, as the PAT example's ode_utils does."""
    def ode_map(z, *args):
        for _ in range(Nt):
            slopes = [ode(z, *args)]
            for weight in (dt / 2, dt / 2, dt):
                slopes.append(ode(z + weight * slopes[-1], *args))
            a, b, c, d = slopes
            z = z + dt * (a + 2 * b + 2 * c + d) / 6
        return z
    return ode_map
'''


@pytest.fixture
def chain_inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    q0 = torch.rand(G.batch, G.oscillators, generator=gen, dtype=torch.float64) * 2 - 1
    omega_sq = 1 + 0.2 * torch.rand(G.oscillators, generator=gen, dtype=torch.float64)
    coupling = torch.rand(G.oscillators - 1, generator=gen, dtype=torch.float64)
    drive = torch.rand(G.oscillators, generator=gen, dtype=torch.float64) - 0.5
    return q0, omega_sq, coupling, drive


def _physnn_reference(q0, omega_sq, coupling, drive) -> torch.Tensor:
    chain = Chain(omega_sq, coupling, drive=drive, kind="pendulum", drive_frequency=0.0)
    q, _ = integrate(q0, torch.zeros_like(q0), chain, G.duration, G.steps)
    return q[:, 0]


def test_floor_integrates_the_same_chain_as_physnn(chain_inputs):
    q0, omega_sq, coupling, drive = chain_inputs
    floor = osc.floor_integrator(G)(q0, omega_sq, coupling, drive)
    expected = _physnn_reference(q0, omega_sq, coupling, drive)
    assert (floor - q0).abs().max() > 0.05  # the chain moves
    torch.testing.assert_close(floor, expected, rtol=0, atol=1e-12)


def test_pat_rhs_is_the_chain_equation_of_motion(chain_inputs, tmp_path):
    q0, omega_sq, coupling, drive = chain_inputs
    (tmp_path / "ode_utils.py").write_text(PAT_STANDIN)
    module, note = osc.load_pat(tmp_path)
    assert note is None
    springs = -stiffness_matrix(torch.zeros_like(omega_sq), coupling)
    z0 = torch.stack((q0, torch.zeros_like(q0)), dim=-1)
    z = module.make_ode_map(osc.pat_rhs, G.steps, G.dt)(z0, omega_sq, springs, drive)
    expected = _physnn_reference(q0, omega_sq, coupling, drive)
    torch.testing.assert_close(z[..., 0], expected, rtol=0, atol=1e-12)


def test_missing_or_broken_pat_is_a_note(tmp_path, monkeypatch):
    monkeypatch.delenv(osc.PAT_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # no .peers/Physics-Aware-Training here
    module, note = osc.load_pat()
    assert module is None and osc.PAT_ENV_VAR in note and osc.PAT_URL in note
    module, note = osc.load_pat(tmp_path)
    assert module is None and "ode_utils.py" in note
    (tmp_path / "ode_utils.py").write_text("def rk_loop(ode, x, dt):\n    return x\n")
    module, note = osc.load_pat(tmp_path)
    assert module is None and "make_ode_map" in note
    (tmp_path / "ode_utils.py").write_text("raise ImportError('torch 1.7 only')\n")
    module, note = osc.load_pat(tmp_path)
    assert module is None and "ImportError" in note and "torch 1.7 only" in note
    clone = tmp_path / ".peers" / osc.PAT_CLONE  # the default place, without the variable
    clone.mkdir(parents=True)
    (clone / "ode_utils.py").write_text("raise ImportError('torch 1.7 only')\n")
    case = osc.oscillators_case("small")
    assert case.peers == [] and any("torch 1.7 only" in n for n in case.notes)


def test_case_agrees_and_times_with_a_pat_clone(tmp_path, monkeypatch):
    (tmp_path / "ode_utils.py").write_text(PAT_STANDIN)
    monkeypatch.setenv(osc.PAT_ENV_VAR, str(tmp_path))
    monkeypatch.setattr(osc.OscillatorGeometry, "of_size", classmethod(lambda c, s: G))
    monkeypatch.setitem(cases.CASES, "oscillators", osc.oscillators_case)
    case = osc.oscillators_case("small")
    assert [p.name for p in case.peers] == ["pat"]
    errors = [float(n.rsplit(" by ", 1)[-1].split()[0]) for n in case.notes if "pat vs" in n]
    errors += [float(n.rsplit(" to ", 1)[-1].split()[0]) for n in case.notes if "floor vs" in n]
    assert len(errors) == 2 and max(errors) < 1e-5
    records, _ = perf.run(["oscillators"], reps=2, warmup=1, threads=1, size="small")
    assert [r["name"] for r in records] == [
        "oscillators/forward",
        "oscillators/backward",
        "oscillators/forward+backward",
    ]
    for r in records:
        assert r["peer"] == "pat" and r["physnn_s"] > 0 and r["ratio"] > 0
        assert r["floor_ratio"] > 0
    for contender in (case.physnn, case.floor, *case.peers):
        assert contender.forward().shape == (G.batch, G.oscillators)
