"""Architectures around a substrate: pnn, stack:K, hybrid:H, post:H…, mlp:H…, and validation."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY_RUN
from physnn.bench.suite import run_key
from physnn.errors import ConfigError
from physnn.model_spec import ModelSpec
from physnn.nets import PhysicalBlock
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
    result = train(TrainConfig(model=spec, method="pat", **TINY_RUN), tmp_path, progress=False)
    assert 0.0 <= result["device_accuracy"] <= 1.0
    physical = spec != "mlp:16"
    assert (result["device_queries"] > 0) == physical
    if spec == "stack:2":  # both blocks are queried on every batch
        assert result["device_queries"] == 2 * TINY_RUN["epochs"] * TINY_RUN["limit_train"]


def test_run_keys_ignore_fields_at_their_default():
    assert run_key("s", "e", TrainConfig()) == run_key("s", "e", TrainConfig(model="pnn"))
    assert run_key("s", "e", TrainConfig()) != run_key("s", "e", TrainConfig(model="stack:2"))
