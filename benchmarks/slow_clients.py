"""Slow-loris attack on ``physnn serve`` with its default limits, on the loopback only.

    python benchmarks/slow_clients.py [--heads 200] [--bodies 50] [--per-address 16]

Starts ``physnn serve --system diffractive`` (default connection limits) and opens ``--heads``
connections that trickle a request head and ``--bodies`` that send a complete head and then
trickle its body, one byte a second each, from the loopback addresses 127.0.0.2, 127.0.0.3, …
(``--per-address`` connections each; Linux routes all of 127.0.0.0/8 to the loopback). A
legitimate ``RemoteDevice`` at 127.0.0.1 queries the device twice meanwhile: at once (while the
attackers fill the server) and after the header timeout. Prints how many attacking connections
the server refused (503), answered 408, or still holds after each default timeout + 2 s, and
the client's latencies, retries and whether its measurements equal the same device's in
process. Bounded: every attacker stops after the body deadline + 5 s; the run takes about 70 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from physnn.hardware.client import RemoteDevice
from physnn.hardware.connections import ConnectionLimits
from physnn.hardware.simulated import simulated_device

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_attacks_slow import Attack

TOKEN = "slow-clients-benchmark-token"
DEFAULTS = ConnectionLimits()
AUTH = f"Authorization: Bearer {TOKEN}\r\nX-Physnn-Protocol: 1\r\n"


class Attackers:
    """``count`` attacking connections spread over the loopback addresses 127.0.0.``first``, …,
    ``per_address`` each: one :class:`Attack` (the test suite's) per address."""

    def __init__(self, port: int, count: int, per_address: int, first: int, opening: bytes,
                 trickle: bytes) -> None:  # fmt: skip
        give_up = DEFAULTS.body_seconds + 5
        self.attacks = [
            Attack(port, min(per_address, count - start), opening, trickle,
                   source=f"127.0.0.{first + k}", tick=1.0, give_up=give_up)
            for k, start in enumerate(range(0, count, per_address))
        ]  # fmt: skip

    @property
    def closed_at(self) -> list[float | None]:
        return [t for attack in self.attacks for t in attack.closed_at]

    def open_count(self) -> int:
        return sum(t is None for t in self.closed_at)

    def last_closed(self) -> float:
        """Seconds from the start to the last close (infinite if one is still open)."""
        return max(float("inf") if t is None else t for t in self.closed_at)

    def finish(self) -> dict[str, int]:
        """Wait for every attack to end; how many connections got each answer."""
        counts: dict[str, int] = {}
        for attack in self.attacks:
            for status, closed in zip(attack.finish(), attack.closed, strict=True):
                key = str(status or "none") + ("" if closed else " (open)")
                counts[key] = counts.get(key, 0) + 1
        return counts


def timed_query(url: str, x: torch.Tensor) -> tuple[torch.Tensor, float, int]:
    """One query through a fresh client: the measurement, its seconds and the 503s retried."""
    t0 = time.monotonic()
    remote = RemoteDevice.connect(url, token=TOKEN, timeout=30.0, max_wait=120.0)
    try:
        y = remote.query(x)
        return y, time.monotonic() - t0, remote.health().unavailable
    finally:
        remote.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", type=int, default=200)
    parser.add_argument("--bodies", type=int, default=50)
    parser.add_argument("--per-address", type=int, default=DEFAULTS.max_connections_per_client)
    args = parser.parse_args()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "physnn.cli", "serve", "--system", "diffractive",
               "--port", str(port), "--write-log", os.devnull]  # fmt: skip
    env = {**os.environ, "PHYSNN_TOKEN": TOKEN}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=env)  # fmt: skip
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        x = torch.rand(16, 64, generator=torch.Generator().manual_seed(0))
        reference = simulated_device("diffractive", seed=0)
        expected = [reference.query(x), reference.query(x)]

        body_request = (
            "POST /v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\n" + AUTH + "X-Physnn-Client: slow\r\n"
            "X-Physnn-Request-Id: slow\r\nContent-Length: 1000000\r\n\r\n"
        ).encode()
        head_request = b"GET /v1/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head_first = 2 + -(-args.bodies // args.per_address)  # the next free address
        started = time.monotonic()
        per = args.per_address
        groups = {  # the bodies first: they hold their connections longest
            "body tricklers": Attackers(port, args.bodies, per, 2, body_request, b"b" * 1000),
            "header tricklers": Attackers(
                port, args.heads, per, head_first, head_request, b"X" * 1000
            ),
        }
        first = timed_query(url, x)
        time.sleep(max(0.0, started + DEFAULTS.header_seconds + 2 - time.monotonic()))
        at_header = {name: g.open_count() for name, g in groups.items()}
        second = timed_query(url, x)
        answers = {name: g.finish() for name, g in groups.items()}
        print(f"physnn serve --system diffractive, default limits {DEFAULTS}")
        for name, group in groups.items():
            late = sum(t is None or t > DEFAULTS.body_seconds + 2 for t in group.closed_at)
            print(
                f"{name}: {len(group.closed_at)} opened; answers {answers[name]}; still open "
                f"after the header timeout + 2 s: {at_header[name]}, after the body deadline "
                f"+ 2 s: {late}; last closed at {group.last_closed():.1f} s"
            )
        for label, (y, seconds, refused) in zip(("during", "after"), (first, second), strict=True):
            same = torch.equal(y, expected[label == "after"])
            print(f"legitimate query {label} the header timeout: {seconds:.2f} s, "
                  f"{refused} answers 503 retried, same as in process: {same}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
