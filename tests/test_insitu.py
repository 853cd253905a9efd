"""In-situ adjoint and fully-forward-mode gradients: exactness against autograd of the device
physics (float64), the symmetry assumption of FFM, loss and noise, and model-free training."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.insitu  # noqa: F401  (registers adjoint and ffm)
from conftest import TINY_RUN, TINY_SYSTEM_OPTIONS
from physnn.errors import ConfigError
from physnn.reality import FabricationPhaseError, LateralMisalignment, Reality
from physnn.reality.levels import make_reality
from physnn.substrates.mzi.gap import CouplerSplittingError, PhaseDrift
from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource
from physnn.train import TrainConfig, build_experiment


def _flat(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


def _measured_and_true(system, reality, procedure, x, seed=0):
    """The procedure's gradient of ⟨g, y⟩ and autograd's, float64, on the hidden physics."""
    system = system.double()
    gen = torch.Generator().manual_seed(seed)
    nuisance = reality.sample_nuisance(system, gen)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    leaves = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    y = system(x, leaves, nuisance)
    g = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    (y * g).sum().backward()
    outputs, grads, passes = system.measured_gradient(procedure, x, controls, nuisance, g)
    assert torch.allclose(outputs, y.detach(), rtol=1e-12, atol=1e-14)
    return _flat(grads), _flat({k: v.grad for k, v in leaves.items()}), passes


def _relative_error(measured: torch.Tensor, true: torch.Tensor) -> float:
    return float((measured - true).norm() / true.norm())


LOSSLESS_MZI = Reality((CouplerSplittingError(0.05), PhaseDrift(0.2)))


@pytest.mark.parametrize(
    ("options", "passes"),
    [
        ({}, 5),
        ({"layout": "reck", "modes": 6, "num_classes": 4}, 5),
        ({"detection": "homodyne", "modes": 6, "num_classes": 3}, 4),
        ({"modes": 6, "num_layers": 2, "nonlinearity": "electro-optic", "readout": "all"}, 8),
    ],
)
def test_mzi_adjoint_gradient_equals_autograd_of_the_device(options, passes):
    system = SYSTEMS["mzi"].from_preset("default", **options)
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    measured, true, counted = _measured_and_true(system, LOSSLESS_MZI, "adjoint", x)
    assert _relative_error(measured, true) < 1e-5
    assert counted == passes


def test_mzi_adjoint_is_approximate_with_loss_and_heater_errors():
    """Insertion loss scales each reading and heater gain errors are not undone: still aligned."""
    system = SYSTEMS["mzi"].from_preset("default")
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    measured, true, _ = _measured_and_true(system, make_reality(system, "moderate"), "adjoint", x)
    assert _relative_error(measured, true) > 1e-3
    assert F.cosine_similarity(measured, true, dim=0) > 0.9


@pytest.mark.parametrize(("procedure", "sigma"), [("adjoint", 0.01), ("ffm", 0.1)])
def test_monitor_noise_degrades_the_mzi_gradient(procedure, sigma):
    system = SYSTEMS["mzi"].from_preset("default").double()
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    nuisance = LOSSLESS_MZI.sample_nuisance(system, gen)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    g = torch.randn(6, 10, generator=gen, dtype=torch.float64)
    clean = _flat(system.measured_gradient(procedure, x, controls, nuisance, g)[1])
    noisy = {**nuisance, "monitor_noise": sigma}
    noise = NoiseSource(torch.Generator().manual_seed(1))
    measured = _flat(system.measured_gradient(procedure, x, controls, noisy, g, noise)[1])
    cosine = float(F.cosine_similarity(measured, clean, dim=0))
    assert 0.3 < cosine < 0.9999


TINY_D2NN = {"grid": 16, "num_layers": 2, "input_size": 8, "detector_size": 2, "num_classes": 4}


@pytest.mark.parametrize(
    ("procedure", "reality"),
    [
        ("adjoint", Reality((LateralMisalignment(sigma=200e-6), FabricationPhaseError(0.3, 4e-4)))),
        ("ffm", Reality((FabricationPhaseError(0.3, 4e-4),))),
    ],
)
def test_diffractive_gradient_equals_autograd_of_the_device(procedure, reality):
    system = SYSTEMS["diffractive"].from_preset("default", **TINY_D2NN)
    x = torch.rand(4, 8, 8, dtype=torch.float64)
    measured, true, passes = _measured_and_true(system, reality, procedure, x)
    assert _relative_error(measured, true) < 1e-5
    assert passes == 2


def test_ffm_needs_the_symmetry_that_misalignment_breaks():
    system = SYSTEMS["diffractive"].from_preset("default", **TINY_D2NN)
    reality = Reality((LateralMisalignment(sigma=200e-6),))
    x = torch.rand(4, 8, 8, dtype=torch.float64)
    measured, true, _ = _measured_and_true(system, reality, "ffm", x)
    assert _relative_error(measured, true) > 1e-3


class NoTwin(torch.nn.Module):
    def forward(self, *args):
        raise AssertionError("an in-situ method called the twin")


@pytest.mark.parametrize(
    ("system", "method", "options", "passes"),
    [
        ("mzi", "adjoint", {}, 5),
        ("mzi", "ffm", {}, 3),
        ("waveguide", "adjoint", TINY_SYSTEM_OPTIONS["waveguide"], 2),
        ("waveguide", "ffm", TINY_SYSTEM_OPTIONS["waveguide"], 2),
        ("diffractive", "adjoint", TINY_RUN["system_options"], 2),
        ("diffractive", "ffm", TINY_RUN["system_options"], 2),
    ],
)
def test_a_step_is_the_device_gradient_without_a_twin(system, method, options, passes):
    config = TrainConfig(
        **{**TINY_RUN, "system": system, "system_options": options, "method": method, "gap": "none"}
    )
    exp = build_experiment(config)
    block = exp.model.physical_blocks()[0]
    block.twin = NoTwin()
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    exp.model.zero_grad()
    loss, logits = exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    assert math.isfinite(float(loss)) and logits.shape == (16, 10)
    measured = [p.grad.clone() for p in exp.model.parameters()]

    exp.model.zero_grad()
    hardware = block.device

    def oracle(b, inputs):
        b.commit()
        return hardware.oracle_forward(inputs, b.realized_controls())

    with exp.model.executing(oracle):
        F.cross_entropy(exp.model(x), y).backward()
    true = [p.grad for p in exp.model.parameters()]
    physical = {id(p) for p in exp.model.physical_parameters()}
    is_physical = [id(p) in physical for p in exp.model.parameters()]
    flat = [
        torch.cat([g.flatten() for g, keep in zip(gs, is_physical, strict=True) if keep])
        for gs in (measured, true)
    ]
    assert _relative_error(*flat) < 1e-4  # float32 device
    for a, b, keep in zip(measured, true, is_physical, strict=True):
        assert keep or torch.allclose(a, b, rtol=1e-4, atol=1e-7)
    stats = exp.device.stats("train")
    assert stats.queries == 16 * (1 + passes)


@pytest.mark.parametrize("model", ["hybrid:8", "stack:2"])
def test_in_situ_methods_refuse_models_whose_first_block_is_not_the_only_physical_one(model):
    with pytest.raises(ConfigError, match="model='pnn'"):
        build_experiment(TrainConfig(**{**TINY_RUN, "method": "adjoint", "model": model}))


def test_svd_meshes_are_refused_with_a_sentence():
    config = TrainConfig(
        **{**TINY_RUN, "system": "mzi", "system_options": {"architecture": "svd"}},
        method="adjoint",
    )
    with pytest.raises(ConfigError, match="set architecture='unitary'"):
        build_experiment(config)  # refused before any work


def test_pump_probe_transmission_underestimates_the_absorber_derivative_by_a_bounded_factor():
    """Guo et al. 2021: the probe sees t(s); the derivative is t · (1 + α₀ s / (1 + s)²)."""
    from physnn.physics import mesh

    depth, saturation, mean_power = 2.0, 1.0, 0.25
    z = torch.linspace(0.01, 2.0, 50, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(
        mesh.saturable_absorber(z, depth, saturation, mean_power).sum(), z
    )
    probe = mesh.saturable_transmission(z.detach(), depth, saturation, mean_power)
    s = z.detach() ** 2 / (saturation * mean_power)
    assert torch.allclose(slope, probe * (1 + depth * s / (1 + s) ** 2), rtol=1e-12)
    ratio = probe / slope
    assert bool((ratio <= 1).all()) and bool((ratio >= 1 / (1 + depth / 4) - 1e-12).all())


SATURABLE_MESH = {
    "modes": 6,
    "num_layers": 2,
    "nonlinearity": "saturable-absorber",
    "readout": "all",
}


def test_pump_probe_adjoint_is_exact_in_the_linear_limit_and_aligned_otherwise():
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    faint = SYSTEMS["mzi"].from_preset("default", **SATURABLE_MESH, absorber_depth=1e-9)
    measured, true, passes = _measured_and_true(faint, LOSSLESS_MZI, "adjoint-pump-probe", x)
    assert _relative_error(measured, true) < 1e-5
    assert passes == 1 + 1 + 3 * 2  # no coherent measurement between the layers
    deep = SYSTEMS["mzi"].from_preset("default", **SATURABLE_MESH, absorber_depth=2.0)
    measured, true, _ = _measured_and_true(deep, LOSSLESS_MZI, "adjoint-pump-probe", x)
    assert _relative_error(measured, true) > 1e-3
    assert F.cosine_similarity(measured, true, dim=0) > 0.95


def test_pump_probe_needs_saturable_absorbers():
    config = TrainConfig(
        **{**TINY_RUN, "system": "mzi", "system_options": {"num_layers": 2}},
        method="adjoint",
        method_options={"pump_probe": True},
    )
    with pytest.raises(ConfigError, match="nonlinearity=saturable-absorber"):
        build_experiment(config)
