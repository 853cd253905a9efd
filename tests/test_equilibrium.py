"""Equilibrium propagation (ep) and holomorphic EP (hep) against recurrent backprop (autograd
through the twin's converged relaxation, float64), device honesty and option checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import physnn.methods.equilibrium  # registers ep and hep
import physnn.substrates.hopfield.gap  # noqa: F401  (registers the gap family)
from conftest import ExactDevice
from physnn.errors import ConfigError
from physnn.methods import METHODS
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.substrates.hopfield.system import HopfieldNetwork
from physnn.train import TrainConfig, build_experiment

HOPFIELD_TINY = {"num_inputs": 16, "hidden_sizes": [8], "num_outputs": 6}


@pytest.fixture
def setting():
    """A 16-12-6 network converged to a residual of 1e-13 with a 6 → 4 readout, float64, and
    its true gradient."""
    system = HopfieldNetwork.from_preset(
        "default", num_inputs=16, hidden_sizes=(12,), num_outputs=6, tolerance=1e-13,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    controls = {k: v + 0.5 if k.startswith("bias") else v for k, v in controls.items()}
    readout = nn.Linear(6, 4).double()
    model = PNN([PhysicalBlock(system, controls, device=ExactDevice(system)), readout])
    x = torch.rand(8, 16, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 4, (8,), generator=gen)
    F.cross_entropy(model(x), y).backward()  # the twin: autograd through the relaxation
    truth = [p.grad.clone() for p in model.parameters()]
    return model, x, y, truth


def estimate(model, x, y, method: str, **options) -> list[torch.Tensor]:
    model.zero_grad()
    METHODS[method](options).estimate(model, x, y, F.cross_entropy)
    return [p.grad.clone() for p in model.parameters()]


def physical(grads: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.flatten() for g in grads[:4]])  # weight_1, bias_1, weight_2, bias_2


def cosine(a, b) -> float:
    return float(F.cosine_similarity(physical(a), physical(b), dim=0))


def rel_error(a, b) -> float:
    return float((physical(a) - physical(b)).norm() / physical(b).norm())


def test_ep_converges_to_the_true_gradient_as_beta_goes_to_zero(setting):
    model, x, y, truth = setting
    assert physical(truth).norm() > 0
    errors = [rel_error(estimate(model, x, y, "ep", beta=b, symmetric=False), truth)
              for b in (0.3, 0.03, 0.003)]  # fmt: skip
    assert errors[0] > errors[1] > errors[2]
    small = estimate(model, x, y, "ep", beta=1e-4)
    assert cosine(small, truth) > 0.99
    for got, want in zip(small[4:], truth[4:], strict=True):  # the readout's exact gradient
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_hep_matches_at_finite_amplitude_better_than_one_sided_ep(setting):
    model, x, y, truth = setting
    beta = 0.05
    one_sided = rel_error(estimate(model, x, y, "ep", beta=beta, symmetric=False), truth)
    holomorphic = rel_error(estimate(model, x, y, "hep", beta=beta, points=4), truth)
    assert holomorphic < 1e-3 < one_sided
    assert cosine(estimate(model, x, y, "hep", beta=beta), truth) > 0.999


@pytest.mark.parametrize(
    ("method", "options", "relaxations"),
    [("ep", {}, 3), ("ep", {"symmetric": False}, 2), ("hep", {"points": 5}, 6)],
)
def test_queries_per_step(setting, method, options, relaxations):
    model, x, y, _ = setting
    estimate(model, x, y, method, **options)
    assert model.physical_blocks()[0].device.stats("train").queries == relaxations * len(x)


class RaisingTwin(nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a model-free method called the twin")


@pytest.mark.parametrize("method", ["ep", "hep"])
def test_the_twin_is_never_called_and_training_still_works(method):
    config = TrainConfig(
        system="hopfield", system_options=HOPFIELD_TINY, method=method, gap="mild",
        dataset="digits", limit_train=64, epochs=1, batch_size=16,
    )  # fmt: skip
    exp = build_experiment(config)
    model, est = exp.model, exp.estimator
    assert not est.requirements.differentiable_twin
    model.physical_blocks()[0].twin = RaisingTwin()
    optimizer = torch.optim.Adam(est.optimized_parameters(model), lr=0.05)
    x, y = exp.dataset.x_train[:64], exp.dataset.y_train[:64]
    before = [p.detach().clone() for p in model.physical_parameters()]
    losses = []
    for _ in range(30):
        optimizer.zero_grad(set_to_none=True)
        loss, _ = est.estimate(model, x, y, F.cross_entropy)
        optimizer.step()
        model.commit()
        losses.append(float(loss))
    assert sum(losses[-5:]) < 0.95 * sum(losses[:5])
    after = model.physical_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("ep", {"beta": 0.0}, "beta"),
        ("ep", {"beta": float("nan")}, "beta"),
        ("ep", {"symmetric": "yes"}, "symmetric"),
        ("hep", {"points": 1}, "points"),
        ("hep", {"points": 2.5}, "points"),
        ("hep", {"symmetric": True}, "unknown option"),
    ],
)
def test_bad_options_raise_config_errors(method, options, match):
    with pytest.raises(ConfigError, match=match):
        METHODS[method](options)


def test_a_model_whose_physical_block_is_not_first_is_refused():
    config = TrainConfig(
        system="hopfield", system_options=HOPFIELD_TINY, method="ep", model="hybrid:8",
        dataset="digits", limit_train=16, epochs=1, batch_size=16,
    )  # fmt: skip
    exp = build_experiment(config)
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    with pytest.raises(ConfigError, match="model='pnn'"):
        exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
