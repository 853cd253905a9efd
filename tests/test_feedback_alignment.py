"""Feedback alignment and direct feedback alignment: hand-computed updates, reduction to backprop,
the optical projector against its linear formula and its camera noise, alignment, model-freedom,
fixed physical controls, options, resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import physnn.methods.feedback_alignment as fa_module  # registers fa and dfa
from conftest import TINY_RUN, crash_at_estimate, tiny_run, without_timings
from physnn.errors import ConfigError
from physnn.methods import METHODS
from physnn.nets import PNN, run_twin
from physnn.nets.architectures import Flatten
from physnn.train import TrainConfig, build_experiment, train
from physnn.train.auxiliary import ScatteringProjector
from physnn.train.gradcheck import gradcheck

SCATTERING_HYBRID = {**tiny_run("scattering"), "model": "hybrid:8"}
"""A digital layer, a tiny optical random projection and a linear readout: FA/DFA can train it."""


def _mlp() -> tuple[PNN, torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    model = PNN(
        [Flatten(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3)]
    )
    x, y = torch.randn(8, 2, 3), torch.randint(0, 3, (8,))
    return model, x, y


def _estimate(method: str, model: PNN, x, y, options: dict | None = None):
    est = METHODS[method](options)
    est.bind(model, seed=0)
    model.zero_grad(set_to_none=True)
    est.estimate(model, x, y, F.cross_entropy)
    return est, [p.grad.clone() for p in model.parameters()]


def _by_hand(model: PNN, x, y, backward) -> list[torch.Tensor]:
    """Gradients of the 3-layer tanh MLP for a rule ``backward(e, h1, h2) -> (δa1, δa2)``."""
    _, l1, _, l2, _, l3 = model.blocks
    with torch.no_grad():
        x = x.flatten(1)
        h1 = torch.tanh(l1(x))
        h2 = torch.tanh(l2(h1))
        e = (torch.softmax(l3(h2), dim=1) - F.one_hot(y, 3)) / len(y)  # ∂L/∂logits (mean CE)
        d1, d2 = backward(e, h1, h2)
    return [d1.T @ x, d1.sum(0), d2.T @ h1, d2.sum(0), e.T @ h2, e.sum(0)]


def test_dfa_update_is_the_output_error_projected_by_fixed_matrices():
    model, x, y = _mlp()
    est, grads = _estimate("dfa", model, x, y)
    b1, b2 = est.feedback[1], est.feedback[2]  # at the inputs of the 2nd and 3rd Linear
    assert b1.shape == (5, 3) and b2.shape == (4, 3)

    def dfa(e, h1, h2):
        return (e @ b1.T) * (1 - h1**2), (e @ b2.T) * (1 - h2**2)

    for got, want in zip(grads, _by_hand(model, x, y, dfa), strict=True):
        assert torch.allclose(got, want, atol=1e-7)


def test_fa_update_passes_the_error_down_through_fixed_matrices():
    model, x, y = _mlp()
    est, grads = _estimate("fa", model, x, y)
    b1, b2 = est.feedback[1], est.feedback[2]  # in place of W2ᵀ (5×4) and W3ᵀ (4×3)
    assert b1.shape == (5, 4) and b2.shape == (4, 3)

    def fa(e, h1, h2):
        d2 = (e @ b2.T) * (1 - h2**2)
        return (d2 @ b1.T) * (1 - h1**2), d2

    for got, want in zip(grads, _by_hand(model, x, y, fa), strict=True):
        assert torch.allclose(got, want, atol=1e-7)
    assert not torch.allclose(b1, model.blocks[3].weight.T)  # random, not the weights


def test_fa_with_transposed_weights_is_backprop():
    exp = build_experiment(TrainConfig(method="fa", model="mlp:16,8", **TINY_RUN))
    model, est = exp.model, exp.estimator
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    for k in est.fed:
        est.feedback[k] = est.layers[k].mixing.weight.detach().T.clone()
    model.zero_grad(set_to_none=True)
    est.estimate(model, x, y, F.cross_entropy)
    fa = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    for got, want in zip(fa, [p.grad for p in model.parameters()], strict=True):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-8)


def test_dfa_with_the_transposed_readout_is_backprop_for_one_hidden_layer():
    """With one hidden layer the broadcast error enters where backprop's does: B = W_outᵀ."""
    exp = build_experiment(TrainConfig(method="dfa", model="mlp:16", **TINY_RUN))
    model, est = exp.model, exp.estimator
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    (k,) = est.fed
    est.feedback[k] = est.layers[k].mixing.weight.detach().T.clone()
    model.zero_grad(set_to_none=True)
    est.estimate(model, x, y, F.cross_entropy)
    dfa = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    for got, want in zip(dfa, [p.grad for p in model.parameters()], strict=True):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("method", ["fa", "dfa"])
def test_on_pnn_the_readout_gradient_is_exact(method):
    exp = build_experiment(TrainConfig(method=method, gap="none", **TINY_RUN))
    model = exp.model
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    model.zero_grad(set_to_none=True)
    exp.estimator.estimate(model, x, y, F.cross_entropy)
    readout = [p.grad.clone() for p in model.blocks[-1].parameters()]
    assert all(p.grad is None for p in model.physical_parameters())
    model.zero_grad(set_to_none=True)
    with model.executing(run_twin):
        F.cross_entropy(model(x), y).backward()
    for got, want in zip(readout, [p.grad for p in model.blocks[-1].parameters()], strict=True):
        assert torch.allclose(got, want, rtol=1e-5)


def _medium_matrix(projector: ScatteringProjector) -> torch.Tensor:
    """M = Re(diag(conj ρ) B_s), ρ = B_r 1: the projection the two shots measure."""
    medium = projector.device.system.medium.to(torch.complex128)
    c = projector.num_classes
    reference = medium[:, c:].sum(dim=1, keepdim=True)
    return (reference.conj() * medium[:, :c]).real


def _shot_variance(projector: ScatteringProjector, amplitudes: torch.Tensor) -> torch.Tensor:
    """Variance of one camera reading of each shot: shot + read noise + ADC rounding."""
    camera = {p.name: p for p in projector.device.reality.perturbations}
    noise, adc = camera["detector-noise"], camera["camera-quantization"]
    step = adc.full_scale / (2**adc.bits - 1)
    medium = projector.device.system.medium.to(torch.complex128)
    c = projector.num_classes
    variance = 0.0
    for sign in (1, -1):
        field = amplitudes.double().to(torch.complex128) @ medium[:, :c].T
        intensity = (field + sign * medium[:, c:].sum(dim=1)).abs().square()
        photons = noise.photons_per_unit
        variance = variance + intensity / photons + (noise.read_noise / photons) ** 2 + step**2 / 12
    return variance


def test_scattering_projector_is_the_linear_projection_without_noise():
    projector = ScatteringProjector(4, 24, "none", seed=1, torch_device=torch.device("cpu"))
    error = torch.randn(6, 4, dtype=torch.float64).float() * 1e-3
    expected = error.double() @ _medium_matrix(projector).T
    measured = projector.project(error)
    assert torch.allclose(measured.double(), expected, rtol=1e-4, atol=1e-4 * expected.abs().max())
    stats = projector.device.stats("train")
    assert (stats.queries, stats.query_calls, stats.writes) == (2 * (6 + 1), 2, 1)
    projector.project(error)  # starts with the phase it holds: one more write, not two
    assert projector.device.stats("train").writes == 2


def test_scattering_projector_error_is_the_camera_noise():
    projector = ScatteringProjector(10, 400, "moderate", seed=2, torch_device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    error = torch.randn(50, 10, generator=gen)
    scale = error.abs().amax(dim=1, keepdim=True).double()
    expected = error.double() @ _medium_matrix(projector).T
    residual = projector.project(error).double() - expected
    # M e = s (2 M u − M 1) with M u = (I⁺ − I⁻)/4 per input: propagate each shot's variance.
    shifted = (1 + error / scale.float()) / 2
    variance = scale**2 * (
        _shot_variance(projector, shifted) / 4 + _shot_variance(projector, torch.ones(1, 10)) / 16
    )
    z2 = residual.square() / variance
    assert 0.9 < float(z2.mean()) < 1.1  # the residual is the camera's noise, no more, no less
    assert 0.41 < float(z2.median()) < 0.5  # and Gaussian: the median of χ²(1) is 0.455
    assert 0.05 < float(residual.norm() / expected.norm()) < 0.3  # 8-bit camera: SNR ≈ 7


def test_dfa_optical_projector_counts_its_own_queries(tmp_path):
    config = TrainConfig(
        method="dfa", method_options={"projector": "scattering"}, **SCATTERING_HYBRID
    )
    result = train(config, tmp_path, progress=False)
    steps_per_epoch = TINY_RUN["limit_train"] // TINY_RUN["batch_size"]
    per_step = 2 * (TINY_RUN["batch_size"] + 1)
    for epoch, row in enumerate(result["history"], start=1):
        assert row["projector_queries"] == epoch * steps_per_epoch * per_step
        assert row["projector_writes"] <= epoch * steps_per_epoch
        assert row["device_queries"] == epoch * TINY_RUN["limit_train"]  # the network's device
    assert result["param_writes"] == 1  # the physical block's controls: written once, never again


def _pair(method: str, options: dict, model: str, system: str = "scattering"):
    config = TrainConfig(
        method=method,
        method_options=options,
        # lr 0.05: the feedback aligns within this tiny run's 32 steps (Adam's usual 1e-3,
        # a digital model's default, is too slow for that)
        **{**tiny_run(system), "model": model, "limit_train": 256, "epochs": 4, "lr": 0.05},
    )
    return config


@pytest.mark.parametrize("method", ["fa", "dfa"])
def test_alignment_angle_is_below_90_degrees_after_training(method, tmp_path):
    config = _pair(method, {"track_alignment": True}, "mlp:32")
    history = train(config, tmp_path / "mlp", progress=False)["history"]
    assert history[-1]["alignment_hidden_deg"] < 90.0
    assert history[-1]["alignment_deg"] < 90.0
    assert history[-1]["alignment_hidden_deg"] < history[0]["alignment_hidden_deg"]


def test_alignment_tracking_costs_no_device_query(tmp_path):
    runs = [
        train(
            _pair("dfa", {"track_alignment": on, "projector": "scattering"}, "hybrid:8"),
            tmp_path / str(on),
            progress=False,
        )
        for on in (False, True)
    ]
    off, on = runs
    for key in ("device_queries", "param_writes", "eval_queries", "device_accuracy"):
        assert off[key] == on[key]
    assert off["history"][-1]["projector_queries"] == on["history"][-1]["projector_queries"]
    assert "alignment_deg" in on["history"][-1]
    assert "alignment_deg" not in off["history"][-1]


class RaisingTwin(nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a model-free method called the twin")


@pytest.mark.parametrize(
    ("method", "options"),
    [("fa", {}), ("dfa", {}), ("dfa", {"projector": "scattering", "track_alignment": True})],
)
def test_the_twin_is_never_called_and_training_still_works(method, options):
    config = TrainConfig(method=method, method_options=options, gap="mild", **SCATTERING_HYBRID)
    exp = build_experiment(config)
    model, est = exp.model, exp.estimator
    assert not est.requirements.differentiable_twin
    for block in model.physical_blocks():
        block.twin = RaisingTwin()
    initial = [p.detach().clone() for p in model.physical_parameters()]
    optimizer = torch.optim.Adam(est.optimized_parameters(model), lr=0.05)
    x, y = exp.dataset.x_train[:64], exp.dataset.y_train[:64]
    losses = []
    for _ in range(40):
        optimizer.zero_grad(set_to_none=True)
        loss, _ = est.estimate(model, x, y, F.cross_entropy)
        optimizer.step()
        model.commit()
        losses.append(float(loss))
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])
    for before, after in zip(initial, model.physical_parameters(), strict=True):
        assert torch.equal(before, after)  # the physical block is a fixed random feature map
    assert exp.device.stats("train").writes == 1


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("dfa", {"projector": "lens"}, "projector"),
        ("dfa", {"projector_gap": "extreme"}, "projector_gap"),
        ("fa", {"projector": "scattering"}, "unknown option"),
        ("fa", {"surrogate": "relu"}, "surrogate"),
        ("dfa", {"track_alignment": "yes"}, "track_alignment"),
        ("fa", {"alignment_batches": 0}, "alignment_batches"),
        ("fa", {"alignment_batches": 1.5}, "alignment_batches"),
    ],
)
def test_bad_options_raise_config_error(method, options, match):
    with pytest.raises(ConfigError, match=match):
        METHODS[method](options)


def test_alignment_needs_a_simulated_device():
    exp = build_experiment(TrainConfig(method="fa", **TINY_RUN))
    exp.model.physical_blocks()[0].device = object()
    with pytest.raises(ConfigError, match="track_alignment"):
        METHODS["fa"]({"track_alignment": True}).bind(exp.model, 0)


def test_surrogate_derivative_multiplies_the_feedback_into_a_physical_block():
    options = {"surrogate": "cos"}
    config = TrainConfig(method="dfa", method_options=options, gap="none", **SCATTERING_HYBRID)
    exp = build_experiment(config)
    est, model = exp.estimator, exp.model
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    model.zero_grad(set_to_none=True)
    est.estimate(model, x, y, F.cross_entropy)
    _, linear, _, _, readout = model.blocks
    with torch.no_grad():
        h = torch.sigmoid(linear(x.flatten(1)))
        measured = exp.device.query(h)
        e = (torch.softmax(readout(measured), 1) - F.one_hot(y, 10)) / len(y)
        delta = (e @ est.feedback[1].T) * torch.cos(h) * h * (1 - h)
    assert torch.allclose(linear.weight.grad, delta.T @ x.flatten(1), rtol=1e-4, atol=1e-7)


def test_resume_with_the_optical_projector_gives_the_same_result(tmp_path, monkeypatch):
    options = {"projector": "scattering", "track_alignment": True}
    config = TrainConfig(method="dfa", method_options=options, **SCATTERING_HYBRID)
    reference = train(config, tmp_path / "ref", progress=False)
    dfa = fa_module.DirectFeedbackAlignment  # the 6th step is the second of epoch 2
    crash_at_estimate(monkeypatch, dfa, config, tmp_path / "run", 6, checkpoint_every=0)
    resumed = train(config, tmp_path / "run", resume=True, progress=False)
    for a, b in zip(
        without_timings(reference)["history"], without_timings(resumed)["history"], strict=True
    ):
        assert a == pytest.approx(b)
    assert resumed["device_accuracy"] == reference["device_accuracy"]


def test_gradcheck_compares_the_digital_parameters_feedback_alignment_trains():
    config = TrainConfig(method="dfa", gap="mild", model="hybrid:8", **tiny_run("scattering"))
    report = gradcheck(config, batches=2)
    assert report["parameters"] == "digital"
    assert 0.0 < report["cosine"] <= 1.0  # aligned, not identical: the error reaches via B
