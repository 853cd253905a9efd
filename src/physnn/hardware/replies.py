"""The device server's replies: what an endpoint answers, the cache of recent ones that answers a
retried request, and the cut that keeps client-sent text in them short."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from physnn.hardware.protocol import NPZ, encode

MIB = 2**20


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


def cut(text: str | None, limit: int) -> str | None:
    """``text`` at most ``limit`` characters long (a longer one ends with "…")."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
