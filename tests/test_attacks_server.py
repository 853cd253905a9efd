"""The device server under attack (issue 18): log flooding, malformed requests, reused request
ids, and clients that speak for others.

Every attack goes to a server on loopback, is bounded in count, and checks three things: the
server's answer, that the device's controls stayed within their specs, and (where cheap) that a
legitimate client's work is what it is without the attack.
"""

from __future__ import annotations

import io
import json
import math
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from physnn.cli import main
from physnn.errors import ConfigError, DeviceError
from physnn.hardware.credentials import Credentials, Identity
from physnn.hardware.protocol import (
    CHECKSUM_HEADER,
    CLIENT_HEADER,
    PROTOCOL,
    PROTOCOL_HEADER,
    REQUEST_HEADER,
    checksum,
    encode,
)
from physnn.hardware.writelog import MIN_LOG_BYTES, WriteLog
from test_server import SHAPE, TOKEN, FaultyDevice, inputs, raw_post, served

TOKENS = {name: f"{name}-token-0123456789abcdef" for name in ("alice", "bob", "carol", "dave")}
ROLES = {"alice": "writer", "bob": "writer", "carol": "reader", "dave": "admin"}
CREDENTIALS = Credentials({TOKENS[name]: Identity(name, role) for name, role in ROLES.items()})
TARGET = {"phase": torch.full(SHAPE, 0.5)}


def bearer(name: str) -> str:
    return f"Bearer {TOKENS[name]}"


def assert_in_range(device: FaultyDevice) -> None:
    """The controls the device holds are within their specs, and nothing inadmissible was
    ever applied."""
    for name, value in device.read_controls().items():
        device.specs[name].check(name, value)
    assert device.inadmissible == 0


def reference_work() -> torch.Tensor:
    """What the legitimate client measures without any attack: write TARGET, then query."""
    device = FaultyDevice()
    device.write(TARGET)
    return device.query(inputs())


def legitimate_work(srv, **options) -> torch.Tensor:
    remote = srv.connect(**options)
    remote.write(TARGET)
    return remote.query(inputs())


def release_headers(extra: dict) -> dict:
    return {PROTOCOL_HEADER: str(PROTOCOL), REQUEST_HEADER: "rel", **extra}


def refusals(srv) -> list[dict]:
    return [line for line in srv.log_lines() if line["outcome"] == "refused"]


# ----------------------------------------------------------------------------- log flooding
def test_unauthenticated_flood_leaves_a_bounded_log_without_its_text(tmp_path):
    device = FaultyDevice()
    marker = "ATTACKER-TEXT-"
    flood = {CLIENT_HEADER: marker * 580, REQUEST_HEADER: marker * 580}  # 16 KB of headers
    requests = 300
    with served(device, tmp_path) as srv:
        start = time.monotonic()
        with httpx.Client(base_url=srv.url, timeout=10) as attacker:
            answers = {
                attacker.post("/v1/write", headers=flood).status_code for _ in range(requests)
            }
        elapsed = time.monotonic() - start
        y = legitimate_work(srv)
    text = srv.log.read_text()  # the server has stopped: the last summary is written
    assert answers == {401}
    assert "ATTACKER" not in text
    refused = [line for line in refusals(srv) if line["error"] == "unauthorized"]
    assert sum(line.get("count", 1) for line in refused) == requests  # counted, not written
    assert {(line["address"], line.get("client"), line.get("request")) for line in refused} == {
        ("127.0.0.1", None, None)
    }
    intervals = math.floor(elapsed / srv.server.write_log.interval) + 1
    assert len(refused) <= 2 * intervals  # one line, then one summary per interval
    assert all(len(line) < 1024 for line in text.splitlines())
    assert_in_range(device)
    torch.testing.assert_close(y, reference_work(), rtol=0, atol=0)


def test_the_write_log_rotates_within_its_size_bound(tmp_path):
    path = tmp_path / "writes.jsonl"
    log = WriteLog(path, max_bytes=MIN_LOG_BYTES, backups=2, controls=["phase"])
    for k in range(2000):  # about 5 times what the bound holds
        log.record("applied", client="c" * 10_000, request=str(k), controls=TARGET)
    log.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["writes.jsonl", "writes.jsonl.1", "writes.jsonl.2"]
    assert all(f.stat().st_size <= MIN_LOG_BYTES for f in files)
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["request"] == "1999" and len(last["client"]) == 64


# ----------------------------------------------------------------------------- malformed requests
class Tripwire:
    """Unpickling it creates a file: the proof that a server ran code from a request."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


MALFORMED = {  # name: (path, body or arrays, expected status)
    "NaN query": ("/v1/query", {"x": torch.full((8, 64), math.nan)}, 422),
    "infinite query": ("/v1/query", {"x": torch.full((8, 64), math.inf)}, 422),
    "empty batch": ("/v1/query", {"x": torch.zeros(0, 64)}, 422),
    "one-dimensional query": ("/v1/query", {"x": torch.zeros(64)}, 422),
    "four-dimensional query": ("/v1/query", {"x": torch.zeros(2, 3, 8, 8)}, 422),
    "integer query": ("/v1/query", {"x": torch.zeros(8, 64, dtype=torch.int64)}, 422),
    "complex controls": ("/v1/write", {"phase": torch.zeros(SHAPE, dtype=torch.complex64)}, 422),
    "text-typed control": ("/v1/write", {"phase": np.array("0.5")}, 422),
    "garbage npz": ("/v1/write", b"PK\x03\x04" + bytes(range(256)) * 4, 400),
    "truncated npz": ("/v1/query", encode({"x": inputs()})[:1500], 400),
    "pickled npz": ("/v1/write", None, 400),  # built in the test: it needs tmp_path
}


@pytest.mark.parametrize("attack", list(MALFORMED))
def test_malformed_requests_get_4xx_and_are_logged(tmp_path, attack):
    path, sent, status = MALFORMED[attack]
    tripwire = tmp_path / "unpickled"
    if attack == "pickled npz":
        sent = npz_bytes(phase=np.array([Tripwire(tripwire)], dtype=object))
    body = sent if isinstance(sent, bytes) else encode(sent)
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            PROTOCOL_HEADER: str(PROTOCOL),
            CLIENT_HEADER: "attacker",
            REQUEST_HEADER: "r1",
            CHECKSUM_HEADER: checksum(body),
        }
        answer = httpx.post(srv.url + path, content=body, headers=headers, timeout=10)
        assert device.measurements == 0 and device.applied == []  # refused before the device
        y = legitimate_work(srv)
    assert answer.status_code == status, answer.text
    message = answer.json()["message"]
    assert message and "\n" not in message and "Traceback" not in message
    logged = refusals(srv)
    assert [(e["op"], e["status"], e["client"]) for e in logged] == [
        (path.removeprefix("/v1/"), status, "attacker")
    ]
    assert not tripwire.exists()
    assert_in_range(device)
    torch.testing.assert_close(y, reference_work(), rtol=0, atol=0)


def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path):
    """A small compressed body that would unpack to 16 times the request limit."""
    limit = 2**20
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.zeros((16 * limit // 4 // 64, 64), dtype=np.float32))
    body = buffer.getvalue()
    assert len(body) < limit // 8
    device = FaultyDevice()
    with served(device, tmp_path, max_request_bytes=limit) as srv:
        headers = {
            "Authorization": f"Bearer {TOKEN}",
            PROTOCOL_HEADER: str(PROTOCOL),
            CLIENT_HEADER: "attacker",
            REQUEST_HEADER: "bomb",
            CHECKSUM_HEADER: checksum(body),
        }
        answer = httpx.post(srv.url + "/v1/query", content=body, headers=headers, timeout=10)
        y = legitimate_work(srv)
    assert answer.status_code == 400, answer.text
    assert "more than the limit of 1048576 bytes" in answer.json()["message"]
    assert device.measurements == 1  # the legitimate query only
    assert_in_range(device)
    torch.testing.assert_close(y, reference_work(), rtol=0, atol=0)


# ----------------------------------------------------------------------------- request ids
def test_a_reused_request_id_with_another_body_is_refused(tmp_path):
    device = FaultyDevice()
    with served(device, tmp_path) as srv:
        first = raw_post(srv.url, "/v1/write", TARGET, rid="w")
        other = raw_post(srv.url, "/v1/write", {"phase": torch.full(SHAPE, 0.25)}, rid="w")
        retry = raw_post(srv.url, "/v1/write", TARGET, rid="w")
        held, applied = device.read_controls()["phase"], len(device.applied)
        query = raw_post(srv.url, "/v1/query", {"x": inputs()}, rid="q")
    assert (first.status_code, other.status_code, retry.status_code) == (200, 409, 200)
    assert other.json()["error"] == "reused-id"
    assert retry.content == first.content and applied == 1
    torch.testing.assert_close(held, TARGET["phase"], rtol=0, atol=0)  # the new body: not applied
    outcomes = [e["outcome"] for e in srv.log_lines()]
    assert outcomes == ["applied", "refused", "replayed", "safe-state"]  # then: shutdown
    assert_in_range(device)
    y = torch.from_numpy(np.load(io.BytesIO(query.content))["y"])
    torch.testing.assert_close(y, reference_work(), rtol=0, atol=0)


# ----------------------------------------------------------------------------- identities
def test_a_client_sending_another_clients_id_cannot_write_or_release(tmp_path):
    device = FaultyDevice()
    with served(device, tmp_path, token=CREDENTIALS) as srv:
        alice = srv.connect(token=TOKENS["alice"])
        alice.write(TARGET)
        as_alice = {CLIENT_HEADER: alice.connection.client_id, "Authorization": bearer("bob")}
        write = raw_post(srv.url, "/v1/write", {"phase": torch.full(SHAPE, 0.25)}, **as_alice)
        release = httpx.post(srv.url + "/v1/release", headers=release_headers(as_alice))
        forced = httpx.post(srv.url + "/v1/release?force=true", headers=release_headers(as_alice))
        held = device.read_controls()["phase"]
        holder = srv.server.lease.holder
        y = alice.query(inputs())
    assert write.status_code == 423 and "alice/" in write.json()["message"]
    assert release.json() == {"released": False}
    assert forced.status_code == 403 and forced.json()["error"] == "forbidden"
    assert holder == ("alice", alice.connection.client_id)
    torch.testing.assert_close(held, TARGET["phase"], rtol=0, atol=0)
    assert alice.health().resyncs == 0
    assert_in_range(device)
    torch.testing.assert_close(y, reference_work(), rtol=0, atol=0)


def test_a_reader_may_measure_but_not_write_or_release(tmp_path):
    device = FaultyDevice()
    with served(device, tmp_path, token=CREDENTIALS) as srv:
        carol = srv.connect(token=TOKENS["carol"])
        y = carol.query(inputs())
        with pytest.raises(DeviceError, match=r"403.*'carol' has the role 'reader'"):
            carol.write(TARGET)
        release = httpx.post(
            srv.url + "/v1/release",
            headers=release_headers(
                {CLIENT_HEADER: carol.connection.client_id, "Authorization": bearer("carol")}
            ),
        )
        assert device.applied == [] and srv.server.lease.holder is None
    assert release.status_code == 403
    assert [(e["op"], e["status"]) for e in refusals(srv)] == [("write", 403), ("release", 403)]
    assert_in_range(device)
    torch.testing.assert_close(y, FaultyDevice().query(inputs()), rtol=0, atol=0)


def test_an_admin_may_release_anyones_lease(tmp_path):
    device = FaultyDevice()
    safe = device.safe_controls()["phase"]
    with served(device, tmp_path, token=CREDENTIALS) as srv:
        alice = srv.connect(token=TOKENS["alice"])
        alice.write(TARGET)
        dave = {CLIENT_HEADER: "dave-console", "Authorization": bearer("dave")}
        released = httpx.post(srv.url + "/v1/release?force=true", headers=release_headers(dave))
        after = device.read_controls()["phase"]
        y = alice.query(inputs())  # told its lease ended: writes its controls again, measures
    assert released.json() == {"released": True}
    torch.testing.assert_close(after, safe, rtol=0, atol=0)
    safe_states = [e for e in srv.log_lines() if e["outcome"] == "safe-state"]
    assert safe_states[0]["reason"] == "released by dave/dave-con"
    assert safe_states[0]["identity"] == "alice"
    assert alice.health().resyncs == 1
    assert_in_range(device)
    torch.testing.assert_close(y, reference_work(), rtol=0, atol=0)


# ----------------------------------------------------------------------------- credentials file
def test_a_credentials_file_is_read_and_its_mistakes_are_named(tmp_path, capsys):
    path = tmp_path / "clients.toml"
    path.write_text(
        f'[clients.alice]\ntoken = "{TOKENS["alice"]}"\nrole = "writer"\n'
        f'[clients.carol]\ntoken = "{TOKENS["carol"]}"\nrole = "reader"\n'
    )
    credentials = Credentials.load(path)
    assert credentials.identify(TOKENS["carol"]) == Identity("carol", "reader")
    assert credentials.identify("wrong") is None
    mistakes = {
        '[clients.x]\ntoken = "0123456789abcdefgh"\nrole = "owner"\n': "role 'owner'",
        '[clients.x]\ntoken = "short"\nrole = "reader"\n': "at least 16 characters",
        '[clients."a b"]\ntoken = "0123456789abcdefgh"\nrole = "reader"\n': "a name is",
        'token = "0123456789abcdefgh"\n': r"only \[clients.NAME\] tables",
        '[clients.a]\ntoken = "0123456789abcdefgh"\nrole = "reader"\n'
        '[clients.b]\ntoken = "0123456789abcdefgh"\nrole = "admin"\n': "share a token",
        "[clients.a\n": "not valid TOML",
    }
    for text, reason in mistakes.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=reason):
            Credentials.load(path)
    serve = ["serve", "--system", "diffractive", "--port", "0", "--credentials", str(path)]
    assert main(serve) == 2  # the last mistake, named before anything is served
    assert main([*serve, "--token-file", str(path)]) == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("not both")


def test_a_hostile_server_cannot_fill_the_clients_memory():
    """The same bomb as a reply: the client refuses it as a damaged frame, asks again, and gives
    up with a sentence; it never unpacks it."""
    from physnn.errors import CorruptedMeasurement
    from physnn.hardware.client import MAX_BAD_FRAMES, Connection

    limit = 2**20
    buffer = io.BytesIO()
    np.savez_compressed(buffer, y=np.zeros((16 * limit // 4 // 64, 64), dtype=np.float32))
    bomb, asked = buffer.getvalue(), []

    def server(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        return httpx.Response(200, content=bomb, headers={CHECKSUM_HEADER: checksum(bomb)})

    connection = Connection("http://device.lab:8765", token=TOKEN)
    connection.max_reply_bytes = limit
    connection.http = httpx.Client(base_url=connection.url, transport=httpx.MockTransport(server))
    with pytest.raises(CorruptedMeasurement, match="more than the limit of 1048576 bytes"):
        connection.send("POST", "/v1/query", b"x")
    assert len(asked) == MAX_BAD_FRAMES
