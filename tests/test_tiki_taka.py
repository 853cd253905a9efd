"""Tiki-Taka on the crossbar (Gokmen & Haensch, Front. Neurosci. 14, 103 (2020)): the layer
computes with W = C + γ A, the fast array A is read alone and referenced to its devices'
symmetry point, its columns are transferred into C by pulses, and on a strongly asymmetric
device it trains where plain in-memory SGD stalls; without the option nothing changes."""

from __future__ import annotations

import tempfile

import pytest
import torch

from conftest import tiny_run
from physnn.errors import IncompatibleError
from physnn.physics.crossbar import apply_pulses, pulse_step, symmetry_point
from physnn.substrates.crossbar.gap import PulsedUpdates
from physnn.substrates.crossbar.system import Crossbar, CrossbarConfig
from physnn.train import TrainConfig, build_experiment, train

IDEAL = {"num_inputs": 6, "num_outputs": 4, "input_bits": None, "output_bits": None,
         "activation": "none"}  # fmt: skip


def _controls(system: Crossbar, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shape = system.control_specs()["weight"].shape
    return {k: torch.rand(shape, generator=gen, dtype=torch.float64) - 0.5
            for k in ("weight", "fast")}  # fmt: skip


def test_the_layer_computes_with_c_plus_gamma_a_and_reads_a_alone():
    system = Crossbar(CrossbarConfig(**IDEAL, tiki_taka=True, gamma=0.5))
    controls = _controls(system, 0)
    x = torch.randn(3, 6, dtype=torch.float64)
    nominal = system.nominal_nuisance()
    combined = controls["weight"] + 0.5 * controls["fast"]
    torch.testing.assert_close(system(x, controls, nominal), x @ combined.T)
    read, grads, passes = system.measured_gradient("fast-read", torch.eye(6), controls, nominal,
                                                   torch.zeros(6, 4))  # fmt: skip
    torch.testing.assert_close(read, controls["fast"].T.to(read))
    assert grads == {} and passes == 1


def test_without_the_option_the_crossbar_and_its_gap_are_unchanged():
    plain = Crossbar(CrossbarConfig(**IDEAL))
    tiki = Crossbar(CrossbarConfig(**IDEAL, tiki_taka=True))
    assert set(plain.control_specs()) == {"weight"}
    first, second = (s.init_controls(torch.Generator().manual_seed(3)) for s in (plain, tiki))
    assert torch.equal(first["weight"], second["weight"]) and not second["fast"].any()
    gap = PulsedUpdates(0.01, 1.0, 0.5, 0.3)
    draws = [gap.perturb(s, s.nominal_nuisance(), torch.Generator().manual_seed(4))
             for s in (plain, tiki)]  # fmt: skip
    assert torch.equal(draws[0]["pulse_scales"], draws[1]["pulse_scales"])
    assert draws[0]["fast_pulse_scales"] is None and draws[1]["fast_pulse_scales"] is not None
    with pytest.raises(IncompatibleError, match="tiki_taka=true"):
        build_experiment(TrainConfig(method="analog-sgd", gap="none",
                                     method_options={"algorithm": "tiki-taka"},
                                     **tiny_run("crossbar")))  # fmt: skip


def test_random_pulses_drive_a_device_to_its_symmetry_point_where_a_reads_zero():
    up, down = torch.tensor([1.5, 1.2]), torch.tensor([0.5, 0.9])
    centre = symmetry_point(up, down, 1.0)
    balance = pulse_step(centre, torch.tensor(True), up, down, 1.0)
    balance = balance + pulse_step(centre, torch.tensor(False), up, down, 1.0)
    torch.testing.assert_close(balance, torch.zeros(2))
    gen = torch.Generator().manual_seed(0)
    w = torch.zeros(2)
    for _ in range(4000):  # unbiased ± pulses: the weight settles at w*, not at 0
        sign = torch.where(torch.rand(2, generator=gen) < 0.5, 1.0, -1.0)
        w = apply_pulses(w, sign, 0.01, up, down, 1.0, 0.0, gen)
    torch.testing.assert_close(w, centre, rtol=0, atol=0.1)
    assert centre[0] > 0.4  # far from 0: the reason A is read against its symmetry point


def _final_loss(algorithm: str) -> tuple[float, float]:
    knobs = {"pulse_step": 0.001, "update_nonlinearity": 1.0, "update_asymmetry": 0.5}
    options = {"dw_min": 0.001, "lr": 0.01, "algorithm": algorithm}
    config = TrainConfig(system="crossbar", system_options={"tiki_taka": algorithm != "sgd"},
                         method="analog-sgd", method_options=options, limit_train=400,
                         gap="none", gap_options=knobs, epochs=3, seed=0)  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        result = train(config, out, progress=False)
    return result["history"][-1]["train_loss"], result["device_accuracy"]


def test_tiki_taka_beats_plain_analog_sgd_on_a_strongly_asymmetric_device(monkeypatch):
    sgd_loss, sgd_accuracy = _final_loss("sgd")
    tiki_loss, tiki_accuracy = _final_loss("tiki-taka")
    assert tiki_loss < 0.85 * sgd_loss
    assert tiki_accuracy > sgd_accuracy + 0.1
    read = Crossbar.fast_read
    monkeypatch.setattr(Crossbar, "fast_read", lambda self, x, c: -read(self, x, c))
    flipped_loss, _ = _final_loss("tiki-taka")  # transfers of the wrong sign
    assert flipped_loss > 1.15 * tiki_loss
