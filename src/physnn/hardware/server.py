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
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, is_dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from physnn import __version__
from physnn.errors import ConfigError
from physnn.hardware import validation
from physnn.hardware.credentials import OP_ACTIONS, Caller, Credentials
from physnn.hardware.device import Device
from physnn.hardware.lease import Lease, describe
from physnn.hardware.listen import bind, check_exposure, url_of
from physnn.hardware.operations import DeviceOperations, num_outputs
from physnn.hardware.protocol import (
    CHECKSUM_HEADER,
    CLIENT_HEADER,
    INSTANCE_HEADER,
    PROTOCOL,
    PROTOCOL_HEADER,
    REQUEST_HEADER,
    checksum,
    require,
    spec_to_json,
)
from physnn.hardware.replies import (
    MIB,
    Handler,
    Reply,
    ReplyCache,
    RequestKey,
    arrays_reply,
    cut,
    error_reply,
    json_reply,
)
from physnn.hardware.writelog import WriteLog

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from physnn.hardware.connections import ConnectionLimits

logger = logging.getLogger("physnn.serve")


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
        self.operations = DeviceOperations(device, self.write_log, self.max_request_bytes)
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
            *(route(op, "POST", partial(self._post, op=op)) for op in self.operations.handlers),
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
            await self._in_worker(partial(self.operations.safe_state, holder, "server shutdown"))
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
                f"the request says {cut(version, 16) or 'nothing'}",
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
                    f"another client ({describe(self.lease.holder)}) holds the writer lease: "
                    "one writer at a time; the lease ends when that client releases it or sends "
                    f"no request for {self.lease.seconds:g} s",
                )
            self.lease.holder = client
            logger.info("client %s holds the writer lease", describe(client))
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
            self._executor, partial(self.operations.safe_state, holder, f"lease expired: {reason}")
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
                "num_outputs": num_outputs(self.device),
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
                    f"only the lease's holder or an admin may release it ({describe(holder)} "
                    f"holds it, {caller.describe()} asked)",
                )
            reason = f"released by {caller.describe()}"
            self.lease.lost[holder] = reason
        self.lease.holder = None
        await self._in_worker(partial(self.operations.safe_state, holder, reason))
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
        body = await validation.read_body(request, self.max_request_bytes)
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
            reply = await self._in_worker(partial(self.operations.call, op, caller, rid, body))
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


def _address(request: Request) -> str:
    """The peer's IP address (the transport's, never a header)."""
    return request.client.host if request.client is not None else "unknown"


def _reused(rid: str) -> Reply:
    return error_reply(
        409,
        "reused-id",
        f"request id {cut(rid, 16)!r} was already used for another request; a retry must "
        "send the same body, a new request a new id",
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
