"""The device server: one device exposed over HTTP to training clients (``physnn serve``).

A Starlette app served by uvicorn (docs/protocol.md is the specification). The server is the
last line of defence in front of an instrument, so it trusts nothing a client sends:

* every write is checked against the controls' bounds, levels and slew limits *before* anything
  is applied (422 otherwise), and every write attempt is one line in the write log;
* one writer at a time: the first client that writes holds a lease until it releases it or
  sends no request for ``lease_seconds``; then, and at shutdown, the device is put in its safe
  state (``device.safe_controls()``, ramped within the slew limits);
* a retried request (same client, same request id) is answered from a cache of recent
  responses without touching the device: a retried write is applied once, a retried query
  returns the same measurement;
* device calls are blocking and run in one worker thread, so they never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from physnn import __version__
from physnn.errors import (
    ConfigError,
    ControlBoundsError,
    CorruptedMeasurement,
    DeviceTimeout,
    IncompatibleError,
    PhysnnError,
)
from physnn.hardware.device import Device
from physnn.hardware.protocol import (
    CHECKSUM_HEADER,
    CLIENT_HEADER,
    INSTANCE_HEADER,
    NPZ,
    PROTOCOL,
    PROTOCOL_HEADER,
    REQUEST_HEADER,
    ProtocolError,
    checksum,
    decode,
    encode,
    is_loopback,
    require,
    spec_to_json,
    to_tensor,
)
from physnn.systems.base import Controls

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger("physnn.serve")

MIB = 2**20
DRAIN_FACTOR = 4
"""An oversized body up to this multiple of the limit is read and discarded before the 413, so
that the client receives the answer instead of a reset connection; a larger one is cut off."""


@dataclass(frozen=True)
class Reply:
    """One response: status, body and media type (``message``: the reason of a refusal)."""

    status: int
    body: bytes
    media_type: str = NPZ
    message: str = ""


def arrays_reply(arrays: Mapping[str, Tensor | Any]) -> Reply:
    return Reply(200, encode(arrays))


def json_reply(data: Mapping[str, Any], status: int = 200) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json")


def error_reply(status: int, code: str, message: str, **extra: Any) -> Reply:
    """A refusal: ``{"error": code, "message": ...}`` (the client maps the code to an error)."""
    body = json.dumps({"error": code, "message": message, **extra}).encode()
    return Reply(status, body, "application/json", message)


class WriteLog:
    """Every write attempt as one JSON line (flushed at once): time, client, request id,
    outcome (applied, replayed, refused, safe-state), reason, values changed, and the
    minimum and maximum of each control sent."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self._file = None if self.path is None else self.path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(
        self,
        outcome: str,
        *,
        client: str | None,
        request: str | None,
        reason: str = "",
        changed: int = 0,
        controls: Controls | None = None,
    ) -> None:
        if self._file is None:
            return
        ranges = {}
        for name, value in (controls or {}).items():
            value = value.detach()
            finite = value.isfinite().all() and value.numel() > 0
            ranges[name] = (
                {"min": float(value.min()), "max": float(value.max())}
                if finite and not value.is_complex()
                else {"min": None, "max": None}
            )
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client": client,
            "request": request,
            "outcome": outcome,
            "reason": reason,
            "changed": changed,
            "controls": ranges,
        }
        with self._lock:
            self._file.write(json.dumps(line) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class Lease:
    """The writer lease: who may write, and since when it has been silent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.holder: str | None = None
        self.last_seen = 0.0
        self.busy: dict[str, int] = {}  # requests in progress per client (a lease in use)
        self.lost: dict[str, str] = {}  # former holders not yet told why their lease ended

    def touch(self, client: str) -> None:
        if client == self.holder:
            self.last_seen = time.monotonic()

    def expired(self) -> bool:
        return (
            self.holder is not None
            and not self.busy.get(self.holder)
            and time.monotonic() - self.last_seen > self.seconds
        )


class ReplyCache:
    """The successful replies of recent requests by (client, request id), oldest evicted first
    beyond ``entries`` replies or ``max_bytes`` of bodies."""

    def __init__(self, entries: int = 256, max_bytes: int = 256 * MIB) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self._replies: OrderedDict[tuple[str, str], Reply] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[str, str]) -> Reply | None:
        return self._replies.get(key)

    def put(self, key: tuple[str, str], reply: Reply) -> None:
        self._replies[key] = reply
        self._bytes += len(reply.body)
        while len(self._replies) > self.entries or self._bytes > self.max_bytes:
            _, old = self._replies.popitem(last=False)
            self._bytes -= len(old.body)


def _changed(before: Controls, after: Controls) -> int:
    return sum(int((after[name].to(before[name]) != before[name]).sum()) for name in after)


def _capabilities(device: Device) -> dict[str, Any]:
    """What the device offers (its system's declared capabilities, or the device's own)."""
    declared = getattr(device, "capabilities", None)
    if declared is None:
        declared = getattr(getattr(device, "system", None), "capabilities", None)
    if is_dataclass(declared) and not isinstance(declared, type):
        declared = asdict(declared)
    if not isinstance(declared, dict):
        return {}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in declared.items()}


def _num_outputs(device: Device) -> int | None:
    """Output channels per sample, where the device declares them (its system, or a lab
    instrument's ``num_outputs``); the client checks every measurement against it."""
    for owner in (getattr(device, "system", None), getattr(device, "instrument", None)):
        if getattr(owner, "num_outputs", None) is not None:
            return int(owner.num_outputs)
    return None


class DeviceServer:
    """The protocol's endpoints around one :class:`Device`; ``app`` is the ASGI application.

    ``token`` None accepts every request (loopback only: :func:`serve` refuses otherwise).
    """

    def __init__(
        self,
        device: Device,
        *,
        system_name: str | None,
        token: str | None,
        lease_seconds: float = 30.0,
        max_request_bytes: int = 64 * MIB,
        write_log: str | Path | None = "physnn-serve-writes.jsonl",
    ) -> None:
        if not lease_seconds > 0:
            raise ConfigError(f"lease seconds must be positive, got {lease_seconds!r}")
        if max_request_bytes < 1:
            raise ConfigError(f"the request size limit must be positive, got {max_request_bytes}")
        self.device = device
        self.system_name = system_name
        self.token = token
        self.max_request_bytes = int(max_request_bytes)
        self.instance = uuid.uuid4().hex
        self.lease = Lease(lease_seconds)
        self.cache = ReplyCache()
        self.write_log = WriteLog(write_log)
        self._inflight: dict[tuple[str, str], asyncio.Task[Reply]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="physnn-device")
        self._operations: dict[str, Callable[[str, str, bytes], Reply]] = {
            "query": self._query,
            "write": self._write,
            "relax": self._relax,
            "gradient": self._gradient,
        }
        self.app = self._build_app()

    # ------------------------------------------------------------------------------- app
    def _build_app(self) -> Any:
        require("starlette")
        from starlette.applications import Starlette
        from starlette.routing import Route

        def post(op: str) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> Response:
                return self._respond(await self._post(request, op))

            return endpoint

        routes = [
            Route("/v1/hello", self._hello, methods=["GET"]),
            Route("/v1/controls", self._controls, methods=["GET"]),
            Route("/v1/release", self._release, methods=["POST"]),
            *(Route(f"/v1/{op}", post(op), methods=["POST"]) for op in self._operations),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        watcher = asyncio.create_task(self._watch_lease())
        try:
            yield
        finally:
            watcher.cancel()
            holder = self.lease.holder
            self.lease.holder = None
            await self._in_worker(partial(self._safe_state, holder, "server shutdown"))
            self._executor.shutdown(wait=True)
            self.device.close()
            self.write_log.close()

    def _respond(self, reply: Reply) -> Response:
        from starlette.responses import Response

        headers = {INSTANCE_HEADER: self.instance, CHECKSUM_HEADER: checksum(reply.body)}
        if reply.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return Response(reply.body, reply.status, headers=headers, media_type=reply.media_type)

    async def _in_worker(self, fn: Callable[[], Reply | None]) -> Any:
        """Run a blocking device call in the one device thread (calls never overlap)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # ------------------------------------------------------------------------------- checks
    def _guard(self, request: Request) -> Reply | None:
        """Token first (nothing is revealed without it), then the protocol version."""
        if self.token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                return error_reply(401, "unauthorized", "missing or wrong token")
        version = request.headers.get(PROTOCOL_HEADER)
        if version != str(PROTOCOL):
            return error_reply(
                400,
                "protocol",
                f"this server (physnn {__version__}) speaks device protocol {PROTOCOL}; "
                f"the request says {version or 'nothing'}",
                protocol=PROTOCOL,
            )
        self._expire_lease()  # before the touch: a holder silent too long has lost its lease
        client = request.headers.get(CLIENT_HEADER)
        if client:
            self.lease.touch(client)
        return None

    async def _read_body(self, request: Request) -> bytes | Reply:
        """The body, or a 413 once it is longer than the limit (declared or streamed)."""
        from starlette.requests import ClientDisconnect

        limit = self.max_request_bytes
        too_large = error_reply(
            413,
            "too-large",
            f"the request is larger than this server's limit of {limit} bytes "
            "(physnn serve --max-request-mb)",
            max_request_bytes=limit,
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > DRAIN_FACTOR * limit:
            return too_large
        size, chunks = 0, []
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size <= limit:
                    chunks.append(chunk)
                elif size > DRAIN_FACTOR * limit:
                    break
        except ClientDisconnect:
            return error_reply(400, "bad-request", "the client disconnected")
        return too_large if size > limit else b"".join(chunks)

    def _admit(self, client: str, op: str) -> Reply | None:
        """The lease decides: a former holder learns that its lease ended; a write takes a
        free lease and is refused (423) while another client holds it."""
        if client in self.lease.lost:
            reason = self.lease.lost.pop(client)
            return error_reply(
                409,
                "lease-lost",
                f"this client's writer lease ended ({reason}) and the device was put in its "
                "safe state; its controls must be written again",
            )
        if op == "write" and self.lease.holder != client:
            if self.lease.holder is not None:
                return error_reply(
                    423,
                    "locked",
                    f"another client ({self.lease.holder[:8]}) holds the writer lease: one "
                    "writer at a time; the lease ends when that client releases it or sends no "
                    f"request for {self.lease.seconds:g} s",
                )
            self.lease.holder = client
            logger.info("client %s holds the writer lease", client[:8])
        self.lease.touch(client)
        return None

    def _expire_lease(self) -> None:
        if not self.lease.expired():
            return
        holder = self.lease.holder
        assert holder is not None
        reason = f"no request for {self.lease.seconds:g} s"
        self.lease.holder = None
        self.lease.lost[holder] = reason
        # submitted at once, so it runs before any device call admitted after this point
        asyncio.get_running_loop().run_in_executor(
            self._executor, partial(self._safe_state, holder, f"lease expired: {reason}")
        )

    async def _watch_lease(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.lease.seconds / 4))
            self._expire_lease()

    # ------------------------------------------------------------------------------- endpoints
    async def _hello(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return self._respond(refused)
        return self._respond(
            json_reply(
                {
                    "protocol": PROTOCOL,
                    "version": __version__,
                    "instance": self.instance,
                    "system": self.system_name,
                    "num_outputs": _num_outputs(self.device),
                    "specs": {n: spec_to_json(s) for n, s in self.device.specs.items()},
                    "max_change": self.device.max_change,
                    "capabilities": _capabilities(self.device),
                    "max_request_bytes": self.max_request_bytes,
                    "lease_seconds": self.lease.seconds,
                }
            )
        )

    async def _controls(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return self._respond(refused)
        reply = await self._in_worker(lambda: arrays_reply(self.device.read_controls()))
        return self._respond(reply)

    async def _release(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused is not None:
            return self._respond(refused)
        client = request.headers.get(CLIENT_HEADER, "")
        if not client or self.lease.holder != client:
            return self._respond(json_reply({"released": False}))
        self.lease.holder = None
        await self._in_worker(partial(self._safe_state, client, "released by its client"))
        return self._respond(json_reply({"released": True}))

    async def _post(self, request: Request, op: str) -> Reply:
        client = request.headers.get(CLIENT_HEADER, "")
        rid = request.headers.get(REQUEST_HEADER, "")
        reply = await self._screen(request, client, rid)
        if isinstance(reply, Reply):
            if op == "write":
                self.write_log.record(
                    "refused", client=client or None, request=rid or None, reason=reply.message
                )
            return reply
        key = (client, rid)
        cached = self.cache.get(key)
        if cached is not None:
            if op == "write":
                self.write_log.record("replayed", client=client, request=rid, reason="retry")
            return cached
        task = self._inflight.get(key)
        if task is None:  # a retry of a request still in progress waits for that one
            refused = self._admit(client, op)
            if refused is not None:
                if op == "write":
                    self.write_log.record(
                        "refused", client=client, request=rid, reason=refused.message
                    )
                return refused
            task = asyncio.create_task(self._execute(op, client, rid, reply))
            self._inflight[key] = task
        # shielded: a client that gives up does not cancel a device call half done
        return await asyncio.shield(task)

    async def _screen(self, request: Request, client: str, rid: str) -> bytes | Reply:
        """The body of an acceptable request, or the refusal."""
        refused = self._guard(request)
        if refused is not None:
            return refused
        if not client or not rid:
            return error_reply(
                400, "bad-request", f"{CLIENT_HEADER} and {REQUEST_HEADER} headers are required"
            )
        body = await self._read_body(request)
        if isinstance(body, Reply):
            return body
        if request.headers.get(CHECKSUM_HEADER) != checksum(body):
            return error_reply(400, "checksum", "the body does not match its checksum")
        expected = request.headers.get(INSTANCE_HEADER)
        if expected and expected != self.instance:
            return error_reply(
                409,
                "instance",
                f"the server was restarted (instance {self.instance[:8]}, the client expected "
                f"{expected[:8]}): the device's state was lost",
            )
        return body

    async def _execute(self, op: str, client: str, rid: str, body: bytes) -> Reply:
        self.lease.busy[client] = self.lease.busy.get(client, 0) + 1
        try:
            reply = await self._in_worker(partial(self._device_call, op, client, rid, body))
        except Exception as err:  # a bug below: answer it, keep serving
            logger.exception("%s request failed", op)
            reply = error_reply(500, "server-error", f"{type(err).__name__}: {err}")
        finally:
            self.lease.busy[client] -= 1
            if not self.lease.busy[client]:
                del self.lease.busy[client]
            self.lease.touch(client)
            self._inflight.pop((client, rid), None)
        if reply.status == 200:
            self.cache.put((client, rid), reply)
        return reply

    # ------------------------------------------------------------------------------- device calls
    def _device_call(self, op: str, client: str, rid: str, body: bytes) -> Reply:
        """Run one operation in the device thread; device errors become refusals."""
        try:
            return self._operations[op](client, rid, body)
        except (ProtocolError, KeyError, TypeError, ValueError) as err:
            return error_reply(400, "bad-request", f"malformed {op} request: {err}")
        except IncompatibleError as err:
            return error_reply(400, "incompatible", str(err))
        except CorruptedMeasurement as err:
            return error_reply(500, "corrupted", str(err))
        except DeviceTimeout as err:
            return error_reply(504, "device-timeout", str(err))
        except PhysnnError as err:
            return error_reply(500, "device", str(err))

    def _query(self, client: str, rid: str, body: bytes) -> Reply:
        x = to_tensor(decode(body)["x"])
        return arrays_reply({"y": self.device.query(x)})

    def _relax(self, client: str, rid: str, body: bytes) -> Reply:
        arrays = {k: to_tensor(v) for k, v in decode(body).items()}
        nudge, clamp = arrays.get("nudge"), arrays.get("clamp")
        settled = self.device.relax(arrays["x"], nudge=nudge, clamp=clamp)
        local = {f"local/{name}": value for name, value in settled.local.items()}
        return arrays_reply({"outputs": settled.outputs, **local})

    def _gradient(self, client: str, rid: str, body: bytes) -> Reply:
        arrays = decode(body)
        procedure = str(arrays["procedure"])
        calls = self.device.stats().query_calls
        outputs, grads = self.device.measure_gradient(
            to_tensor(arrays["x"]), to_tensor(arrays["output_gradient"]), procedure
        )
        passes = self.device.stats().query_calls - calls  # the device counts one per pass
        named = {f"grad/{name}": value for name, value in grads.items()}
        return arrays_reply({"outputs": outputs, **named, "passes": passes})

    def _write(self, client: str, rid: str, body: bytes) -> Reply:
        controls = {name: to_tensor(value) for name, value in decode(body).items()}
        current = self.device.read_controls()
        try:
            self.device.check_write(controls, current, slew=True)
        except ControlBoundsError as err:
            self.write_log.record(
                "refused", client=client, request=rid, reason=str(err), controls=controls
            )
            logger.warning("refused a write of client %s: %s", client[:8], err)
            return error_reply(422, "bounds", str(err))
        changed = _changed(current, controls)
        self.device.write(controls)
        self.write_log.record(
            "applied", client=client, request=rid, changed=changed, controls=controls
        )
        return arrays_reply({"changed": changed})

    def _safe_state(self, client: str | None, reason: str) -> None:
        """Write the device's safe controls (ramped within its slew limits) and log it."""
        try:
            target = self.device.safe_controls()
            changed = _changed(self.device.read_controls(), target)
            self.device.write(target)
        except Exception:  # nothing to answer here: make it loud instead
            logger.exception("could not put the device in its safe state (%s)", reason)
            self.write_log.record("safe-state-failed", client=client, request=None, reason=reason)
            return
        self.write_log.record(
            "safe-state", client=client, request=None, reason=reason, changed=changed,
            controls=target,
        )  # fmt: skip
        logger.warning("device put in its safe state (%s); %d values changed", reason, changed)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one); connections wait in its backlog until the
    server runs. Made with IPPROTO_TCP so that asyncio sets TCP_NODELAY on every connection:
    without it, a reply written in two parts waits ~40 ms for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart on the same port
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen on anything but loopback without a token."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a token: any address but loopback needs one "
            "(set PHYSNN_TOKEN or pass --token-file)"
        )


def serve(server: DeviceServer, host: str = "127.0.0.1", port: int = 0) -> None:
    """Serve until SIGINT/SIGTERM, then put the device in its safe state. Prints
    ``serving on URL`` as the first line of stdout once the socket listens."""
    uvicorn = require("uvicorn")
    check_exposure(host, server.token)
    if server.token is None:
        print(
            "physnn serve: warning: no token (PHYSNN_TOKEN or --token-file): every local "
            "user and process can drive the device",
            file=sys.stderr,
            flush=True,
        )
    sock = bind(host, port)
    print(f"serving on {url_of(sock)}", flush=True)
    config = uvicorn.Config(
        server.app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=60
    )
    uvicorn.Server(config).run(sockets=[sock])
