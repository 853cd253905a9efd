"""Fully forward mode on MZI meshes (Xue et al. 2024): the mirrored mesh transfers Uᵀ, the
error sent forwards through it gives the exact gradient (float64, against autograd of the
device), a mirror with couplers of its own makes it approximate, and it trains model-free."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import physnn.methods.insitu  # noqa: F401  (registers ffm)
from conftest import TINY_RUN
from physnn.errors import ConfigError
from physnn.physics import adjoint, mesh
from physnn.reality import Reality
from physnn.substrates.mzi.gap import CouplerSplittingError, MirrorCouplerError, PhaseDrift
from physnn.systems import SYSTEMS
from physnn.train import TrainConfig, build_experiment
from test_insitu import LOSSLESS_MZI, _measured_and_true, _relative_error


def test_the_mirrored_mesh_transfers_the_transpose(gen):
    layout = mesh.clements_layout(5)
    theta, phi, screen, errors = (
        torch.rand(shape, generator=gen, dtype=torch.float64)
        for shape in ((layout.num_mzis,), (layout.num_mzis,), (5,), (layout.num_mzis, 2))
    )
    errors = 0.1 * (errors - 0.5)
    loss = torch.full((layout.num_mzis,), 0.3, dtype=torch.float64)
    physics = adjoint.MeshPhysics(layout, theta, phi, screen, errors, mesh.db_to_amplitude(loss))
    unitary = mesh.mesh_matrix(layout, mesh.mzi_transfer(theta, phi, errors, loss), screen)
    eye = torch.eye(5, dtype=torch.complex128)
    mirror = adjoint.trace_mirror(eye, physics)[0].mT  # column j: the mirror's response to e_j
    torch.testing.assert_close(mirror, unitary.mT, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("options", "passes"),
    [
        ({}, 3),
        ({"layout": "reck", "modes": 6, "num_classes": 4}, 3),
        ({"detection": "homodyne", "modes": 6, "num_classes": 3}, 2),
        ({"modes": 6, "num_layers": 2, "nonlinearity": "electro-optic", "readout": "all"}, 4),
        ({"modes": 6, "num_layers": 2, "nonlinearity": "saturable-absorber", "readout": "all"}, 4),
    ],
)
def test_ffm_equals_autograd_of_the_device_with_an_exact_mirror(options, passes):
    """Coupler errors and phase drift on the chip, the mirror a faithful copy: exact; between
    layers the activation's derivative is taken digitally at the measured fields."""
    system = SYSTEMS["mzi"].from_preset("default", **options)
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    measured, true, counted = _measured_and_true(system, LOSSLESS_MZI, "ffm", x)
    assert _relative_error(measured, true) < 1e-5
    assert counted == passes


def _mirror_gap(sigma: float) -> Reality:
    return Reality((CouplerSplittingError(0.05), PhaseDrift(0.2), MirrorCouplerError(sigma)))


def test_a_mirror_with_its_own_couplers_makes_ffm_approximate_not_the_adjoint():
    system = SYSTEMS["mzi"].from_preset("default", modes=8, num_classes=8)
    x = torch.rand(6, 8, 8, dtype=torch.float64)
    adjoint_reading, true, _ = _measured_and_true(system, _mirror_gap(0.05), "adjoint", x)
    assert _relative_error(adjoint_reading, true) < 1e-5  # sent back through the chip itself
    errors = []
    for sigma in (0.01, 0.05):
        measured, true, _ = _measured_and_true(system, _mirror_gap(sigma), "ffm", x)
        errors.append(_relative_error(measured, true))
        assert F.cosine_similarity(measured, true, dim=0) > 0.9
    assert 1e-3 < errors[0] < errors[1]


def test_ffm_refuses_svd_meshes_with_a_sentence():
    config = TrainConfig(
        **{**TINY_RUN, "system": "mzi", "system_options": {"architecture": "svd"}},
        method="ffm",
    )
    with pytest.raises(ConfigError, match="set architecture='unitary'"):
        build_experiment(config)
