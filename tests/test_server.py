"""The device server and its client (physnn serve, RemoteDevice): same results as in process,
and a campaign of injected faults (issue 8).

Acceptance: training the diffractive network with PAT through ``physnn serve`` (a subprocess on
loopback, with a token) gives the in-process result; every injected fault is survived, with no
lost or duplicated result and no out-of-range write applied. The campaign's summary line is
printed when the module ends (visible with ``pytest -s``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import torch
import uvicorn

from conftest import TINY_RUN, TINY_SYSTEM_OPTIONS, crash_at_estimate
from physnn.cli import main
from physnn.errors import (
    ConfigError,
    ControlBoundsError,
    CorruptedMeasurement,
    DeviceError,
    PhysnnError,
)
from physnn.hardware import client as client_module
from physnn.hardware.client import RemoteDevice
from physnn.hardware.protocol import (
    CHECKSUM_HEADER,
    CLIENT_HEADER,
    PROTOCOL,
    PROTOCOL_HEADER,
    REQUEST_HEADER,
    checksum,
    decode,
    encode,
    require,
)
from physnn.hardware.server import DeviceServer, bind, url_of
from physnn.hardware.simulated import SimulatedDevice, simulated_device
from physnn.methods.pat import PhysicsAwareTraining
from physnn.reality import make_reality
from physnn.substrates.diffractive.system import DiffractiveNetwork
from physnn.train import TrainConfig, train
from physnn.train.checkpoint import load_checkpoint

TOKEN = "correct horse battery staple"
RUN = {**TINY_RUN, "system": "diffractive", "method": "pat", "gap": "moderate", "seed": 0}
SLEW = 1.0  # rad per write: the slew limit of the in-thread test device
DELAY = 0.6  # s: how late a delayed device call answers (the client waits 0.25 s)
SHAPE = (2, 16, 16)  # the tiny device's phase mask
HEADERS = {"Authorization": f"Bearer {TOKEN}", PROTOCOL_HEADER: str(PROTOCOL)}


# ----------------------------------------------------------------------------- the campaign
@dataclass
class Campaign:
    """Faults injected and survived (recovered, or refused cleanly with the device unchanged),
    and the damage measured after each: results lost or duplicated, out-of-range writes applied."""

    injected: Counter[str] = field(default_factory=Counter)
    survived: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    out_of_range: int = 0

    def inject(self, kind: str, count: int = 1) -> None:
        self.injected[kind] += count

    def survive(self, kind: str, count: int = 1) -> None:
        self.survived[kind] += count

    def damage(self, *, lost: int = 0, duplicated: int = 0, out_of_range: int = 0) -> None:
        self.lost += lost
        self.duplicated += duplicated
        self.out_of_range += out_of_range
        assert (lost, duplicated, out_of_range) == (0, 0, 0)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {self.survived[k]}/{n}" for k, n in sorted(self.injected.items()))
        return (
            f"fault campaign: {sum(self.injected.values())} faults injected, "
            f"{sum(self.survived.values())} survived ({kinds}); lost results {self.lost}, "
            f"duplicated results {self.duplicated}, out-of-range writes applied "
            f"{self.out_of_range}"
        )


@pytest.fixture(scope="module")
def campaign() -> Iterator[Campaign]:
    record = Campaign()
    yield record
    print("\n" + record.summary())


# ----------------------------------------------------------------------------- in-thread servers
class FaultyDevice(SimulatedDevice):
    """The tiny diffractive device (gap moderate, seed 0) with a slew limit and scheduled
    faults; it counts what the server really did to it."""

    def __init__(self) -> None:
        system = DiffractiveNetwork.from_preset("default", **RUN["system_options"])
        super().__init__(system, make_reality(system, "moderate"), seed=0)
        self.max_change = {"phase": SLEW}
        self.measure_faults: list[str] = []  # per measurement: "delay", "nan", "shape", "ok"
        self.write_faults: list[str] = []  # per applied write: "delay", "ok"
        self.measurements = 0
        self.applied: list[torch.Tensor] = []
        self.inadmissible = 0  # applied values out of bounds or beyond the slew limit

    def _measure(self, x: torch.Tensor) -> torch.Tensor:
        fault = self.measure_faults.pop(0) if self.measure_faults else "ok"
        if fault == "delay":
            time.sleep(DELAY)
        y = super()._measure(x)
        self.measurements += 1
        if fault == "nan":
            y = y.clone()
            y[0, 0] = math.nan
        return y[:, :-1] if fault == "shape" else y

    def _apply(self, controls: dict[str, torch.Tensor]) -> None:
        if self.write_faults and self.write_faults.pop(0) == "delay":
            time.sleep(DELAY)
        phase = controls["phase"]
        outside = (phase < 0) | (phase >= 2 * math.pi) | ~phase.isfinite()
        limit = self.max_change.get("phase", math.inf)
        jump = (phase - self._controls["phase"]).abs() > limit * (1 + 1e-6)
        self.inadmissible += int((outside | jump).sum())
        self.applied.append(phase.clone())
        super()._apply(controls)


class Tap:
    """ASGI middleware: counts requests by (path, status) and damages the frames of the next
    /v1/query requests as planned: "response" flips a byte of the reply, "checksum" sends a
    wrong checksum, "request" flips a byte of the request body."""

    def __init__(self, app) -> None:
        self.app = app
        self.plan: list[str] = []
        self.seen: Counter[tuple[str, int]] = Counter()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        fault = self.plan.pop(0) if self.plan and scope["path"] == "/v1/query" else None

        async def damaged_receive():
            message = await receive()
            if fault == "request" and message.get("body"):
                message = {**message, "body": _flip(message["body"])}
            return message

        async def tapped_send(message):
            if message["type"] == "http.response.start":
                self.seen[scope["path"], message["status"]] += 1
                if fault == "checksum":
                    headers = [(k, v) for k, v in message["headers"] if k != b"x-physnn-checksum"]
                    message = {**message, "headers": [*headers, (b"x-physnn-checksum", b"0")]}
            elif fault == "response" and message.get("body"):
                message = {**message, "body": _flip(message["body"])}
            await send(message)

        await self.app(scope, damaged_receive, tapped_send)


def _flip(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]


@dataclass
class Served:
    url: str
    server: DeviceServer
    tap: Tap
    log: Path
    clients: list[RemoteDevice] = field(default_factory=list)

    def connect(self, **options) -> RemoteDevice:
        """A client with the token and short waits (its connection closes with the server)."""
        options = {"token": TOKEN, "timeout": 5.0, "max_wait": 10.0, **options}
        self.clients.append(RemoteDevice.connect(self.url, **options))
        return self.clients[-1]

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@contextlib.contextmanager
def served(
    device, tmp_path: Path, system: str = "diffractive", token=TOKEN, **options
) -> Iterator[Served]:
    """A DeviceServer for ``device`` on a free loopback port, run by uvicorn in a thread
    (``token``: the shared token, or per-client credentials)."""
    log = tmp_path / "writes.jsonl"
    server = DeviceServer(device, system_name=system, token=token, write_log=log, **options)
    tap = Tap(server.app)
    sock = bind("127.0.0.1", 0)
    runner = uvicorn.Server(uvicorn.Config(tap, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not runner.started:
        assert thread.is_alive(), "the test server did not start"
        time.sleep(0.01)
    srv = Served(url_of(sock), server, tap, log)
    try:
        yield srv
    finally:
        for client in srv.clients:
            client.connection.close()
        runner.should_exit = True
        thread.join(10)


def raw_post(url: str, path: str, arrays: dict, *, rid: str = "r1", **headers) -> httpx.Response:
    """A request straight to the server, as a buggy or malicious client would send it."""
    body = encode(arrays)
    sent = {
        "Authorization": f"Bearer {TOKEN}",
        PROTOCOL_HEADER: str(PROTOCOL),
        CLIENT_HEADER: "raw-client",
        REQUEST_HEADER: rid,
        CHECKSUM_HEADER: checksum(body),
        **headers,
    }
    return httpx.post(url + path, content=body, headers=sent, timeout=10)


def inputs(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(3))


# ----------------------------------------------------------------------------- subprocess servers
PHYSNN = [sys.executable, "-c", "from physnn.cli import main; raise SystemExit(main())"]


def serve_command(port: int, log: Path) -> list[str]:
    options = [arg for k, v in RUN["system_options"].items() for arg in ("-S", f"{k}={v}")]
    return [*PHYSNN, "serve", "--system", "diffractive", "--gap", "moderate", "--seed", "0",
            *options, "--port", str(port), "--write-log", str(log)]  # fmt: skip


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_serve(processes: list, port: int, log: Path) -> subprocess.Popen:
    """``physnn serve`` in a subprocess with $PHYSNN_TOKEN set."""
    env = {**os.environ, "PHYSNN_TOKEN": TOKEN}
    with log.with_suffix(".stderr").open("w") as stderr:
        process = subprocess.Popen(
            serve_command(port, log), stdout=subprocess.PIPE, stderr=stderr, text=True, env=env
        )
    processes.append(process)
    return process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def history(result: dict) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in result["history"]]


# ----------------------------------------------------------------------------- acceptance
def test_training_through_physnn_serve_equals_the_in_process_device(
    tmp_path, monkeypatch, processes
):
    monkeypatch.setenv("PHYSNN_TOKEN", TOKEN)
    process = start_serve(processes, 0, tmp_path / "writes.jsonl")
    first = process.stdout.readline()
    assert first.startswith("serving on http://127.0.0.1:"), first
    url = first.split()[-1]
    remote = train(TrainConfig(**RUN, device_url=url), tmp_path / "remote", progress=False)
    served_controls = decode(httpx.get(url + "/v1/controls", headers=HEADERS).content)
    process.terminate()  # SIGTERM: graceful stop, device to its safe state
    assert process.wait(20) == 0
    local = train(TrainConfig(**RUN), tmp_path / "local", progress=False)

    for key in ("device_accuracy", "twin_accuracy", "device_queries", "param_writes",
                "values_written", "eval_queries", "eval_writes"):  # fmt: skip
        assert remote[key] == local[key], key
    assert history(remote) == history(local)
    final = load_checkpoint(tmp_path / "local" / "checkpoint.pt")["device"]["controls"]["phase"]
    remote_final = load_checkpoint(tmp_path / "remote" / "checkpoint.pt")["device"]["controls"]
    assert torch.equal(remote_final["phase"], final)
    log = [json.loads(line) for line in (tmp_path / "writes.jsonl").read_text().splitlines()]
    applied = [e for e in log if e["outcome"] == "applied"]
    assert len(applied) == remote["param_writes"]
    last = applied[-1]["controls"]["phase"]
    assert (last["min"], last["max"]) == (final.min().item(), final.max().item())
    # the finished run gave its lease up: the device went to its safe state, and stayed there
    assert not served_controls["phase"].any()
    assert [(e["outcome"], e["reason"]) for e in log[-2:]] == [
        ("safe-state", "released by its client"),
        ("safe-state", "server shutdown"),
    ]


def test_training_survives_the_server_killed_and_restarted(
    tmp_path, monkeypatch, processes, campaign
):
    monkeypatch.setenv("PHYSNN_TOKEN", TOKEN)
    port = free_port()
    logs = [tmp_path / "writes-1.jsonl", tmp_path / "writes-2.jsonl"]
    first = start_serve(processes, port, logs[0])
    assert first.stdout.readline().startswith(f"serving on http://127.0.0.1:{port}")

    def crash_and_restart(row: dict) -> None:
        if row["epoch"] == 1:  # mid-run: kill -9, and start again without waiting for it
            campaign.inject("server killed and restarted")
            first.kill()
            first.wait()
            start_serve(processes, port, logs[1])

    config = TrainConfig(**RUN, device_url=f"http://127.0.0.1:{port}")
    result = train(config, tmp_path / "run", progress=False, on_epoch=crash_and_restart)
    reference = train(TrainConfig(**RUN), tmp_path / "reference", progress=False)

    saved = json.loads((tmp_path / "run" / "result.json").read_text())
    assert saved["device_accuracy"] == result["device_accuracy"]
    assert [row["epoch"] for row in saved["history"]] == [1, 2]
    assert result["device_queries"] == reference["device_queries"]  # none lost, none twice
    applied = [
        sum(json.loads(line)["outcome"] == "applied" for line in log.read_text().splitlines())
        for log in logs
    ]
    restored = 1  # the controls written again on the new instance (no slew limit: one write)
    assert result["param_writes"] == reference["param_writes"] + restored
    assert sum(applied) == result["param_writes"] + result["eval_writes"]
    campaign.damage(
        lost=reference["device_queries"] - result["device_queries"],
        duplicated=sum(applied) - result["param_writes"] - result["eval_writes"],
    )
    campaign.survive("server killed and restarted")


def test_a_crashed_run_resumes_as_the_same_writer(tmp_path, monkeypatch, campaign):
    device = FaultyDevice()
    device.max_change = {}  # the run's controls start anywhere
    with served(device, tmp_path) as srv:
        monkeypatch.setenv("PHYSNN_TOKEN", TOKEN)
        config = TrainConfig(**RUN, device_url=srv.url)
        campaign.inject("client crashed and resumed")
        crash_at_estimate(monkeypatch, PhysicsAwareTraining, config, tmp_path, step=6)
        result = train(config, tmp_path, resume=True, progress=False)
    assert [row["epoch"] for row in result["history"]] == [1, 2]
    assert json.loads((tmp_path / "result.json").read_text())["param_writes"] > 0
    assert not srv.tap.seen["/v1/write", 423]  # the resumed run kept the writer lease
    campaign.damage(out_of_range=device.inadmissible)
    campaign.survive("client crashed and resumed")


# ----------------------------------------------------------------------------- timeouts and frames
def test_responses_delayed_past_the_timeout_are_retried_and_applied_once(tmp_path, campaign):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        remote = srv.connect(timeout=0.25)
        device.write_faults, device.measure_faults = ["delay"], ["delay"]
        campaign.inject("response delayed past the timeout", 2)
        target = {"phase": torch.full(SHAPE, 0.5)}
        remote.write(target)
        y = remote.query(inputs())
        applied = len(device.applied)
    reference = FaultyDevice()
    reference.write(target)
    assert torch.equal(y, reference.query(inputs()))  # the one measurement, not a second one
    assert remote.health().timeouts >= 2
    assert remote.stats().writes == applied == 1
    assert device.measurements == 1
    campaign.damage(duplicated=applied - 1 + device.measurements - 1)
    campaign.survive("response delayed past the timeout", 2)


def test_damaged_frames_are_asked_for_again(tmp_path, campaign):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        remote = srv.connect()
        srv.tap.plan = ["response", "checksum", "request", "ok", "response", "response"]
        campaign.inject("corrupted frame", 5)
        measured = [remote.query(inputs()) for _ in range(3)]
        assert srv.tap.seen["/v1/query", 400] == 1  # the damaged request, refused unexecuted
    reference = FaultyDevice()
    assert all(torch.equal(y, reference.query(inputs())) for y in measured)
    assert remote.health().bad_frames == 5
    assert device.measurements == 3 == remote.stats().query_calls
    campaign.damage(duplicated=device.measurements - 3)
    campaign.survive("corrupted frame", 5)


def test_bad_measurements_are_measured_again_then_fail_clearly(tmp_path, campaign):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        remote = srv.connect(requery=2)
        device.measure_faults = ["nan", "shape"]
        campaign.inject("NaN or misshapen measurement", 2)
        y = remote.query(inputs())
        assert y.isfinite().all() and y.shape == (8, 10)
        assert remote.health().requeries == 2
        assert remote.stats().queries == 3 * 8  # every measurement is counted
        campaign.survive("NaN or misshapen measurement", 2)

        device.measure_faults = ["nan"] * 3
        campaign.inject("persistent NaN measurement")
        with pytest.raises(CorruptedMeasurement, match="3 measurements in a row"):
            remote.query(inputs())
        assert device.measurements == 6
        device.measure_faults = []
        assert remote.query(inputs()).isfinite().all()  # the server and the client go on
        campaign.survive("persistent NaN measurement")


# ----------------------------------------------------------------------------- safety
def test_out_of_range_and_over_slew_writes_never_reach_the_device(tmp_path, campaign):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        before = device.read_controls()["phase"]
        bad = {
            "above the bounds": {"phase": torch.full(SHAPE, 7.0)},
            "NaN": {"phase": torch.full(SHAPE, math.nan)},
            "wrong shape": {"phase": torch.zeros(2, 8, 8)},
            "unknown control": {"gain": torch.zeros(3)},
            "beyond the slew limit": {"phase": torch.full(SHAPE, 1.5 * SLEW)},
        }
        for rid, controls in enumerate(bad.values()):
            response = raw_post(srv.url, "/v1/write", controls, rid=f"bad-{rid}")
            assert response.status_code == 422, response.text
        campaign.inject("out-of-range write", len(bad))
        assert torch.equal(device.read_controls()["phase"], before)
        assert device.applied == []
        assert raw_post(srv.url, "/v1/write", {"phase": torch.full(SHAPE, 0.5)}).status_code == 200
        log = srv.log_lines()
    assert [e["outcome"] for e in log] == ["refused"] * len(bad) + ["applied"]
    assert "slew limit" in log[4]["reason"] and "outside" in log[0]["reason"]
    assert log[0]["controls"]["phase"] == {"min": 7.0, "max": 7.0}
    campaign.damage(out_of_range=device.inadmissible)
    campaign.survive("out-of-range write", len(bad))


def test_the_client_ramps_slew_limited_writes_and_refuses_out_of_range_ones(tmp_path):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        remote = srv.connect()
        assert remote.max_change == {"phase": SLEW}  # from the handshake
        remote.write({"phase": torch.full(SHAPE, 2.5)})  # 0 → 2.5 rad: three steps of ≤ 1 rad
        assert len(device.applied) == 3 == remote.stats().writes
        with pytest.raises(ControlBoundsError, match="outside"):
            remote.write({"phase": torch.full(SHAPE, 9.0)})
        assert len(device.applied) == 3 and device.inadmissible == 0
        assert srv.tap.seen["/v1/write", 422] == 0  # refused before anything was sent


def test_wrong_or_missing_token_is_refused_without_retry(tmp_path, monkeypatch, campaign):
    monkeypatch.delenv("PHYSNN_TOKEN", raising=False)
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        campaign.inject("wrong or missing token", 3)
        with pytest.raises(DeviceError, match=r"401 unauthorized.*PHYSNN_TOKEN"):
            RemoteDevice.connect(srv.url, token="wrong")
        with pytest.raises(DeviceError, match="PHYSNN_TOKEN"):
            RemoteDevice.connect(srv.url)
        assert srv.tap.seen["/v1/hello", 401] == 2  # one attempt each
        response = raw_post(srv.url, "/v1/write", {"phase": torch.full(SHAPE, 0.5)},
                            Authorization="Bearer wrong")  # fmt: skip
        assert response.status_code == 401
        assert device.applied == []
        assert srv.log_lines()[0]["reason"] == "missing or wrong token"
        monkeypatch.setenv("PHYSNN_TOKEN", TOKEN)
        assert srv.connect(token=None).query(inputs()).shape == (8, 10)
    campaign.survive("wrong or missing token", 3)


def test_oversized_requests_are_refused_with_413(tmp_path, campaign):
    device = FaultyDevice()
    limit = 64 * 1024
    with served(device, tmp_path, max_request_bytes=limit) as srv:
        big = {"x": torch.zeros(400, 64)}  # 100 kB
        campaign.inject("oversized request", 3)
        assert raw_post(srv.url, "/v1/query", big).status_code == 413

        body = encode(big)
        stream = (body[i : i + 8192] for i in range(0, len(body), 8192))  # no Content-Length
        headers = {**HEADERS, CLIENT_HEADER: "raw", REQUEST_HEADER: "r2"}
        response = httpx.post(srv.url + "/v1/query", content=stream, headers=headers)
        assert response.status_code == 413

        remote = srv.connect()
        y = remote.query(torch.rand(1000, 64))  # 256 kB: split under the limit
        assert y.shape == (1000, 10) and srv.tap.seen["/v1/query", 200] >= 4
        remote.max_request_bytes = 10 * limit  # as if the server had advertised more
        with pytest.raises(DeviceError, match="too large \\(413\\)"):
            remote.query(torch.rand(1000, 64))
        assert srv.tap.seen["/v1/query", 413] == 3  # the client did not retry
        assert device.measurements == srv.tap.seen["/v1/query", 200]
    campaign.survive("oversized request", 3)


def test_one_writer_at_a_time_and_a_silent_writer_loses_its_lease(tmp_path, campaign):
    device = FaultyDevice()
    safe = device.safe_controls()["phase"]
    with served(device, tmp_path, lease_seconds=1.0) as srv:
        a, b = srv.connect(), srv.connect()
        target = {"phase": torch.full(SHAPE, 0.5)}
        a.write(target)
        campaign.inject("second writer")
        with pytest.raises(DeviceError, match=r"423.*another client"):
            b.write({"phase": torch.full(SHAPE, 0.25)})
        assert torch.equal(device.read_controls()["phase"], target["phase"])
        campaign.survive("second writer")

        campaign.inject("writer went silent (lease expiry)")
        deadline = time.monotonic() + 10
        while not torch.equal(device.read_controls()["phase"], safe):
            assert time.monotonic() < deadline, "the lease did not expire"
            time.sleep(0.05)
        assert srv.log_lines()[-1]["outcome"] == "safe-state"
        assert "lease expired" in srv.log_lines()[-1]["reason"]
        y = a.query(inputs())  # told its lease ended: writes its controls again, then measures
        assert torch.equal(device.read_controls()["phase"], target["phase"])
        health = a.health()
        assert (health.resyncs, health.leases_lost, health.restarts) == (1, 1, 0)
        assert a.stats().writes == 2 and y.shape == (8, 10)
        campaign.survive("writer went silent (lease expiry)")

        a.close()  # gives the lease up: safe state, and b may write
        assert torch.equal(device.read_controls()["phase"], safe)
        b.write({"phase": torch.full(SHAPE, 0.25)})
        assert torch.equal(device.read_controls()["phase"], torch.full(SHAPE, 0.25))
    campaign.damage(out_of_range=device.inadmissible)


def test_a_retried_request_id_is_answered_from_the_cache(tmp_path, campaign):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        campaign.inject("retried request", 2)
        write = [raw_post(srv.url, "/v1/write", {"phase": torch.full(SHAPE, 0.5)}, rid="w")
                 for _ in range(2)]  # fmt: skip
        query = [raw_post(srv.url, "/v1/query", {"x": inputs()}, rid="q") for _ in range(2)]
        assert write[0].content == write[1].content and query[0].content == query[1].content
        applied = len(device.applied)
        outcomes = [e["outcome"] for e in srv.log_lines()]
    assert applied == 1 and device.measurements == 1
    assert outcomes == ["applied", "replayed"]
    campaign.damage(duplicated=applied - 1 + device.measurements - 1)
    campaign.survive("retried request", 2)


@pytest.mark.parametrize("system", ["hopfield", "mzi"])
def test_relaxations_and_physical_gradients_arrive_bit_for_bit(tmp_path, system):
    served_device, local = (
        simulated_device(system, system_options=TINY_SYSTEM_OPTIONS[system]) for _ in range(2)
    )
    generator = torch.Generator().manual_seed(5)
    x = torch.rand(4, 16, generator=generator)
    signal = torch.randn(4, local.system.num_outputs, generator=generator)
    with served(served_device, tmp_path, system=system) as srv:
        remote = srv.connect(system=local.system)
        if system == "hopfield":  # an energy-based device: a nudged equilibrium
            got, want = remote.relax(x, nudge=signal), local.relax(x, nudge=signal)
            outputs, named = (got.outputs, want.outputs), (got.local, want.local)
        else:  # in-situ backpropagation: forward and adjoint fields (two passes)
            got, want = (d.measure_gradient(x, signal, "adjoint") for d in (remote, local))
            outputs, named = (got[0], want[0]), (got[1], want[1])
    assert torch.equal(*outputs)
    assert named[0].keys() == named[1].keys()
    assert all(torch.equal(named[0][k], named[1][k]) for k in named[1])
    assert remote.stats() == local.stats()  # the passes travel too


# ----------------------------------------------------------------------------- handshake, CLI
def test_the_handshake_refuses_another_protocol_or_another_device(tmp_path, monkeypatch):
    with served(FaultyDevice(), tmp_path) as srv:
        monkeypatch.setattr(client_module, "PROTOCOL", PROTOCOL + 1)
        with pytest.raises(DeviceError, match=r"protocol 1.*same physnn version"):
            srv.connect()
        monkeypatch.undo()
        other = DiffractiveNetwork.from_preset("default", **{**RUN["system_options"], "grid": 20})
        with pytest.raises(
            ConfigError, match=r"'phase': shape \(2, 16, 16\) there, \(2, 20, 20\) here"
        ):
            srv.connect(system=other)


def test_serve_refuses_a_public_address_without_a_token(monkeypatch, capsys):
    monkeypatch.delenv("PHYSNN_TOKEN", raising=False)
    assert main(["serve", "--system", "diffractive", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "without a token" in capsys.readouterr().err
    with pytest.raises(PhysnnError, match=r"install physnn\[server\]"):
        require("physnn_no_such_module")


def test_a_lab_instrument_is_served_through_its_adapter(tmp_path, monkeypatch):
    from physnn.hardware.adapter import load_instrument_device

    spec = "physnn.hardware.instrument:SimulatedInstrument"
    device = load_instrument_device(spec, {"system_options": RUN["system_options"]})
    with served(device, tmp_path) as srv:
        hello = httpx.get(srv.url + "/v1/hello", headers=HEADERS).json()
        assert hello["capabilities"]["description"].startswith("simulated diffractive")
        assert hello["num_outputs"] == 10
        monkeypatch.setenv("PHYSNN_TOKEN", TOKEN)
        config = TrainConfig(**{**RUN, "epochs": 1}, device_url=srv.url)
        result = train(config, tmp_path / "run", progress=False)
    assert result["device_queries"] == RUN["limit_train"]
    assert result["param_writes"] == sum(e["outcome"] == "applied" for e in srv.log_lines())
