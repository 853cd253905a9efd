"""Photoelectric (homodyne) optical MLP: shot-noise physics, single-photon neurons, contract."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.photoelectric.gap
import physnn.substrates.photoelectric.system  # noqa: F401  (registers the system)
from physnn.errors import ConfigError
from physnn.physics import photoelectric as pe
from physnn.reality import make_reality
from physnn.substrates.photoelectric.system import PhotoelectricMLP
from physnn.systems.base import NoiseSource

TINY = {"input_size": 6, "hidden_sizes": (5,), "num_classes": 3}


def _system(**options) -> PhotoelectricMLP:
    return PhotoelectricMLP.from_preset("default", **{**TINY, **options})


def _controls(system: PhotoelectricMLP, seed: int = 0, dtype=torch.float32):
    controls = system.init_controls(torch.Generator().manual_seed(seed))
    return {name: value.to(dtype) for name, value in controls.items()}


# ----------------------------------------------------------------------------- physics
def test_noiseless_forward_is_matmul_relu_matmul():
    system = _system()
    controls = _controls(system)
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(1))
    w0, w1 = controls["weight_0"], controls["weight_1"]
    hidden = torch.relu(x @ w0.T / math.sqrt(6))
    expected = hidden @ w1.T / math.sqrt(5)
    y = system(x, controls, system.nominal_nuisance())
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)


def test_homodyne_shot_noise_variance_matches_the_formula():
    gen = torch.Generator().manual_seed(2)
    x = torch.tensor([[0.9, 0.2, 0.5, 0.7]], dtype=torch.float64)
    w = torch.tensor([[0.3, -0.8, 0.6, 0.1]], dtype=torch.float64)
    draws = 40000
    n, r = 2.0, 3.0
    xs = x.expand(draws, -1)
    samples = pe.homodyne_dot(xs, w, n, r, gen)[:, 0]
    # Var = ‖x‖² ‖w‖² (N n + r²) / (N n)²
    variance = x.square().sum() * w.square().sum() * (4 * n + r**2) / (4 * n) ** 2
    mean = (x @ w.T)[0, 0]
    assert abs(samples.mean() - mean) < 5 * math.sqrt(variance / draws)
    # the sample variance of (nearly Gaussian) draws has relative standard error √(2/(n−1))
    assert abs(samples.var() / variance - 1) < 5 * math.sqrt(2 / draws)
    torch.testing.assert_close(pe.homodyne_std(x, w, n, r)[0, 0] ** 2, variance, rtol=1e-12, atol=0)


def test_reparameterized_homodyne_has_the_same_statistics_and_gradients():
    gen = torch.Generator().manual_seed(3)
    x = torch.tensor([[0.9, 0.2, 0.5, 0.7]]).expand(20000, -1)
    w = torch.tensor([[0.3, -0.8, 0.6, 0.1]], requires_grad=True)
    samples = pe.homodyne_dot(x, w, 1.0, 0.0, gen, differentiable=True)[:, 0]
    variance = pe.homodyne_std(x[:1], w, 1.0)[0, 0].detach() ** 2
    assert abs(samples.var().detach() / variance - 1) < 5 * math.sqrt(2 / 20000)
    samples.mean().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()


def test_detector_imbalance_biases_by_half_epsilon_times_the_norms():
    x = torch.tensor([[0.9, 0.2, 0.5, 0.7]], dtype=torch.float64)
    w = torch.tensor([[0.3, -0.8, 0.6, 0.1], [0.5, 0.5, -0.5, 0.2]], dtype=torch.float64)
    eps = torch.tensor([0.1, -0.04], dtype=torch.float64)
    bias = pe.homodyne_mean(x, w, eps) - x @ w.T
    torch.testing.assert_close(bias[0], eps / 2 * x.norm() * w.norm(dim=1))
    draws = pe.homodyne_dot(
        x.expand(20000, -1), w, 50.0, 0.0, torch.Generator().manual_seed(4), imbalance=eps
    )
    std = pe.homodyne_std(x, w, 50.0)[0]
    assert ((draws.mean(0) - pe.homodyne_mean(x, w, eps)[0]).abs() < 5 * std / 141).all()


def test_click_probability_matches_one_minus_exp_minus_lambda():
    lam = torch.tensor([0.05, 0.5, 1.0, 3.0])
    clicks = pe.single_photon_click(lam.expand(50000, -1), torch.Generator().manual_seed(5))
    expected = 1 - torch.exp(-lam)
    stderr = (expected * (1 - expected) / 50000).sqrt()
    assert ((clicks.mean(0) - expected).abs() < 5 * stderr).all()
    assert set(clicks.unique().tolist()) <= {0.0, 1.0}


def test_straight_through_click_gradient_is_the_expectation_gradient():
    lam = torch.tensor([0.05, 0.5, 1.0, 3.0], requires_grad=True)
    gen = torch.Generator().manual_seed(6)
    clicks = pe.single_photon_click(lam, gen, differentiable=True)
    assert set(clicks.detach().unique().tolist()) <= {0.0, 1.0}
    (grad_sample,) = torch.autograd.grad((clicks * torch.arange(1.0, 5.0)).sum(), lam)
    (grad_mean,) = torch.autograd.grad(
        (pe.click_probability(lam) * torch.arange(1.0, 5.0)).sum(), lam
    )
    torch.testing.assert_close(grad_sample, grad_mean)
    torch.testing.assert_close(grad_mean, torch.exp(-lam.detach()) * torch.arange(1.0, 5.0))


def test_modulator_and_crosstalk_encodings():
    w = torch.tensor([[1.0, -0.5], [0.2, 0.0], [-1.0, 0.4]])
    torch.testing.assert_close(pe.encode_weights(w, 0.6), torch.sin(0.6 * w) / 0.6)
    torch.testing.assert_close(
        pe.encode_weights(w, 0.0, torch.full_like(w, 0.1), torch.full_like(w, 0.01)),
        1.1 * w + 0.01,
    )
    mixed = pe.neighbour_crosstalk(w, 0.1)
    expected = w + 0.1 * torch.stack([w[1], w[0] + w[2], w[1]])
    torch.testing.assert_close(mixed, expected)


def test_adc_rounds_to_bits_and_clips():
    y = torch.tensor([-5.0, -0.26, 0.26, 0.9, 5.0])
    out = pe.adc(y, 3, 1.0)  # 8 levels over [−1, 1]: step 2/7
    step = 2 / 7
    expected = torch.tensor([-1.0, -1 + 3 * step, 1 - 3 * step, 1.0, 1.0])
    torch.testing.assert_close(out, expected)


# ----------------------------------------------------------------------------- system
def test_forward_gradcheck_in_controls_and_nuisance():
    system = _system(photons_per_mac=5.0)
    controls = _controls(system, dtype=torch.float64)
    x = torch.rand(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    w0, w1 = (controls[k].clone().requires_grad_() for k in ("weight_0", "weight_1"))
    gain = (0.05 * torch.randn(6 * 5 + 5 * 3, dtype=torch.float64)).requires_grad_()
    imbalance = (0.05 * torch.randn(5 + 3, dtype=torch.float64)).requires_grad_()
    drive = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)

    def run(w0, w1, gain, imbalance, drive):
        nuisance = {
            **system.nominal_nuisance(),
            "weight_gain_error": gain,
            "detector_imbalance": imbalance,
            "modulator_drive": drive,
            "crosstalk": 0.02,
        }
        return system(x, {"weight_0": w0, "weight_1": w1}, nuisance)

    assert torch.autograd.gradcheck(run, (w0, w1, gain, imbalance, drive))


def test_single_photon_network_forward_gradcheck_of_the_mean():
    system = _system(neuron="single-photon", spd_photons_per_mac=3.0)
    controls = _controls(system, dtype=torch.float64)
    x = torch.rand(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    weights = tuple(controls[k].clone().requires_grad_() for k in ("weight_0", "weight_1"))
    nuisance = system.nominal_nuisance()

    def run(w0, w1):
        return system(x, {"weight_0": w0, "weight_1": w1}, nuisance)

    assert torch.autograd.gradcheck(run, weights)
    hidden = 1 - torch.exp(-3.0 * (x @ weights[0].T / math.sqrt(6)) ** 2)
    torch.testing.assert_close(run(*weights), hidden @ weights[1].T / math.sqrt(5))


def test_device_noise_is_internal_and_seeded():
    system = _system(photons_per_mac=0.5)
    controls = _controls(system)
    x = torch.rand(8, 6, generator=torch.Generator().manual_seed(9))
    nuisance = system.nominal_nuisance()
    mean = system(x, controls, nuisance)
    a = system(x, controls, nuisance, NoiseSource(torch.Generator().manual_seed(1)))
    b = system(x, controls, nuisance, NoiseSource(torch.Generator().manual_seed(1)))
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, mean)
    spd = _system(neuron="single-photon")
    clicks = spd.single_photon_layer(
        x, controls["weight_0"], nuisance, NoiseSource(torch.Generator().manual_seed(2))
    )
    assert set(clicks.unique().tolist()) <= {0.0, 1.0}


def test_shapes_controls_and_images_of_any_size():
    system = PhotoelectricMLP.from_preset("default")
    specs = system.control_specs()
    assert {k: s.shape for k, s in specs.items()} == {"weight_0": (32, 64), "weight_1": (10, 32)}
    assert all((s.low, s.high) == (-1.0, 1.0) for s in specs.values())
    controls = system.init_controls(torch.Generator().manual_seed(0))
    for x in (torch.rand(5, 8, 8), torch.rand(5, 28, 28), torch.rand(5, 12)):
        assert system(x, controls, system.nominal_nuisance()).shape == (5, system.num_outputs)
    assert system.output_kind == "real" and system.num_outputs == 10


@pytest.mark.parametrize("preset", ["default", "hamerly2019", "ma2025"])
def test_presets_build(preset):
    system = PhotoelectricMLP.from_preset(preset)
    assert set(system.nominal_nuisance()) >= {"photons_per_mac", "detector_imbalance"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden_sizes": (0,)}, "hidden_sizes"),
        ({"hidden_sizes": 5}, "hidden_sizes"),
        ({"neuron": "sigmoid"}, "neuron"),
        ({"photons_per_mac": -1.0}, "photons_per_mac"),
        ({"spd_photons_per_mac": 0.0}, "spd_photons_per_mac"),
        ({"input_size": 0}, "input_size"),
        ({"adc_full_scale": 0.0}, "adc_full_scale"),
        ({"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_configuration_is_a_config_error(options, message):
    with pytest.raises(ConfigError, match=message):
        PhotoelectricMLP.from_preset("default", **options)


# ----------------------------------------------------------------------------- reality gap
@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_levels_build_and_perturb(level):
    system = _system()
    reality = make_reality(system, level)
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    nominal = system.nominal_nuisance()
    assert nuisance["photons_per_mac"] > 0 and nuisance["adc_bits"] >= 6
    assert nuisance["weight_gain_error"].shape == (6 * 5 + 5 * 3,)
    assert nuisance["detector_imbalance"].shape == (5 + 3,)
    controls = _controls(system)
    x = torch.rand(16, 6, generator=torch.Generator().manual_seed(1))
    twin = system(x, controls, nominal)
    device = system(x, controls, nuisance)
    assert (device - twin).abs().max() > 1e-3


def test_a_zero_knob_switches_its_perturbation_off():
    system = _system()
    reality = make_reality(system, "moderate", {"photons": 0, "imbalance": 0})
    names = {p.name for p in reality.perturbations}
    assert "photon-budget" not in names and "detector-imbalance" not in names
    assert "readout-adc" in names
