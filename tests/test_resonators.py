"""Coupled-mode resonators: reciprocity, passivity/unitarity, the Lorentzian line, the System
contract, the reality gap and a tiny training run."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.resonators.gap
import physnn.substrates.resonators.system
from physnn.errors import ConfigError
from physnn.physics.coupled_modes import (
    coupling_hamiltonian,
    reflection,
    scattering_matrix,
    symmetric_coupling,
)
from physnn.reality import make_reality
from physnn.substrates.resonators.system import CoupledResonators, layered_pairs

TINY = {"num_inputs": 9, "num_hidden": 3, "num_ports": 4}


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


def _random_symmetric(n: int, gen: torch.Generator, batch: int = 3) -> torch.Tensor:
    a = torch.randn(batch, n, n, generator=gen, dtype=torch.float64)
    return (a + a.transpose(-2, -1)) / 2


def test_symmetric_hamiltonian_gives_a_reciprocal_s_matrix(gen):
    h = _random_symmetric(6, gen)
    kappa = torch.rand(6, generator=gen, dtype=torch.float64)
    gamma = torch.rand(6, generator=gen, dtype=torch.float64)
    s = scattering_matrix(h, kappa, gamma, omega=0.3)
    assert s.dtype == torch.complex128
    assert torch.allclose(s, s.transpose(-2, -1), atol=1e-12)


def test_lossless_network_is_unitary_and_lossy_network_is_passive(gen):
    h = _random_symmetric(5, gen)
    kappa = 0.5 + torch.rand(5, generator=gen, dtype=torch.float64)
    s = scattering_matrix(h, kappa, torch.zeros(5, dtype=torch.float64), omega=-0.2)
    eye = torch.eye(5, dtype=torch.complex128)
    assert torch.allclose(s @ s.conj().transpose(-2, -1), eye.expand_as(s), atol=1e-12)
    assert torch.allclose(torch.linalg.svdvals(s), torch.ones(3, 5, dtype=torch.float64))
    lossy = scattering_matrix(h, kappa, torch.full((5,), 0.3, dtype=torch.float64))
    singular = torch.linalg.svdvals(lossy)
    assert (singular <= 1 + 1e-12).all() and (singular < 1 - 1e-3).any()


def test_single_resonator_has_the_lorentzian_reflection(gen):
    omega = torch.linspace(-5, 5, 41, dtype=torch.float64)
    detuning, kappa, gamma = 0.7, 1.3, 0.4
    h = torch.full((41, 1, 1), detuning, dtype=torch.float64)
    s = torch.stack([
        scattering_matrix(h[i], torch.tensor([kappa]), torch.tensor([gamma]), w)[0, 0]
        for i, w in enumerate(omega)
    ])  # fmt: skip
    expected = 1 - 1j * kappa / (omega - detuning + 1j * (kappa + gamma) / 2)
    assert torch.allclose(s, expected.to(torch.complex128), atol=1e-12)
    delta = omega - detuning
    power = (delta**2 + ((kappa - gamma) / 2) ** 2) / (delta**2 + ((kappa + gamma) / 2) ** 2)
    assert torch.allclose(s.abs().square(), power, atol=1e-12)
    critical = scattering_matrix(torch.tensor([[0.0]]), torch.tensor([1.0]), torch.tensor([1.0]))
    assert critical.abs().item() < 1e-7  # critical coupling: no reflection on resonance


def test_ports_select_the_probed_block_of_the_full_s_matrix(gen):
    h = _random_symmetric(6, gen)
    kappa = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.8, 1.2], dtype=torch.float64)
    gamma = torch.full((6,), 0.2, dtype=torch.float64)
    full = scattering_matrix(h, kappa, gamma)
    ports = torch.tensor([3, 4, 5])
    part = scattering_matrix(h, kappa, gamma, ports=ports)
    assert torch.allclose(part, full[:, 3:, 3:], atol=1e-12)
    assert torch.allclose(full[:, :3, :3], torch.eye(3, dtype=torch.complex128).expand(3, 3, 3))
    assert torch.allclose(reflection(part), torch.diagonal(full[:, 3:, 3:], dim1=-2, dim2=-1))


def test_coupling_matrix_is_symmetric_and_layered():
    rows, cols = layered_pairs((2, 3, 1))
    assert rows.tolist() == [0, 0, 0, 1, 1, 1, 2, 3, 4]
    assert cols.tolist() == [2, 3, 4, 2, 3, 4, 5, 5, 5]
    values = torch.arange(1.0, 10.0)
    j = symmetric_coupling(values, rows, cols, 6)
    assert torch.equal(j, j.T) and j[0, 2] == 1 and j[4, 5] == 9 and j.diagonal().eq(0).all()
    h = coupling_hamiltonian(torch.ones(6), j)
    assert torch.equal(h.diagonal(), torch.ones(6))


def test_system_shapes_bounds_and_nonlinearity():
    system = CoupledResonators.from_preset("default", **TINY)
    controls = system.init_controls(torch.Generator().manual_seed(0))
    specs = system.control_specs()
    assert specs["detuning"].shape == (16,) and specs["coupling"].shape == (9 * 3 + 3 * 4,)
    for name, spec in specs.items():
        spec.check(name, controls[name])
    nominal = system.nominal_nuisance()
    for x in (torch.rand(3, 8, 8), torch.rand(3, 28, 28), torch.rand(3, 12)):
        assert system(x, controls, nominal).shape == (3, 8)
    a, b = torch.rand(2, 1, 3, 3)
    zero = torch.zeros(1, 3, 3)
    f = lambda v: system(v, controls, nominal)  # noqa: E731
    assert not torch.allclose(f(a + b) - f(zero), f(a) - f(zero) + f(b) - f(zero), atol=1e-3)
    intensity = CoupledResonators.from_preset("default", measure="intensity", **TINY)
    y = intensity(torch.rand(5, 8, 8), controls, nominal)
    assert y.shape == (5, 4) and (y >= 0).all() and (y <= 1 + 1e-5).all()  # passive


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ConfigError, match="num_ports must be positive"):
        CoupledResonators.from_preset("default", num_ports=0)
    with pytest.raises(ConfigError, match="internal_decay must be non-negative"):
        CoupledResonators.from_preset("default", internal_decay=-1.0)
    with pytest.raises(ConfigError, match="measure must be one of"):
        CoupledResonators.from_preset("default", measure="phase")
    with pytest.raises(ConfigError, match="init_coupling must be in"):
        CoupledResonators.from_preset("default", init_coupling=9.0)
    assert CoupledResonators.from_preset("wanjura2024").config.num_modes == 64 + 80 + 10


def test_forward_gradients_match_finite_differences():
    system = CoupledResonators.from_preset("default", num_inputs=3, num_hidden=2, num_ports=2)
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, generator=gen)
    detuning = torch.randn(7, generator=gen, dtype=torch.float64, requires_grad=True)
    coupling = torch.randn(10, generator=gen, dtype=torch.float64, requires_grad=True)
    loss = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)

    def forward(detuning, coupling, loss):
        nuisance = {**system.nominal_nuisance(), "extra_loss": loss}
        return system(x, {"detuning": detuning, "coupling": coupling}, nuisance)

    assert torch.autograd.gradcheck(forward, (detuning, coupling, loss))


@pytest.mark.parametrize("measure", ["field", "intensity"])
@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_family_builds_and_changes_the_output(level, measure):
    system = CoupledResonators.from_preset("default", measure=measure, **TINY)
    reality = make_reality(system, level)
    noise = "homodyne-noise" if measure == "field" else "detector-noise"
    assert {p.name for p in reality.perturbations} == {
        "detuning-error", "coupling-error", "extra-loss", "thermal-drift", noise, "tap-noise"
    }  # fmt: skip
    nuisance = reality.sample_nuisance(system, torch.Generator().manual_seed(0))
    assert nuisance["detuning_error"].shape == (16,) and nuisance["extra_loss"] > 0
    controls = system.init_controls(torch.Generator().manual_seed(0))
    x = torch.rand(4, 8, 8)
    nominal = system(x, controls, system.nominal_nuisance())
    device = reality.observe(system(x, controls, nuisance), torch.Generator().manual_seed(1))
    assert (nominal - device).abs().max() > 1e-3


def test_homodyne_noise_has_the_shot_noise_variance():
    noise = physnn.substrates.resonators.gap.HomodyneNoise(photons=100.0)
    y = noise.observe(torch.zeros(200_000), torch.Generator().manual_seed(0))
    assert y.std().item() == pytest.approx(1 / (2 * math.sqrt(100.0)), rel=0.01)
