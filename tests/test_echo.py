"""Hamiltonian echo backpropagation on the oscillator chain: reversibility of the echo, the echo
gradient against backpropagation through the RK4 integration (float64), refusal of damped
chains, and model-free training steps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.echo  # noqa: F401  (registers echo)
from conftest import TINY_RUN, TINY_SYSTEM_OPTIONS
from physnn.compiling import compile_unavailable
from physnn.errors import IncompatibleError
from physnn.physics import echo
from physnn.physics.oscillators import Chain
from physnn.substrates.oscillators.system import OscillatorChain
from physnn.train import TrainConfig, build_experiment

SMALL = {"num_oscillators": 6, "num_steps": 200, "duration": 2.0, "num_samples": 2, "damping": 0.0}
"""An undamped, driven chain resolved finely enough that RK4 is reversible to ~1e-10."""


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def _flat(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


def _echo_and_bptt(kind: str, kick: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Echo gradient of Σ⟨g, y⟩ and autograd's through the RK4 integration, with calibration
    errors of the frequencies (which the procedure never needs to know)."""
    system = OscillatorChain.from_preset("default", **SMALL, kind=kind, echo_kick=kick)
    gen = torch.Generator().manual_seed(3)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    nuisance = {
        **system.nominal_nuisance(),
        "frequency_error": 0.05 * torch.randn(6, generator=gen, dtype=torch.float64),
    }
    x = torch.rand(3, 6, generator=gen, dtype=torch.float64)
    g = torch.randn(3, system.num_outputs, generator=gen, dtype=torch.float64)
    leaves = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    (system(x, leaves, nuisance) * g).sum().backward()
    outputs, measured, passes = system.measured_gradient("echo", x, controls, nuisance, g)
    assert passes == 3
    assert torch.equal(outputs, system(x, controls, nuisance))  # the procedure's forward pass
    return _flat(measured), _flat({k: v.grad for k, v in leaves.items()})


@pytest.mark.parametrize("kind", ["duffing", "pendulum"])
def test_echo_gradient_converges_to_backprop_through_time(kind):
    errors = []
    for kick in (1e-1, 1e-2, 1e-3):
        measured, true = _echo_and_bptt(kind, kick)
        assert F.cosine_similarity(measured, true, dim=0) > 0.99
        errors.append(_relative_error(measured, true))
    # central difference of the two echoes: error O(η²) until the integrator's floor
    assert errors[1] < errors[0] / 30 and errors[2] < errors[1] / 30
    assert errors[2] < 1e-6


@pytest.mark.parametrize("drive", [0.0, 0.5])
def test_the_echo_without_a_kick_returns_to_the_initial_state(drive):
    gen = torch.Generator().manual_seed(0)
    n = 8
    chain = Chain(
        omega_sq=(1 + 0.2 * torch.rand(n, generator=gen, dtype=torch.float64)).square(),
        coupling=torch.rand(n - 1, generator=gen, dtype=torch.float64),
        drive=drive * torch.randn(n, generator=gen, dtype=torch.float64),
        nonlinearity=1.0,
        drive_frequency=1.3,
    )
    q0 = torch.rand(4, n, generator=gen, dtype=torch.float64) * 2 - 1
    v0 = torch.zeros_like(q0)
    q_end, v_end, _, _ = echo.evolve(q0, v0, chain, 2.0, 200, 200)
    assert (q_end - q0).abs().max() > 0.1  # it moved
    kicks = torch.zeros(4, 1, n, dtype=torch.float64)
    q_back, p_back, _ = echo.echo(q_end, v_end, chain, 2.0, 200, kicks)
    assert (q_back - q0).abs().max() < 1e-9 and p_back.abs().max() < 1e-9
    # the drive waveform must be played backwards: an echo that plays it forwards (the echo
    # reverses the protocol of the chain it is given) does not return a driven chain
    if drive:
        played_forwards = echo.reversed_protocol(chain, 2.0)
        q_wrong, _, _ = echo.echo(q_end, v_end, played_forwards, 2.0, 200, kicks)
        assert (q_wrong - q0).abs().max() > 1e-3


def _config(**system_options) -> TrainConfig:
    options = {**TINY_SYSTEM_OPTIONS["oscillators"], "damping": 0.0, **system_options}
    run = {**TINY_RUN, "system": "oscillators", "system_options": options, "method": "echo"}
    return TrainConfig(**{**run, "gap": "none"})


def test_a_damped_chain_is_refused_naming_the_option():
    system = OscillatorChain.from_preset(
        "default", num_oscillators=4, num_steps=20, duration=2.0, damping=0.1
    )
    gen = torch.Generator().manual_seed(0)
    controls = system.init_controls(gen)
    x, g = torch.rand(2, 4), torch.randn(2, 4)
    with pytest.raises(IncompatibleError, match="damping=0"):
        system.measured_gradient("echo", x, controls, system.nominal_nuisance(), g)
    with pytest.raises(IncompatibleError, match="damping"):
        build_experiment(_config(damping=0.1))  # refused before any work


class NoTwin(torch.nn.Module):
    def forward(self, *args):
        raise AssertionError("the echo method called the twin")


def test_steps_without_a_twin_follow_the_device_gradient_and_lower_the_loss():
    exp = build_experiment(_config())
    block = exp.model.physical_blocks()[0]
    block.twin = NoTwin()
    x, y = exp.dataset.x_train[:16], exp.dataset.y_train[:16]
    exp.model.zero_grad()
    loss, logits = exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
    assert math.isfinite(float(loss)) and logits.shape == (16, 10)
    measured = _flat({n: p.grad.clone() for n, p in block.named_parameters()})
    assert exp.device.stats("train").queries == 16 * (1 + 3)

    exp.model.zero_grad()
    hardware = block.device

    def oracle(b, inputs):
        b.commit()
        return hardware.oracle_forward(inputs, b.realized_controls())

    with exp.model.executing(oracle):
        F.cross_entropy(exp.model(x), y).backward()
    true = _flat({n: p.grad for n, p in block.named_parameters()})
    assert _relative_error(measured, true) < 1e-3  # float32 device, RK4 with dt = 0.1

    optimizer = torch.optim.Adam(exp.model.parameters(), lr=0.05)
    first = float(loss)
    for _ in range(15):
        optimizer.zero_grad()
        loss, _ = exp.estimator.estimate(exp.model, x, y, F.cross_entropy)
        optimizer.step()
        block.commit()
    assert float(loss) < 0.8 * first


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own, while inductor loads
def test_the_compiled_echo_measures_the_same_gradient():
    """compile=true runs every RK4 step of the echo under torch.compile: same readings."""
    if reason := compile_unavailable():
        pytest.skip(f"torch.compile does not work here: {reason}")
    gen = torch.Generator().manual_seed(5)
    eager = OscillatorChain.from_preset("default", **SMALL)
    compiled = OscillatorChain.from_preset("default", **SMALL, compile=True)
    controls = {k: v.double() for k, v in eager.init_controls(gen).items()}
    x = torch.rand(3, 6, generator=gen, dtype=torch.float64)
    g = torch.randn(3, eager.num_outputs, generator=gen, dtype=torch.float64)
    readings = [
        system.measured_gradient("echo", x, controls, system.nominal_nuisance(), g)
        for system in (eager, compiled)
    ]
    (y_eager, grads_eager, _), (y_compiled, grads_compiled, _) = readings
    assert torch.allclose(y_compiled, y_eager, rtol=1e-10, atol=1e-12)
    assert _relative_error(_flat(grads_compiled), _flat(grads_eager)) < 1e-8
