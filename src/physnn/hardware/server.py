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
import re
import socket
import sys
import threading
import time
import tomllib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, is_dataclass, replace
from datetime import UTC, datetime
from functools import partial
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
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

    from physnn.hardware.connections import ConnectionLimits

logger = logging.getLogger("physnn.serve")

MIB = 2**20
DRAIN_FACTOR = 4
"""An oversized body up to this multiple of the limit is read and discarded before the 413, so
that the client receives the answer instead of a reset connection; a larger one is cut off."""
FIELD_CHARS = 200
"""The longest text (a refusal's reason) a write-log line holds; longer ones are cut."""
ID_CHARS = 64
"""The longest identifier (client id, request id, address) a write-log line holds."""
MIN_LOG_BYTES = 64 * 1024
"""The smallest size per write-log file (a line never comes near it)."""
MAX_WINDOWS = 1024
"""Rate-limit windows of the write log at most; refusals beyond them share one window."""
MIN_TOKEN_CHARS = 16
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Reply:
    """One response: status, body and media type (``message``: the reason of a refusal)."""

    status: int
    body: bytes
    media_type: str = NPZ
    message: str = ""
    code: str = ""
    ranges: Mapping[str, Any] | None = None  # of the controls a refused write sent (its log)


Handler = Callable[..., Awaitable[Reply]]
"""An endpoint: ``(request, caller)`` → its reply."""


def arrays_reply(arrays: Mapping[str, Tensor | Any]) -> Reply:
    return Reply(200, encode(arrays))


def json_reply(data: Mapping[str, Any], status: int = 200) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json")


def error_reply(status: int, code: str, message: str, **extra: Any) -> Reply:
    """A refusal: ``{"error": code, "message": ...}`` (the client maps the code to an error)."""
    body = json.dumps({"error": code, "message": message, **extra}).encode()
    return Reply(status, body, "application/json", message, code)


ROLES: dict[str, frozenset[str]] = {
    "reader": frozenset({"read"}),
    "writer": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "release-any"}),
}
"""What each role may do: ``read`` (hello, controls, query, relax, gradient), ``write``
(write, and release its own lease), ``release-any`` (release the lease whoever holds it)."""

OP_ACTIONS = {"hello": "read", "controls": "read", "query": "read", "relax": "read",
              "gradient": "read", "write": "write", "release": "write"}  # fmt: skip
"""The action each endpoint needs (:data:`ROLES`)."""

SHARED_TOKEN = "token"
"""The name of the one identity of a single shared token ($PHYSNN_TOKEN, --token-file)."""


@dataclass(frozen=True)
class Identity:
    """An authenticated client: its name in the credentials and its role."""

    name: str
    role: str

    def may(self, action: str) -> bool:
        return action in ROLES[self.role]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the identity its token proves (None: the server has no token) and
    the client id it chose (``X-Physnn-Client``)."""

    identity: Identity | None
    client: str

    @property
    def key(self) -> tuple[str, str]:
        """Whose lease and cached replies: the client id within its identity, so that no
        identity can speak for another by sending its client id."""
        return ("" if self.identity is None else self.identity.name, self.client)

    def may(self, action: str) -> bool:
        return self.identity is None or self.identity.may(action)

    def describe(self) -> str:
        client = self.client[:8]
        return client if self.identity is None else f"{self.identity.name}/{client}"


class Credentials:
    """The tokens a server accepts and the identity each one proves.

    A single shared token is one identity, ``token``, with the role ``admin``. A credentials
    file is TOML, one table per client::

        [clients.alice]
        token = "…"        # at least 16 characters, unique
        role = "writer"    # reader, writer or admin
    """

    def __init__(self, identities: Mapping[str, Identity]) -> None:
        if not identities:
            raise ConfigError("no credentials: give at least one token")
        self._tokens = [(token.encode(), identity) for token, identity in identities.items()]

    @classmethod
    def shared(cls, token: str) -> Credentials:
        return cls({token: Identity(SHARED_TOKEN, "admin")})

    @classmethod
    def load(cls, path: str | Path) -> Credentials:
        """Read a credentials file (:class:`ConfigError` with one sentence if it is wrong)."""
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"cannot read credentials {str(path)!r}: {err.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"credentials {str(path)!r} are not valid TOML: {err}") from None
        clients = data.get("clients")
        if set(data) != {"clients"} or not isinstance(clients, dict) or not clients:
            raise ConfigError(
                f"credentials {str(path)!r} must hold only [clients.NAME] tables, at least one"
            )
        identities: dict[str, Identity] = {}
        for name, entry in clients.items():
            token = _check_client(path, name, entry)
            if token in identities:
                raise ConfigError(f"credentials {str(path)!r}: clients share a token ({name!r})")
            identities[token] = Identity(name, entry["role"])
        return cls(identities)

    def identify(self, given: str) -> Identity | None:
        """The identity of ``given``: compared with every token in constant time (each
        comparison is, and all are made whichever matches)."""
        found = None
        for token, identity in self._tokens:
            if hmac.compare_digest(given.encode(), token):
                found = identity
        return found


def _check_client(path: Path, name: str, entry: Any) -> str:
    """The token of one ``[clients.NAME]`` table, once its fields are right."""
    where = f"credentials {str(path)!r}, client {name[:ID_CHARS]!r}"
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"{where}: a name is 1 to 64 letters, digits, '-' or '_'")
    if not isinstance(entry, dict) or set(entry) != {"token", "role"}:
        raise ConfigError(f'{where}: give exactly token = "…" and role = "…"')
    token, role = entry["token"], entry["role"]
    if role not in ROLES:
        raise ConfigError(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
    if not isinstance(token, str) or len(token.strip()) < MIN_TOKEN_CHARS or token != token.strip():
        raise ConfigError(
            f"{where}: the token must be text of at least {MIN_TOKEN_CHARS} characters, "
            "without surrounding spaces"
        )
    return token


class WriteLog:
    """The server's record as JSON lines: every write (``applied``, ``replayed`` for a retry
    answered from the cache, ``safe-state``) and every refusal (``refused``).

    Nothing in it grows with what a client sends: strings are cut at :data:`FIELD_CHARS`
    (identifiers at :data:`ID_CHARS`), control ranges are kept for the device's own controls
    only, and an unauthenticated request contributes no text of its own (no header, no body).
    Refusals are rate limited per (error, address, identity): the first ``burst`` of an
    ``interval`` (one for unauthenticated requests) are written at once, the rest counted and
    written as one summary line with ``count`` when the interval ends. The file rotates like
    :class:`logging.handlers.RotatingFileHandler` (``max_bytes`` per file, ``backups`` old
    files ``PATH.1`` … ``PATH.N``), so the log never takes more than
    ``(backups + 1) * max_bytes`` bytes.
    """

    def __init__(
        self,
        path: str | Path | None,
        *,
        max_bytes: int = 16 * MIB,
        backups: int = 8,
        interval: float = 10.0,
        burst: int = 10,
        controls: Collection[str] = (),
    ) -> None:
        if max_bytes < MIN_LOG_BYTES or backups < 1:
            raise ConfigError(
                f"the write log needs at least {MIN_LOG_BYTES} bytes per file and one backup, "
                f"got {max_bytes} bytes and {backups} backups"
            )
        self.path = None if path is None else Path(path)
        self.interval, self.burst, self.controls = interval, burst, frozenset(controls)
        self._handler = (
            None
            if self.path is None
            else RotatingFileHandler(self.path, maxBytes=max_bytes, backupCount=backups,
                                     encoding="utf-8")
        )  # fmt: skip
        self._windows: dict[tuple[str, str, str | None], _Window] = {}
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
        identity: str | None = None,
    ) -> None:
        """One write event (applied, replayed, safe-state)."""
        self._write(
            {
                "outcome": outcome,
                "identity": identity,
                "client": _cut(client, ID_CHARS),
                "request": _cut(request, ID_CHARS),
                "reason": _cut(reason, FIELD_CHARS),
                "changed": changed,
                "controls": self.ranges(controls),
            }
        )

    def refusal(
        self, reply: Reply, op: str, address: str, caller: Caller | None, rid: str | None
    ) -> None:
        """A refused request from ``address``, rate limited (``caller`` None: it did not
        authenticate, and nothing it sent is written)."""
        identity = None if caller is None or caller.identity is None else caller.identity.name
        key = (reply.code, _cut(address, ID_CHARS) or "", identity)
        now = time.monotonic()
        with self._lock:
            if key not in self._windows and len(self._windows) >= MAX_WINDOWS:
                key = (reply.code, "other", None)  # many addresses: one shared window
            window = self._windows.get(key)
            if window is None or now - window.start >= self.interval:
                if window is not None:
                    self._summarize(key, window)
                allowed = self.burst if caller is not None else 1
                window = self._windows[key] = _Window(now, reply.status, reply.message, allowed)
            window.seen += 1
            if window.seen > window.allowed:
                return
        line = {
            "outcome": "refused",
            "op": op,
            "status": reply.status,
            "error": reply.code,
            "identity": identity,
            "address": key[1],
            "client": None if caller is None else _cut(caller.client, ID_CHARS),
            "request": None if caller is None else _cut(rid, ID_CHARS),
            "reason": _cut(reply.message, FIELD_CHARS),
            "controls": reply.ranges,
        }
        self._write(line)

    def flush(self, final: bool = False) -> None:
        """Write the summaries of the intervals that ended (``final``: of all of them)."""
        now = time.monotonic()
        with self._lock:
            for key, window in list(self._windows.items()):
                if final or now - window.start >= self.interval:
                    self._summarize(key, window)
                    del self._windows[key]

    def ranges(self, controls: Controls | None) -> dict[str, dict[str, float | None]]:
        """The minimum and maximum of each of the device's controls sent (None: not finite
        real numbers); names the device does not have are left out."""
        ranges = {}
        for name, value in (controls or {}).items():
            if name not in self.controls:
                continue
            value = value.detach()
            real = value.numel() > 0 and not value.is_complex() and value.dtype != torch.bool
            finite = real and bool(value.isfinite().all())
            ranges[name] = (
                {"min": float(value.min()), "max": float(value.max())}
                if finite
                else {"min": None, "max": None}
            )
        return ranges

    def close(self) -> None:
        self.flush(final=True)
        if self._handler is not None:
            self._handler.close()

    def _summarize(self, key: tuple[str, str, str | None], window: _Window) -> None:
        """The line of the refusals an interval held back (called with the lock held)."""
        suppressed = window.seen - window.allowed
        if suppressed <= 0:
            return
        self._write(
            {
                "outcome": "refused",
                "status": window.status,
                "error": key[0],
                "identity": key[2],
                "address": key[1],
                "reason": _cut(window.reason, FIELD_CHARS),
                "count": suppressed,
                "seconds": round(time.monotonic() - window.start, 1),
            }
        )

    def _write(self, line: dict[str, Any]) -> None:
        if self._handler is None:
            return
        stamped = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **line}
        self._handler.handle(logging.makeLogRecord({"msg": json.dumps(stamped)}))


@dataclass
class _Window:
    """Refusals of one (error, address, identity) in the current interval."""

    start: float
    status: int
    reason: str
    allowed: int  # lines written at once; the rest only counted
    seen: int = 0


def _cut(text: str | None, limit: int) -> str | None:
    """``text`` at most ``limit`` characters long (a longer one ends with "…")."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class Lease:
    """The writer lease: who may write (a :attr:`Caller.key`), and since when it has been
    silent."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.holder: tuple[str, str] | None = None
        self.last_seen = 0.0
        self.busy: dict[tuple[str, str], int] = {}  # requests in progress (a lease in use)
        self.lost: dict[tuple[str, str], str] = {}  # former holders not yet told why it ended

    def touch(self, client: tuple[str, str]) -> None:
        if client == self.holder:
            self.last_seen = time.monotonic()

    def expired(self) -> bool:
        return (
            self.holder is not None
            and not self.busy.get(self.holder)
            and time.monotonic() - self.last_seen > self.seconds
        )


RequestKey = tuple[str, str, str]
"""(identity, client id, request id): whose request, in the reply cache and in flight."""


class ReplyCache:
    """The successful replies of recent requests by :data:`RequestKey`, each with the
    fingerprint (operation and body checksum) of the request it answered; oldest evicted
    first beyond ``entries`` replies or ``max_bytes`` of bodies."""

    def __init__(self, entries: int = 256, max_bytes: int = 256 * MIB) -> None:
        self.entries, self.max_bytes = entries, max_bytes
        self._replies: OrderedDict[RequestKey, tuple[str, Reply]] = OrderedDict()
        self._bytes = 0

    def get(self, key: RequestKey) -> tuple[str, Reply] | None:
        return self._replies.get(key)

    def put(self, key: RequestKey, fingerprint: str, reply: Reply) -> None:
        self._replies[key] = (fingerprint, reply)
        self._bytes += len(reply.body)
        while len(self._replies) > self.entries or self._bytes > self.max_bytes:
            _, (_, old) = self._replies.popitem(last=False)
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

    ``token``: one shared token (an ``admin``, :data:`SHARED_TOKEN`), per-client
    :class:`Credentials`, or None to accept every request (loopback only: :func:`serve`
    refuses otherwise; the client id is then the only identity). ``log_max_bytes`` and
    ``log_backups`` bound the write log (:class:`WriteLog`).
    """

    def __init__(
        self,
        device: Device,
        *,
        system_name: str | None,
        token: str | Credentials | None,
        lease_seconds: float = 30.0,
        max_request_bytes: int = 64 * MIB,
        write_log: str | Path | None = "physnn-serve-writes.jsonl",
        log_max_bytes: int = 16 * MIB,
        log_backups: int = 8,
    ) -> None:
        if not lease_seconds > 0:
            raise ConfigError(f"lease seconds must be positive, got {lease_seconds!r}")
        if max_request_bytes < 1:
            raise ConfigError(f"the request size limit must be positive, got {max_request_bytes}")
        self.device = device
        self.system_name = system_name
        self.token = token
        self.credentials = Credentials.shared(token) if isinstance(token, str) else token
        self.max_request_bytes = int(max_request_bytes)
        self.instance = uuid.uuid4().hex
        self.lease = Lease(lease_seconds)
        self.cache = ReplyCache()
        self.write_log = WriteLog(
            write_log, max_bytes=log_max_bytes, backups=log_backups, controls=device.specs
        )
        self._inflight: dict[RequestKey, tuple[str, asyncio.Task[Reply]]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="physnn-device")
        self._operations: dict[str, Callable[[Caller, str, bytes], Reply]] = {
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

        def route(op: str, method: str, handler: Handler) -> Route:
            async def endpoint(request: Request) -> Response:
                return self._respond(await self._handle(request, op, handler))

            return Route(f"/v1/{op}", endpoint, methods=[method])

        routes = [
            route("hello", "GET", self._hello),
            route("controls", "GET", self._controls),
            route("release", "POST", self._release),
            *(route(op, "POST", partial(self._post, op=op)) for op in self._operations),
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

    async def _handle(self, request: Request, op: str, handler: Handler) -> Reply:
        """Authenticate, check the request, run the endpoint; every refusal goes to the log."""
        caller = self._authenticate(request)
        if isinstance(caller, Reply):
            reply, caller = caller, None
        else:
            reply = self._check(request, caller, op) or await handler(request, caller)
        if 400 <= reply.status < 500:
            rid = request.headers.get(REQUEST_HEADER)
            self.write_log.refusal(reply, op, _address(request), caller, rid)
        return reply

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
    def _authenticate(self, request: Request) -> Caller | Reply:
        """The caller, or 401 (before anything else: nothing is revealed without a token)."""
        identity = None
        if self.credentials is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":
                identity = self.credentials.identify(given.strip())
            if identity is None:
                return error_reply(401, "unauthorized", "missing or wrong token")
        return Caller(identity, request.headers.get(CLIENT_HEADER, ""))

    def _check(self, request: Request, caller: Caller, op: str) -> Reply | None:
        """The protocol version, then what the caller's role allows; keeps its lease alive."""
        version = request.headers.get(PROTOCOL_HEADER)
        if version != str(PROTOCOL):
            return error_reply(
                400,
                "protocol",
                f"this server (physnn {__version__}) speaks device protocol {PROTOCOL}; "
                f"the request says {_cut(version, 16) or 'nothing'}",
                protocol=PROTOCOL,
            )
        if caller.identity is not None and not caller.may(OP_ACTIONS[op]):
            return error_reply(
                403,
                "forbidden",
                f"identity {caller.identity.name!r} has the role {caller.identity.role!r}, "
                f"which may not {op}",
            )
        self._expire_lease()  # before the touch: a holder silent too long has lost its lease
        if caller.client:
            self.lease.touch(caller.key)
        return None

    async def _read_body(self, request: Request) -> bytes | Reply:
        """The body, or a 413 once it is longer than the limit (declared or streamed)."""
        from starlette.requests import ClientDisconnect

        from physnn.hardware.connections import BodyTimeout

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
        except BodyTimeout as late:  # a stalled or trickled body (physnn.hardware.connections)
            return error_reply(408, "request-timeout", str(late))
        return too_large if size > limit else b"".join(chunks)

    def _admit(self, client: tuple[str, str], op: str) -> Reply | None:
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
                    f"another client ({_describe(self.lease.holder)}) holds the writer lease: "
                    "one writer at a time; the lease ends when that client releases it or sends "
                    f"no request for {self.lease.seconds:g} s",
                )
            self.lease.holder = client
            logger.info("client %s holds the writer lease", _describe(client))
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
        """Housekeeping: expire a silent lease, write the write log's ended summaries."""
        while True:
            await asyncio.sleep(min(1.0, self.lease.seconds / 4))
            self._expire_lease()
            self.write_log.flush()

    # ------------------------------------------------------------------------------- endpoints
    async def _hello(self, request: Request, caller: Caller) -> Reply:
        return json_reply(
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

    async def _controls(self, request: Request, caller: Caller) -> Reply:
        return await self._in_worker(lambda: arrays_reply(self.device.read_controls()))

    async def _release(self, request: Request, caller: Caller) -> Reply:
        """Give up the caller's lease; with ``?force=true`` an admin ends anyone's."""
        holder = self.lease.holder
        force = request.query_params.get("force", "").lower() in ("1", "true")
        if not caller.client or holder is None or (holder != caller.key and not force):
            return json_reply({"released": False})
        reason = "released by its client"
        if holder != caller.key:
            if not caller.may("release-any"):
                return error_reply(
                    403,
                    "forbidden",
                    f"only the lease's holder or an admin may release it ({_describe(holder)} "
                    f"holds it, {caller.describe()} asked)",
                )
            reason = f"released by {caller.describe()}"
            self.lease.lost[holder] = reason
        self.lease.holder = None
        await self._in_worker(partial(self._safe_state, holder, reason))
        return json_reply({"released": True})

    async def _post(self, request: Request, caller: Caller, *, op: str) -> Reply:
        """A device operation: answered from the cache for a retry (same request id, same
        body), refused (409) for a request id reused with another body, else run."""
        rid = request.headers.get(REQUEST_HEADER, "")
        screened = await self._screen(request, caller, rid)
        if isinstance(screened, Reply):
            return screened
        body, digest = screened
        key, fingerprint = (*caller.key, rid), f"{op}:{digest}"
        cached = self.cache.get(key)
        if cached is not None:
            if cached[0] != fingerprint:
                return _reused(rid)
            if op == "write":
                self.write_log.record(
                    "replayed", identity=key[0] or None, client=caller.client, request=rid,
                    reason="retry",
                )  # fmt: skip
            return cached[1]
        running = self._inflight.get(key)
        if running is not None:  # a retry of a request still in progress waits for that one
            if running[0] != fingerprint:
                return _reused(rid)
            task = running[1]
        else:
            takes_lease = op == "write" and self.lease.holder is None
            refused = self._admit(caller.key, op)
            if refused is not None:
                return refused
            run = self._execute(op, caller, rid, body, fingerprint, takes_lease)
            task = asyncio.create_task(run)
            self._inflight[key] = (fingerprint, task)
        # shielded: a client that gives up does not cancel a device call half done
        return await asyncio.shield(task)

    async def _screen(
        self, request: Request, caller: Caller, rid: str
    ) -> tuple[bytes, str] | Reply:
        """The body of an acceptable request and its checksum, or the refusal."""
        if not caller.client or not rid:
            return error_reply(
                400, "bad-request", f"{CLIENT_HEADER} and {REQUEST_HEADER} headers are required"
            )
        body = await self._read_body(request)
        if isinstance(body, Reply):
            return body
        digest = checksum(body)
        if request.headers.get(CHECKSUM_HEADER) != digest:
            return error_reply(400, "checksum", "the body does not match its checksum")
        expected = request.headers.get(INSTANCE_HEADER)
        if expected and expected != self.instance:
            return error_reply(
                409,
                "instance",
                f"the server was restarted (instance {self.instance[:8]}, the client expected "
                f"{expected[:8]}): the device's state was lost",
            )
        return body, digest

    async def _execute(
        self, op: str, caller: Caller, rid: str, body: bytes, fingerprint: str, takes_lease: bool
    ) -> Reply:
        """Run a request in the device thread and cache its reply; a refused write gives back
        the lease it took (``takes_lease``), so that a bad request holds nothing."""
        client = caller.key
        self.lease.busy[client] = self.lease.busy.get(client, 0) + 1
        try:
            reply = await self._in_worker(partial(self._device_call, op, caller, rid, body))
        except Exception as err:  # a bug below: answer it, keep serving
            logger.exception("%s request failed", op)
            reply = error_reply(500, "server-error", f"{type(err).__name__}: {err}")
        finally:
            self.lease.busy[client] -= 1
            if not self.lease.busy[client]:
                del self.lease.busy[client]
            self.lease.touch(client)
            self._inflight.pop((*client, rid), None)
        idle = self.lease.holder == client and not self.lease.busy.get(client)
        if takes_lease and reply.status != 200 and idle:
            self.lease.holder = None
        if reply.status == 200:
            self.cache.put((*client, rid), fingerprint, reply)
        return reply

    # ------------------------------------------------------------------------------- device calls
    def _device_call(self, op: str, caller: Caller, rid: str, body: bytes) -> Reply:
        """Run one operation in the device thread; the request is checked before the device
        is called (400 malformed, 422 unacceptable values); device errors become refusals."""
        try:
            return self._operations[op](caller, rid, body)
        except ProtocolError as err:
            return error_reply(400, "bad-request", f"malformed {op} request: {err}")
        except InvalidRequest as err:
            return error_reply(422, "invalid", f"{op} request refused: {err}")
        except IncompatibleError as err:
            return error_reply(400, "incompatible", str(err))
        except CorruptedMeasurement as err:
            return error_reply(500, "corrupted", str(err))
        except DeviceTimeout as err:
            return error_reply(504, "device-timeout", str(err))
        except PhysnnError as err:
            return error_reply(500, "device", str(err))

    def _query(self, caller: Caller, rid: str, body: bytes) -> Reply:
        arrays = _fields(decode(body, self.max_request_bytes), required=("x",))
        return arrays_reply({"y": self.device.query(_samples("x", arrays["x"]))})

    def _relax(self, caller: Caller, rid: str, body: bytes) -> Reply:
        arrays = _fields(
            decode(body, self.max_request_bytes), required=("x",), optional=("nudge", "clamp")
        )
        x = _samples("x", arrays["x"])
        signals = {
            name: _samples(name, arrays[name], like=(len(x), _num_outputs(self.device)))
            for name in ("nudge", "clamp")
            if name in arrays
        }
        settled = self.device.relax(x, **signals)
        local = {f"local/{name}": value for name, value in settled.local.items()}
        return arrays_reply({"outputs": settled.outputs, **local})

    def _gradient(self, caller: Caller, rid: str, body: bytes) -> Reply:
        arrays = _fields(
            decode(body, self.max_request_bytes), required=("x", "output_gradient", "procedure")
        )
        x = _samples("x", arrays["x"])
        signal = arrays["output_gradient"]
        signal = _samples("output_gradient", signal, like=(len(x), _num_outputs(self.device)))
        procedure = _text("procedure", arrays["procedure"])
        calls = self.device.stats().query_calls
        outputs, grads = self.device.measure_gradient(x, signal, procedure)
        passes = self.device.stats().query_calls - calls  # the device counts one per pass
        named = {f"grad/{name}": value for name, value in grads.items()}
        return arrays_reply({"outputs": outputs, **named, "passes": passes})

    def _write(self, caller: Caller, rid: str, body: bytes) -> Reply:
        controls = _control_values(decode(body, self.max_request_bytes))
        current = self.device.read_controls()
        try:
            self.device.check_write(controls, current, slew=True)
        except ControlBoundsError as err:
            logger.warning("refused a write of client %s: %s", caller.describe(), err)
            refusal = error_reply(422, "bounds", str(err))
            return replace(refusal, ranges=self.write_log.ranges(controls))
        held = self.device.as_held(controls)  # the log shows what the device holds, not what came
        changed = _changed(current, held)
        self.device.write(held)
        self.write_log.record(
            "applied", identity=caller.key[0] or None, client=caller.client, request=rid,
            changed=changed, controls=held,
        )  # fmt: skip
        return arrays_reply({"changed": changed})

    def _safe_state(self, client: tuple[str, str] | None, reason: str) -> None:
        """Write the device's safe controls (ramped within its slew limits) and log it."""
        identity, client_id = (None, None) if client is None else (client[0] or None, client[1])
        try:
            target = self.device.safe_controls()
            changed = _changed(self.device.read_controls(), target)
            self.device.write(target)
        except Exception:  # nothing to answer here: make it loud instead
            logger.exception("could not put the device in its safe state (%s)", reason)
            self.write_log.record(
                "safe-state-failed", identity=identity, client=client_id, request=None,
                reason=reason,
            )  # fmt: skip
            return
        self.write_log.record(
            "safe-state", identity=identity, client=client_id, request=None, reason=reason,
            changed=changed, controls=target,
        )  # fmt: skip
        logger.warning("device put in its safe state (%s); %d values changed", reason, changed)


class InvalidRequest(PhysnnError):
    """A well-formed request whose values the device must not be given (422 ``invalid``)."""


def _address(request: Request) -> str:
    """The peer's IP address (the transport's, never a header)."""
    return request.client.host if request.client is not None else "unknown"


def _describe(client: tuple[str, str]) -> str:
    """A lease holder in a message: ``identity/client`` (the client id's first 8 characters)."""
    identity, client_id = client
    return f"{identity}/{client_id[:8]}" if identity else client_id[:8]


def _reused(rid: str) -> Reply:
    return error_reply(
        409,
        "reused-id",
        f"request id {_cut(rid, 16)!r} was already used for another request; a retry must "
        "send the same body, a new request a new id",
    )


def _fields(
    arrays: Mapping[str, np.ndarray], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Mapping[str, np.ndarray]:
    """``arrays`` once it holds the required names and no others than the optional ones."""
    missing = [name for name in required if name not in arrays]
    unknown = sorted(set(arrays) - {*required, *optional})
    if missing or unknown:
        names = ", ".join(repr(_cut(n, 32)) for n in [*missing, *unknown][:4])
        raise ProtocolError(
            f"the arrays must be {', '.join(required)} (optional: {', '.join(optional) or 'none'})"
            f"; missing or unknown: {names}"
        )
    return arrays


def _samples(name: str, array: np.ndarray, like: tuple[int, int | None] | None = None) -> Tensor:
    """A batch the device may measure: float32 or float64, finite, (B, F) or (B, h, w) with no
    empty dimension (what every system encodes); ``like`` (batch, width): a per-sample signal
    of that shape (width None: any)."""
    if array.dtype not in (np.float32, np.float64):
        raise InvalidRequest(f"{name!r} must be float32 or float64, not {array.dtype}")
    if array.ndim not in (2, 3) or 0 in array.shape:
        raise InvalidRequest(
            f"{name!r} must be a batch of at least one sample, (B, F) or (B, h, w) with no empty "
            f"dimension, not of shape {array.shape}"
        )
    if like is not None:
        batch, width = like
        if array.ndim != 2 or array.shape[0] != batch or width not in (None, array.shape[1]):
            wanted = f"({batch}, {'N' if width is None else width})"
            raise InvalidRequest(f"{name!r} must be of shape {wanted}, not {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidRequest(f"{name!r} holds NaN or infinite values")
    return to_tensor(array)


def _text(name: str, array: np.ndarray) -> str:
    if array.dtype.kind != "U" or array.ndim != 0:
        raise InvalidRequest(f"{name!r} must be one text value, not {array.dtype} {array.shape}")
    return str(array)


def _control_values(arrays: Mapping[str, np.ndarray]) -> Controls:
    """Controls by name, once every value is real numbers (integers or floats; bounds, levels
    and slew limits are the device's to check)."""
    for name, array in arrays.items():
        if array.dtype.kind not in "iuf":
            raise InvalidRequest(
                f"control {_cut(name, 32)!r} must hold real numbers, not {array.dtype}"
            )
    return {name: to_tensor(array) for name, array in arrays.items()}


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


def check_exposure(host: str, token: str | Credentials | None) -> None:
    """Refuse to listen on anything but loopback without a token."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host} without a token: any address but loopback needs one "
            "(set PHYSNN_TOKEN or pass --token-file)"
        )


def serve(
    server: DeviceServer,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: ConnectionLimits | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then put the device in its safe state. Prints
    ``serving on URL`` as the first line of stdout once the socket listens. ``limits``: the
    deadlines and connection caps against slow or greedy clients (default:
    ``ConnectionLimits()``)."""
    from physnn.hardware.connections import ConnectionLimits, uvicorn_config

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
    limits = limits or ConnectionLimits()
    config = uvicorn_config(
        server.app, limits, log_level="warning", access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run(sockets=[sock])
