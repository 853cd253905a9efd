"""The device server's writer lease: one writer at a time, until it releases the lease or falls
silent."""

from __future__ import annotations

import time


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


def describe(client: tuple[str, str]) -> str:
    """A lease holder in a message: ``identity/client`` (the client id's first 8 characters)."""
    identity, client_id = client
    return f"{identity}/{client_id[:8]}" if identity else client_id[:8]
