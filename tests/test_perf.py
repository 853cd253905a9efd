"""physnn perf: timing harness, the D2NN floor, peer handling and the CLI, on tiny cases."""

from __future__ import annotations

import json
import sys
import time

import pytest
import torch

from physnn import perf
from physnn.cli import main
from physnn.perf import cases, peers, timing


def test_median_and_iqr():
    assert timing.median([3.0, 1.0, 2.0]) == 2.0
    assert timing.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert timing.iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)
    assert timing.iqr([7.0]) == 0.0


def test_contenders_alternate_and_passes_are_timed_separately():
    order: list[str] = []
    w = torch.ones(3, requires_grad=True)

    def contender(name: str) -> timing.Contender:
        def forward() -> torch.Tensor:
            order.append(name)
            return w * 2

        return timing.Contender(name, forward, lambda: setattr(w, "grad", None))

    times = timing.time_alternating(
        [contender("a"), contender("b")], reps=4, warmup=1, device="cpu"
    )
    assert order == ["a", "b"] * 5
    for name in "ab":
        t = times[name]
        assert set(t) == set(timing.PASSES)
        assert all(len(v) == 4 for v in t.values())
        for f, b, fb in zip(t["forward"], t["backward"], t["forward+backward"], strict=True):
            assert f > 0 and b > 0 and fb == pytest.approx(f + b)
    assert w.grad is None  # reset after every repetition


def test_floor_computes_the_same_field_as_physnn():
    g = cases.D2NNGeometry(grid=24, layers=2, batch=3)
    gen = torch.Generator().manual_seed(1)
    system = cases.d2nn_system(g)
    x = torch.rand(g.batch, 12, 12, generator=gen)
    phase = 2 * torch.pi * torch.rand(g.layers, g.grid, g.grid, generator=gen)
    field, _ = system._trace(x, {"phase": phase}, system.nominal_nuisance())
    floor = cases.d2nn_floor(g, phase)(system.encode(x))
    torch.testing.assert_close(floor, field.abs().square(), rtol=1e-5, atol=1e-7)


def test_missing_peer_is_a_note(tmp_path, monkeypatch):
    module, note = peers.import_peer("physnn_no_such_peer")
    assert module is None and "skipped" in note and "physnn_no_such_peer" in note
    monkeypatch.setattr(peers, "D2NN_PEERS", {"ghost": ("physnn_no_such_peer", None)})
    case = cases.d2nn_case("small")
    assert case.peers == []
    assert any("physnn_no_such_peer" in n for n in case.notes)


def test_peer_site_packages(tmp_path, monkeypatch):
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setenv(peers.ENV_VAR, str(tmp_path / "venv"))
    assert peers.peer_site_packages() == site
    assert peers.peer_site_packages(tmp_path / "absent") is None
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert peers.add_peer_path() == site and str(site) in sys.path


def test_records_without_peers(monkeypatch):
    monkeypatch.setattr(peers, "D2NN_PEERS", {})
    monkeypatch.setattr(cases.D2NNGeometry, "of_size", classmethod(lambda c, s: c(24, 2, 2)))
    records, notes = perf.run(["d2nn"], reps=3, warmup=1, threads=1, size="small")
    assert [r["name"] for r in records] == [f"d2nn/{p}" for p in timing.PASSES]
    for r in records:
        assert set(perf.RECORD_KEYS) <= set(r)
        assert r["peer"] is None and r["ratio"] is None
        assert r["floor_ratio"] == pytest.approx(r["physnn_s"] / r["floor_s"])
    assert any("agree" in n for n in notes)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own, while inductor loads
def test_compiled_pass_is_timed_beside_the_eager_one():
    """A real torch.compile of a tiny pass: one more contender, its ratio to the eager pass."""
    w = torch.linspace(0.1, 1.0, 64, requires_grad=True)
    physnn = timing.Contender("physnn", lambda: (w.sin() * w.exp()).cumsum(0), lambda: None)
    floor = timing.Contender("floor", lambda: w * 1.0)
    compiled, note = perf.compiled_contender(physnn, torch.device("cpu"), backward=True)
    if compiled is None:
        pytest.skip(note)  # no C++ compiler for inductor on this machine
    assert note.startswith("torch.compile: first call")
    assert torch.allclose(compiled.forward(), physnn.forward())
    case = timing.Case("toy", physnn, floor, peers=[], notes=[])
    records = perf.case_records(case, reps=3, warmup=1, device=torch.device("cpu"),
                                compiled=compiled)  # fmt: skip
    for r in records:
        assert r["compiled_ratio"] == pytest.approx(r["compiled_s"] / r["physnn_s"])
    assert "compiled ms" in perf.format_table(records)


def test_a_pass_that_cannot_compile_is_a_note(monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda fn: refuse)
    physnn = timing.Contender("physnn", lambda: torch.ones(2), None)
    compiled, note = perf.compiled_contender(physnn, torch.device("cpu"), backward=False)
    assert compiled is None and "no C++ compiler" in note and "skipped" in note


def test_unknown_case_is_a_user_error(capsys):
    assert main(["perf", "nope", "--size", "small", "--reps", "1"]) == 2
    assert "unknown perf case 'nope'" in capsys.readouterr().err


def test_cli_json(capsys, monkeypatch):
    monkeypatch.setattr(peers, "D2NN_PEERS", {})  # peers (if installed) would only slow it down
    monkeypatch.setattr(cases.D2NNGeometry, "of_size", classmethod(lambda c, s: c(24, 2, 2)))
    assert main(["perf", "d2nn", "--size", "small", "--reps", "3", "--json"]) == 0
    out = capsys.readouterr()
    records = json.loads(out.out)
    assert len(records) == 3 and all(set(perf.RECORD_KEYS) <= set(r) for r in records)
    assert "torch threads" in out.err


@pytest.mark.parametrize("name", sorted(peers.D2NN_PEERS))
def test_installed_peer_matches_physnn_in_the_paraxial_regime(name):
    """Skipped unless benchmarks/install_peers.sh ran. Paraxial, so that LightRidge's Fresnel
    transfer function agrees with the exact angular spectrum too."""
    peers.add_peer_path()
    module, build = peers.D2NN_PEERS[name]
    if peers.import_peer(module)[0] is None:
        pytest.skip(f"peer {name} not installed")
    g = cases.D2NNGeometry(24, 2, 2, pitch=20e-6, wavelength=0.5e-6, distance=2e-3)
    gen = torch.Generator().manual_seed(2)
    phase = 2 * torch.pi * torch.rand(g.layers, g.grid, g.grid, generator=gen)
    field = torch.randn(g.batch, g.grid, g.grid, dtype=torch.complex64, generator=gen)
    stack, params = build(g, phase)
    assert len(params) == g.layers
    floor = cases.d2nn_floor(g, phase)(field)
    assert timing.relative_difference(floor, stack(field).abs().square()) < 1e-3


def test_spread_flags_a_wide_series_and_not_a_tight_one():
    """The statistics alone, on synthetic series: no clock, no sleeping."""
    tight = [1.00, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.00]
    wide = [1.0, 1.1, 0.9, 3.0, 1.0, 2.5, 0.95, 4.0]  # a loaded machine's stretched repetitions
    mid, width, noisy = timing.spread(tight)
    assert mid == pytest.approx(1.0) and width < 0.05 and not noisy
    mid, width, noisy = timing.spread(wide)
    assert width > timing.NOISY_IQR_FRACTION * mid and noisy
    # the threshold is the stated fraction: IQR 2 of median 3 is noisy at 0.5, not at 0.75
    assert timing.spread([1.0, 2.0, 3.0, 4.0, 5.0], fraction=0.5)[2]
    assert not timing.spread([1.0, 2.0, 3.0, 4.0, 5.0], fraction=0.75)[2]
    assert not timing.spread([7.0])[2]  # one repetition has no spread


def test_cpu_clock_and_unknown_clock():
    w = torch.ones(3, requires_grad=True)
    contender = timing.Contender("a", lambda: w * 2, timing.clear_grads(w))
    times = timing.time_alternating([contender], reps=2, warmup=0, clock_name="cpu")
    assert all(len(v) == 2 and min(v) >= 0 for v in times["a"].values())
    with pytest.raises(ValueError, match="unknown clock 'sundial'"):
        timing.time_alternating([contender], reps=1, clock_name="sundial")
    assert timing.CLOCKS["cpu"] is time.process_time


def _toy_case(physnn_times, floor_times):
    """A case whose contenders' timings are the given series (the timing is patched)."""
    w = torch.ones(2, requires_grad=True)
    physnn = timing.Contender("physnn", lambda: w * 2, lambda: None)
    floor = timing.Contender("floor", lambda: w * 1)
    return timing.Case("toy", physnn, floor, peers=[], notes=[], passes=("forward",)), {
        "physnn": {"forward": physnn_times},
        "floor": {"forward": floor_times},
    }


def test_records_carry_clock_iqr_and_noisy(monkeypatch):
    tight, wide = [1.0, 1.01, 0.99, 1.0, 1.02], [1.0, 3.0, 0.9, 4.0, 1.1]
    case, times = _toy_case(physnn_times=tight, floor_times=wide)
    monkeypatch.setattr(timing, "time_alternating", lambda *a, **k: times)
    (record,) = perf.case_records(case, reps=5, warmup=0, device=torch.device("cpu"),
                                  clock="cpu")  # fmt: skip
    assert set(perf.RECORD_KEYS) <= set(record)
    assert record["clock"] == "cpu"
    assert record["iqr_s"] == {"physnn": timing.iqr(tight), "floor": timing.iqr(wide)}
    assert record["physnn_iqr_s"] == record["iqr_s"]["physnn"]
    assert record["noisy"] and record["noisy_contenders"] == ["floor"]
    (warning,) = perf.noise_warnings([record])
    assert "toy/forward" in warning and "floor" in warning and "physnn" not in warning
    case, times = _toy_case(physnn_times=tight, floor_times=tight)
    (record,) = perf.case_records(case, reps=5, warmup=0, device=torch.device("cpu"))
    assert record["clock"] == "wall" and not record["noisy"] and record["noisy_contenders"] == []
    assert perf.noise_warnings([record]) == []


def test_cli_clock_option_and_noise_warning(capsys, monkeypatch):
    monkeypatch.setattr(peers, "D2NN_PEERS", {})
    monkeypatch.setattr(cases.D2NNGeometry, "of_size", classmethod(lambda c, s: c(24, 2, 2)))

    def noisy(contenders, **kwargs):  # physnn spread wide, the floor tight
        wide, tight = [1.0, 3.0, 0.9, 4.0, 1.1], [1.0, 1.01, 0.99, 1.0, 1.02]
        series = {"physnn": wide}
        return {c.name: {p: series.get(c.name, tight) for p in timing.PASSES} for c in contenders}

    monkeypatch.setattr(timing, "time_alternating", noisy)
    args = ["perf", "d2nn", "--size", "small", "--reps", "5", "--threads", "1", "--json"]
    assert main([*args, "--clock", "cpu"]) == 0
    out = capsys.readouterr()
    records = json.loads(out.out)
    assert all(r["clock"] == "cpu" and r["noisy_contenders"] == ["physnn"] for r in records)
    assert "cpu clock" in out.err and out.err.count("warning: d2nn/") == 3
    assert main(["perf", "--scaling", "x", "--clock", "cpu"]) == 2
    assert "--clock" in capsys.readouterr().err


def test_cpu_clock_is_refused_for_a_gpu():
    with pytest.raises(perf.ConfigError, match="clock"):
        perf.run(["d2nn"], reps=1, device="cuda", clock="cpu")
