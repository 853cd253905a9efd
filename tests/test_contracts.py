"""The System / Device / ControlSpec contracts: bounds, levels, accounting, no autograd."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from physnn.errors import ConfigError, ControlBoundsError
from physnn.hardware import SimulatedDevice
from physnn.reality import Reality, make_reality
from physnn.substrates.diffractive.system import DiffractiveNetwork
from physnn.systems import SYSTEMS, ControlSpec

TWO_PI = 2 * math.pi


def test_registry_unknown_name_lists_valid_ones():
    with pytest.raises(ConfigError, match="diffractive"):
        SYSTEMS["difractive"]


def test_preset_overrides_are_validated():
    with pytest.raises(ConfigError, match="unknown option"):
        DiffractiveNetwork.from_preset("default", gird=10)
    with pytest.raises(ConfigError, match="grid must be positive"):
        DiffractiveNetwork.from_preset("default", grid=-3)
    with pytest.raises(ConfigError, match="num_layers of 'diffractive' must be int"):
        DiffractiveNetwork.from_preset("default", num_layers=2.5)
    with pytest.raises(ConfigError, match="must be bool"):
        DiffractiveNetwork.from_preset("default", differential=1)
    with pytest.raises(ConfigError, match="does not fit"):
        DiffractiveNetwork.from_preset("default", detector_size=50)
    assert DiffractiveNetwork.from_preset("default", pitch=1).config.pitch == 1  # int is a float
    with pytest.raises(ConfigError, match="unknown preset"):
        DiffractiveNetwork.from_preset("lin2019")


def test_periodic_spec_wraps_and_snaps():
    spec = ControlSpec((4,), 0.0, TWO_PI, periodic=True, levels=4)
    v = torch.tensor([-0.1, TWO_PI + 0.2, 3.0, TWO_PI - 0.01])
    p = spec.project(v)
    assert torch.all((p >= 0) & (p < TWO_PI))
    assert torch.allclose(p, torch.tensor([0.0, 0.0, math.pi, 0.0]))
    spec.check("phase", p)


def test_realize_is_straight_through():
    spec = ControlSpec((3,), 0.0, 1.0, levels=3)
    v = torch.tensor([0.1, 0.4, 0.8], requires_grad=True)
    r = spec.realize(v)
    assert torch.allclose(r, torch.tensor([0.0, 0.5, 1.0]))
    r.sum().backward()
    assert torch.equal(v.grad, torch.ones(3))


def test_device_refuses_out_of_range_and_off_level_writes(tiny_system):
    device = SimulatedDevice(tiny_system, Reality(), seed=0)
    phase = torch.full(tiny_system.control_specs()["phase"].shape, 1.0)
    device.write({"phase": phase})
    with pytest.raises(ControlBoundsError, match="outside"):
        device.write({"phase": phase + TWO_PI})
    with pytest.raises(ControlBoundsError, match="NaN"):
        device.write({"phase": phase * float("nan")})
    with pytest.raises(ControlBoundsError, match="shape"):
        device.write({"phase": phase[0]})
    with pytest.raises(ControlBoundsError, match="no control"):
        device.write({"voltage": phase})
    small = {"grid": 8, "num_layers": 1, "input_size": 4, "num_classes": 2, "detector_size": 1}
    quantized = DiffractiveNetwork.from_preset("default", phase_levels=8, **small)
    qdev = SimulatedDevice(quantized, Reality(), seed=0)
    with pytest.raises(ControlBoundsError, match="levels"):
        qdev.write({"phase": torch.full((1, 8, 8), 0.1)})
    qdev.write({"phase": torch.full((1, 8, 8), TWO_PI / 8)})
    # a refused write changes nothing
    assert torch.equal(device.read_controls()["phase"], phase)


def test_device_counts_queries_and_writes_per_phase(tiny_system):
    device = SimulatedDevice(tiny_system, Reality(), seed=0)
    x = torch.rand(5, 8, 8)
    device.query(x)
    with device.accounting("eval"):
        device.query(x[:2])
    phase = torch.full(tiny_system.control_specs()["phase"].shape, 2.0)
    device.write({"phase": phase})
    device.write({"phase": phase})  # unchanged: not a write
    train, ev = device.stats("train"), device.stats("eval")
    assert (train.queries, train.query_calls, train.writes) == (5, 1, 1)
    assert train.values_written == phase.numel()
    assert (ev.queries, ev.query_calls, ev.writes) == (2, 1, 0)


def test_device_has_no_autograd(tiny_system):
    device = SimulatedDevice(tiny_system, make_reality(tiny_system, "moderate"), seed=0)
    x = torch.rand(3, 8, 8, requires_grad=True)
    y = device.query(x)
    assert not y.requires_grad


def test_device_noise_is_seeded(tiny_system):
    x = torch.rand(4, 8, 8)
    outs = []
    for _ in range(2):
        dev = SimulatedDevice(tiny_system, make_reality(tiny_system, "severe"), seed=7)
        outs.append(torch.stack([dev.query(x), dev.query(x)]))
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0][0], outs[0][1])  # fresh noise on each query


def test_hidden_reality_depends_on_seed(tiny_system):
    reality = make_reality(tiny_system, "moderate")
    a = SimulatedDevice(tiny_system, reality, seed=0)._nuisance["plane_shift"]
    b = SimulatedDevice(tiny_system, reality, seed=1)._nuisance["plane_shift"]
    assert not torch.equal(a, b)


def test_a_periodic_control_just_below_its_low_bound_wraps_inside_the_bounds():
    spec = ControlSpec((3,), 0.0, TWO_PI, periodic=True)
    wrapped = spec.wrap_or_clip(torch.tensor([-1e-8, TWO_PI, 7.0]))
    assert bool(((wrapped >= 0.0) & (wrapped < TWO_PI)).all())
    spec.check("phase", wrapped)  # a write of these values is accepted


def test_slew_limited_writes_are_ramped_in_steps_within_the_limit(tiny_system):
    device = SimulatedDevice(tiny_system, Reality(), seed=0, max_change={"phase": 0.5})
    shape = tiny_system.control_specs()["phase"].shape
    held = []
    apply = device._apply
    device._apply = lambda controls: (held.append(controls["phase"].clone()), apply(controls))
    device.write({"phase": torch.full(shape, 1.6)})  # from 0: four steps of 0.4
    assert [float(v.max()) for v in held] == pytest.approx([0.4, 0.8, 1.2, 1.6])
    assert device.stats().writes == 4
    assert torch.equal(device.read_controls()["phase"], torch.full(shape, 1.6))
    with pytest.raises(ControlBoundsError, match="slew limit"):
        device.check_write({"phase": torch.full(shape, 2.2)}, device.read_controls())
    device.check_write({"phase": torch.full(shape, 2.1)}, device.read_controls())
    with pytest.raises(ControlBoundsError, match="unknown controls"):
        SimulatedDevice(tiny_system, Reality(), seed=0, max_change={"voltage": 1.0})


def test_quantized_controls_ramp_by_whole_levels_within_the_limit():
    small = {"grid": 8, "num_layers": 1, "input_size": 4, "num_classes": 2, "detector_size": 1}
    system = DiffractiveNetwork.from_preset("default", phase_levels=8, **small)
    device = SimulatedDevice(system, Reality(), seed=0, max_change={"phase": 1.0})
    sent = []
    apply = device._apply
    device._apply = lambda controls: (sent.append(controls["phase"].clone()), apply(controls))
    device.write({"phase": torch.full((1, 8, 8), 5 * math.pi / 4)})  # 5 levels of π/4
    values = [0.0] + [float(v.max()) for v in sent]
    assert values[-1] == pytest.approx(5 * math.pi / 4)
    assert all(0 < b - a <= 1.0 + 1e-6 for a, b in itertools.pairwise(values))
    with pytest.raises(ControlBoundsError, match="smaller than one level"):
        SimulatedDevice(system, Reality(), seed=0, max_change={"phase": 0.5}).write(
            {"phase": torch.full((1, 8, 8), math.pi / 4)}
        )


def test_every_reciprocal_system_runs_a_physical_gradient_procedure():
    """``reciprocal=True`` promises a physical backward pass: the system must offer a procedure
    that runs it (a substrate without one says why in its capabilities' comment instead)."""
    import physnn.substrates.builtin  # noqa: F401

    without = [
        name
        for name, cls in SYSTEMS.items()
        if cls.capabilities.reciprocal and not cls.capabilities.gradient_procedures
    ]
    assert without == [], f"reciprocal without a gradient procedure: {without}"
