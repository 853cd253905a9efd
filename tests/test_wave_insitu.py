"""Physical gradients of the wave RNN: time reversal (Hughes et al. 2019) and Hamiltonian echo
(López-Pastor & Marquardt 2023) against autograd of the hidden physics in float64, with the
reality gap drawn, their refusals, the echo's reversibility and its loss with damping, and
model-free training steps on the simulated device."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.echo  # registers echo
import physnn.methods.insitu  # noqa: F401  (registers time-reversal)
from conftest import TINY_RUN, TINY_SYSTEM_OPTIONS
from physnn.errors import IncompatibleError
from physnn.physics import wave_adjoint
from physnn.reality import make_reality
from physnn.substrates.wave.system import WaveRNN, design_region
from physnn.systems.base import NoiseSource
from physnn.train import TrainConfig, build_experiment

F64 = torch.float64
ROOMY = {"nx": 20, "ny": 14, "pml_cells": 2, "src_x": 3, "probe_x": 16, "num_probes": 3,
         "probe_spacing": 2, "design_margin": 3, "hold": 2}  # fmt: skip
"""A small grid whose source and probes stay out of the design region when the gap shifts them."""


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _measured_and_true(procedure: str, level: str = "none", seed: int = 0, **options):
    """The procedure's ∂⟨g, y⟩/∂speed and autograd's on the hidden physics (float64), the
    nuisance drawn at the gap ``level``, and the nuisance."""
    system = WaveRNN.from_preset("default", **{**ROOMY, **options}).double()
    gen = torch.Generator().manual_seed(seed)
    nuisance = make_reality(system, level).sample_nuisance(system, gen)
    shape = system.control_specs()["speed"].shape
    speed = 0.55 + 0.4 * torch.rand(shape, generator=gen, dtype=F64)
    x = torch.rand(3, 14, generator=gen, dtype=F64)  # 28 steps: the waves reach the probes
    leaf = speed.clone().requires_grad_(True)
    y = system(x, {"speed": leaf}, nuisance)
    g = torch.randn(y.shape, generator=gen, dtype=F64)
    (y * g).sum().backward()
    outputs, grads, passes = system.measured_gradient(procedure, x, {"speed": speed}, nuisance, g)
    torch.testing.assert_close(outputs, y.detach(), rtol=1e-12, atol=1e-15)
    assert passes == (3 if procedure == "echo" else 2)
    return grads["speed"], leaf.grad, nuisance


def _contrast_factor(nuisance) -> float:
    """d(realized speed)/d(control) = (c0 − c1')/(c0 − c1), common to every cell."""
    c1 = nuisance.get("c1_realized")
    return 1.0 if c1 is None else (1.0 - c1) / (1.0 - 0.5)


@pytest.mark.parametrize("options", [{}, {"damping": 0.05}, {"pml_cells": 0}])
def test_time_reversal_equals_autograd_with_absorber_and_damping(options):
    """The adjoint in reversed time is the same lossy update: exact with losses too."""
    measured, true, _ = _measured_and_true("time-reversal", **options)
    assert _relative_error(measured, true) < 1e-5
    assert _relative_error(-measured, true) > 1.9  # the sign is right


def test_time_reversal_is_exact_for_the_drawn_gap_up_to_the_contrast_factor():
    """Fabrication error and shifted source and probes are seen; the miscalibrated slow material
    scales the control-to-speed map by (c0 − c1')/(c0 − c1), which the reading does not undo."""
    measured, true, nuisance = _measured_and_true("time-reversal", "moderate", seed=3)
    region = design_region(WaveRNN.config_class(**ROOMY))
    assert nuisance["speed_error"][region].abs().max() > 0.01
    assert nuisance["probe_shift"].abs().sum() + nuisance["source_shift"].abs().sum() > 0
    factor = _contrast_factor(nuisance)
    assert abs(factor - 1) > 1e-3
    assert _relative_error(factor * measured, true) < 1e-5
    assert F.cosine_similarity(measured.flatten(), true.flatten(), dim=0) > 0.999999


@pytest.mark.parametrize("kick", [1e-1, 1e-3])
def test_echo_equals_backprop_through_time_in_a_lossless_box(kick):
    """The echoes ±ε are affine in ε, so their difference is exact at any kick size."""
    measured, true, nuisance = _measured_and_true("echo", "mild", pml_cells=0, echo_kick=kick)
    measured = _contrast_factor(nuisance) * measured  # the gap's one factor, as above
    assert _relative_error(measured, true) < 1e-5
    assert _relative_error(-measured, true) > 1.9


def test_monitor_noise_perturbs_the_readings_the_echo_more_for_small_kicks():
    """Each reading is off by σ relative. The echo's two integrals hold the forward field's
    energy and differ by a part ∝ the kick, so its error grows as σ/η; time reversal's
    correlation is the signal itself. Default grid (30 × 30, 64 values held 4 steps)."""

    def cosine(procedure: str, **options) -> float:
        system = WaveRNN.from_preset("default", **options).double()
        gen = torch.Generator().manual_seed(5)
        nuisance = {**system.nominal_nuisance(), "monitor_noise": 0.01}
        speed = 0.55 + 0.4 * torch.rand(system.control_specs()["speed"].shape, generator=gen)
        x = torch.rand(4, 64, generator=gen, dtype=F64)
        leaf = speed.double().requires_grad_(True)
        y = system(x, {"speed": leaf}, nuisance)
        g = torch.randn(y.shape, generator=gen, dtype=F64)
        (y * g).sum().backward()
        noise = NoiseSource(torch.Generator().manual_seed(6))
        _, grads, _ = system.measured_gradient(
            procedure, x, {"speed": speed.double()}, nuisance, g, noise
        )
        return float(F.cosine_similarity(grads["speed"].flatten(), leaf.grad.flatten(), dim=0))

    assert 0.99 < cosine("time-reversal") < 1 - 1e-9
    small, default = (cosine("echo", pml_cells=0, echo_kick=k) for k in (0.01, 1.0))
    assert small < 0.9 and 0.99 < default < 1 - 1e-9


def _small_box(damping: float = 0.0) -> tuple[WaveRNN, wave_adjoint.Stencil]:
    system = WaveRNN.from_preset("default", **{**ROOMY, "pml_cells": 0, "damping": damping})
    system = system.double()
    gen = torch.Generator().manual_seed(1)
    speed = 0.55 + 0.4 * torch.rand(system.control_specs()["speed"].shape, generator=gen)
    medium = system.medium({"speed": speed.double()}, system.nominal_nuisance())
    return system, wave_adjoint.Stencil.of(medium)


@pytest.mark.parametrize("damping", [0.0, 0.02])
def test_the_echo_without_a_kick_returns_to_rest_only_without_losses(damping):
    system, stencil = _small_box(damping)
    signal = system.encode(torch.rand(2, 14, generator=torch.Generator().manual_seed(2))).double()
    steps = signal.shape[1]
    fields = wave_adjoint.forward(stencil, signal, (3, 7))
    assert fields[steps].abs().max() > 1e-3  # the waves are out
    played_back = torch.cat([signal.new_zeros(1, 2, 1), signal.flip(1).t()[:-1, :, None]])
    echoed = wave_adjoint.run(stencil, (fields[steps + 1], fields[steps]), ((3, 7),), played_back)
    returned = echoed[-1].abs().max()  # e⁰, where the forward run started at rest
    assert (returned < 1e-12) if damping == 0 else (returned > 1e-4)


def test_echo_gradient_degrades_with_damping():
    def cosine(damping: float) -> float:
        system, _ = _small_box(damping)
        gen = torch.Generator().manual_seed(4)
        speed = 0.55 + 0.4 * torch.rand(system.control_specs()["speed"].shape, generator=gen)
        x = torch.rand(2, 14, generator=gen, dtype=F64)
        leaf = speed.double().requires_grad_(True)
        nuisance = system.nominal_nuisance()
        y = system(x, {"speed": leaf}, nuisance)
        g = torch.randn(y.shape, generator=gen, dtype=F64)
        (y * g).sum().backward()
        medium = system.medium({"speed": leaf.detach()}, nuisance)
        cells = ((3, 7), ((16, 5), (16, 7), (16, 9)))
        _, grid = wave_adjoint.echo(
            wave_adjoint.Stencil.of(medium), system.encode(x).double(), *cells, g, 1.0, 1.0
        )
        measured = grid[design_region(system.config)]
        return float(F.cosine_similarity(measured.flatten(), leaf.grad.flatten(), dim=0))

    cosines = [cosine(b) for b in (0.0, 0.01, 0.1)]
    assert cosines[0] > 0.999999
    assert cosines[0] > cosines[1] > cosines[2]


@pytest.mark.parametrize(
    ("procedure", "options", "message"),
    [
        ("time-reversal", {"kerr": 0.1}, "kerr=0 and saturable=0"),
        ("echo", {"saturable": 0.1, "pml_cells": 0}, "kerr=0 and saturable=0"),
        ("echo", {}, "pml_cells=4 dissipates; set the system options pml_cells=0"),
        ("echo", {"pml_cells": 0, "damping": 0.01}, "damping=0.01 dissipates"),
    ],
)
def test_procedures_refuse_media_they_cannot_invert(procedure, options, message):
    system = WaveRNN.from_preset("default", **options)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x, g = torch.rand(2, 8, 8), torch.randn(2, 10)
    with pytest.raises(IncompatibleError, match=message):
        system.measured_gradient(procedure, x, controls, system.nominal_nuisance(), g)


def _config(method: str, **system_options) -> TrainConfig:
    options = {**TINY_SYSTEM_OPTIONS["wave"], **system_options}
    run = {**TINY_RUN, "system": "wave", "system_options": options, "method": method}
    return TrainConfig(**{**run, "gap": "none"})


def test_a_nonlinear_medium_is_refused_before_any_work():
    with pytest.raises(IncompatibleError, match="kerr=0"):
        build_experiment(_config("time-reversal", kerr=0.1))
    with pytest.raises(IncompatibleError, match="pml_cells=0"):
        build_experiment(_config("echo"))


class NoTwin(torch.nn.Module):
    def forward(self, *args):
        raise AssertionError("the method called the twin")


@pytest.mark.parametrize(
    ("method", "options", "passes"), [("time-reversal", {}, 2), ("echo", {"pml_cells": 0}, 3)]
)
def test_steps_without_a_twin_follow_the_device_gradient(method, options, passes):
    exp = build_experiment(_config(method, **options))
    block = exp.model.physical_blocks()[0]
    block.twin = NoTwin()
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    exp.model.zero_grad()
    loss, logits = exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    assert math.isfinite(float(loss)) and logits.shape == (16, 10)
    measured = torch.cat([p.grad.flatten().clone() for p in block.parameters()])
    assert exp.device.stats("train").queries == 16 * (1 + passes)

    exp.model.zero_grad()
    hardware = block.device

    def oracle(b, inputs):
        b.commit()
        return hardware.oracle_forward(inputs, b.realized_controls())

    with exp.model.executing(oracle):
        F.cross_entropy(exp.model(x), y).backward()
    true = torch.cat([p.grad.flatten() for p in block.parameters()])
    assert _relative_error(measured, true) < 1e-3  # float32 device and oracle
