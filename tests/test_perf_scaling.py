"""Scaling curves: exponent fits, the table, and a quick run writing plots and records."""

from __future__ import annotations

import json
import math

import pytest
import torch

from physnn.perf import scaling, timing


def test_fit_exponent_recovers_power_laws_and_skips_missing_values():
    sizes = [8, 16, 32, 64]
    assert scaling.fit_exponent(sizes, [3 * s**2 for s in sizes]) == pytest.approx(2.0)
    assert scaling.fit_exponent(sizes, [0.5 * s for s in sizes]) == pytest.approx(1.0)
    values = [None, 0.0, 2.0 * 32**1.5, 2.0 * 64**1.5]  # unmeasurable and zero points are left out
    assert scaling.fit_exponent(sizes, values) == pytest.approx(1.5)
    assert scaling.fit_exponent(sizes, [None, 0.0, 0.0, 1.0]) is None


def test_fft_exponent_is_two_plus_the_log_slope():
    assert scaling.fft_exponent([50]) == pytest.approx(2 + 1 / math.log(100.0))
    assert 2 < scaling.fft_exponent([256]) < scaling.fft_exponent([16]) < 2.3


def test_a_linear_cost_measures_an_exponent_near_one(one_thread):
    # a contender whose work is one big elementwise op repeated `size` times
    def build(size, device, gen):
        w = torch.rand(100_000, generator=gen, device=device, requires_grad=True)

        def forward():
            y = w
            for _ in range(size):
                y = torch.sin(y)
            return y

        return timing.Contender("chain", forward, lambda: setattr(w, "grad", None))

    sweep = scaling.Sweep("toy", "repeats", (), (), build, lambda _: 1.0, 1.0, "toy")
    record = scaling.measure(sweep, (4, 8, 16, 32), reps=5, warmup=1, device="cpu", seed=0)
    assert 0.6 < record["time_exponent"] < 1.4
    assert record["expected_time_exponent"] == 1.0 and len(record["peak_mb"]) == 4


def test_quick_run_writes_plots_table_and_records(tmp_path):
    records = scaling.run(tmp_path, quick=True, threads=1, reps=1)
    names = [s.name for s in scaling.SWEEPS]
    assert [r["sweep"] for r in records] == names
    for r, sweep in zip(records, scaling.SWEEPS, strict=True):
        assert r["sizes"] == list(sweep.quick_sizes)
        assert all(t > 0 for t in r["time_s"])
        assert r["time_exponent"] is not None
        assert (tmp_path / f"{r['sweep']}.png").stat().st_size > 1000
    table = (tmp_path / "scaling.md").read_text()
    assert all(f"[{name}]({name}.png)" in table for name in names)
    assert json.loads((tmp_path / "scaling.json").read_text())[0]["sweep"] == "d2nn-grid"
