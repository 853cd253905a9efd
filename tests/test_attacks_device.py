"""Fault-injection suite, the device layer (issue 18): attacks on what a device holds.

Every attack goes to the loopback only (an in-thread server or a ``physnn serve`` subprocess on
127.0.0.1), is bounded in count and time, and stops by itself. Each test asserts the answer,
that the device state stayed in range, and that the legitimate work is unchanged.

* A float64 control 2π − 1e-12 for a phase in [0, 2π) is in range in float64 but becomes the
  float32 2π, the open bound: it is checked as the device holds it, so refused (422 through the
  server, ControlBoundsError in process), and no log line claims it was applied.
* Training's own projected writes (a float32 value that wraps onto 2π, the top level of a
  quantized control) are never refused.
* A ``--device-url`` run that survived a server restart says so in result.json.
"""

from __future__ import annotations

import json
import math

import httpx
import pytest
import torch

import test_server
from conftest import TINY_RUN
from physnn.errors import ControlBoundsError
from physnn.hardware.adapter import Instrument, InstrumentDevice
from physnn.hardware.instrument import SimulatedInstrument
from physnn.hardware.protocol import decode
from physnn.hardware.simulated import simulated_device
from physnn.systems import ControlSpec
from physnn.train import TrainConfig, train
from test_server import HEADERS, SHAPE, FaultyDevice, inputs, raw_post, served

TWO_PI = 2 * math.pi
ROUNDS_ONTO_2PI = TWO_PI - 1e-12  # < 2π in float64; float32 rounds it to 6.2831855 (= 2π)
TINY = TINY_RUN["system_options"]
QUIET = {"timeout_rate": 0.0, "corrupt_rate": 0.0, "drift_per_hour": 0.0, "latency": 0.0,
         "latency_per_sample": 0.0, "settle_seconds": 0.0}  # fmt: skip
processes = test_server.processes  # the fixture that kills the `physnn serve` subprocesses


def in_range(phase: torch.Tensor) -> bool:
    """Whether every held phase lies in [0, 2π), compared exactly (float32 is exact in float64)."""
    exact = phase.double()
    return bool(((exact >= 0) & (exact < TWO_PI)).all())


def attack(shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    return {"phase": torch.full(shape, ROUNDS_ONTO_2PI, dtype=torch.float64)}


def legitimate(shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """An in-range float64 write, and what a float32 device holds for it."""
    return {"phase": torch.linspace(0.1, 6.2, math.prod(shape), dtype=torch.float64).view(shape)}


# ----------------------------------------------------------------------------- through the server
def test_the_server_refuses_a_float64_phase_that_float32_rounds_onto_2pi(tmp_path):
    device = FaultyDevice()
    device.max_change = {}  # the slew limit would refuse the jump for another reason
    reference = FaultyDevice()
    with served(device, tmp_path) as srv:
        response = raw_post(srv.url, "/v1/write", attack(SHAPE), rid="attack")
        held = decode(httpx.get(srv.url + "/v1/controls", headers=HEADERS).content)["phase"]
        # the attacker's lease goes on: its legitimate work is unaffected by the refusal
        assert raw_post(srv.url, "/v1/write", legitimate(SHAPE), rid="ok").status_code == 200
        measured = decode(raw_post(srv.url, "/v1/query", {"x": inputs()}, rid="q").content)["y"]
        final, applied, log = device.read_controls()["phase"], len(device.applied), srv.log_lines()
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert "'phase'" in message and "6.2831855" in message and "float32" in message
    assert in_range(torch.from_numpy(held)) and in_range(final)
    assert device.inadmissible == 0 and applied == 1  # the legitimate write only
    assert not [e for e in log if e.get("request") == "attack" and e["outcome"] == "applied"]
    reference.write(legitimate(SHAPE))
    assert torch.equal(final, reference.read_controls()["phase"])
    assert torch.equal(torch.from_numpy(measured), reference.query(inputs()))


def test_a_quantized_phase_is_checked_and_snapped_in_float32_through_the_server(tmp_path):
    device = simulated_device("diffractive", system_options={**TINY, "phase_levels": 8})
    level = TWO_PI / 8
    on_levels = {"phase": torch.full(SHAPE, 7 * level, dtype=torch.float64)}  # the top level
    with served(device, tmp_path) as srv:
        refused = raw_post(srv.url, "/v1/write", attack(SHAPE), rid="attack")
        assert raw_post(srv.url, "/v1/write", on_levels, rid="top").status_code == 200
        held = device.read_controls()["phase"]
    assert refused.status_code == 422 and "outside" in refused.json()["message"]
    assert in_range(held)
    device.specs["phase"].check("phase", held)  # on its levels, as snapped in float32


def test_the_client_refuses_the_rounded_phase_before_sending_it(tmp_path):
    device = FaultyDevice()
    device.max_change = {}
    with served(device, tmp_path) as srv:
        remote = srv.connect()
        with pytest.raises(ControlBoundsError, match=r"'phase'.*6\.2831855"):
            remote.write(attack(SHAPE))
        assert srv.tap.seen["/v1/write", 422] == 0  # refused here, nothing was sent
        remote.write(legitimate(SHAPE))
        final = device.read_controls()["phase"]
    assert in_range(final) and device.inadmissible == 0
    assert torch.equal(remote.read_controls()["phase"], final)


# ----------------------------------------------------------------------------- in process
def test_a_simulated_device_refuses_the_rounded_phase_and_takes_projected_ones():
    device = simulated_device("diffractive", system_options=TINY)
    spec, shape = device.specs["phase"], device.specs["phase"].shape
    with pytest.raises(ControlBoundsError, match=r"'phase'.*float32.*6\.2831855"):
        device.write(attack(shape))
    assert in_range(device.read_controls()["phase"]) and device.stats().writes == 0
    # training's own writes (float32 projections) are never refused, also of values that wrap
    # onto 2π (-1e-8: remainder rounds to the full period) or round to it (2π − 1e-12)
    below_2pi = torch.nextafter(torch.tensor(TWO_PI, dtype=torch.float32), torch.tensor(0.0))
    edges = torch.tensor([-1e-8, TWO_PI, float(below_2pi), ROUNDS_ONTO_2PI, 7.0, -7.0])
    projected = spec.project(edges.repeat(math.prod(shape) // len(edges) + 1))
    device.write({"phase": projected[: math.prod(shape)].view(shape)})
    assert in_range(device.read_controls()["phase"]) and device.stats().writes == 1


def test_no_rounded_phase_reaches_an_instrument():
    instrument = SimulatedInstrument("diffractive", system_options=TINY, **QUIET)
    device = InstrumentDevice(instrument)
    shape = device.specs["phase"].shape
    with pytest.raises(ControlBoundsError, match=r"'phase'.*6\.2831855"):
        device.write(attack(shape))
    assert instrument.injected.refused_writes == 0  # the instrument's interlock never saw it
    assert in_range(device.read_controls()["phase"]) and device.stats().writes == 0
    device.write(legitimate(shape))
    reference = simulated_device("diffractive", system_options=TINY)
    reference.write(legitimate(shape))
    assert torch.equal(device.read_controls()["phase"], reference.read_controls()["phase"])
    assert torch.equal(device.query(inputs()), reference.query(inputs()))


class Dac(Instrument):
    """40 voltage levels on [-10, 10] V: float32 puts the top level 2 µV above 10."""

    def __init__(self) -> None:
        self.sent: list[torch.Tensor] = []

    def control_specs(self) -> dict[str, ControlSpec]:
        return {"volts": ControlSpec((40,), -10.0, 10.0, levels=40, unit="V")}

    def set_controls(self, controls):
        self.sent.append(controls["volts"].clone())

    def measure(self, x):
        return x[:, :1] * self.sent[-1].sum()


def test_every_level_of_a_quantized_control_is_written_in_float32():
    dac = Dac()
    device = InstrumentDevice(dac)
    spec = device.specs["volts"]
    levels = spec.project(torch.linspace(-10.0, 10.0, 40))
    device.write({"volts": levels})
    held = dac.sent[-1]
    assert held.dtype == torch.float32 and float(held.max()) == 10.0 and float(held.min()) == -10.0
    assert torch.equal(held, spec.snap(held))
    with pytest.raises(ControlBoundsError, match=r"'volts'.*10\.000001"):
        device.write({"volts": torch.full((40,), 10.0 + 1e-6, dtype=torch.float64)})
    assert torch.equal(dac.sent[-1], held)


# ----------------------------------------------------------------------------- remote health
def test_a_remote_run_that_survived_a_server_restart_records_it_in_result_json(
    tmp_path, monkeypatch, processes
):
    monkeypatch.setenv("PHYSNN_TOKEN", test_server.TOKEN)
    port = test_server.free_port()
    logs = [tmp_path / "writes-1.jsonl", tmp_path / "writes-2.jsonl"]
    first = test_server.start_serve(processes, port, logs[0])
    assert first.stdout.readline().startswith(f"serving on http://127.0.0.1:{port}")

    def restart(row: dict) -> None:
        if row["epoch"] == 1:
            first.kill()
            first.wait()
            test_server.start_serve(processes, port, logs[1])

    run = test_server.RUN
    result = train(
        TrainConfig(**run, device_url=f"http://127.0.0.1:{port}"),
        tmp_path / "run",
        progress=False,
        on_epoch=restart,
    )
    reference = train(TrainConfig(**run), tmp_path / "reference", progress=False)
    health = json.loads((tmp_path / "run" / "result.json").read_text())["device_health"]
    assert (health["restarts"], health["resyncs"], health["leases_lost"]) == (1, 1, 0)
    assert health == result["device_health"]
    assert result["device_queries"] == reference["device_queries"]  # legitimate work intact
    assert "device_health" not in reference  # a simulated device has no health to report
