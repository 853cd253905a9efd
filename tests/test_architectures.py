"""Architectures around a substrate: pnn, stack:K, hybrid:H, post:H…, mlp:H…, and validation."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_RUN, fit_one_batch, learned
from physnn.bench.suite import run_key
from physnn.errors import ConfigError
from physnn.model_spec import ModelSpec
from physnn.nets import PNN, PhysicalBlock, run_device, run_twin
from physnn.train import TrainConfig, train
from physnn.train.setup import Experiment, build_experiment


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [("pnn", ModelSpec("pnn")), ("stack:3", ModelSpec("stack", (3,))),
     ("hybrid:16", ModelSpec("hybrid", (16,))), ("mlp:32,16", ModelSpec("mlp", (32, 16))),
     ("post:8", ModelSpec("post", (8,))), ("ffnet:20,10", ModelSpec("ffnet", (20, 10)))],
)  # fmt: skip
def test_specs_parse(spec, parsed):
    assert ModelSpec.parse(spec) == parsed


def test_a_run_without_physics_is_labelled_by_its_model():
    assert TrainConfig(system="shg", preset="wright2022").substrate == "shg/wright2022"
    assert TrainConfig(system="shg", model="post:8").substrate == "shg/default"
    assert TrainConfig(system="shg", model="mlp:32,16").substrate == "mlp:32,16"
    assert TrainConfig(system="shg", model="ffnet:32").substrate == "ffnet:32"


def test_a_digital_model_learns_at_adams_usual_rate_unless_told():
    assert TrainConfig(model="mlp:16").lr == 1e-3 and TrainConfig(model="ffnet:16").lr == 1e-3
    assert TrainConfig(model="mlp:16", lr=0.01).lr == 0.01
    assert TrainConfig(system="crossbar", model="post:8").lr == 0.005  # the system's


@pytest.mark.parametrize("spec", ["cnn", "stack", "stack:0", "mlp:a", "pnn:2", "hybrid:4,4"])
def test_bad_specs_name_the_valid_ones(spec):
    with pytest.raises(ConfigError, match=r"use pnn, stack:K, hybrid:H, post:H1,H2,\.\.\., mlp"):
        TrainConfig(model=spec)


def _blocks(model_spec: str) -> tuple[list[PhysicalBlock], Experiment]:
    exp = build_experiment(TrainConfig(model=model_spec, **TINY_RUN))
    return exp.model.physical_blocks(), exp


def test_stack_has_independent_controls_on_one_device():
    blocks, exp = _blocks("stack:2")
    assert len(blocks) == 2 and blocks[0].device is blocks[1].device is exp.device
    assert not torch.equal(blocks[0].controls["phase"], blocks[1].controls["phase"])
    first, _ = _blocks("pnn")
    assert torch.equal(first[0].controls["phase"], blocks[0].controls["phase"])  # same init


def test_mlp_is_digital_and_hybrid_has_one_physical_block():
    blocks, exp = _blocks("mlp:16")
    assert blocks == [] and exp.model(torch.rand(3, 8, 8)).shape == (3, 10)
    blocks, exp = _blocks("hybrid:12")
    assert len(blocks) == 1 and exp.model(torch.rand(3, 8, 8)).shape == (3, 10)


def test_ffnet_normalizes_the_length_of_every_hidden_vector_it_passes_on():
    blocks, exp = _blocks("ffnet:16,12")
    kinds = [type(b).__name__ for b in exp.model.blocks]
    assert blocks == [] and kinds == [
        "Flatten", "Linear", "ReLU", "LengthNormalize", "Linear", "ReLU", "Linear"]  # fmt: skip
    h = torch.randn(5, 16) * torch.arange(1, 6).unsqueeze(1)  # rows of different lengths
    normalized = exp.model.blocks[3](h)
    assert torch.allclose(normalized.square().mean(dim=1), torch.ones(5))
    assert torch.allclose(torch.nn.functional.cosine_similarity(normalized, h), torch.ones(5))
    assert exp.model(torch.rand(3, 8, 8)).shape == (3, 10)


def test_post_puts_the_physical_block_first_and_a_digital_mlp_after_it():
    blocks, exp = _blocks("post:12,6")
    assert exp.model.blocks[0] is blocks[0] and len(blocks) == 1
    linears = [b for b in exp.model.blocks if isinstance(b, torch.nn.Linear)]
    detectors = exp.system.num_outputs
    assert [(m.in_features, m.out_features) for m in linears] == [(detectors, 12), (12, 6), (6, 10)]


@pytest.mark.parametrize("spec", ["stack:2", "hybrid:12", "post:8", "mlp:16"])
def test_every_architecture_trains(tmp_path, spec):
    config = TrainConfig(model=spec, method="pat", **TINY_RUN)
    assert learned(*fit_one_batch(config))  # conftest's learning criterion
    result = train(config, tmp_path, progress=False)
    physical = spec != "mlp:16"
    assert (result["device_queries"] > 0) == physical
    if spec == "stack:2":  # both blocks are queried on every batch
        assert result["device_queries"] == 2 * TINY_RUN["epochs"] * TINY_RUN["limit_train"]


def test_run_keys_ignore_fields_at_their_default():
    assert run_key("s", "e", TrainConfig()) == run_key("s", "e", TrainConfig(model="pnn"))
    assert run_key("s", "e", TrainConfig()) != run_key("s", "e", TrainConfig(model="stack:2"))


# ----------------------------------------------------------------------------- the model's cut
def _model(spec: str) -> PNN:
    return build_experiment(TrainConfig(model=spec, gap="none", **TINY_RUN)).model


@pytest.mark.parametrize(("spec", "front"), [("pnn", 1), ("stack:2", 3), ("hybrid:8", 4),
                                             ("post:8", 1)])  # fmt: skip
def test_segments_cut_the_model_after_its_last_physical_block(spec, front):
    model = _model(spec)
    split = model.segments("spsa")
    assert len(split.front) == front and split.physical is model.physical_blocks()[-1]
    assert [*split.front, *split.back] == list(model.blocks)
    assert not any(isinstance(block, PhysicalBlock) for block in split.back)


def test_segments_measure_on_the_device_and_read_out_as_the_model_does():
    model, x = _model("stack:2"), torch.rand(4, 8, 8)
    split = model.segments("spsa")
    device = model.physical_blocks()[0].require_device()
    before = device.stats("train").queries
    measured = split.measure(x)
    assert device.stats("train").queries - before == 2 * len(x)  # both blocks, one query each
    assert not measured.requires_grad
    with model.executing(run_device):
        torch.testing.assert_close(split.readout(measured), model(x))


def test_a_model_without_physical_blocks_has_no_segments():
    with pytest.raises(ConfigError, match=r"method 'spsa' trains physical blocks .* has none"):
        _model("mlp:8").segments("spsa")


@pytest.mark.parametrize("spec", ["pnn", "post:8"])
def test_physical_first_is_the_cut_of_a_model_that_starts_with_its_only_physical_block(spec):
    model = _model(spec)
    split = model.physical_first("ep", "nudges the outputs of")
    assert split.front == (model.blocks[0],) and split.back == tuple(model.blocks[1:])


@pytest.mark.parametrize("spec", ["stack:2", "hybrid:8", "mlp:8"])
def test_physical_first_refuses_other_models_in_one_sentence(spec):
    message = r"method 'ep' nudges the outputs of one physical block that comes first; use model="
    with pytest.raises(ConfigError, match=message):
        _model(spec).physical_first("ep", "nudges the outputs of")


def test_the_readout_gradient_is_the_loss_gradient_at_the_measured_outputs():
    model, x, y = _model("post:8"), torch.rand(4, 8, 8), torch.tensor([0, 1, 2, 3])
    split = model.physical_first("coupled", "clamps the outputs of")
    measured = split.measure(x)
    loss, logits, g = split.readout_gradient(measured, y, torch.nn.functional.cross_entropy)
    h = measured.clone().requires_grad_(True)
    expected_logits = split.readout(h)
    expected = torch.nn.functional.cross_entropy(expected_logits, y)
    torch.testing.assert_close(loss, expected.detach())
    torch.testing.assert_close(logits, expected_logits.detach())
    torch.testing.assert_close(g, torch.autograd.grad(expected, h)[0])
    assert all(p.grad is not None for block in split.back for p in block.parameters())
    assert all(p.grad is None for p in model.physical_parameters())


def test_inputs_of_a_block_run_the_blocks_before_it():
    model, x = _model("stack:2"), torch.rand(4, 8, 8)
    first, second = model.physical_blocks()
    assert model.inputs_of(first, x) is x
    rescale = model.blocks[1]
    torch.testing.assert_close(
        model.inputs_of(second, x, run_twin), rescale(run_twin(first, x)).detach()
    )
    device = first.require_device()
    before = device.stats("train").queries
    seen = model.inputs_of(second, x)  # measured on the device by default
    assert device.stats("train").queries - before == len(x) and not seen.requires_grad
    torch.testing.assert_close(seen, rescale(device.query(x)))
    with pytest.raises(ValueError, match="not part of the model"):
        model.inputs_of(torch.nn.Linear(2, 2), x)
