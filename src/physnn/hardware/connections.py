"""Connection limits of the device server: slow or greedy clients cannot hold it.

A client that opens connections and then sends nothing, or trickles its request head or body a
few bytes at a time ("slow loris", "slow POST"), costs the server a socket, memory and a file
descriptor for as long as it likes: uvicorn has no deadline for a request head or body, closes
an idle connection only after a response, and has no cap per client. This module bounds all of
it (docs/protocol.md, "Limits", states the numbers):

* :class:`LimitedH11Protocol`, uvicorn's h11 protocol with :class:`ConnectionLimits` (one
  subclass per server, from :func:`protocol_class`):

  - a request head must be complete within ``header_seconds`` of the connection opening, or of
    the first byte of the next request on a kept-alive connection: else 408, and closed;
  - a connection beyond ``max_connections_per_client`` open ones from its address, or beyond
    ``max_connections`` in all, is answered 503 at once and closed (the client retries later);
  - the rest of a body that arrives after its response was sent (a 401, 408 or 413 answered
    early) is discarded for at most ``body_stall_seconds``, then the connection is closed;
  - an idle kept-alive connection is closed after ``keep_alive_seconds`` (uvicorn's timer).

* :class:`BodyDeadlines`, an ASGI wrapper: while the application reads a request body, each
  part must arrive within ``body_stall_seconds`` and the whole body within ``body_seconds`` of
  the head; otherwise the read raises :class:`BodyTimeout` (the server answers 408) and that
  response closes the connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, fields
from typing import Any

from physnn.errors import ConfigError, option
from physnn.hardware.protocol import require

h11 = require("h11")
H11Protocol = require("uvicorn.protocols.http.h11_impl").H11Protocol

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

REFUSAL_LINGER_SECONDS = 1.0
"""How long a refused connection's own request is read and discarded after the 503, so that the
client receives the answer instead of a reset connection."""


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines (seconds) and connection caps of one server; the defaults suit clients on a
    lab network (a training client holds one connection and sends its requests at once)."""

    header_seconds: float = 10.0
    body_stall_seconds: float = 10.0
    body_seconds: float = 60.0
    keep_alive_seconds: float = 15.0
    max_connections: int = 128
    max_connections_per_client: int = 16

    def __post_init__(self) -> None:
        for limit in fields(self):
            value = getattr(self, limit.name)
            if not value > 0:
                raise ConfigError(f"{option(limit.name)} must be positive, got {value!r}")

    @classmethod
    def given(cls, options: Mapping[str, Any]) -> ConnectionLimits:
        """The limits among ``options`` (e.g. parsed flags) that are given (not None); the
        defaults for the others."""
        names = (limit.name for limit in fields(cls))
        return cls(**{name: options[name] for name in names if options.get(name) is not None})


class BodyTimeout(Exception):
    """A request body stalled or took longer than its deadline (answered 408)."""


def raw_reply(status: str, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response with a JSON error body (as the application's refusals) that
    closes the connection; for answers given before or outside any request cycle."""
    body = json.dumps({"error": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
        "\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline, connection caps, and a bound on a
    body still arriving after its response; ``limits`` is set by :func:`protocol_class`."""

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused = False
        self.head_timer: asyncio.TimerHandle | None = None
        self.drain_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        refusal = self._refusal(transport)
        if refusal is not None:
            self._refuse(transport, refusal)
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # the refused client's request, read and discarded
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self.drain_timer is not None and self.conn.their_state is not h11.SEND_BODY:
            self.transport.close()  # the body answered early is in: the connection is not reused
        elif self.conn.their_state is h11.IDLE:
            self._arm_head_timer()  # part of a request head
        elif self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        body_unfinished = self.conn.their_state is h11.SEND_BODY
        if body_unfinished and self.conn.our_state is h11.DONE and not self.transport.is_closing():
            self.drain_timer = self.loop.call_later(
                self.limits.body_stall_seconds, self.transport.close
            )

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self.head_timer, self.drain_timer):
            if timer is not None:
                timer.cancel()
        if not self.refused:
            super().connection_lost(exc)

    # ----------------------------------------------------------------------------- helpers
    def _refusal(self, transport: asyncio.Transport) -> str | None:
        """Why this new connection is refused (a cap is reached), or None."""
        limits = self.limits
        if len(self.connections) >= limits.max_connections:
            return f"this server holds its limit of {limits.max_connections} connections"
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) else None
        cap = limits.max_connections_per_client
        if host is not None and self._open_from(host) >= cap:
            return f"this server holds its limit of {cap} connections from {host}"
        return None

    def _open_from(self, host: str) -> int:
        """How many of the server's open connections come from ``host``."""
        peers = (getattr(other, "client", None) for other in self.connections)
        return sum(peer is not None and peer[0] == host for peer in peers)

    def _refuse(self, transport: asyncio.Transport, reason: str) -> None:
        """503 with the reason, then close once the client has read it (or after a second)."""
        self.refused = True
        self.transport = transport
        transport.write(raw_reply("503 Service Unavailable", "busy", f"{reason}; try later"))
        if transport.can_write_eof():
            transport.write_eof()
        self.loop.call_later(REFUSAL_LINGER_SECONDS, transport.close)

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.limits.header_seconds, self._head_late)

    def _head_late(self) -> None:
        self.head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            seconds = self.limits.header_seconds
            message = f"the request head did not arrive within {seconds:g} s"
            self.transport.write(raw_reply("408 Request Timeout", "request-timeout", message))
            self.transport.close()


def protocol_class(limits: ConnectionLimits) -> type:
    """The h11 protocol class for ``uvicorn.Config(http=...)`` that enforces ``limits``."""
    return type("LimitedH11Protocol", (LimitedH11Protocol,), {"limits": limits})


class BodyDeadlines:
    """ASGI wrapper: the body's parts must keep coming (``body_stall_seconds``) and the whole
    body must arrive within ``body_seconds``; else :class:`BodyTimeout` is raised from the
    application's ``receive()`` and the response it then sends closes the connection."""

    def __init__(self, app: ASGIApp, limits: ConnectionLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _BodyReader(receive, self.limits)

        async def send_closing(message: Message) -> None:
            if body.timed_out and message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, body.receive, send_closing)


class _BodyReader:
    """``receive()`` with the body's deadlines, until the body is complete."""

    def __init__(self, receive: Receive, limits: ConnectionLimits) -> None:
        self._receive = receive
        self.limits = limits
        self.deadline = asyncio.get_running_loop().time() + limits.body_seconds
        self.complete = False
        self.timed_out = False

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()  # e.g. waiting for a disconnect: not bounded here
        left = self.deadline - asyncio.get_running_loop().time()
        stall = self.limits.body_stall_seconds
        try:  # asyncio.timeout, not wait_for: no extra task (and loop turns) per body part
            async with asyncio.timeout(min(stall, left)):
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            raise BodyTimeout(
                f"no part of the request body arrived for {stall:g} s"
                if stall < left
                else f"the request body did not arrive within {self.limits.body_seconds:g} s"
            ) from None
        self.complete = message["type"] != "http.request" or not message.get("more_body")
        return message


def uvicorn_config(app: ASGIApp, limits: ConnectionLimits, **options: Any) -> Any:
    """A ``uvicorn.Config`` serving ``app`` over h11 within ``limits`` (``options``: the other
    settings, e.g. ``log_level``)."""
    uvicorn = require("uvicorn")
    return uvicorn.Config(
        BodyDeadlines(app, limits),
        http=protocol_class(limits),
        timeout_keep_alive=limits.keep_alive_seconds,
        **options,
    )
