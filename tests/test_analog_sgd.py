"""In-memory SGD on the crossbar (Gokmen & Vlasov 2016): the stochastic pulse coincidences write
−η δ xᵀ in expectation, their scatter shrinks with finer pulses, they reach the device through
its pulse model, the tile learns and a sign-flipped update does not."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from conftest import fit_one_batch, tiny_run
from physnn.errors import ConfigError
from physnn.methods import METHODS, analog_sgd
from physnn.physics.crossbar import pulse_coincidences
from physnn.train import TrainConfig, build_experiment
from physnn.train.step import train_step
from physnn.train.transforms import default_transforms


def _signals(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """DAC inputs in [−1, 1] and column errors of the size the tiny crossbar's are."""
    gen = torch.Generator().manual_seed(seed)
    inputs = 2 * torch.rand(batch, 5, generator=gen, dtype=torch.float64) - 1
    errors = 0.3 * torch.randn(batch, 4, generator=gen, dtype=torch.float64)
    return inputs, errors


def _update(inputs, errors, lr, bl, dw_min, gen) -> torch.Tensor:
    """The weight change of one batch's pulses, (m, n)."""
    scale = math.sqrt(lr / (bl * dw_min))
    return pulse_coincidences(inputs, errors, scale, bl, gen).sum(0) * dw_min


def test_the_expected_pulsed_update_is_minus_lr_delta_x():
    inputs, errors = _signals(3, 0)
    lr, bl, dw_min, draws = 0.01, 10, 0.001, 20000  # C = 1: no probability saturates
    counts = pulse_coincidences(inputs.repeat(draws, 1), errors.repeat(draws, 1), 1.0, bl,
                                torch.Generator().manual_seed(1))  # fmt: skip
    mean = counts.reshape(draws, 3, 4, 5).mean(0) * dw_min
    expected = -lr * errors.unsqueeze(2) * inputs.unsqueeze(1)
    pq = errors.abs().unsqueeze(2) * inputs.abs().unsqueeze(1)
    standard_error = dw_min * (bl * pq * (1 - pq) / draws).sqrt()
    assert bool(((mean - expected).abs() <= 5 * standard_error + 1e-12).all())
    assert float(F.cosine_similarity(mean.flatten(), expected.flatten(), dim=0)) > 0.999


def _mean_cosine(lr: float, bl: int, dw_min: float, trials: int = 20) -> float:
    inputs, errors = _signals(64, 2)
    exact = (-lr * errors.T @ inputs).flatten()
    gen = torch.Generator().manual_seed(3)
    cosines = [
        F.cosine_similarity(_update(inputs, errors, lr, bl, dw_min, gen).flatten(), exact, dim=0)
        for _ in range(trials)
    ]
    return float(torch.stack(cosines).mean())


def test_the_pulsed_update_aligns_with_the_gradient_as_pulses_get_finer():
    # The expected count per device is (η/Δw_min)|x δ| and at most BL: finer pulses with a
    # train long enough to hold them (C = 1), more pulses, less scatter.
    settings = ((0.01, 1), (0.001, 10), (0.0001, 100))
    cosines = [_mean_cosine(0.01, bl, dw_min) for dw_min, bl in settings]
    assert cosines[0] < cosines[1] < cosines[2]
    assert cosines[1] > 0.85 and cosines[2] > 0.98  # the paper's Δw_min = 0.001: 0.88


def test_short_pulse_trains_saturate_and_bias_the_update():
    # BL = 1 needs C = √(η/Δw_min) ≈ 3: rows with |x| > 0.3 always fire, which the paper's
    # BL = 10 (C = 1) avoids; beyond it the scatter is Poisson's and BL no longer matters.
    short, paper = _mean_cosine(0.01, 1, 0.001), _mean_cosine(0.01, 10, 0.001)
    assert short < paper - 0.05
    assert _mean_cosine(0.01, 100, 0.001) == pytest.approx(paper, abs=0.05)


def _fit_tile_only(flip: bool, monkeypatch) -> list[float]:
    """Loss on one batch over 60 steps with the readout frozen: only the tile learns."""
    if flip:
        pulses = analog_sgd.pulse_coincidences
        monkeypatch.setattr(analog_sgd, "pulse_coincidences", lambda *args: -pulses(*args))
    losses, _ = fit_one_batch(
        TrainConfig(method="analog-sgd", gap="mild", lr=1e-12, **tiny_run("crossbar"))
    )
    return losses


def test_the_tile_learns_from_its_pulses_and_a_sign_flip_does_not(monkeypatch):
    learned = _fit_tile_only(False, monkeypatch)
    flipped = _fit_tile_only(True, monkeypatch)
    assert learned[-1] < 0.97 * learned[0]
    assert flipped[-1] > 1.03 * flipped[0]


def test_pulses_reach_the_device_through_its_pulse_model_and_are_counted():
    # A device with linear, exact pulses of the method's Δw_min holds W + n Δw_min exactly.
    knobs = {"pulse_step": 0.001, "update_nonlinearity": 0.0}
    run = tiny_run("crossbar")
    ideal = {**run["system_options"], "input_bits": None, "output_bits": None,
             "activation": "none"}  # fmt: skip
    config = TrainConfig(method="analog-sgd", gap="none", gap_options=knobs, lr=1e-12,
                         **{**run, "system_options": ideal})  # fmt: skip
    exp = build_experiment(config)
    device, block = exp.device, exp.model.physical_blocks()[0]
    optimizer = torch.optim.Adam(exp.estimator.optimized_parameters(exp.model), lr=config.lr)
    x, y = exp.dataset.x_train[:8], exp.dataset.y_train[:8]
    with torch.no_grad():  # away from the bounds, which would clip a request
        block.controls["weight"].mul_(0.5)
    block.commit()
    before = block.controls["weight"].detach().clone()
    eye = torch.eye(block.system.config.num_inputs)
    held = device.query(eye).T  # within half a step of the request
    writes = device.stats("train").writes
    train_step(exp, optimizer, default_transforms(None), x, y)
    after = block.controls["weight"].detach()
    moved = (after - before) / 0.001
    torch.testing.assert_close(moved, moved.round(), rtol=0, atol=1e-2)
    torch.testing.assert_close(device.query(eye).T - held, after - before, rtol=0, atol=1e-5)
    assert exp.estimator.pulses >= int(moved.round().abs().sum()) > 0  # some cancel
    assert device.stats("train").writes - writes == 8  # one write per sample
    assert exp.estimator.epoch_diagnostics() == {"pulses": float(exp.estimator.pulses)}


def test_bad_options_raise_clear_errors():
    with pytest.raises(ConfigError, match="bl must be a positive integer"):
        METHODS["analog-sgd"]({"bl": 0})
    with pytest.raises(ConfigError, match="dw_min must be positive"):
        METHODS["analog-sgd"]({"dw_min": -1.0})


def test_a_model_whose_first_block_is_not_the_crossbar_is_refused():
    with pytest.raises(ConfigError, match="one physical block that comes first"):
        build_experiment(TrainConfig(method="analog-sgd", model="hybrid:8",
                                     **tiny_run("crossbar")))  # fmt: skip


def test_the_state_restores_the_pulse_stream_and_the_counts():
    exp = build_experiment(TrainConfig(method="analog-sgd", gap="none", **tiny_run("crossbar")))
    x, y = exp.dataset.x_train[:8], exp.dataset.y_train[:8]
    estimator, weight = exp.estimator, exp.model.physical_blocks()[0].controls["weight"]
    state = {k: v.clone() if torch.is_tensor(v) else v for k, v in estimator.state_dict().items()}
    start = weight.detach().clone()
    estimator.estimate(exp.model, x, y, F.cross_entropy)
    first, pulses = weight.detach().clone(), estimator.pulses
    with torch.no_grad():
        weight.copy_(start)
    estimator.load_state_dict(state)
    estimator.estimate(exp.model, x, y, F.cross_entropy)
    assert torch.equal(weight.detach(), first) and estimator.pulses == pulses > 0
