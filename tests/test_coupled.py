"""Coupled learning on the resistive network: its limit, device honesty, options."""

import pytest
import torch
from torch import nn

from physnn.errors import ConfigError
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods import METHODS
from physnn.nets.pnn import PNN, PhysicalBlock
from physnn.reality.base import Reality
from physnn.systems import SYSTEMS
from physnn.train.config import TrainConfig
from physnn.train.loop import train

LINEAR = {"num_inputs": 3, "num_outputs": 1, "num_hidden": 6, "diodes": False}


def physical_model(system, *, seed=0, reality=None, readout=None):
    device = SimulatedDevice(system, reality or Reality(), seed=seed)
    controls = system.init_controls(torch.Generator().manual_seed(seed))
    block = PhysicalBlock(system, controls, device=device)
    return PNN([block] if readout is None else [block, readout])


def mse(outputs, targets):
    return 0.5 * (outputs - targets).square().sum(dim=1).mean()


def batch(system, size=8, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(size, system.config.num_inputs, generator=gen)
    y = 0.2 * torch.rand(size, system.num_outputs, generator=gen) - 0.1
    return x, y


def coupled_gradient(model, x, y, eta):
    model.zero_grad()
    METHODS["coupled"]({"eta": eta}).estimate(model, x, y, mse)
    return model.blocks[0].controls["conductance"].grad.clone()


def twin_gradient(model, x, y):
    model.zero_grad()
    mse(model(x), y).backward()
    return model.blocks[0].controls["conductance"].grad.clone()


def cosine(a, b):
    return float(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=0))


def test_coupled_learning_matches_the_true_gradient_for_one_output_at_small_eta():
    """One output: the clamp displacement and the EP force differ by the scalar stiffness K, so
    (local(C) − local(F))/η → K·dL/dG: the same direction as η → 0."""
    system = SYSTEMS["resistive"].from_preset("default", **LINEAR)
    model = physical_model(system)
    x, y = batch(system)
    true = twin_gradient(model, x, y)
    small, large = coupled_gradient(model, x, y, 1e-3), coupled_gradient(model, x, y, 3.0)
    assert cosine(small, true) > 0.99
    assert cosine(large, true) < cosine(small, true)


def stiffness_metric_gradient(system, model, x, y):
    """mean_b J_bᵀ K_b (y_b − t) with K_b⁻¹ = ∂y/∂f (the response to injected currents): coupled
    learning's η → 0 limit, computed from the twin with autograd."""
    c = {k: v.detach().double().requires_grad_(True) for k, v in model.blocks[0].controls.items()}
    nuisance = system.nominal_nuisance()
    expected = torch.zeros_like(c["conductance"])
    for b in range(x.shape[0]):
        xb = x[b : b + 1].double()

        def response(f, xb=xb):
            return system.relax(xb, c, nuisance, nudge=f[None]).outputs[0]

        zeros = torch.zeros(system.num_outputs).double()
        compliance = torch.autograd.functional.jacobian(response, zeros)
        outputs = system.relax(xb, c, nuisance).outputs[0]
        direction = torch.linalg.solve(compliance, (y[b].double() - outputs).detach())
        (grad,) = torch.autograd.grad(outputs, c["conductance"], -direction / x.shape[0])
        expected += grad
    return expected


def test_with_several_outputs_coupled_learning_is_the_gradient_in_the_stiffness_metric():
    """ĝ → mean_b J_bᵀ K_b (y_b − t), while the true gradient is mean_b J_bᵀ (y_b − t)."""
    system = SYSTEMS["resistive"].from_preset("default", **{**LINEAR, "num_outputs": 3})
    model = physical_model(system)
    x, y = batch(system, size=4)
    expected = stiffness_metric_gradient(system, model, x, y)
    estimate = coupled_gradient(model, x, y, 1e-3)
    true = twin_gradient(model, x, y)
    assert cosine(estimate, expected) > 0.99
    assert torch.allclose(estimate.double(), expected, rtol=0.05, atol=0.05 * expected.abs().max())
    assert cosine(estimate, true) > 0  # a descent-like direction, not the gradient itself


def test_the_default_eta_is_at_the_small_eta_limit_on_a_nonlinear_network():
    """The bias is O(η): at the default η the estimate is its η → 0 limit; η = 0.3 is not."""
    system = SYSTEMS["resistive"].from_preset(
        "default", **{**LINEAR, "num_outputs": 3, "diodes": True}
    )
    model = physical_model(system)
    x, y = batch(system, size=4)
    limit = stiffness_metric_gradient(system, model, x, y)
    model.zero_grad()
    METHODS["coupled"]().estimate(model, x, y, mse)
    default = model.blocks[0].controls["conductance"].grad.clone()
    assert cosine(default, limit) > 0.999
    assert torch.allclose(default.double(), limit, rtol=0.02, atol=0.02 * limit.abs().max())
    assert cosine(coupled_gradient(model, x, y, 0.3), limit) < cosine(default, limit)


def test_coupled_never_calls_the_twin_and_learns_a_regression(monkeypatch):
    system = SYSTEMS["resistive"].from_preset("default", **{**LINEAR, "num_outputs": 2})
    model = physical_model(system)

    def refuse(*args, **kwargs):
        raise AssertionError("coupled learning called the twin")

    monkeypatch.setattr(model.blocks[0].twin, "forward", refuse)
    method = METHODS["coupled"]({"eta": 0.5})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = batch(system, size=16)
    device = model.blocks[0].device
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss, _ = method.estimate(model, x, y, mse)
        optimizer.step()
        with torch.no_grad():
            for name, p in model.blocks[0].controls.items():
                p.copy_(model.blocks[0].specs[name].project(p))
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    assert device.stats().queries == 40 * 2 * 16  # free + clamped per sample


def test_the_method_trains_digits_through_the_training_loop(tmp_path):
    config = TrainConfig(system="resistive", method="coupled", gap="mild", dataset="digits",
                         limit_train=64, epochs=2, batch_size=16,
                         system_options={"num_hidden": 8, "num_outputs": 4})  # fmt: skip
    result = train(config, tmp_path, progress=False)
    assert len(result["history"]) == 2
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]


def test_readout_gradient_is_exact_at_the_measured_outputs():
    system = SYSTEMS["resistive"].from_preset("default", **{**LINEAR, "num_outputs": 2})
    readout = nn.Linear(2, 3)
    model = physical_model(system, readout=readout)
    x, _ = batch(system)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    loss_fn = nn.functional.cross_entropy
    model.zero_grad()
    METHODS["coupled"]().estimate(model, x, labels, loss_fn)
    got = readout.weight.grad.clone()
    outputs = model.blocks[0].device.relax(x).outputs
    readout.zero_grad()
    loss_fn(readout(outputs), labels).backward()
    assert torch.allclose(got, readout.weight.grad, atol=1e-6)


def test_bad_options_and_models_raise_config_errors():
    with pytest.raises(ConfigError):
        METHODS["coupled"]({"eta": 0.0})
    with pytest.raises(ConfigError):
        METHODS["coupled"]({"beta": 0.1})
    system = SYSTEMS["resistive"].from_preset("default", **LINEAR)
    inner = physical_model(system)
    model = PNN([nn.Linear(3, 3), *inner.blocks])
    x, y = batch(system)
    with pytest.raises(ConfigError):
        METHODS["coupled"]().estimate(model, x, y, mse)


def freqprop_gradient(model, x, y, **options):
    model.zero_grad()
    METHODS["freqprop"](options).estimate(model, x, y, mse)
    return model.blocks[0].controls["conductance"].grad.clone()


def test_freqprop_equals_the_true_gradient_on_a_nonlinear_network():
    """The lock-in coefficient is ΔV_DC·ΔV_AC = the adjoint gradient, up to O(ε²)."""
    system = SYSTEMS["resistive"].from_preset(
        "default", **{**LINEAR, "num_outputs": 3, "diodes": True}
    )
    model = physical_model(system)
    x, y = batch(system, size=4)
    true = twin_gradient(model, x, y)
    estimate = freqprop_gradient(model, x, y, amplitude=0.01, phases=4)
    assert cosine(estimate, true) > 0.999
    assert torch.allclose(estimate, true, rtol=1e-2, atol=1e-2 * true.abs().max())
    device = model.blocks[0].device
    assert device.stats().queries == 4 * (1 + 4)  # one DC state and 4 phases per sample


def test_freqprop_options_are_checked():
    with pytest.raises(ConfigError):
        METHODS["freqprop"]({"phases": 1})
    with pytest.raises(ConfigError):
        METHODS["freqprop"]({"amplitude": -0.1})
