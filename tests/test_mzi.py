"""MZI meshes: closed-form physics, decompositions, gradients, the gap family, a tiny training."""

from __future__ import annotations

import math

import pytest
import torch

import physnn.substrates.mzi.gap
import physnn.substrates.mzi.system  # noqa: F401  (registers the system)
from physnn.errors import ConfigError
from physnn.physics import mesh
from physnn.reality import make_reality
from physnn.substrates.mzi.system import MZIMesh


def _eye(n: int) -> torch.Tensor:
    return torch.eye(n, dtype=torch.complex128)


def _random_phases(layout: mesh.MeshLayout, gen: torch.Generator):
    m, n = layout.num_mzis, layout.num_modes
    theta, phi = (2 * math.pi * torch.rand(m, generator=gen, dtype=torch.float64) for _ in "ab")
    return theta, phi, 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)


def test_mzi_matches_its_closed_form():
    theta = torch.tensor([0.3, 2.0], dtype=torch.float64)
    phi = torch.tensor([1.1, -0.4], dtype=torch.float64)
    t = mesh.mzi_transfer(theta, phi)
    s, c, e = torch.sin(theta / 2), torch.cos(theta / 2), torch.exp(1j * phi)
    expected = (
        1j
        * torch.exp(1j * theta / 2)[:, None, None]
        * torch.stack([torch.stack([e * s, c], -1), torch.stack([e * c, -s], -1)], -2)
    )
    torch.testing.assert_close(t, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["clements", "reck"])
@pytest.mark.parametrize("n", [5, 8])
def test_ideal_mesh_is_unitary(kind, n, gen):
    layout = mesh.mesh_layout(kind, n)
    assert layout.num_mzis == n * (n - 1) // 2
    theta, phi, screen = _random_phases(layout, gen)
    u = mesh.mesh_matrix(layout, mesh.mzi_transfer(theta, phi), screen)
    assert (u.conj().T @ u - _eye(n)).abs().max() < 1e-6


def test_clements_has_n_columns_and_reck_2n_minus_3():
    assert mesh.clements_layout(6).num_columns == 6
    assert mesh.reck_layout(6).num_columns == 2 * 6 - 3


@pytest.mark.parametrize("kind", ["clements", "reck"])
@pytest.mark.parametrize("n", [4, 7, 16])
def test_decomposition_reconstructs_a_haar_unitary(kind, n, gen):
    target = mesh.haar_unitary(n, gen)
    phases = mesh.decompose(kind, target)
    transfer = mesh.mzi_transfer(phases["theta"], phases["phi"])
    u = mesh.mesh_matrix(mesh.mesh_layout(kind, n), transfer, phases["screen"])
    assert (u - target).abs().max() < 1e-6


def test_decomposition_refuses_a_non_unitary_matrix():
    with pytest.raises(ValueError, match="not unitary"):
        mesh.clements_decompose(2 * _eye(3))


@pytest.mark.parametrize("kind", ["clements", "reck"])
def test_uniform_loss_attenuates_each_path_by_its_depth(kind):
    """All MZIs in the bar state (θ = π): mode m crosses d_m MZIs and keeps 10^(−L d_m / 10)."""
    n, loss_db = 6, 0.3
    layout = mesh.mesh_layout(kind, n)
    theta = torch.full((layout.num_mzis,), math.pi, dtype=torch.float64)
    phi = torch.zeros_like(theta)
    u = mesh.mesh_matrix(layout, mesh.mzi_transfer(theta, phi, loss_db=loss_db), torch.zeros(n))
    depth = torch.tensor(
        [sum(m in (t, t + 1) for c in layout.columns for t in c) for m in range(n)]
    )
    expected = 10 ** (-loss_db * depth.double() / 10)
    torch.testing.assert_close(u.abs().square(), torch.diag(expected), atol=1e-12, rtol=0)
    singular = torch.linalg.svdvals(u)
    assert singular.max() < 1  # sub-unitary


def test_coupler_errors_keep_a_lossless_mesh_unitary(gen):
    layout = mesh.clements_layout(6)
    theta, phi, screen = _random_phases(layout, gen)
    errors = 0.1 * torch.randn(layout.num_mzis, 2, generator=gen, dtype=torch.float64)
    u = mesh.mesh_matrix(layout, mesh.mzi_transfer(theta, phi, errors), screen)
    ideal = mesh.mesh_matrix(layout, mesh.mzi_transfer(theta, phi), screen)
    assert (u.conj().T @ u - _eye(6)).abs().max() < 1e-12
    assert (u - ideal).abs().max() > 1e-2


def test_coupler_errors_limit_the_extinction_as_expected():
    """Cross state leaks sin²(ε₁ + ε₂) into the bar port; bar state leaks sin²(ε₂ − ε₁)."""
    e1, e2 = 0.04, 0.07
    errors = torch.tensor([[e1, e2], [e1, e2]], dtype=torch.float64)
    theta = torch.tensor([0.0, math.pi], dtype=torch.float64)
    t = mesh.mzi_transfer(theta, torch.zeros(2, dtype=torch.float64), errors)
    assert t[0, 0, 0].abs().square().item() == pytest.approx(math.sin(e1 + e2) ** 2, abs=1e-12)
    assert t[1, 0, 1].abs().square().item() == pytest.approx(math.sin(e2 - e1) ** 2, abs=1e-12)


def test_thermal_crosstalk_leaks_to_neighbours_in_the_same_column_only():
    layout = mesh.clements_layout(5)  # columns of 2 MZIs: (0, 1), (2, 3), …
    phase = torch.arange(1.0, layout.num_mzis + 1)
    out = mesh.thermal_crosstalk(phase, layout.has_lower_neighbour, 0.1)
    torch.testing.assert_close(out[:4], torch.tensor([1 + 0.2, 2 + 0.1, 3 + 0.4, 4 + 0.3]))


def test_activations_closed_form():
    z = torch.tensor([1e-4 + 0j, 0.5 + 0j], dtype=torch.complex128)
    eo = mesh.electro_optic_activation(z, gain=math.pi, bias=0.0, tap=0.1, mean_power=0.25)
    # linear at low power
    assert eo[0].item() == pytest.approx(1j * math.sqrt(0.9) * 1e-4, rel=1e-6)
    assert abs(eo[1].item()) == pytest.approx(0.0, abs=1e-12)  # Δφ = π: the interferometer is dark
    sa = mesh.saturable_absorber(z, depth=2.0, saturation=1.0, mean_power=0.25)
    assert abs(sa[0].item()) == pytest.approx(1e-4 * math.exp(-1.0), rel=1e-6)
    assert abs(sa[1].item()) == pytest.approx(0.5 * math.exp(-1.0 / 2), rel=1e-9)


def _double_controls(system, gen):
    return {k: v.double() for k, v in system.init_controls(gen).items()}


def test_forward_gradcheck_in_controls_and_nuisance(gen):
    system = MZIMesh.from_preset(
        "default", modes=3, num_layers=2, architecture="svd", nonlinearity="electro-optic",
        readout="all", num_classes=3,
    )  # fmt: skip
    controls = _double_controls(system, gen)
    x = torch.rand(2, 3, generator=gen, dtype=torch.float64)
    offset = 0.1 * torch.randn(2, 2, 9, generator=gen, dtype=torch.float64)

    def f(theta, sigma, phase_offset):
        nuisance = {**system.nominal_nuisance(), "phase_offset": phase_offset, "crosstalk": 0.02}
        return system(x, {**controls, "theta": theta, "sigma": sigma}, nuisance)

    inputs = (controls["theta"], controls["sigma"].clamp(0.2, 0.8), offset)
    assert torch.autograd.gradcheck(f, tuple(t.requires_grad_() for t in inputs))


@pytest.mark.parametrize("preset", ["default", "shen2017", "clements16"])
def test_presets_shapes_and_bounds(preset, gen):
    system = MZIMesh.from_preset(preset)
    controls = system.init_controls(gen)
    for name, spec in system.control_specs().items():
        spec.check(name, controls[name])
    y = system(torch.rand(4, 8, 8, generator=gen), controls, system.nominal_nuisance())
    assert y.shape == (4, system.num_outputs) and (y >= 0).all()
    assert y.sum(-1).max() <= 1 + 1e-5  # a lossless mesh conserves the unit input power


def test_homodyne_reads_both_quadratures(gen):
    system = MZIMesh.from_preset("default", detection="homodyne", num_classes=4)
    assert system.output_kind == "real" and system.num_outputs == 8
    y = system(torch.rand(2, 12, generator=gen), system.init_controls(gen), {})
    assert y.shape == (2, 8)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"modes": 1}, "at least 2 modes"),
        ({"layout": "hexagonal"}, "layout must be one of"),
        ({"readout": "ports", "modes": 4}, "readout='ports'"),
        ({"tap_fraction": 1.0}, "tap_fraction"),
    ],
)
def test_bad_configuration_is_refused_clearly(option, message):
    with pytest.raises(ConfigError, match=message):
        MZIMesh.from_preset("default", **option)


@pytest.mark.parametrize("level", ["mild", "moderate", "severe"])
def test_gap_builds_at_every_level_and_changes_the_device(level, gen):
    system = MZIMesh.from_preset("default", modes=6, num_classes=4)
    reality = make_reality(system, level)
    nuisance = reality.sample_nuisance(system, gen)
    controls = system.init_controls(gen)
    ideal = system.transfer_matrices(controls, system.nominal_nuisance())
    real = system.transfer_matrices(controls, nuisance)
    assert (real - ideal).abs().max() > 1e-3
    assert reality.noisy
    assert make_reality(system, "none").perturbations == ()
