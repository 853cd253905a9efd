"""Fault injection, slow and greedy clients (issue 18, item 6): ``physnn serve`` under slow-loris
attacks on the loopback.

Each attack opens raw sockets that trickle a request head or body (or hold connections), and
asserts the server's answer (408 or 503, then the connection closed) while a legitimate
``RemoteDevice`` works: its writes and queries give the results of the same device in process,
and the device's controls stay in range. The limits are short (fractions of a second) and the
attacks small (tens of connections), so the file runs in seconds; every attacker gives up by
itself after ``GIVE_UP`` limits.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import uvicorn

from conftest import TINY_SYSTEM_OPTIONS
from physnn.errors import ConfigError
from physnn.hardware.client import RemoteDevice, RemoteHealth
from physnn.hardware.connections import ConnectionLimits, uvicorn_config
from physnn.hardware.protocol import CLIENT_HEADER, PROTOCOL, PROTOCOL_HEADER, REQUEST_HEADER
from physnn.hardware.server import DeviceServer, bind, url_of
from physnn.hardware.simulated import SimulatedDevice, simulated_device
from test_server import PHYSNN, TOKEN, free_port, processes  # noqa: F401 (a fixture)

LIMIT = 0.5  # s: every deadline of the test servers
GIVE_UP = 10  # an attacker stops after this many LIMITs (the server should close it long before)
TICK = 0.05  # s between two trickled bytes: faster than any deadline, so only the deadlines end it
LIMITS = ConnectionLimits(
    header_seconds=LIMIT,
    body_stall_seconds=LIMIT,
    body_seconds=2 * LIMIT,
    keep_alive_seconds=LIMIT,
    max_connections=64,
    max_connections_per_client=64,
)
AUTH = f"Authorization: Bearer {TOKEN}\r\n{PROTOCOL_HEADER}: {PROTOCOL}\r\n"


def device() -> SimulatedDevice:
    return simulated_device(
        "diffractive", seed=0, system_options=TINY_SYSTEM_OPTIONS["diffractive"]
    )


@dataclass
class Served:
    url: str
    port: int
    device: SimulatedDevice
    runner: uvicorn.Server

    def hold(self, count: int) -> None:
        """Wait until the server holds ``count`` connections (the attackers' are all counted)."""
        give_up = time.monotonic() + GIVE_UP * LIMIT
        while len(self.runner.server_state.connections) < count:
            assert time.monotonic() < give_up, "the attackers' connections were not accepted"
            time.sleep(0.01)


@contextlib.contextmanager
def limited(tmp_path: Path, limits: ConnectionLimits = LIMITS) -> Iterator[Served]:
    """A DeviceServer on a free loopback port with ``limits`` (as ``serve()`` configures it),
    run by uvicorn in a thread."""
    served_device = device()
    server = DeviceServer(
        served_device, system_name="diffractive", token=TOKEN, write_log=tmp_path / "writes.jsonl"
    )
    sock = bind("127.0.0.1", 0)
    config = uvicorn_config(server.app, limits, log_level="warning", lifespan="on")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not runner.started:
        assert thread.is_alive(), "the test server did not start"
        time.sleep(0.01)
    try:
        yield Served(url_of(sock), sock.getsockname()[1], served_device, runner)
    finally:
        runner.should_exit = True
        thread.join(10)


# ----------------------------------------------------------------------------- attackers
@dataclass
class Attack:
    """``count`` connections from ``source`` that send ``opening`` at once, then ``trickle`` one
    byte every ``tick`` seconds, reading what the server answers, until the server closes them
    or ``give_up`` seconds have passed (then the attack stops by itself). ``closed_at`` holds the
    seconds from the start to each close (None while open). benchmarks/slow_clients.py uses it
    too, with the default limits."""

    port: int
    count: int
    opening: bytes
    trickle: bytes = b""
    source: str = "127.0.0.1"
    tick: float = TICK
    give_up: float = GIVE_UP * LIMIT

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.sockets = [self._connect() for _ in range(self.count)]
        self.replies = [b""] * self.count
        self.closed_at: list[float | None] = [None] * self.count
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> list[bool]:
        return [t is not None for t in self.closed_at]

    def _connect(self) -> socket.socket:
        sock = socket.socket()
        sock.bind((self.source, 0))
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(self.opening)
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for i, sock in enumerate(self.sockets):
            selector.register(sock, selectors.EVENT_READ, i)
        give_up, next_byte, sent = self.started + self.give_up, time.monotonic(), 0
        while not all(self.closed) and time.monotonic() < give_up:
            for key, _ in selector.select(max(0.0, next_byte - time.monotonic())):
                self._read(key.data, selector)
            if sent < len(self.trickle) and time.monotonic() >= next_byte:
                for i, sock in enumerate(self.sockets):
                    if not self.closed[i]:
                        with contextlib.suppress(OSError):  # the server has just closed it
                            sock.send(self.trickle[sent : sent + 1])
                sent += 1
                next_byte += self.tick
            elif sent >= len(self.trickle):
                next_byte = time.monotonic() + self.tick

    def _read(self, i: int, selector: selectors.BaseSelector) -> None:
        try:
            data = self.sockets[i].recv(65536)
        except OSError:
            data = b""
        self.replies[i] += data
        if not data:
            self.closed_at[i] = time.monotonic() - self.started
            selector.unregister(self.sockets[i])

    def finish(self) -> list[int]:
        """Wait until every connection is closed (or the attack gave up); their HTTP statuses
        (0: closed without an answer)."""
        self._thread.join()
        for sock in self.sockets:
            sock.close()
        return [int(reply.split(b" ")[1]) if reply else 0 for reply in self.replies]


def post_head(length: int, *, auth: str = AUTH, rid: str = "slow") -> bytes:
    return (
        f"POST /v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{CLIENT_HEADER}: attacker\r\n"
        f"{REQUEST_HEADER}: {rid}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def legitimate_work(url: str) -> tuple[torch.Tensor, RemoteHealth]:
    """What a training client does: handshake, write controls, query; its measurement, and
    what it survived on the way (retries)."""
    remote = RemoteDevice.connect(url, token=TOKEN, timeout=5.0, max_wait=20.0)
    try:
        remote.write({"phase": torch.full((2, 16, 16), 1.25)})
        y = remote.query(torch.rand(8, 64, generator=torch.Generator().manual_seed(3)))
        return y, remote.health()
    finally:
        remote.close()


@pytest.fixture(scope="module")
def unattacked() -> torch.Tensor:
    """The legitimate client's measurement from the same device in process, without attack."""
    reference = device()
    reference.write({"phase": torch.full((2, 16, 16), 1.25)})
    return reference.query(torch.rand(8, 64, generator=torch.Generator().manual_seed(3)))


def in_range(served: SimulatedDevice) -> bool:
    controls = served.read_controls()
    return all(
        bool(((controls[name] >= spec.low) & (controls[name] < spec.high)).all())
        for name, spec in served.specs.items()
    )


# ----------------------------------------------------------------------------- the attacks
SLOW_HEAD = (b"GET /v1/hello HTTP/1.1\r\n", b"X-Slow: " + b"a" * 200)  # one header byte a TICK


def test_header_tricklers_get_408_and_are_closed_while_a_client_is_served(tmp_path, unattacked):
    with limited(tmp_path) as srv:
        silent = Attack(srv.port, 10, b"")
        trickling = Attack(srv.port, 20, *SLOW_HEAD)
        y, health = legitimate_work(srv.url)
        assert silent.finish() == [408] * 10
        assert trickling.finish() == [408] * 20
        assert all(silent.closed + trickling.closed)
        assert b"request head did not arrive within 0.5 s" in trickling.replies[0]
        assert in_range(srv.device)
    torch.testing.assert_close(y, unattacked)
    assert health.retries == 0


def test_body_tricklers_and_stallers_get_408_and_are_closed(tmp_path, unattacked):
    with limited(tmp_path) as srv:
        trickling = Attack(srv.port, 10, post_head(10_000), b"b" * 200)  # a byte per TICK
        stalled = Attack(srv.port, 10, post_head(10_000) + b"b" * 100)  # then nothing
        y, health = legitimate_work(srv.url)
        assert trickling.finish() == [408] * 10
        assert stalled.finish() == [408] * 10
        assert all(trickling.closed + stalled.closed)
        assert b"request body did not arrive within 1 s" in trickling.replies[0]
        assert b"no part of the request body arrived for 0.5 s" in stalled.replies[0]
        assert srv.device.stats().query_calls == 1  # the legitimate one only
        assert in_range(srv.device)
    torch.testing.assert_close(y, unattacked)
    assert health.retries == 0


def test_a_body_trickled_after_an_early_answer_is_cut_off(tmp_path, unattacked):
    """Without a token the server answers 401 before reading the body; the attacker goes on
    trickling it: the connection is closed all the same."""
    with limited(tmp_path) as srv:
        attack = Attack(srv.port, 10, post_head(10_000, auth=""), b"b" * 200)
        y, health = legitimate_work(srv.url)
        assert attack.finish() == [401] * 10
        assert all(attack.closed)
        assert in_range(srv.device)
    torch.testing.assert_close(y, unattacked)
    assert health.retries == 0


def test_an_idle_kept_alive_connection_is_closed(tmp_path):
    with limited(tmp_path) as srv:
        request = f"GET /v1/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH}\r\n".encode()
        idle = Attack(srv.port, 5, request)  # answered, then silent
        assert idle.finish() == [200] * 5
        assert all(idle.closed)


def test_connections_beyond_the_total_cap_get_503_until_the_holders_time_out(tmp_path, unattacked):
    limits = ConnectionLimits(header_seconds=8 * LIMIT, max_connections=8)
    with limited(tmp_path, limits) as srv:
        holders = Attack(srv.port, 8, *SLOW_HEAD)
        srv.hold(8)
        refused = Attack(srv.port, 4, b"")
        assert refused.finish() == [503] * 4
        assert b"limit of 8 connections" in refused.replies[0]
        y, health = legitimate_work(srv.url)  # refused, retried until the holders time out
        assert holders.finish() == [408] * 8
        assert in_range(srv.device)
    torch.testing.assert_close(y, unattacked)
    assert health.unavailable > 0


def test_one_address_cannot_take_the_connections_of_another(tmp_path, unattacked):
    """An attacker at 127.0.0.2 holds its cap of connections and is refused more; the client at
    127.0.0.1 is served at once (Linux routes all of 127.0.0.0/8 to the loopback)."""
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address on this system")
    limits = ConnectionLimits(header_seconds=8 * LIMIT, max_connections_per_client=4)
    with limited(tmp_path, limits) as srv:
        holders = Attack(srv.port, 4, *SLOW_HEAD, source="127.0.0.2")
        srv.hold(4)
        refused = Attack(srv.port, 4, b"", source="127.0.0.2")
        y, health = legitimate_work(srv.url)
        assert refused.finish() == [503] * 4
        assert b"limit of 4 connections from 127.0.0.2" in refused.replies[0]
        assert holders.finish() == [408] * 4
        assert in_range(srv.device)
    torch.testing.assert_close(y, unattacked)
    assert health.retries == 0


def test_physnn_serve_takes_the_limits_from_its_flags(tmp_path, processes):  # noqa: F811
    port = free_port()
    command = [*PHYSNN, "serve", "--system", "mzi", "--port", str(port),
               "--write-log", str(tmp_path / "writes.jsonl"), "--header-seconds", str(LIMIT),
               "--max-connections-per-client", "2"]  # fmt: skip
    with (tmp_path / "stderr").open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    processes.append(process)
    assert process.stdout is not None and process.stdout.readline().startswith("serving on")
    silent = Attack(port, 3, b"")
    assert sorted(silent.finish()) == [408, 408, 503]


def test_limits_must_be_positive():
    with pytest.raises(ConfigError, match="header_seconds must be positive, got 0") as refused:
        ConnectionLimits(header_seconds=0)
    assert refused.value.for_cli() == "--header-seconds must be positive, got 0"
    assert ConnectionLimits.given({"max_connections": 5, "body_seconds": None}) == (
        ConnectionLimits(max_connections=5)
    )
