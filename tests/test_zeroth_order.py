"""Zeroth-order estimators (fd, spsa, mgd, es): exactness where the answer is known, query counts,
model-free operation, budgets and options."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import ClassVar

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

import physnn.methods.zeroth_order  # noqa: F401  (registers fd, spsa, mgd, es)
from conftest import TINY_RUN, crash_at_estimate
from physnn.errors import ConfigError
from physnn.hardware import SimulatedDevice
from physnn.methods import METHODS, perturbation
from physnn.nets import PNN, PhysicalBlock
from physnn.reality import Reality
from physnn.systems import Capabilities, ControlSpec, System
from physnn.train import TrainConfig, build_experiment, train
from physnn.train.gradcheck import gradcheck
from physnn.train.loop import EpochProgress, train_epoch
from physnn.train.transforms import default_transforms

ZO_METHODS = ("fd", "spsa", "mgd", "es")


# ----------------------------------------------------------------------------- a known function


@dataclass(frozen=True)
class _IdentityConfig:
    size: int = 6
    levels: int | None = None


class _Identity(System):
    """A "device" that outputs its controls: the loss of its output is any function of θ."""

    name = "identity-test"
    capabilities = Capabilities()
    config_class = _IdentityConfig
    presets: ClassVar[dict] = {"default": {}}

    def control_specs(self) -> dict[str, ControlSpec]:
        return {"theta": ControlSpec((self.config.size,), -10.0, 10.0, levels=self.config.levels)}

    def nominal_nuisance(self) -> dict:
        return {}

    @property
    def num_outputs(self) -> int:
        return self.config.size

    def forward(self, x, controls, nuisance, noise=None) -> Tensor:
        return controls["theta"].expand(x.shape[0], -1)


CURVATURE = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5, 0.8])
TARGET = torch.tensor([0.3, -1.0, 2.0, 0.0, 1.0, -2.0])
THETA = torch.tensor([1.0, 0.5, -1.0, 2.0, 0.0, 0.4])


def _quadratic(out: Tensor, y: Tensor) -> Tensor:
    """L(θ) = ½ Σ h_i (θ_i − t_i)², exact gradient h ⊙ (θ − t)."""
    return 0.5 * (CURVATURE * (out - TARGET) ** 2).sum(-1).mean()


def _quadratic_model() -> tuple[PNN, SimulatedDevice]:
    system = _Identity(_IdentityConfig())
    device = SimulatedDevice(system, Reality(), seed=0)
    return PNN([PhysicalBlock(system, {"theta": THETA.clone()}, device=device)]), device


def _estimate(method: str, options: dict, model: PNN) -> Tensor:
    estimator = METHODS[method](options)
    estimator.bind(model, seed=7)
    model.zero_grad()
    estimator.estimate(model, torch.zeros(1, 1), torch.zeros(1), _quadratic)
    return model.blocks[0].controls["theta"].grad


EXACT = CURVATURE * (THETA - TARGET)


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("spsa", {"samples": 2000}),
        ("mgd", {"tau": 4000}),
        ("mgd", {"tau": 4001, "waveform": "sinusoid"}),
        ("es", {"population": 2000}),
    ],
)
def test_estimators_are_unbiased_on_a_quadratic(method, options):
    model, _ = _quadratic_model()
    mean = _estimate(method, options, model)
    assert F.cosine_similarity(mean, EXACT, dim=0) > 0.99
    assert (mean - EXACT).norm() < 0.1 * EXACT.norm()
    assert torch.equal(model.blocks[0].controls["theta"].detach(), THETA)  # restored


def test_central_differences_are_exact_and_forward_ones_first_order_on_a_quadratic():
    model, _ = _quadratic_model()
    central = _estimate("fd", {"coordinates": 6, "epsilon": 0.01}, model)
    assert torch.allclose(central, EXACT, rtol=1e-3, atol=1e-3)
    forward = _estimate("fd", {"coordinates": 6, "epsilon": 0.01, "forward": True}, model)
    step = 0.01 * 20.0  # ε times the control's range
    assert torch.allclose(forward - EXACT, CURVATURE * step / 2, rtol=1e-2, atol=1e-3)


def test_fd_cycles_through_every_coordinate_in_a_fixed_order():
    model, device = _quadratic_model()
    fd = METHODS["fd"]({"coordinates": 4, "epsilon": 0.01})
    fd.bind(model, seed=3)
    touched = []
    for _ in range(3):  # 6 coordinates, 4 per step: steps cover 0–3, 4–5 + 0–1, 2–5 of the order
        model.zero_grad()
        fd.estimate(model, torch.zeros(1, 1), torch.zeros(1), _quadratic)
        grad = model.blocks[0].controls["theta"].grad
        touched.append(set((grad != 0).nonzero().flatten().tolist()))
        assert torch.allclose(grad[grad != 0], EXACT[grad != 0], rtol=1e-3, atol=1e-3)
    assert [len(t) for t in touched] == [4, 4, 4]
    assert touched[0] | touched[1] == set(range(6))
    assert touched[1] | touched[2] == set(range(6))
    assert device.stats().query_calls == 3 * 8


def _noisy_linear(slope: float, sigma: float, seed: int = 0):
    """L(θ) = slope · Σ θ_i plus a fresh N(0, σ²) at every measurement: a known noise floor."""
    noise = torch.Generator().manual_seed(seed)

    def loss(out: Tensor, y: Tensor) -> Tensor:
        return slope * out.sum(-1).mean() + sigma * torch.randn((), generator=noise)

    return loss


def _probe_on_identity(levels: int | None, sigma: float) -> tuple[dict, int]:
    """Bind fd at "auto" on the identity device (θ in [−10, 10]), estimate once; return its
    description and the device queries it made."""
    system = _Identity(_IdentityConfig(levels=levels))
    device = SimulatedDevice(system, Reality(), seed=0)
    model = PNN([PhysicalBlock(system, {"theta": torch.zeros(6)}, device=device)])
    fd = METHODS["fd"]({})
    fd.bind(model, seed=1)
    fd.estimate(model, torch.zeros(1, 1), torch.zeros(1), _noisy_linear(1.0, sigma))
    return fd.describe(), device.stats().query_calls


def test_the_auto_step_is_one_level_on_a_noiseless_quantized_device():
    described, queries = _probe_on_identity(levels=201, sigma=0.0)  # levels 0.1 = 0.005 of 20
    assert described["probed_step"] == pytest.approx(0.005)  # the finest level: r₀, cleared
    assert described["probe_cleared"]
    assert described["probe_measurements"] == perturbation.REPEATS + 2 * perturbation.PAIRS
    assert queries == described["probe_measurements"] + 2 * 6  # the probe's queries counted
    described, _ = _probe_on_identity(levels=None, sigma=0.0)
    assert described["probed_step"] == pytest.approx(perturbation.START)


def test_the_auto_step_is_the_smallest_that_clears_a_known_noise():
    # D = 2a + noise of rms √2σ on a coordinate, a = 20 r, so ρ = 40 r / (√2 σ̂) and the rule
    # accepts the first tried r (0.005 · 2^k: whole levels) with r ≥ κ √2 σ̂ / 40.
    described, queries = _probe_on_identity(levels=201, sigma=0.025)
    threshold = perturbation.CLEARANCE * math.sqrt(2) * described["noise_floor"] / 40
    tried = [0.005 * 2**k for k in range(6)]
    chosen = min(r for r in tried if r >= threshold)
    assert chosen > 0.005  # the noise, not the quantization, sets the step here
    assert described["probed_step"] == pytest.approx(chosen)
    doublings = tried.index(chosen)
    probes = perturbation.REPEATS + (doublings + 1) * 2 * perturbation.PAIRS
    assert described["probe_measurements"] == probes
    assert queries == probes + 2 * 6  # the probe's queries are counted as the device's


def test_a_response_that_turns_over_before_clearing_the_noise_stops_the_search():
    # L = Σ sin θ_i around θ = 0, a = 20 r, σ = 0.25: ρ never reaches κ = 10 (2 / (√2 σ) = 5.7);
    # D = 2 sin a peaks near a = π/2, between the tried r = 0.064 (a = 1.28) and 0.128 (a = 2.56).
    noise = torch.Generator().manual_seed(0)
    directions = torch.eye(6)[:4]

    def loss_at(offset: Tensor) -> Tensor:
        return offset.sin().sum() + 0.25 * torch.randn((), generator=noise)

    with pytest.warns(UserWarning, match="turns nonlinear"):
        result = perturbation.probe_step(
            loss_at, lambda r: torch.full((6,), 20 * r), directions, start=0.0
        )
    assert not result.cleared
    assert result.step == pytest.approx(0.128 / 4)  # half the peak at 0.064


def _alternating_noise(sigma: float) -> Callable[[], float]:
    """+σ, −σ, +σ, …: a noise of known size (the 4 repeats' std is σ √(4/3)) whose antithetic
    pairs each add exactly 2σ, so the probe's ratios are known in closed form."""
    signs = iter([1.0, -1.0] * 1000)
    return lambda: sigma * next(signs)


def test_a_response_that_never_clears_takes_the_smallest_step_with_a_signal():
    # L = s Σ θ_i + noise, a = r: D = 2 s r + 2σ, ρ = (2 s r + 2σ) / (√2 σ √(4/3)); with σ = 0.25
    # ρ ≥ κ = 10 would need r ≥ 0.30, so nothing clears below 0.25.
    directions = torch.eye(6)[:4]
    for slope, expected in ((0.3, 0.25), (6.0, 0.032)):  # no real signal (ρ < 2) / from 0.032 on
        noise = _alternating_noise(0.25)
        with pytest.warns(UserWarning, match="reaches 0.25"):
            result = perturbation.probe_step(
                lambda offset, s=slope, n=noise: s * offset.sum() + n(),
                lambda r: torch.full((6,), r),
                directions,
                start=0.0,
            )
        assert not result.cleared
        assert result.step == pytest.approx(expected)


@pytest.mark.parametrize(
    ("method", "options", "theory"),
    [  # E|ĝ|² = |g|² (n + P ∓ 1) / P for P Rademacher (−) or Gaussian (+) directions
        ("spsa", {"samples": 64}, math.sqrt(64 / (512 + 63))),
        ("es", {"population": 64}, math.sqrt(64 / (512 + 65))),
    ],
)
def test_spsa_and_es_reach_their_theoretical_cosine_at_the_auto_step(method, options, theory):
    system = _Identity(_IdentityConfig(size=512))
    device = SimulatedDevice(system, Reality(), seed=0)
    theta = torch.linspace(-5.0, 5.0, 512)
    curvature = torch.linspace(0.5, 2.0, 512)

    def loss(out: Tensor, y: Tensor) -> Tensor:  # exact gradient h ⊙ θ
        return 0.5 * (curvature * out**2).sum(-1).mean()

    cosines = []
    for seed in range(4):
        model = PNN([PhysicalBlock(system, {"theta": theta.clone()}, device=device)])
        estimator = METHODS[method](options)
        estimator.bind(model, seed=seed)
        estimator.estimate(model, torch.zeros(1, 1), torch.zeros(1), loss)
        param = model.blocks[0].controls["theta"]
        cosines.append(float(F.cosine_similarity(param.grad, curvature * theta, dim=0)))
        ideal = estimator.expected_cosine({param: curvature * theta})  # gradcheck's theory
        assert ideal == pytest.approx(theory, rel=0.02)
    assert sum(cosines) / 4 == pytest.approx(theory, rel=0.25)


@pytest.mark.parametrize(
    ("kind", "pairs", "gradient", "theory"),
    [
        ("rademacher", 1, torch.eye(400)[7], 1 / 20),  # |g·Δ| = |g| for every Δ: exactly 1/√n
        ("gaussian", 1, torch.linspace(1, 2, 400), math.sqrt(2 / (math.pi * 400))),  # E|z|/√n
        ("rademacher", 200, torch.linspace(-1, 2, 400), math.sqrt(200 / (400 + 200 - 1))),
        ("gaussian", 200, torch.linspace(-1, 2, 400), math.sqrt(200 / (400 + 200 + 1))),
    ],
)
def test_the_ideal_projection_cosine_is_the_analytic_one(kind, pairs, gradient, theory):
    generator = torch.Generator().manual_seed(0)
    amplitude = torch.full_like(gradient, 0.3)  # a common amplitude drops out
    ideal = perturbation.projection_cosine(gradient, amplitude, kind, pairs, generator, draws=500)
    assert ideal == pytest.approx(theory, rel=0.02)


def test_gradcheck_states_the_ideal_cosine_of_spsa_and_none_for_fd():
    config = TrainConfig(system="diffractive", method="spsa", gap="none", **TINY_RUN)
    report = gradcheck(config, batches=1)
    assert 0 < report["expected_cosine"] < 1
    assert report["batches"][0]["expected_cosine"] == report["expected_cosine"]
    assert "expected_cosine" not in gradcheck(replace(config, method="fd"), batches=1)


def test_fd_covers_every_coordinate_by_default():
    model, device = _quadratic_model()
    grad = _estimate("fd", {}, model)
    torch.testing.assert_close(grad, EXACT, rtol=1e-3, atol=1e-3)
    probe = perturbation.REPEATS + 2 * perturbation.PAIRS  # noiseless: the first size clears
    assert device.stats().query_calls == probe + 2 * 6


def test_spsa_perturbations_follow_the_gain_schedule():
    model, device = _quadratic_model()
    block = model.blocks[0]
    written: list[Tensor] = []
    write = device.write
    device.write = lambda controls: (written.append(controls["theta"].clone()), write(controls))
    spsa = METHODS["spsa"]({"c": 0.05})
    spsa.bind(model, seed=1)
    for k in range(3):
        written.clear()
        spsa.estimate(model, torch.zeros(1, 1), torch.zeros(1), _quadratic)
        c_k = 0.05 / (k + 1) ** 0.101 * 20.0
        plus, minus = written
        assert torch.allclose((plus - THETA).abs(), torch.full((6,), c_k), atol=1e-5)
        assert torch.allclose(plus - THETA, THETA - minus, atol=1e-5)  # ±Δ, antithetic
    assert torch.equal(block.controls["theta"].detach(), THETA)


# ----------------------------------------------------------------------------- a tiny D2NN


def _exact_gradient(exp, x, y) -> list[Tensor]:
    """Autograd through the device's own physics, noise off (what gradcheck compares with)."""

    def oracle(block, inputs):
        return block.require_device().oracle_forward(inputs, block.realized_controls())

    exp.model.zero_grad()
    with exp.model.executing(oracle):
        F.cross_entropy(exp.model(x), y).backward()
    return [p.grad.clone() for p in exp.model.parameters()]


def test_central_differences_match_autograd_on_a_diffractive_network():
    exp = build_experiment(
        TrainConfig(method="fd", method_options={"coordinates": 40}, gap="none", **TINY_RUN)
    )
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    phase_exact, temperature_exact = _exact_gradient(exp, x, y)
    exp.model.zero_grad()
    exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    phase, temperature = (p.grad for p in exp.model.parameters())
    chosen = phase != 0
    assert int(chosen.sum()) == 40
    assert F.cosine_similarity(phase[chosen], phase_exact[chosen], dim=0) > 0.999
    assert torch.allclose(temperature, temperature_exact, rtol=1e-3)  # the readout: exact


def test_forward_differences_give_the_readout_its_exact_gradient():
    exp = build_experiment(
        TrainConfig(
            method="fd", method_options={"forward": True, "coordinates": 8}, gap="none", **TINY_RUN
        )
    )
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    _, temperature_exact = _exact_gradient(exp, x, y)
    exp.model.zero_grad()
    exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    assert torch.allclose(exp.model.blocks[1].log_temperature.grad, temperature_exact, rtol=1e-5)


def test_spsa_gradient_approaches_the_true_one_as_samples_grow():
    def cosine(samples: int) -> float:
        options = {"samples": samples, "c": 0.002}
        config = TrainConfig(method="spsa", method_options=options, gap="none", **TINY_RUN)
        return gradcheck(config, batches=1)["cosine"]

    # With S pairs, ĝ = g + noise of variance ≈ ‖g‖² n / S, so cos ≈ (1 + n / S)^(-1/2), n = 512
    few, many = cosine(4), cosine(1500)
    assert few < 0.3
    assert many == pytest.approx((1 + 512 / 1500) ** -0.5, abs=0.05)


@pytest.mark.parametrize(
    ("method", "options", "probes"),
    [
        ("spsa", {"c": 0.01}, 2),
        ("spsa", {"c": 0.01, "samples": 3}, 6),
        ("fd", {"epsilon": 0.01, "coordinates": 5}, 10),
        ("fd", {"epsilon": 0.01, "coordinates": 5, "forward": True}, 6),
        ("mgd", {"amplitude": 0.01, "tau": 6}, 6),
        ("es", {"sigma": 0.01, "population": 3}, 6),
    ],
)
@pytest.mark.parametrize("model", ["pnn", "stack:2"])
def test_query_counts_match_each_methods_definition(method, options, probes, model):
    config = TrainConfig(method=method, method_options=options, gap="mild", model=model, **TINY_RUN)
    exp = build_experiment(config)
    blocks = len(exp.model.physical_blocks())
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    for _ in range(2):
        exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    stats = exp.device.stats("train")
    assert stats.query_calls == 2 * probes * blocks
    assert stats.queries == 2 * probes * blocks * 16
    assert stats.writes <= 2 * probes * blocks


def test_quantized_controls_are_perturbed_by_whole_levels():
    config = TrainConfig(
        method="fd",
        method_options={"coordinates": 3, "epsilon": 0.001},
        gap="none",
        **{**TINY_RUN, "system_options": {**TINY_RUN["system_options"], "phase_levels": 8}},
    )
    exp = build_experiment(config)
    block = exp.model.blocks[0]
    base = block.hardware_controls()["phase"]
    written: list[Tensor] = []
    write = exp.device.write
    exp.device.write = lambda c: (written.append(c["phase"].clone()), write(c))
    exp.estimator.estimate(
        exp.model, exp.dataset.x_train[:4], exp.dataset.y_train[:4], F.cross_entropy
    )
    level = 2 * math.pi / 8
    for value in written:
        change = torch.remainder(value - base + math.pi, 2 * math.pi) - math.pi
        assert int((change != 0).sum()) == 1
        assert torch.allclose(change.abs().max(), torch.tensor(level), atol=1e-5)


class _NoTwin(torch.nn.Module):
    def forward(self, *args):
        raise AssertionError("a model-free method called the twin")


@pytest.mark.filterwarnings("ignore:no perturbation clears")  # a noisy device: see the probe tests
@pytest.mark.parametrize("method", ZO_METHODS)
def test_training_never_touches_the_twin(method):
    options = {"coordinates": 8} if method == "fd" else {}  # not all 512 coordinates per step
    config = TrainConfig(method=method, method_options=options, gap="moderate", **TINY_RUN)
    exp = build_experiment(config)
    for block in exp.model.physical_blocks():
        block.twin = _NoTwin()
    before = exp.model.blocks[0].controls["phase"].detach().clone()
    optimizer = torch.optim.Adam(exp.estimator.optimized_parameters(exp.model), lr=0.05)
    for epoch in range(2):
        metrics = train_epoch(
            exp, optimizer, default_transforms(), epoch, EpochProgress(), progress=False,
            save=lambda _: None, save_every=math.inf, over_budget=lambda: None,
        )  # fmt: skip
        assert math.isfinite(metrics["train_loss"])
    assert not torch.equal(exp.model.blocks[0].controls["phase"].detach(), before)
    assert exp.device.stats("train").queries > 0


def test_spsa_decreases_the_loss_of_a_tiny_problem(tmp_path):
    config = TrainConfig(method="spsa", gap="none", **{**TINY_RUN, "epochs": 12})
    history = train(config, tmp_path, progress=False)["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.05


def test_hybrid_input_layer_is_perturbed_like_a_control():
    config = TrainConfig(
        method="spsa", method_options={"c": 0.01}, gap="none", model="hybrid:8", **TINY_RUN
    )
    exp = build_experiment(config)
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    exp.model.zero_grad()
    exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    linear = exp.model.blocks[1]
    grad = linear.weight.grad
    # SPSA: every coordinate's estimate is ±(L⁺ − L⁻)/(2c), one magnitude for the whole layer
    assert torch.allclose(grad.abs(), grad.abs().max().expand_as(grad))
    assert exp.device.stats("train").query_calls == 2


def test_the_query_budget_stops_training(tmp_path):
    options = {"c": 0.01}
    config = TrainConfig(
        method="spsa", method_options=options, gap="mild", max_queries=100, **TINY_RUN
    )
    result = train(config, tmp_path, progress=False)
    assert result["stopped_by"] == "max_queries"
    assert result["device_queries"] == 128  # 4 steps of 2 probes × 16 samples


def test_resume_continues_the_random_streams_and_the_gain_schedule(tmp_path, monkeypatch):
    config = TrainConfig(method="spsa", gap="mild", **{**TINY_RUN, "epochs": 3})
    reference = train(config, tmp_path / "ref", progress=False)
    crash_at_estimate(monkeypatch, METHODS["spsa"], config, tmp_path / "run", 7, checkpoint_every=0)
    resumed = train(config, tmp_path / "run", resume=True, progress=False)
    assert resumed["history"][-1]["train_loss"] == reference["history"][-1]["train_loss"]
    assert resumed["device_accuracy"] == reference["device_accuracy"]


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("fd", {"epsilon": 0}, 'epsilon must be positive or "auto"'),
        ("fd", {"epsilon": "tiny"}, 'epsilon must be positive or "auto"'),
        ("fd", {"coordinates": 0}, 'coordinates must be a positive integer or "all"'),
        ("fd", {"forward": "yes"}, "forward must be true or false"),
        ("spsa", {"samples": 1.5}, "samples must be a positive integer"),
        ("spsa", {"gamma": -0.1}, "gamma must be non-negative"),
        ("spsa", {"c": "big"}, "c must be positive"),
        ("mgd", {"tau": 7}, "tau must be even"),
        ("mgd", {"tau": 2, "waveform": "sinusoid"}, "tau must be at least 3"),
        ("mgd", {"waveform": "chirp"}, "waveform must be code or sinusoid"),
        ("es", {"population": 0}, "population must be a positive integer"),
        ("es", {"sigma": -1}, "sigma must be positive"),
        ("es", {"lr": 1}, "unknown option"),
    ],
)
def test_bad_options_are_config_errors(method, options, match):
    with pytest.raises(ConfigError, match=match):
        METHODS[method](options)


def test_a_model_without_physics_is_refused():
    with pytest.raises(ConfigError, match="has none; use model pnn"):
        build_experiment(TrainConfig(method="spsa", model="mlp:8", **TINY_RUN))
