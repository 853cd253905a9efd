"""physnn perf case ``crossbar``: the noise-aware training step, the matched noise, aihwkit."""

from __future__ import annotations

import math
import re

import pytest
import torch

from physnn import perf
from physnn.perf import cases, peers, timing
from physnn.perf import crossbar as case_module
from physnn.physics import crossbar as pcm
from physnn.systems.base import NoiseSource

SMALL = case_module.CrossbarGeometry(inputs=24, outputs=12, batch=6)


@pytest.fixture
def small_case(monkeypatch):
    monkeypatch.setattr(
        case_module.CrossbarGeometry, "of_size", classmethod(lambda cls, size: SMALL)
    )


def test_sizes():
    full = case_module.CrossbarGeometry.of_size("full")
    assert (full.inputs, full.outputs, full.batch, full.tile) == (512, 512, 128, 512)
    small = case_module.CrossbarGeometry.of_size("small")
    assert small.tile == max(small.inputs, small.outputs)


def test_noisy_step_redraws_the_programming_noise_and_differentiates_the_read_noise():
    system = case_module.crossbar_system(SMALL)
    gen = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(SMALL.batch, SMALL.inputs, generator=gen) - 1
    weight = 0.25 * (2 * torch.rand(SMALL.outputs, SMALL.inputs, generator=gen) - 1)
    weight.requires_grad_(True)
    noise = NoiseSource(torch.Generator().manual_seed(1), differentiable=True)
    step = case_module.noisy_step(system, torch.Generator().manual_seed(2), noise)
    first, second = step(x, weight), step(x, weight)
    clean = system.forward(x, {"weight": weight}, system.nominal_nuisance())
    assert not torch.equal(first, second)  # fresh programming errors and read noise every step
    assert not torch.equal(first, clean)
    first.sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_matched_noise_levels_follow_the_pcm_model():
    system = case_module.crossbar_system(SMALL)
    gen = torch.Generator().manual_seed(3)
    x = torch.ones(SMALL.batch, SMALL.inputs)
    weight = torch.zeros(SMALL.outputs, SMALL.inputs)
    sigma_w, sigma_y = case_module.matched_noise(system, x, weight, gen)
    # All devices at g_T = 0 are programmed to max(σ_P(0) ε, 0), a half-normal: E g_P² =
    # σ_P(0)²/2, E g_P = σ_P(0)/√(2π); the weight error G⁺ − G⁻ has mean square
    # σ_P(0)² (1 − 1/π). Read noise: σ_nG = g_P · Q_s(0) · bandwidth with Q_s(0) = 0.2, so a
    # column of n unit inputs has variance n · σ_P(0)² · (0.2 · bandwidth)².
    sigma0 = float(pcm.programming_sigma(torch.zeros(())))
    assert sigma_w == pytest.approx(sigma0 * math.sqrt(1 - 1 / math.pi), rel=0.15)
    bandwidth = float(pcm.read_noise_sigma(torch.ones(()), torch.ones(()), 0.0)) / 0.0088
    expected_y = math.sqrt(SMALL.inputs) * sigma0 * 0.2 * bandwidth
    assert sigma_y == pytest.approx(expected_y, rel=0.15)


def test_case_without_aihwkit_is_physnn_and_floor(small_case, monkeypatch):
    monkeypatch.setattr(peers, "import_peer", lambda m: (None, f"peer {m} skipped: absent"))
    case = case_module.crossbar_case("small")
    assert case.peers == [] and any("aihwkit" in n and "skipped" in n for n in case.notes)
    records = perf.case_records(case, reps=2, warmup=1, device=torch.device("cpu"))
    assert [r["name"] for r in records] == [f"crossbar/{p}" for p in timing.PASSES]
    assert all(r["ratio"] is None and r["floor_s"] > 0 for r in records)


def test_registered_through_the_cli_registry(small_case, monkeypatch):
    monkeypatch.setattr(peers, "import_peer", lambda m: (None, f"peer {m} skipped: absent"))
    monkeypatch.setitem(cases.CASES, "crossbar", case_module.crossbar_case)
    records, notes = perf.run(["crossbar"], reps=2, warmup=1, threads=1, size="small")
    assert len(records) == 3 and any("σ_w" in n for n in notes)


def test_aihwkit_tile_computes_the_same_converters_and_noise_level():
    """Skipped unless the peer environment has aihwkit (benchmarks/aihwkit_torch_tile.py)."""
    peers.add_peer_path()
    if peers.import_peer("aihwkit.nn")[0] is None:
        pytest.skip("aihwkit not installed")
    torch.manual_seed(0)  # aihwkit draws its noise from the global generator
    case = case_module.crossbar_case("small", seed=4)
    assert [c.name for c in case.peers] == ["aihwkit"]
    system = case_module.crossbar_system(case_module.CrossbarGeometry.of_size("small"))
    gen = torch.Generator().manual_seed(5)
    x = 2 * torch.rand(16, system.config.num_inputs, generator=gen) - 1
    weight = 0.25 * (2 * torch.rand(system.control_specs()["weight"].shape, generator=gen) - 1)
    steps, grad_error = case_module.crossbar_agreement(system, x, weight)
    assert steps <= 1 and grad_error < 1e-3
    deviation = next(n for n in case.notes if "RMS output deviation" in n)
    physnn_dev, aihwkit_dev = map(float, re.findall(r"(?:physnn|aihwkit) ([0-9.]+)", deviation))
    assert aihwkit_dev == pytest.approx(physnn_dev, rel=0.3)
    out = case.peers[0].forward()
    out.sum().backward()
    assert out.shape == (16, system.config.num_outputs)


def test_pair_conductances_by_role_are_the_per_device_model():
    """The system evaluates the PCM model on the on devices only (perf): it must equal the
    model evaluated on every device of the (G⁺, G⁻) pairs, with each device's own draws."""
    system = case_module.crossbar_system(SMALL)
    gen = torch.Generator().manual_seed(6)
    weight = 2 * torch.rand(SMALL.outputs, SMALL.inputs, generator=gen) - 1
    draws, drift_draws = torch.randn(2, 2, *weight.shape, generator=gen)
    time = 86400.0
    nuisance = {**system.nominal_nuisance(), "programming_noise": draws,
                "programming_noise_scale": 1.0, "drift_noise": drift_draws,
                "inference_time": time}  # fmt: skip
    pairs = system.conductances(weight, nuisance)
    target = torch.stack((weight.clamp_min(0), (-weight).clamp_min(0)))  # (G⁺, G⁻)
    programmed = pcm.program(target, draws)
    now = pcm.drift(programmed, pcm.drift_exponent(target, drift_draws), time)
    torch.testing.assert_close(pairs.weight(pairs.programmed), programmed[0] - programmed[1])
    torch.testing.assert_close(pairs.weight(pairs.now), now[0] - now[1])
    variance = pcm.read_noise_sigma(now, target, time).square().sum(dim=0)
    torch.testing.assert_close(system.read_noise_variance(pairs, nuisance)[:, 0], variance)
