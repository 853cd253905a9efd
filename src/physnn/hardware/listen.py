"""Where the device server listens: its socket, its URL, and who may reach it without a token."""

from __future__ import annotations

import socket

from physnn.errors import ConfigError
from physnn.hardware.credentials import Credentials
from physnn.hardware.protocol import is_loopback


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
