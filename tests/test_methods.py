"""Gradient estimators: exactness where an exact gradient exists, compatibility, tiny runs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import (
    LEARNING_STEPS,
    TINY_RUN,
    TINY_SYSTEM_OPTIONS,
    fit_one_batch,
    learned,
    tiny_run,
)
from physnn.errors import ConfigError, IncompatibleError
from physnn.hardware import SimulatedDevice
from physnn.methods import METHODS, GradientEstimator, Requirements, incompatibility
from physnn.methods.base import (
    CANNOT_LEARN,
    NOT_APPLICABLE,
    SIMULATION_ONLY,
    TRAINS,
    learning_status,
)
from physnn.methods.pat import physics_aware
from physnn.nets import PhysicalBlock, run_twin
from physnn.reality import FabricationPhaseError, LateralMisalignment, Reality
from physnn.systems import SYSTEMS, Capabilities
from physnn.train import TrainConfig, build_experiment, train
from physnn.train.gradcheck import gradcheck
from physnn.train.setup import check_compatible


def _grads(model):
    return [p.grad.clone() for p in model.parameters()]


def test_pat_gradient_equals_autograd_without_gap():
    exp = build_experiment(TrainConfig(method="pat", gap="none", **TINY_RUN))
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    exp.model.zero_grad()
    exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    pat = _grads(exp.model)
    exp.model.zero_grad()
    with exp.model.executing(run_twin):
        F.cross_entropy(exp.model(x), y).backward()
    for a, b in zip(pat, _grads(exp.model), strict=True):
        assert torch.equal(a, b)
    assert exp.device.stats("train").queries == 16


def test_pat_forward_value_is_the_measurement_and_gradient_the_twins(tiny_system, gen):
    hidden = Reality((LateralMisalignment(sigma=200e-6), FabricationPhaseError(0.3, 400e-6)))
    device = SimulatedDevice(tiny_system, hidden, seed=3)
    block = PhysicalBlock(tiny_system, tiny_system.init_controls(gen), device=device)
    x = torch.rand(8, 8, 8)
    y = physics_aware(block, x)
    truth = device.oracle_forward(x, block.hardware_controls())
    twin = run_twin(block, x)
    assert y.requires_grad
    assert torch.allclose(y.detach(), truth, rtol=1e-5, atol=1e-12)
    assert not torch.allclose(twin, truth, rtol=0.05)
    w = torch.randn_like(y)
    (g_pat,) = torch.autograd.grad((y * w).sum(), block.controls["phase"])
    (g_twin,) = torch.autograd.grad((twin * w).sum(), block.controls["phase"])
    assert torch.equal(g_pat, g_twin)


@pytest.mark.parametrize("method", ["backprop", "insilico", "pat"])
def test_gradcheck_is_exact_without_gap(method):
    report = gradcheck(TrainConfig(method=method, gap="none", **TINY_RUN), batches=2)
    assert report["cosine"] > 0.999999
    assert report["relative_error"] < 1e-5


def test_gradcheck_measures_the_gap():
    report = gradcheck(TrainConfig(method="pat", gap="severe", **TINY_RUN), batches=2)
    assert report["relative_error"] > 0.0
    assert -1.0 <= report["cosine"] < 0.9999


def test_insilico_makes_no_device_queries_while_training(tmp_path):
    result = train(TrainConfig(method="insilico", **TINY_RUN), tmp_path, progress=False)
    assert result["device_queries"] == 0
    assert result["param_writes"] == 0
    assert result["eval_queries"] > 0


def test_noise_aware_redraws_perturbations_every_step():
    exp = build_experiment(TrainConfig(method="noise-aware", gap="none", **TINY_RUN))
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    losses = [float(exp.estimator.estimate(exp.model, x, y, F.cross_entropy)[0]) for _ in range(2)]
    assert losses[0] != losses[1]
    with pytest.raises(ConfigError, match="assumed_gap"):
        METHODS["noise-aware"]({"assumed_gap": "extreme"})
    with pytest.raises(ConfigError, match="unknown option"):
        METHODS["pat"]({"lr": 3})


def test_incompatible_pair_fails_with_a_sentence():
    class NeedsEnergy(GradientEstimator):
        name = "ep-test"
        summary = reference = ""
        requirements = Requirements(energy_based=True)

        def estimate(self, model, x, y, loss_fn):  # pragma: no cover - never run
            raise AssertionError

    reason = incompatibility(NeedsEnergy, "diffractive", Capabilities(differentiable=True))
    assert reason == (
        "method 'ep-test' needs an energy-based system; 'diffractive' is not energy-based"
    )
    assert incompatibility(METHODS["pat"], "x", Capabilities(differentiable=False))
    with pytest.raises(ConfigError, match="unknown method"):
        check_compatible("spsa-typo", "diffractive")
    assert IncompatibleError.__mro__[1].__name__ == "PhysnnError"


COMPATIBLE = [
    (system, method)
    for system, scls in SYSTEMS.items()
    for method, mcls in METHODS.items()
    if incompatibility(mcls, system, scls.capabilities) is None
]


def test_every_system_has_tiny_options_for_the_tests():
    assert set(SYSTEMS) <= set(TINY_SYSTEM_OPTIONS)


def test_the_matrix_tells_each_learning_status_with_its_reason():
    def status(method: str, system: str) -> tuple[str, str]:
        return learning_status(METHODS[method], system, SYSTEMS[system].capabilities)

    assert status("pat", "diffractive") == (TRAINS, "")
    assert status("dfa", "diffractive")[0] == CANNOT_LEARN
    assert "detector regions" in status("dfa", "diffractive")[1]
    assert status("dfa", "scattering") == (TRAINS, "")  # a linear readout to train
    assert status("hep", "hopfield")[0] == SIMULATION_ONLY
    assert "complex-valued" in status("hep", "hopfield")[1]
    refusal = "method 'ep' needs an energy-based system; 'diffractive' is not energy-based"
    assert status("ep", "diffractive") == (NOT_APPLICABLE, refusal)


def _learning_case(system: str, method: str) -> object:
    """A pair of the learning test; one that cannot learn here must fail it (strict xfail, with
    the reason declared in physnn.methods.base)."""
    status, reason = learning_status(METHODS[method], system, SYSTEMS[system].capabilities)
    if status == CANNOT_LEARN:
        return pytest.param(system, method, marks=pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(system, method)


LEARNING_OPTIONS = {"fd": {"coordinates": 16}}
"""Method options of the learning test: fd probes 16 coordinates per step in its cyclic order
(its default, every coordinate, costs 2n device queries per step)."""
LEARNING_SYSTEM_OPTIONS = {("wave", "echo"): {"pml_cells": 0}}
"""System options of the learning test for a pair whose procedure needs them: the echo needs a
lossless wave medium (reflecting walls instead of the absorbing layer)."""
RANDOM_SEARCH = {"anneal", "flip", "spsa", "mgd", "es"}
"""Methods whose step follows a few random directions or level flips (a fraction ≈ √(P/n) of the
gradient, or one control): the learning test gives them three times the steps."""


@pytest.mark.parametrize(("system", "method"), [_learning_case(*pair) for pair in COMPATIBLE])
def test_every_pair_that_trains_learns_a_batch_of_its_tiny_problem(system, method):
    """Every pair that `physnn list matrix` says trains (simulation-only ones included) fits one
    batch of its tiny problem, from the device and the mild gap, well beyond the untrained model
    (the criterion of conftest.learned, which a sign-flipped gradient fails: see below)."""
    options = LEARNING_OPTIONS.get(method, {})
    run = tiny_run(system)
    run["system_options"] = {
        **run["system_options"],
        **LEARNING_SYSTEM_OPTIONS.get((system, method), {}),
    }
    config = TrainConfig(method=method, gap="mild", method_options=options, **run)
    steps = LEARNING_STEPS * (3 if method in RANDOM_SEARCH else 1)
    losses, accuracies = fit_one_batch(config, steps)
    assert learned(losses, accuracies), (
        f"{method} on {system}: loss {losses[0]:.3f} → {losses[-1]:.3f}, batch accuracy "
        f"{accuracies[0]:.2f} → {accuracies[-1]:.2f}"
    )


def _sign_flipped(method: str) -> type[GradientEstimator]:
    """``method`` with every gradient it fills negated: an estimator that climbs the loss."""

    class SignFlipped(METHODS[method]):
        name = f"{method}-sign-flipped"

        def estimate(self, model, x, y, loss_fn):
            out = super().estimate(model, x, y, loss_fn)
            for p in self.optimized_parameters(model):
                if p.grad is not None:
                    p.grad.neg_()
            return out

    return SignFlipped


FLIPPED = [("diffractive", "pat"), ("crossbar", "spsa"), ("hopfield", "ep"), ("crossbar", "dfa"),
           ("resonators", "adjoint"), ("mzi", "ffm")]  # fmt: skip


@pytest.mark.parametrize(("system", "method"), FLIPPED)
def test_the_learning_test_fails_a_sign_flipped_estimator(system, method, monkeypatch):
    """A test of the test: the same pair with its gradient negated must not pass it."""
    flipped = _sign_flipped(method)
    monkeypatch.setitem(METHODS._entries, flipped.name, flipped)
    losses, accuracies = fit_one_batch(
        TrainConfig(method=flipped.name, gap="mild", **tiny_run(system))
    )
    assert not learned(losses, accuracies)
    assert losses[-1] > losses[0]


def test_a_method_adds_its_own_figures_to_every_epoch(tmp_path, monkeypatch):
    backprop = METHODS["backprop"]

    class Counting(backprop):
        name = "counting-test"
        steps = 0

        def estimate(self, model, x, y, loss_fn):
            self.steps += 1
            return super().estimate(model, x, y, loss_fn)

        def epoch_diagnostics(self):
            return {"steps_seen": self.steps}

    monkeypatch.setitem(METHODS._entries, "counting-test", Counting)
    result = train(TrainConfig(method="counting-test", **TINY_RUN), tmp_path, progress=False)
    assert [row["steps_seen"] for row in result["history"]] == [4, 8]  # 64 samples / 16 per batch
