"""Forward-forward (Hinton 2022) and its optical form (Oguz et al. 2023)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import physnn.methods.forward_forward  # noqa: F401  (registers ff)
from conftest import TINY_RUN
from physnn.errors import ConfigError
from physnn.methods import METHODS
from physnn.methods.forward_forward import forward_forward_loss, goodness_of
from physnn.methods.local_learning import embed_label, wrong_labels
from physnn.nets import PNN
from physnn.nets.architectures import Flatten, LengthNormalize
from physnn.train import TrainConfig, train
from test_local_learning import RaisingTwin, fit, scattering_block, toy_model, toy_problem


def test_goodness_and_loss_by_hand():
    h = torch.tensor([[1.0, 1.0], [0.0, 2.0], [0.0, 0.0]])
    assert torch.equal(goodness_of(h, "sum"), torch.tensor([2.0, 4.0, 0.0]))
    assert torch.equal(goodness_of(h, "mean"), torch.tensor([1.0, 2.0, 0.0]))
    loss = forward_forward_loss(torch.tensor([1.0]), torch.tensor([0.0]), threshold=0.5)
    assert float(loss) == pytest.approx(2 * math.log1p(math.exp(-0.5)), rel=1e-6)
    loss = forward_forward_loss(torch.tensor([0.0, 2.0]), torch.tensor([2.0, 0.0]), threshold=1.0)
    assert float(loss) == pytest.approx(2 * math.log1p(math.e) / 2 + 2 * math.log1p(1 / math.e) / 2)


def test_negative_labels_are_wrong_and_cover_the_other_classes():
    y = torch.arange(4).repeat(500)
    wrong = wrong_labels(y, 4, torch.Generator().manual_seed(0))
    assert not (wrong == y).any()
    counts = torch.bincount(wrong[y == 0], minlength=4)
    assert counts[0] == 0 and counts[1:].min() > 120  # ≈ 167 each of 500


def test_each_layer_learns_from_its_own_goodness_only():
    torch.manual_seed(0)
    layers = [nn.Linear(16, 8), nn.Linear(8, 8)]
    model = PNN([Flatten(), layers[0], nn.Tanh(), layers[1], nn.Tanh(), nn.Linear(8, 4)])
    estimator = METHODS["ff"]({"threshold": 0.3})
    estimator.bind(model, seed=0)
    x, y = toy_problem(32)
    state = estimator._generator.get_state()
    estimator.estimate(model, x, y, F.cross_entropy)
    wrong = wrong_labels(y, 4, torch.Generator().set_state(state))
    views = [embed_label(x, y, 4, 1.0), embed_label(x, wrong, 4, 1.0)]
    for layer in layers:  # each layer: its own loss on its detached input, nothing else
        activities = [torch.tanh(layer(v.detach())) for v in views]
        positive, negative = (goodness_of(h) for h in activities)
        (expected,) = torch.autograd.grad(
            forward_forward_loss(positive, negative, 0.3), layer.weight
        )
        assert torch.allclose(layer.weight.grad, expected, atol=1e-7)
        views = activities


def test_optical_form_learns_from_the_measured_outputs_without_the_twin():
    """physical block (fixed, queried) → digital layer trained by the goodness of its activity."""
    model = toy_model("physical-first")
    block, layer = model.physical_blocks()[0], model.blocks[1]
    block.twin = RaisingTwin()
    seen: list[torch.Tensor] = []
    layer.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0]))
    estimator = METHODS["ff"]()
    estimator.bind(model, seed=0)
    x, y = toy_problem(32)
    state = estimator._generator.get_state()
    estimator.estimate(model, x, y, F.cross_entropy)
    wrong = wrong_labels(y, 4, torch.Generator().set_state(state))
    launched = torch.cat([embed_label(x, y, 4, 1.0), embed_label(x, wrong, 4, 1.0), x])
    measured = block.device.oracle_forward(launched, block.hardware_controls())  # no noise here
    assert torch.allclose(seen[0], measured)
    assert block.device.stats().queries == 3 * 32
    controls = block.controls["phase"].detach().clone()
    _, rows, x, y = fit("ff", model)
    assert torch.equal(block.controls["phase"], controls)  # the physical block stays fixed
    assert rows[-1]["goodness_gap_1"] > rows[0]["goodness_gap_1"] > 0


def test_a_hybrid_run_writes_the_controls_once_and_queries_the_plain_input_only(tmp_path):
    config = TrainConfig(method="ff", model="hybrid:12", **TINY_RUN)
    result = train(config, tmp_path, progress=False)
    assert result["param_writes"] == 1  # the initial deployment
    assert result["device_queries"] == TINY_RUN["epochs"] * TINY_RUN["limit_train"]
    assert {"local_loss_1", "goodness_gap_1"} <= set(result["history"][0])


def test_goodness_inference_sums_all_but_the_first_layer_for_each_label():
    model = toy_model("normalized")
    estimator = METHODS["ff"]({"inference": "goodness", "label_scale": 0.8})
    estimator.bind(model, seed=0)
    x, _ = toy_problem(5)
    scores = estimator.predictor(model)(x)
    first, second = model.blocks[1], model.blocks[4]
    for label in range(4):
        h = torch.relu(first(embed_label(x, torch.full((5,), label), 4, 0.8)))
        h = torch.relu(second(LengthNormalize()(h)))  # the second layer's goodness only
        torch.testing.assert_close(scores[:, label], goodness_of(h))


def test_goodness_inference_classifies_after_training():
    options = {"inference": "goodness", "threshold": 1.0}

    def goodness_accuracy(estimator, model, x, y) -> float:
        return float((estimator.predictor(model)(x).argmax(-1) == y).float().mean())

    untrained = METHODS["ff"](options)
    untrained.bind(model := toy_model("normalized"), seed=0)
    x, y = toy_problem()
    before = goodness_accuracy(untrained, model, x, y)
    estimator, _, x, y = fit("ff", model, steps=128, options=options)
    after = goodness_accuracy(estimator, model, x, y)
    assert after > max(0.9, before + 0.25), (before, after)


def test_goodness_inference_needs_trained_layers():
    estimator = METHODS["ff"]({"inference": "goodness"})
    model = PNN([scattering_block(), nn.Linear(32, 4)])  # a fixed block, then the readout
    estimator.bind(model, seed=0)
    with pytest.raises(ConfigError, match="needs trained digital layers"):
        estimator.predictor(model)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"goodness": "max"}, "goodness must be mean or sum"),
     ({"threshold": 0}, "threshold and label_scale must be positive"),
     ({"label_scale": -1.0}, "threshold and label_scale must be positive"),
     ({"inference": "softmax"}, "inference must be readout or goodness"),
     ({"theta": 1.0}, "unknown option")],
)  # fmt: skip
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        METHODS["ff"](options)
