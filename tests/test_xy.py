"""Coupled phase oscillators: the gradient-flow fixed point, EP against autograd of the twin,
detuning, nudge and clamp, gap levels, presets and bad configs."""

from __future__ import annotations

import pytest
import torch

import physnn.methods.equilibrium  # registers ep
import physnn.substrates.xy.gap
import physnn.substrates.xy.system  # noqa: F401  (registers the system)
from conftest import fit_one_batch, learned, tiny_run
from physnn.errors import ConfigError
from physnn.hardware import SimulatedDevice
from physnn.physics import xy
from physnn.reality import make_reality
from physnn.substrates.xy.system import PhaseOscillators
from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource
from physnn.train import TrainConfig

SMALL = {"num_inputs": 6, "hidden_sizes": (5,), "output_oscillators": 2}


def small(**options) -> tuple[PhaseOscillators, dict, torch.Tensor]:
    system = PhaseOscillators.from_preset("default", **{**SMALL, **options})
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    controls = {k: v + 0.3 * torch.rand(v.shape, generator=gen).double() if k.startswith("field")
                else v for k, v in controls.items()}  # fmt: skip
    x = torch.rand(4, 6, generator=gen, dtype=torch.float64)
    return system, controls, x


def flat(grads: dict) -> torch.Tensor:
    return torch.cat([grads[k].flatten() for k in sorted(grads)])


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a, b, dim=0))


@pytest.mark.parametrize("scale", [1.0, 6.0])
def test_the_flow_descends_the_energy_to_a_stationary_point(scale):
    """Also with strong couplings (scale 6: every |W| at the bound), where a fixed Euler step
    would be unstable; the mobilities keep η = 1 stable."""
    system, controls, x = small(free_steps=1, tolerance=None)
    controls = {k: (scale * v).clamp(-1, 1) if k.startswith("weight") else v
                for k, v in controls.items()}  # fmt: skip
    weights, fields, pins = system.parameters_of(controls, system.nominal_nuisance())
    phases = system.settle(x, controls, system.nominal_nuisance())
    energies = [xy.energy(phases, weights, fields, pins)]
    for _ in range(600):
        phases = xy.step(phases, weights, fields, pins, 1.0)
        energies.append(xy.energy(phases, weights, fields, pins))
    steps = torch.stack(energies)
    assert (steps[1:] <= steps[:-1] + 1e-12).all()
    assert max(g.abs().max() for g in xy.energy_gradient(phases, weights, fields, pins)) < 1e-8


def test_ep_converges_to_the_autograd_gradient_of_the_twin_as_beta_goes_to_zero():
    system, controls, x = small(tolerance=1e-12)
    g = torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    leaf = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    (system(x, leaf, system.nominal_nuisance()) * g).sum().div(4).backward()
    true = flat({k: v.grad for k, v in leaf.items()})
    nominal, cosines = system.nominal_nuisance(), []
    for beta in (0.3, 1e-3):
        plus = system.relax(x, controls, nominal, nudge=-beta * g).local
        minus = system.relax(x, controls, nominal, nudge=beta * g).local
        cosines.append(cosine(flat({k: (plus[k] - minus[k]) / (2 * beta) for k in plus}), true))
    assert cosines[1] > 0.999
    assert cosines[1] >= cosines[0]


def test_detuning_locks_at_a_state_where_the_energy_gradient_is_the_detuning():
    system, controls, x = small(tolerance=1e-12)
    omega = [0.02 * torch.randn(n, generator=torch.Generator().manual_seed(n)).double()
             for n in (5, 2)]  # fmt: skip
    nuisance = {**system.nominal_nuisance(), "detuning": omega}
    phases = system.settle(x, controls, nuisance)
    weights, fields, pins = system.parameters_of(controls, nuisance)
    grads = xy.energy_gradient(phases, weights, fields, pins)
    for grad, w in zip(grads, omega, strict=True):
        assert torch.allclose(grad, w.expand_as(grad), atol=1e-8)
    assert grads[0].abs().max() > 1e-3  # not an energy minimum


def test_nudge_moves_the_outputs_along_the_force_and_clamp_holds_them():
    system, controls, x = small()
    nominal = system.nominal_nuisance()
    free = system.relax(x, controls, nominal)
    force = 0.1 * torch.randn(4, 4, generator=torch.Generator().manual_seed(2)).double()
    nudged = system.relax(x, controls, nominal, nudge=force)
    assert ((nudged.outputs - free.outputs) * force).sum() > 0
    angles = torch.rand(4, 2, dtype=torch.float64)
    target = torch.cat([angles.cos(), angles.sin()], dim=1)
    assert torch.allclose(system.relax(x, controls, nominal, clamp=target).outputs, target)
    assert set(free.local) == set(system.control_specs())


def test_phase_noise_comes_from_the_noise_source():
    system, controls, x = small()
    nuisance = {**system.nominal_nuisance(), "phase_noise": 1e-3}
    clean = system(x, controls, nuisance)
    noisy = [system(x, controls, nuisance, NoiseSource(torch.Generator().manual_seed(s)))
             for s in (0, 0, 1)]  # fmt: skip
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], noisy[2])
    assert 0 < (noisy[0] - clean).abs().mean() < 0.02  # weak noise, a small perturbation


def test_presets_and_their_shapes():
    default = SYSTEMS["xy"].from_preset("default", free_steps=50, tolerance=None)  # shapes only
    assert default.num_outputs == 10
    assert SYSTEMS["xy"].from_preset("default").config.tolerance == 1e-6
    assert default.control_specs()["pin_1"].periodic
    controls = default.init_controls(torch.Generator().manual_seed(1))
    assert default(torch.rand(3, 8, 8), controls, {}).shape == (3, 10)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"hidden_sizes": (0,)}, "layer sizes"),
        ({"free_steps": 0}, "free_steps"),
        ({"step_size": 1.5}, "step_size"),
        ({"field_bound": -1.0}, "field_bound"),
        ({"output_oscillators": 2.5}, "output_oscillators"),
        ({"num_outputs": 3}, "unknown option"),
    ],
)
def test_bad_configs_raise_config_errors(options, match):
    with pytest.raises(ConfigError, match=match):
        PhaseOscillators.from_preset("default", **options)


def test_gap_levels_grow_and_knobs_at_zero_are_the_perfect_device():
    system, controls, _ = small()
    controls = {k: v.float() for k, v in controls.items()}
    x = torch.rand(32, 6, generator=torch.Generator().manual_seed(3))
    clean = system(x, controls, system.nominal_nuisance())
    errors = []
    for level in ("mild", "moderate", "severe"):
        device = SimulatedDevice(system, make_reality(system, level), seed=0)
        device.write(controls)
        errors.append(float((device.query(x) - clean).abs().mean()))
        assert device._nuisance["detuning"] is not None
    assert errors[0] < errors[1] < errors[2]
    zero = {"coupling_error": 0, "detuning": 0, "phase_noise": 0}
    assert make_reality(system, "severe", zero).perturbations == ()
    assert make_reality(system, "none").perturbations == ()


@pytest.mark.parametrize("method", ["ep", "backprop"])
def test_tiny_oscillator_networks_learn_at_the_default_settings(method):
    """EP at its default nudge on the converged relaxation fits a batch as backprop does: the
    loss falls below 0.8× the untrained model's (or the accuracy rises by 0.25)."""
    config = TrainConfig(method=method, gap="none", **tiny_run("xy"))
    assert learned(*fit_one_batch(config))


def test_the_relaxation_stops_at_its_tolerance_and_a_noisy_one_at_the_noise_floor():
    system, controls, x = small(tolerance=1e-9)
    weights, fields, pins = system.parameters_of(controls, system.nominal_nuisance())
    free = system.relax(x, controls, system.nominal_nuisance())
    assert 0 < free.residual <= 1e-9
    phases = system.settle(x, controls, system.nominal_nuisance())
    assert max(g.abs().max() for g in xy.energy_gradient(phases, weights, fields, pins)) < 1e-7
    nuisance = {**system.nominal_nuisance(), "phase_noise": 1e-3}
    noise = NoiseSource(torch.Generator().manual_seed(0))
    assert system.stopping_residual(1e-3, noise) == pytest.approx(5e-3)  # 5σ/√η, η = 1
    noisy = system.relax(x, controls, nuisance, noise=noise)  # settles: no budget spent
    assert 1e-9 < noisy.residual <= 5e-3


def test_complex_nudges_give_holomorphic_ep_at_a_finite_radius():
    """The flow is analytic in the phases, so N = 4 complex nudges on a circle of radius 0.2
    recover the gradient (error O(|β|⁴); measured 1.3 % relative) far better than ±β real
    nudges (error O(β²); measured 8 %)."""
    system, controls, x = small(tolerance=1e-12)
    g = torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    leaf = {k: v.clone().requires_grad_(True) for k, v in controls.items()}
    (system(x, leaf, system.nominal_nuisance()) * g).sum().div(4).backward()
    true = flat({k: v.grad for k, v in leaf.items()})
    nominal, radius = system.nominal_nuisance(), 0.2
    total = {}
    for k in range(4):
        phase = complex(torch.tensor(2j * torch.pi * k / 4).exp())
        local = system.relax(x, controls, nominal, nudge=-radius * g * phase).local
        total = {n: total.get(n, 0) + v * phase.conjugate() for n, v in local.items()}
    hep = flat({n: (v / (4 * radius)).real for n, v in total.items()})
    plus = system.relax(x, controls, nominal, nudge=-radius * g).local
    minus = system.relax(x, controls, nominal, nudge=radius * g).local
    ep = flat({k: (plus[k] - minus[k]) / (2 * radius) for k in plus})
    assert (hep - true).norm() < 0.25 * (ep - true).norm()
    assert cosine(hep, true) > 0.999
