"""The device's physical operations beyond a query: refused clearly where the physics lacks them."""

from __future__ import annotations

import pytest
import torch

from conftest import TINY
from physnn.errors import IncompatibleError
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods.base import GradientEstimator, Requirements, incompatibility
from physnn.reality import make_reality
from physnn.systems import SYSTEMS, Capabilities


def test_a_device_without_equilibrium_or_gradient_procedure_refuses_them():
    system = SYSTEMS["diffractive"].from_preset("default", **TINY)
    device = SimulatedDevice(system, make_reality(system, "none"), seed=0)
    x = torch.rand(2, 8, 8)
    with pytest.raises(IncompatibleError, match="no equilibrium"):
        device.relax(x)
    with pytest.raises(IncompatibleError, match="no physical gradient procedure 'echo'"):
        device.measure_gradient(x, torch.ones(2, system.num_outputs), "echo")
    assert device.stats().queries == 0  # nothing ran, nothing counted


def test_a_method_needing_a_procedure_is_incompatible_with_systems_without_it():
    class NeedsAdjoint(GradientEstimator):
        name = "needs-adjoint"
        requirements = Requirements(gradient_procedure="adjoint")

        def estimate(self, model, x, y, loss_fn):  # pragma: no cover - never trained
            raise AssertionError

    plain = Capabilities()
    assert "offers none" in incompatibility(NeedsAdjoint, "s", plain)
    ffm_only = Capabilities(gradient_procedures=("ffm",))
    assert "offers ffm" in incompatibility(NeedsAdjoint, "s", ffm_only)
    assert (
        incompatibility(NeedsAdjoint, "s", Capabilities(gradient_procedures=("adjoint",))) is None
    )


def test_a_device_checkpoint_without_a_held_state_resumes_with_exact_writes():
    system = SYSTEMS["diffractive"].from_preset("default", **TINY)
    device = SimulatedDevice(system, make_reality(system, "none"), seed=0)
    device.write(system.init_controls(torch.Generator().manual_seed(1)))
    old = device.state_dict()
    del old["held"], old["write_rng"]  # as written before writes could be inexact
    resumed = SimulatedDevice(system, make_reality(system, "none"), seed=0)
    resumed.load_state_dict(old)
    x = torch.rand(3, 8, 8)
    assert torch.equal(resumed.query(x), device.query(x))
