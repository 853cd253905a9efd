"""In-situ adjoint procedures of the photoelectric MLP, the bidirectional scattering set-up and the
coupled resonators: exactness against autograd of the hidden physics (float64), with the gaps
under which they stay exact; what they cannot see; their measurement noise; a sign flip fails."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.insitu  # noqa: F401  (registers adjoint)
from physnn.errors import ConfigError
from physnn.reality import Reality
from physnn.reality.levels import make_reality
from physnn.reality.perturbations import MonitorNoise
from physnn.substrates.photoelectric.gap import (
    ModulatorNonlinearity,
    PhotonBudget,
    ReadoutADC,
    WeightEncodingError,
)
from physnn.substrates.resonators.gap import CouplingError, DetuningError, ExtraLoss, ThermalDrift
from physnn.substrates.scattering.gap import MediumDecorrelation, SLMPhaseError
from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource


def _flat(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


def _double(value):
    if not isinstance(value, torch.Tensor):
        return value
    return value.to(torch.complex128) if value.is_complex() else value.double()


def _measured_and_true(system, reality, x, seed=0, noise=None):
    """The adjoint procedure's gradient of ⟨g, y⟩ and autograd's, float64, hidden physics."""
    system = system.double()
    for name, buffer in system.named_buffers():
        if buffer.is_complex():
            setattr(system, name, buffer.to(torch.complex128))
    gen = torch.Generator().manual_seed(seed)
    nuisance = {k: _double(v) for k, v in reality.sample_nuisance(system, gen).items()}
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    if "detuning" in controls:  # away from the paper's zero start
        controls["detuning"] = torch.randn(controls["detuning"].shape, generator=gen).double()
    leaves = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    y = system(x, leaves, nuisance)
    g = torch.randn(y.shape, generator=gen, dtype=y.dtype)
    (y * g).sum().backward()
    outputs, grads, passes = system.measured_gradient("adjoint", x, controls, nuisance, g, noise)
    if noise is None:
        torch.testing.assert_close(outputs, y.detach(), rtol=1e-12, atol=1e-14)
    return _flat(grads), _flat({k: v.grad for k, v in leaves.items()}), passes


def _relative_error(measured: torch.Tensor, true: torch.Tensor) -> float:
    return float((measured - true).norm() / true.norm())


def _cosine(measured: torch.Tensor, true: torch.Tensor) -> float:
    return float(F.cosine_similarity(measured, true, dim=0))


# ------------------------------------------------------------------------------ resonators
RESONATORS = {"num_inputs": 9, "num_hidden": 3, "num_ports": 4}
RESONATOR_GAP = Reality((DetuningError(0.2), ThermalDrift(0.2), ExtraLoss(0.1)))


@pytest.mark.parametrize("measure", ["field", "intensity"])
@pytest.mark.parametrize("hidden", [0, 3])
def test_resonator_adjoint_equals_autograd_with_detuning_errors_and_loss(measure, hidden):
    system = SYSTEMS["resonators"].from_preset(
        "default", **{**RESONATORS, "num_hidden": hidden, "measure": measure}
    )
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    measured, true, passes = _measured_and_true(system, RESONATOR_GAP, x)
    assert _relative_error(measured, true) < 1e-5
    assert passes == 4  # one probe per output port


def test_resonator_adjoint_does_not_undo_coupling_errors():
    system = SYSTEMS["resonators"].from_preset("default", **RESONATORS)
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    measured, true, _ = _measured_and_true(system, Reality((CouplingError(0.05),)), x)
    assert 1e-3 < _relative_error(measured, true) < 0.2
    assert _cosine(measured, true) > 0.98


def test_resonator_tap_noise_degrades_the_gradient_with_fewer_photons():
    system = SYSTEMS["resonators"].from_preset("default", **RESONATORS)
    x = torch.rand(5, 3, 3, dtype=torch.float64)
    errors = []
    for level in ("mild", "severe"):
        reality = Reality((*RESONATOR_GAP.perturbations, *_taps(system, level)))
        noise = NoiseSource(torch.Generator().manual_seed(1))
        measured, true, _ = _measured_and_true(system, reality, x, noise=noise)
        errors.append(_relative_error(measured, true))
    assert 0 < errors[0] < errors[1] < 0.5


def _taps(system, level):
    return [p for p in make_reality(system, level).perturbations if p.name == "tap-noise"]


# ------------------------------------------------------------------------------ photoelectric
EXACT_PHOTOELECTRIC = Reality((WeightEncodingError(0.0, 0.02), ReadoutADC(10)))


@pytest.mark.parametrize(("hidden", "passes"), [([16], 4), ([16, 12], 6)])
def test_photoelectric_adjoint_equals_autograd_with_offsets_and_adc(hidden, passes):
    system = SYSTEMS["photoelectric"].from_preset("default", hidden_sizes=hidden)
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    measured, true, counted = _measured_and_true(system, EXACT_PHOTOELECTRIC, x)
    assert _relative_error(measured, true) < 1e-5
    assert counted == passes


def test_photoelectric_adjoint_does_not_undo_the_modulator_response():
    system = SYSTEMS["photoelectric"].from_preset("default", hidden_sizes=[16])
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    measured, true, _ = _measured_and_true(system, Reality((ModulatorNonlinearity(0.6),)), x)
    assert _relative_error(measured, true) > 1e-3
    assert _cosine(measured, true) > 0.95


def test_photoelectric_shot_noise_leaves_the_gradient_unbiased():
    """One layer: δ = g is fixed, the outer product's shot noise averages out as 1/√draws."""
    system = SYSTEMS["photoelectric"].from_preset("default", hidden_sizes=[])
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    gen = torch.Generator().manual_seed(2)
    draws = [
        _measured_and_true(system, Reality((PhotonBudget(10.0),)), x, noise=NoiseSource(gen))
        for _ in range(64)
    ]
    true = draws[0][1]
    single = _relative_error(draws[0][0], true)
    mean = _relative_error(torch.stack([d[0] for d in draws]).mean(0), true)
    assert single > 0.05
    assert mean < single / 4


def test_photoelectric_adjoint_passes_nothing_through_clipped_readings():
    system = (
        SYSTEMS["photoelectric"]
        .from_preset("default", hidden_sizes=[], adc_full_scale=0.3)
        .double()
    )
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    nuisance = {**system.nominal_nuisance(), "adc_bits": 8}
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    g = torch.randn(6, 10, generator=gen, dtype=torch.float64)
    y, grads, _ = system.measured_gradient("adjoint", x, controls, nuisance, g)
    clipped = y.abs() >= 0.3
    assert clipped.any() and not clipped.all()
    inputs = x.reshape(6, -1)
    expected = (g * ~clipped).T @ inputs / 8.0  # gain 1/√64
    torch.testing.assert_close(grads["weight_0"], expected)


def test_photoelectric_adjoint_refuses_single_photon_neurons():
    system = SYSTEMS["photoelectric"].from_preset("default", neuron="single-photon")
    with pytest.raises(ConfigError, match="neuron='relu'"):
        system.check_procedure("adjoint")


# ------------------------------------------------------------------------------ scattering
SCATTERING = {"num_inputs": 16, "num_pixels": 32, "bidirectional": True}


def test_scattering_adjoint_equals_autograd_with_a_drifted_medium_and_slm_errors():
    system = SYSTEMS["scattering"].from_preset("default", **SCATTERING)
    x = torch.rand(5, 8, 8, dtype=torch.float64)
    gap = Reality((MediumDecorrelation(0.3), SLMPhaseError(0.15)))
    measured, true, passes = _measured_and_true(system, gap, x)
    assert _relative_error(measured, true) < 1e-5
    assert passes == 2


def test_scattering_holographic_noise_degrades_the_gradient():
    system = SYSTEMS["scattering"].from_preset("default", **SCATTERING)
    x = torch.rand(5, 8, 8, dtype=torch.float64)
    errors = [
        _relative_error(
            *_measured_and_true(
                system, Reality((MonitorNoise(sigma),)), x, noise=NoiseSource(torch.Generator())
            )[:2]
        )
        for sigma in (0.01, 0.1)
    ]
    assert 0 < errors[0] < errors[1]
    assert errors[0] < 0.2


def test_scattering_adjoint_needs_a_bidirectional_set_up():
    system = SYSTEMS["scattering"].from_preset(
        "default", num_inputs=16, num_pixels=32, bidirectional=False
    )
    with pytest.raises(ConfigError, match="bidirectional=true"):
        system.check_procedure("adjoint")
