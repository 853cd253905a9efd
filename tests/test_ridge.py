"""The ``ridge`` readout-only method: the closed-form solution, untouched controls, no twin."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.ridge
import physnn.substrates.reservoir.gap
import physnn.substrates.reservoir.system  # noqa: F401  (registers the reservoir system)
from conftest import TINY_RUN
from physnn.errors import ConfigError, IncompatibleError
from physnn.methods import METHODS
from physnn.methods.ridge import normal_equations, ridge_solution, symmetric_gram
from physnn.train import TrainConfig, build_experiment, train

RESERVOIR_RUN = {**TINY_RUN, "system": "reservoir",
                 "system_options": {"nodes": 10, "readout_times": 2}}  # fmt: skip


def augmented(features: torch.Tensor) -> torch.Tensor:
    """The design matrix [X, 1] in float64: the reference the normal equations must match."""
    x = features.reshape(features.shape[0], -1).double()
    return torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)


class NoTwin(torch.nn.Module):
    def forward(self, *args):
        raise AssertionError("a model-free method called the twin")


def test_ridge_solution_is_the_least_squares_solution_of_the_augmented_system():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    design, lam = augmented(x), 0.7
    penalty = torch.cat([lam**0.5 * torch.eye(6, dtype=torch.float64),
                         torch.zeros(6, 1, dtype=torch.float64)], dim=1)  # fmt: skip
    stacked = torch.cat([design, penalty])
    targets = torch.cat([y, torch.zeros(6, 3, dtype=torch.float64)])
    expected = torch.linalg.lstsq(stacked, targets).solution
    got = ridge_solution(design.T @ design, design.T @ y, lam)
    assert torch.allclose(got, expected, atol=1e-10)


def test_estimate_sets_the_readout_to_the_ridge_fit_of_the_epoch_without_the_twin():
    exp = build_experiment(TrainConfig(method="ridge", gap="moderate", **RESERVOIR_RUN))
    for block in exp.model.physical_blocks():
        block.twin = NoTwin()
    controls = [p.detach().clone() for p in exp.model.physical_parameters()]
    method, model = exp.estimator, exp.model
    batches = [(exp.dataset.x_train[i : i + 16], exp.dataset.y_train[i : i + 16]) for i in (0, 16)]
    features = []
    measure = method.features
    method.features = lambda *args: features.append(measure(*args)) or features[-1]
    for x, y in batches:
        loss, logits = method.estimate(model, x, y, F.cross_entropy)
        assert torch.isfinite(loss) and logits.shape == (16, 10)
    stats = exp.device.stats("train")
    assert (stats.query_calls, stats.queries) == (2, 2 * 16)  # one measurement per batch
    assert all(
        torch.equal(a, b.detach())
        for a, b in zip(controls, model.physical_parameters(), strict=True)
    )
    assert all(p.grad is None for p in model.parameters())
    design = augmented(torch.cat(features))
    targets = F.one_hot(torch.cat([y for _, y in batches]), 10).double()
    lam = method.options.alpha * 32
    expected = ridge_solution(design.T @ design, design.T @ targets, lam)
    readout = model.blocks[-1]
    assert torch.allclose(readout.weight.double(), expected[:-1].T.float().double(), atol=1e-5)
    assert torch.allclose(readout.bias.double(), expected[-1].float().double(), atol=1e-5)
    assert method.epoch_diagnostics() == {"ridge_samples": 32.0}
    method.start_epoch(1)
    assert method.state_dict()["count"] == 0  # the next epoch starts afresh


def test_training_fits_the_readout_and_never_writes_new_controls(tmp_path):
    config = TrainConfig(method="ridge", gap="mild", **RESERVOIR_RUN)
    result = train(config, tmp_path / "run", progress=False)
    assert result["device_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert result["history"][-1]["ridge_samples"] == 64.0


def test_refuses_models_without_a_final_linear_readout_and_bad_options():
    with pytest.raises(IncompatibleError, match="'diffractive' is read out by detector regions"):
        build_experiment(TrainConfig(method="ridge", **TINY_RUN))
    one_pixel_per_class = {**TINY_RUN, "system": "scattering",
                           "system_options": {"num_inputs": 16, "num_pixels": 10}}  # fmt: skip
    with pytest.raises(ConfigError, match="ends in IntensityReadout"):
        build_experiment(TrainConfig(method="ridge", **one_pixel_per_class))
    with pytest.raises(ConfigError, match="alpha must be a number ≥ 0"):
        METHODS["ridge"]({"alpha": -1.0})


def test_normal_equations_are_the_augmented_gram():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(70, 13, generator=gen, dtype=torch.float64), torch.randn(70, generator=gen)
    design = augmented(x)
    gram, cross = normal_equations(x, y)
    torch.testing.assert_close(gram, design.T @ design)
    torch.testing.assert_close(cross, design.T @ y.double()[:, None])
    for blocks in (1, 3, 13):
        torch.testing.assert_close(symmetric_gram(x, blocks), x.T @ x)
