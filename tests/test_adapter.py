"""The instrument adapter: what physnn guarantees a lab's instrument, and the simulated one."""

from __future__ import annotations

import itertools
from dataclasses import asdict

import pytest
import torch

from conftest import TINY_RUN, TINY_SYSTEM_OPTIONS, fit_one_batch, learned
from physnn.errors import ConfigError, ControlBoundsError, CorruptedMeasurement, DeviceTimeout
from physnn.hardware.adapter import (
    Instrument,
    InstrumentDevice,
    InstrumentTimeout,
    load_instrument_device,
)
from physnn.hardware.instrument import SimulatedInstrument
from physnn.hardware.simulated import SimulatedDevice
from physnn.reality import make_reality
from physnn.systems import SYSTEMS, ControlSpec
from physnn.train import TrainConfig, train

SIMULATED = "physnn.hardware.instrument:SimulatedInstrument"
QUIET = {
    "timeout_rate": 0.0,
    "corrupt_rate": 0.0,
    "drift_per_hour": 0.0,
    "latency": 0.0,
    "latency_per_sample": 0.0,
    "settle_seconds": 0.0,
}
"""SimulatedInstrument options that switch every habit of real hardware off."""


class Clock:
    """A fake wall clock: sleeping advances it at once, and every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Recorder(Instrument):
    """A fake instrument that records every call and misbehaves as scripted: each entry of
    ``script`` ("timeout", "nan", "shape" or None) decides one call, then it behaves."""

    max_change = {"v": 0.25}  # noqa: RUF012 (declared as a lab would)
    settle_seconds = 0.5
    max_batch = 4
    num_outputs = 2

    def __init__(self, clock: Clock, script: list[str | None] | None = None) -> None:
        self.clock = clock
        self.script = list(script or [])
        self.writes: list[tuple[float, torch.Tensor]] = []
        self.batches: list[tuple[float, int]] = []

    def control_specs(self) -> dict[str, ControlSpec]:
        return {"v": ControlSpec((3,), -1.0, 1.0)}

    def _next(self) -> str | None:
        action = self.script.pop(0) if self.script else None
        if action == "timeout":
            raise InstrumentTimeout("no answer")
        return action

    def set_controls(self, controls):
        self._next()
        self.writes.append((self.clock.time(), controls["v"].clone()))

    def measure(self, x):
        action = self._next()
        self.batches.append((self.clock.time(), len(x)))
        v = self.writes[-1][1]
        y = torch.stack([x.sum(1), x.sum(1) * v.sum()], dim=1)
        if action == "nan":
            y[0, 1] = float("nan")
        if action == "shape":
            y = y[:, :1]
        return y


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_out_of_range_writes_never_reach_the_instrument(clock):
    recorder = Recorder(clock)
    device = InstrumentDevice(recorder, sleep=clock.sleep)
    assert len(recorder.writes) == 1  # the safe state, on connecting
    for bad in (
        {"v": torch.tensor([1.5, 0.0, 0.0])},
        {"v": torch.tensor([float("nan"), 0.0, 0.0])},
        {"v": torch.zeros(4)},
        {"w": torch.zeros(3)},
    ):
        with pytest.raises(ControlBoundsError):
            device.write(bad)
    with pytest.raises(ControlBoundsError, match="outside"):
        device.load_state_dict({**device.state_dict(), "controls": {"v": torch.full((3,), 2.0)}})
    assert len(recorder.writes) == 1
    assert device.stats().writes == 0


def test_slew_limited_writes_arrive_as_settled_ramps(clock):
    recorder = Recorder(clock)
    device = InstrumentDevice(recorder, sleep=clock.sleep)
    target = torch.tensor([1.0, -0.5, 0.0])
    device.write({"v": target})
    device.query(torch.ones(1, 5))
    sent = [v for _, v in recorder.writes]
    steps = [float((b - a).abs().max()) for a, b in itertools.pairwise(sent)]
    assert len(steps) == 4 == device.stats().writes  # a change of 1.0 in steps of 0.25
    assert max(steps) <= 0.25 + 1e-6
    assert torch.equal(sent[-1], target)
    assert torch.equal(device.read_controls()["v"], target)
    # every write is followed by the settle time before the next call
    calls = sorted([t for t, _ in recorder.writes] + [t for t, _ in recorder.batches])
    assert all(b - a >= 0.5 for a, b in itertools.pairwise(calls))
    assert device.health().settle_seconds == pytest.approx(0.5 * 5)


def test_batches_larger_than_max_batch_are_split(clock):
    recorder = Recorder(clock)
    device = InstrumentDevice(recorder, sleep=clock.sleep)
    x = torch.rand(10, 5)
    y = device.query(x)
    assert [n for _, n in recorder.batches] == [4, 4, 2]
    assert torch.allclose(y[:, 0], x.sum(1))
    assert (device.stats().queries, device.stats().query_calls) == (10, 1)


def test_timeouts_are_retried_with_backoff_then_fail_clearly(clock):
    recorder = Recorder(clock, script=["timeout", "timeout"])
    device = InstrumentDevice(recorder, sleep=clock.sleep)  # the safe write times out twice
    assert clock.sleeps[:2] == [0.05, 0.1]
    assert len(recorder.writes) == 1
    recorder.script = ["timeout"] * 4
    with pytest.raises(DeviceTimeout, match="did not answer a measurement of 3 samples: 4 att"):
        device.query(torch.ones(3, 5))
    assert clock.sleeps[-3:] == [0.05, 0.1, 0.2]
    health = device.health()
    assert (health.timeouts, health.retries, health.failures) == (6, 5, 1)
    assert device.query(torch.ones(3, 5)).shape == (3, 2)  # the hardware is back


def test_corrupted_frames_are_measured_again_then_fail_clearly(clock):
    recorder = Recorder(clock, script=[None, "nan", "shape", "timeout"])
    device = InstrumentDevice(recorder, sleep=clock.sleep)
    y = device.query(torch.ones(2, 5))
    assert torch.isfinite(y).all() and y.shape == (2, 2)
    health = device.health()
    assert (health.corrupted_frames, health.timeouts, health.retries) == (2, 1, 3)
    recorder.script = ["nan", "shape", "nan", "shape"]
    with pytest.raises(CorruptedMeasurement, match=r"4 corrupted frames .*shape \(2, 1\)"):
        device.query(torch.ones(2, 5))
    assert device.health().failures == 1


def test_state_dict_writes_the_controls_back_within_slew_limits(clock):
    device = InstrumentDevice(Recorder(clock), sleep=clock.sleep)
    device.write({"v": torch.tensor([0.5, 0.5, -0.5])})
    state = device.state_dict()
    fresh = Recorder(clock)
    resumed = InstrumentDevice(fresh, sleep=clock.sleep)
    resumed.load_state_dict(state)
    sent = [v for _, v in fresh.writes]
    assert torch.equal(sent[-1], torch.tensor([0.5, 0.5, -0.5]))
    assert all(float((b - a).abs().max()) <= 0.25 + 1e-6 for a, b in itertools.pairwise(sent))
    assert resumed.stats().writes == device.stats().writes == 2  # the write-back is not counted


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("SimulatedInstrument", {}, "module:Class"),
        ("physnn_no_such_lab:Camera", {}, "cannot import the adapter module"),
        ("physnn.hardware.instrument:Camera", {}, "its instruments: SimulatedInstrument"),
        ("physnn.errors:ConfigError", {}, "not a subclass of physnn.hardware.adapter.Instrument"),
        ("physnn.hardware.adapter:Instrument", {}, "does not implement: control_specs"),
        (SIMULATED, {"bogus": 1}, "unknown option.s. bogus; it takes: system, preset"),
        (SIMULATED, {"latency": "fast"}, "option latency must be a number"),
        (SIMULATED, {"timeout_rate": 1.5}, r"timeout_rate must be in \[0, 1\)"),
        (SIMULATED, {"system_options": "{grid"}, "system_options must be a table"),
        (SIMULATED, {"system": "laser"}, "unknown system 'laser'"),
    ],
)
def test_load_instrument_device_errors_are_clear(spec, options, message):
    with pytest.raises(ConfigError, match=message):
        load_instrument_device(spec, options)


def test_load_instrument_device_converts_string_options():
    device = load_instrument_device(
        SIMULATED,
        {
            "system_options": '{"grid": 16, "num_layers": 2, "input_size": 8, "detector_size": 2}',
            "max_change": "0.5",
            "max_batch": "8",
            "timeout_rate": "0",
        },
    )
    assert isinstance(device, InstrumentDevice)
    assert device.max_change == {"phase": 0.5}
    assert device.instrument.max_batch == 8
    assert device.specs["phase"].shape == (2, 16, 16)


def tiny_instrument(clock: Clock, **options) -> SimulatedInstrument:
    return SimulatedInstrument(
        system_options=TINY_SYSTEM_OPTIONS["diffractive"],
        **{**QUIET, **options},
        clock=clock.time,
        sleep=clock.sleep,
    )


def test_simulated_drift_grows_with_wall_time(clock):
    device = InstrumentDevice(tiny_instrument(clock, gap="none", drift_per_hour=0.05))
    device.write(device.instrument.system.init_controls(torch.Generator().manual_seed(0)))
    x = torch.rand(32, 8, 8, generator=torch.Generator().manual_seed(1))
    y0 = device.query(x)

    def change() -> float:
        return float((device.query(x) - y0).norm() / y0.norm())

    assert change() == 0.0  # no time has passed
    clock.now += 3600.0
    after_hour = change()
    clock.now += 100 * 3600.0
    after_101_hours = change()
    assert 0.01 < after_hour < 0.15  # about 5 % after an hour
    assert after_101_hours > 3 * after_hour  # grows like √t


def test_simulated_fault_rates_are_as_configured(clock):
    instrument = tiny_instrument(clock, timeout_rate=0.2, corrupt_rate=0.2)
    x = torch.rand(2, 8, 8)
    timeouts = corrupted = 0
    for _ in range(200):
        try:
            y = instrument.measure(x)
        except InstrumentTimeout:
            timeouts += 1
            continue
        corrupted += y.shape != (2, instrument.num_outputs) or not torch.isfinite(y).all()
    assert 25 < timeouts < 55  # 40 expected
    assert 18 < corrupted < 48  # 32 expected
    assert (instrument.injected.timeouts, instrument.injected.corrupted_frames) == (
        timeouts,
        corrupted,
    )


def test_simulated_settle_time_and_interlock(clock):
    instrument = tiny_instrument(clock, gap="none", settle_seconds=1.0, max_change=0.5)
    hasty = InstrumentDevice(instrument, sleep=lambda seconds: None)  # forgets to wait
    x = torch.rand(4, 8, 8)
    clock.now += 1.0  # the safe state, written on connecting, has settled
    before = hasty.query(x)
    hasty.write({"phase": torch.full((2, 16, 16), 0.5)})
    assert torch.equal(hasty.query(x), before)  # the old controls are still in effect
    assert instrument.injected.stale_measurements == 1
    clock.now += 1.0
    assert not torch.equal(hasty.query(x), before)
    with pytest.raises(ControlBoundsError, match="interlock: control 'phase' would jump"):
        instrument.set_controls({"phase": torch.full((2, 16, 16), 1.5)})
    assert instrument.injected.refused_writes == 1


@pytest.mark.parametrize(("system", "operation"), [("mzi", "adjoint"), ("hopfield", "relax")])
def test_physical_operations_pass_through_in_pieces(system, operation):
    """A gradient measurement or a relaxation split into pieces of max_batch equals one call."""
    options = TINY_SYSTEM_OPTIONS[system]
    device = InstrumentDevice(
        SimulatedInstrument(system, system_options=options, gap="none", max_batch=3, **QUIET)
    )
    physics = SYSTEMS[system].from_preset("default", **options)
    reference = SimulatedDevice(physics, make_reality(physics, "none"), seed=0)
    controls = physics.init_controls(torch.Generator().manual_seed(1))
    device.write(controls)
    reference.write(controls)
    x = torch.rand(8, 16)
    probe = torch.randn(8, physics.num_outputs)
    if operation == "relax":
        got, want = device.relax(x, nudge=0.1 * probe), reference.relax(x, nudge=0.1 * probe)
        outputs, local = (got.outputs, got.local), (want.outputs, want.local)
    else:
        outputs = device.measure_gradient(x, probe, operation)
        local = reference.measure_gradient(x, probe, operation)
        outputs, local = (outputs[0], outputs[1]), (local[0], local[1])
    assert torch.allclose(outputs[0], local[0], atol=1e-6)
    for name in outputs[1]:
        assert torch.allclose(outputs[1][name], local[1][name], atol=1e-5)
    assert device.stats().queries == reference.stats().queries


def tiny_pat(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY_RUN, "method": "pat", "epochs": 1, **changes})


def test_quiet_simulated_instrument_is_the_simulated_device(tmp_path):
    """With its habits switched off, the stand-in trains exactly like the simulated device."""
    config = tiny_pat()
    direct = train(config, tmp_path / "direct", progress=False)
    instrument = SimulatedInstrument(
        system_options=TINY_SYSTEM_OPTIONS["diffractive"], gap=config.gap, seed=config.seed, **QUIET
    )
    wrapped = train(
        config, tmp_path / "instrument", progress=False, device=InstrumentDevice(instrument)
    )
    for key in ("device_accuracy", "twin_accuracy", "device_queries", "param_writes"):
        assert wrapped[key] == direct[key], key


def test_a_recorded_run_reports_the_instrument_health(tmp_path):
    """--record wraps the instrument in a recording device; its health still reaches the result."""
    instrument = SimulatedInstrument(
        system_options=TINY_SYSTEM_OPTIONS["diffractive"], seed=0, **{**QUIET, "corrupt_rate": 0.2}
    )
    device = InstrumentDevice(instrument)
    result = train(tiny_pat(), tmp_path / "run", progress=False, device=device, record=True)
    assert result["device_health"] == asdict(device.health())
    assert result["device_health"]["corrupted_frames"] == instrument.injected.corrupted_frames > 0


def _faulty_instrument() -> SimulatedInstrument:
    return SimulatedInstrument(
        system_options=TINY_SYSTEM_OPTIONS["diffractive"],
        timeout_rate=0.1,
        timeout_seconds=1e-3,
        corrupt_rate=0.2,
        max_change=0.5,
        max_batch=16,
    )


def test_pat_training_survives_injected_faults(tmp_path):
    instrument = _faulty_instrument()
    device = InstrumentDevice(instrument, backoff=1e-3)
    result = train(tiny_pat(), tmp_path / "run", progress=False, device=device)
    health, injected = device.health(), instrument.injected
    print(
        f"\nfaults injected: {injected.timeouts} timeouts, {injected.corrupted_frames} corrupted "
        f"frames; survived: {health.timeouts} + {health.corrupted_frames} with "
        f"{health.retries} retries, {health.failures} failures; {result['param_writes']} "
        f"training writes, {injected.refused_writes} refused; device accuracy "
        f"{result['device_accuracy']:.3f}"
    )
    assert injected.timeouts >= 3 and injected.corrupted_frames >= 3
    assert (health.timeouts, health.corrupted_frames) == (
        injected.timeouts,
        injected.corrupted_frames,
    )
    assert health.failures == injected.refused_writes == injected.stale_measurements == 0
    faulty = InstrumentDevice(_faulty_instrument(), backoff=1e-3)
    assert learned(*fit_one_batch(tiny_pat(), device=faulty))  # conftest's learning criterion
