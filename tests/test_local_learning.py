"""Local learning (ff, phyll, local-losses, blockwise-ssl): losses, locality, device, toy runs."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import physnn.methods.forward_forward  # noqa: F401  (registers ff)
from conftest import TINY_RUN
from physnn.errors import ConfigError
from physnn.hardware import SimulatedDevice
from physnn.methods import METHODS
from physnn.methods.blockwise_ssl import barlow_twins_loss
from physnn.methods.local_learning import (
    cosine_goodness,
    embed_label,
    phyll_loss,
    predsim_loss,
    similarity_matrix,
    split_units,
)
from physnn.nets import PNN, PhysicalBlock, run_device
from physnn.nets.architectures import Flatten, LengthNormalize
from physnn.reality import Reality
from physnn.substrates.scattering.system import ScatteringMedium
from physnn.train import TrainConfig, build_experiment, train

LOCAL = ["ff", "phyll", "local-losses", "blockwise-ssl"]


# --------------------------------------------------------------------------- helpers
def toy_problem(n: int = 256, features: int = 16, classes: int = 4) -> tuple:
    """Four well-separated clusters in [0, 1]^16 (linearly separable)."""
    gen = torch.Generator().manual_seed(7)
    y = torch.arange(n) % classes
    centres = torch.rand(classes, features, generator=gen)
    x = (centres[y] + 0.05 * torch.randn(n, features, generator=gen)).clamp(0, 1)
    return x, y


def scattering_block(seed: int = 0) -> PhysicalBlock:
    system = ScatteringMedium.from_preset("default", num_inputs=16, num_pixels=32)
    controls = system.init_controls(torch.Generator().manual_seed(seed))
    return PhysicalBlock(system, controls, device=SimulatedDevice(system, Reality(()), seed))


def toy_model(layout: str) -> PNN:
    """digital: Linear-Tanh-readout; physical-last: Linear-Sigmoid-physical-readout;
    physical-first: physical-Linear-Tanh-readout (a digital unit reads measured outputs);
    normalized: two ReLU layers with the length normalization of ``ffnet`` between them."""
    torch.manual_seed(0)
    if layout == "digital":
        return PNN([Flatten(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4)])
    if layout == "normalized":
        hidden = [nn.Linear(16, 16), nn.ReLU(), LengthNormalize(), nn.Linear(16, 16), nn.ReLU()]
        return PNN([Flatten(), *hidden, nn.Linear(16, 4)])
    if layout == "physical-last":
        return PNN(
            [Flatten(), nn.Linear(16, 16), nn.Sigmoid(), scattering_block(), nn.Linear(32, 4)]
        )
    return PNN([scattering_block(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 4)])


class RaisingTwin(nn.Module):
    def forward(self, x, controls):
        raise AssertionError("a model-free method called the twin")


def fit(method: str, model: PNN, steps: int = 64, options: dict | None = None):
    """Train on the toy problem as the loop does, with an "epoch" every 16 steps; returns the
    estimator, its epoch figures and the data."""
    x, y = toy_problem()
    estimator = METHODS[method](options)
    estimator.bind(model, seed=0)
    optimizer = torch.optim.Adam(estimator.optimized_parameters(model), lr=0.05)
    rows = []
    for step in range(steps):
        idx = torch.arange(step * 32, (step + 1) * 32) % len(x)
        optimizer.zero_grad(set_to_none=True)
        estimator.estimate(model, x[idx], y[idx], F.cross_entropy)
        optimizer.step()
        model.commit()
        if step % 16 == 15:
            rows.append(estimator.epoch_diagnostics())
    return estimator, rows, x, y


@torch.no_grad()
def device_accuracy(model: PNN, x, y) -> float:
    with model.executing(run_device):
        return float((model(x).argmax(-1) == y).float().mean())


# --------------------------------------------------------------------------- the losses
def test_phyll_goodness_and_loss_by_hand():
    p = torch.tensor([0.6, 0.8])
    h = torch.tensor([[3.0, 4.0], [4.0, -3.0], [-3.0, -4.0]])
    assert torch.allclose(cosine_goodness(h, p), torch.tensor([1.0, 0.0, -1.0]))
    loss = phyll_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.5]), scale=4.0)
    expected = (math.log1p(math.exp(-4.0)) + math.log1p(math.exp(2.0))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_similarity_matrix_and_predsim_by_hand():
    h = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    # centred rows: (2/3, −1/3, −1/3), (−1/3, 2/3, −1/3), (4/3, −2/3, −2/3): cosines 1 and −1/2
    expected = torch.tensor([[1.0, -0.5, 1.0], [-0.5, 1.0, -0.5], [1.0, -0.5, 1.0]])
    assert torch.allclose(similarity_matrix(h), expected, atol=1e-6)
    y = torch.tensor([0, 1, 0])
    logits = torch.zeros(3, 3)
    # one-hot labels of 3 classes have the same similarity matrix as h: only the CE remains
    loss = predsim_loss(logits, h, y, beta=0.99)
    assert float(loss) == pytest.approx(0.01 * math.log(3), rel=1e-5)
    # with beta = 1 and a projection that mixes the classes, the loss is the mean squared gap
    mixed = torch.ones(3, 3) + torch.eye(3)
    gap = similarity_matrix(mixed) - expected
    assert float(predsim_loss(logits, mixed, y, 1.0)) == pytest.approx(float(gap.square().mean()))


def test_barlow_twins_by_hand():
    z = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    assert float(barlow_twins_loss(z, z, 0.005)) == pytest.approx(0.0, abs=1e-4)
    # second view: feature 2 replaced by feature 1 → C = [[1, 1], [0, 0]]
    z2 = z[:, [0, 0]]
    assert float(barlow_twins_loss(z, z2, 0.5)) == pytest.approx(1.0 + 0.5 * 1.0, rel=1e-4)


def test_label_embedding_is_zero_mean_over_classes():
    x = torch.rand(2, 4, 4)
    codes = [embed_label(x, torch.full((2,), c), 4, 1.0) for c in range(4)]
    assert codes[1].shape == x.shape
    assert torch.allclose(codes[1].flatten(1)[:, :4] - x.flatten(1)[:, :4],
                          torch.tensor([-0.25, 0.75, -0.25, -0.25]).expand(2, 4))  # fmt: skip
    assert torch.equal(codes[1].flatten(1)[:, 4:], x.flatten(1)[:, 4:])
    assert torch.allclose(torch.stack(codes).mean(0), x, atol=1e-6)  # neutral label = the sample
    with pytest.raises(ConfigError, match="at least as many features as classes"):
        embed_label(torch.rand(2, 3), torch.zeros(2, dtype=torch.long), 4, 1.0)


# --------------------------------------------------------------------------- the structure
@pytest.mark.parametrize(
    ("model", "units"),
    [("hybrid:12", [True, False]), ("mlp:16,8", [True, True]), ("stack:2", [False, False]),
     ("pnn", [False]), ("ffnet:16,8", [True, True])],
)  # fmt: skip
def test_units_of_every_architecture(model, units):
    exp = build_experiment(TrainConfig(method="local-losses", model=model, **TINY_RUN))
    found, readout = split_units(exp.model)
    assert [u.trainable for u in found] == units
    assert readout is exp.model.blocks[-1]
    assert sum(u.physical is not None for u in found) == len(exp.model.physical_blocks())


def test_a_model_ending_in_a_physical_block_is_refused():
    with pytest.raises(ConfigError, match="digital readout"):
        METHODS["phyll"]().bind(PNN([Flatten(), nn.Linear(16, 16), scattering_block()]), seed=0)


@pytest.mark.parametrize("method", LOCAL)
@pytest.mark.parametrize("layout", ["digital", "physical-last", "physical-first"])
def test_no_gradient_crosses_a_unit_boundary(method, layout):
    model = toy_model(layout)
    estimator = METHODS[method]()
    estimator.bind(model, seed=0)
    units, readout = split_units(model)
    seen: list[bool] = []
    for first in [u.modules[0] for u in units] + [readout]:
        first.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].requires_grad))
    x, y = toy_problem(32)
    estimator.estimate(model, x, y, F.cross_entropy)
    assert seen and not any(seen)  # every unit and the readout get a detached input
    assert all(p.grad is None for p in model.physical_parameters())
    assert all(p.grad is not None for p in estimator.optimized_parameters(model))


def test_each_unit_gets_the_gradient_of_its_own_loss_only():
    model = PNN(
        [Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 4)]
    )
    estimator = METHODS["local-losses"]()
    estimator.bind(model, seed=0)
    heads = copy.deepcopy(estimator._heads)  # as they were when the step began
    x, y = toy_problem(32)
    estimator.estimate(model, x, y, F.cross_entropy)
    first, second, readout = model.blocks[1], model.blocks[3], model.blocks[5]
    h1 = torch.tanh(first(x))
    h2 = torch.tanh(second(h1.detach()))
    own = [predsim_loss(head.classifier(h), head.projection(h), y, 0.99) for head, h in
           zip(heads, (h1, h2), strict=True)]  # fmt: skip
    for layer, loss in ((first, own[0]), (second, own[1])):
        (expected,) = torch.autograd.grad(loss, layer.weight)
        assert torch.allclose(layer.weight.grad, expected, atol=1e-7)
    (expected,) = torch.autograd.grad(F.cross_entropy(readout(h2.detach()), y), readout.weight)
    assert torch.allclose(readout.weight.grad, expected, atol=1e-7)


# --------------------------------------------------------------------------- model-free, device
@pytest.mark.parametrize("method", LOCAL)
def test_the_twin_is_never_called_and_controls_never_written(method):
    model = toy_model("physical-first")
    block = model.physical_blocks()[0]
    block.twin = RaisingTwin()
    before = block.controls["phase"].detach().clone()
    fit(method, model, steps=8)
    assert torch.equal(block.controls["phase"], before)
    assert block.device.stats().writes == 1  # the initial deployment only


@pytest.mark.parametrize(("method", "views"), [("ff", 2), ("phyll", 2), ("blockwise-ssl", 2),
                                               ("local-losses", 0)])  # fmt: skip
def test_queries_per_batch(method, views):
    """A physical block before a trained digital unit measures the views and the plain input in
    one call; a physical block after the last trained unit measures the plain input only."""
    for layout, expected in (("physical-first", (views + 1) * 32), ("physical-last", 32)):
        model = toy_model(layout)
        estimator = METHODS[method]()
        estimator.bind(model, seed=0)
        x, y = toy_problem(32)
        estimator.estimate(model, x, y, F.cross_entropy)
        stats = model.physical_blocks()[0].device.stats()
        assert (stats.queries, stats.query_calls) == (expected, 1)


@pytest.mark.parametrize(
    ("method", "layout"),
    [(m, layout) for m in LOCAL for layout in ("digital", "physical-first")]
    # ffnet's ReLU layers; not PhyLL, whose cosine goodness lets every ReLU of the first layer
    # die at this learning rate (a zero vector has no direction to align)
    + [(m, "normalized") for m in LOCAL if m != "phyll"],
)
def test_local_loss_falls_and_a_tiny_run_beats_chance(method, layout):
    model = toy_model(layout)
    _, rows, x, y = fit(method, model)
    losses = [key for key in rows[-1] if key.startswith("local_loss_")]
    assert losses and all(rows[-1][key] < rows[0][key] for key in losses)
    assert device_accuracy(model, x, y) > 0.6  # chance: 0.25


def test_state_dict_resumes_the_same_step():
    model = toy_model("physical-first")
    estimator, _, x, y = fit("blockwise-ssl", model, steps=2)
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved = copy.deepcopy(estimator.state_dict())  # a checkpoint is written to disk at once
    x, y = x[:32], y[:32]
    model.zero_grad(set_to_none=True)
    estimator.estimate(model, x, y, F.cross_entropy)
    first = [p.grad.clone() for p in estimator.optimized_parameters(model)]
    model.load_state_dict(saved_model)
    estimator.load_state_dict(saved)
    model.zero_grad(set_to_none=True)
    estimator.estimate(model, x, y, F.cross_entropy)
    again = [p.grad for p in estimator.optimized_parameters(model)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))


def test_epoch_figures_reach_the_history(tmp_path):
    config = TrainConfig(method="phyll", model="mlp:16,8", **TINY_RUN)
    result = train(config, tmp_path, progress=False)
    row = result["history"][-1]
    assert {"local_loss_1", "local_loss_2", "goodness_gap_1", "goodness_gap_2"} <= set(row)
    assert result["device_queries"] == 0  # a digital model queries nothing


# --------------------------------------------------------------------------- bad options
@pytest.mark.parametrize(
    ("method", "options", "message"),
    [("phyll", {"scale": 0}, "scale must be positive"),
     ("phyll", {"temperature": 1}, "unknown option"),
     ("local-losses", {"beta": 1.5}, r"beta must be in \[0, 1\]"),
     ("local-losses", {"head_lr": -1}, "head_lr must be positive"),
     ("blockwise-ssl", {"mask": 1.0}, r"mask must be in \[0, 1\)"),
     ("blockwise-ssl", {"projector": 0}, "projector must be positive"),
     ("blockwise-ssl", {"projector": 2.5}, "projector must be a positive integer"),
     ("blockwise-ssl", {"noise": -0.1}, "must be non-negative")],
)  # fmt: skip
def test_bad_options_are_config_errors(method, options, message):
    with pytest.raises(ConfigError, match=message):
        METHODS[method](options)
