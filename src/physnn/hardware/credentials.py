"""Who may call the device server: the tokens it accepts (:class:`Credentials`, from one shared
token or a credentials file), the identity each proves and what its role allows."""

from __future__ import annotations

import hmac
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError
from physnn.hardware.measurements import OPERATIONS

ID_CHARS = 64
"""The longest identifier (client id, request id, address) a write-log line holds."""
MIN_TOKEN_CHARS = 16
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


ROLES: dict[str, frozenset[str]] = {
    "reader": frozenset({"read"}),
    "writer": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "release-any"}),
}
"""What each role may do: ``read`` (hello, controls, query, relax, gradient), ``write``
(write, and release its own lease), ``release-any`` (release the lease whoever holds it)."""

OP_ACTIONS = {"hello": "read", "controls": "read", "write": "write", "release": "write",
              **{op.endpoint: "read" for op in OPERATIONS}}  # fmt: skip
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
