"""The device protocol shared by the server (``physnn serve``) and the client (RemoteDevice).

HTTP/1.1, paths under ``/v1``. Array bodies are ``.npz`` archives (numpy, read with
``allow_pickle=False``: decoding cannot run code; float32, float64 and complex values arrive
bit for bit); metadata travels in headers. docs/protocol.md is the specification; this module
holds the pieces both sides must agree on: header names, the body codec, its checksum, the JSON
form of a control spec, and where the token comes from.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import ipaddress
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from physnn.errors import ConfigError, PhysnnError
from physnn.systems.base import ControlSpec, System

PROTOCOL = 1
"""Version of the protocol; a request with another version is refused (400)."""

PROTOCOL_HEADER = "X-Physnn-Protocol"
CLIENT_HEADER = "X-Physnn-Client"  # one uuid per RemoteDevice: whose lease, whose cache
REQUEST_HEADER = "X-Physnn-Request-Id"  # one uuid per request; a retry reuses it
CHECKSUM_HEADER = "X-Physnn-Checksum"  # sha256 of the body, in both directions
INSTANCE_HEADER = "X-Physnn-Instance"  # uuid of the server process (new at every start)

NPZ = "application/x-npz"
TOKEN_ENV = "PHYSNN_TOKEN"

_ARRAY_KINDS = "biufcU"  # booleans, integers, floats, complex, and text (a procedure name)


class ProtocolError(PhysnnError):
    """A body that is not a valid protocol frame (damaged, or not an .npz of plain arrays)."""


def require(module: str) -> ModuleType:
    """Import an optional dependency of the device server and client (physnn[server])."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PhysnnError(
            f"the device server and client need {module}: install physnn[server] "
            "(pip install 'physnn[server]')"
        ) from None


def checksum(body: bytes) -> str:
    """The hex sha256 of a body (sent as ``X-Physnn-Checksum``)."""
    return hashlib.sha256(body).hexdigest()


def encode(arrays: Mapping[str, Tensor | np.ndarray | str | int]) -> bytes:
    """An .npz archive of named arrays (tensors are copied to the CPU; nothing is pickled)."""
    plain = {}
    for name, value in arrays.items():
        if isinstance(value, Tensor):
            value = value.detach().cpu().numpy()
        plain[name] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, **plain)
    return buffer.getvalue()


def decode(body: bytes, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """The arrays of an .npz body; :class:`ProtocolError` for anything else, and for an archive
    whose members would decompress to more than ``max_bytes`` (a zip bomb: a small compressed
    body that fills the memory). The sizes are the ones the archive declares, which ``zipfile``
    enforces while it reads."""
    if max_bytes is not None:
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, ValueError, OSError) as err:
            raise ProtocolError(f"not a valid .npz frame ({type(err).__name__}: {err})") from None
        if unpacked > max_bytes:
            raise ProtocolError(
                f"the .npz frame decompresses to {unpacked} bytes, more than the limit of "
                f"{max_bytes} bytes"
            )
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as err:  # a damaged zip raises many kinds of error: all mean the same
        raise ProtocolError(f"not a valid .npz frame ({type(err).__name__}: {err})") from None
    for name, array in arrays.items():
        if array.dtype.kind not in _ARRAY_KINDS:
            raise ProtocolError(f"array {name!r} has unsupported dtype {array.dtype}")
    return arrays


def to_tensor(array: np.ndarray) -> Tensor:
    """A tensor of a decoded array (native byte order, own memory)."""
    return torch.from_numpy(np.array(array, dtype=array.dtype.newbyteorder("=")))


def spec_to_json(spec: ControlSpec) -> dict[str, Any]:
    return {
        "shape": list(spec.shape),
        "low": spec.low,
        "high": spec.high,
        "periodic": spec.periodic,
        "levels": spec.levels,
        "unit": spec.unit,
    }


def spec_from_json(data: Mapping[str, Any]) -> ControlSpec:
    """The inverse of :func:`spec_to_json` (JSON floats round-trip exactly)."""
    return ControlSpec(
        shape=tuple(int(n) for n in data["shape"]),
        low=float(data["low"]),
        high=float(data["high"]),
        periodic=bool(data["periodic"]),
        levels=None if data["levels"] is None else int(data["levels"]),
        unit=str(data["unit"]),
    )


def check_same_device(system: System, hello: Mapping[str, Any], url: str) -> None:
    """Raise :class:`ConfigError` listing every difference between the run's system and the
    device a server offers (name, control names, shapes, bounds, levels)."""
    problems = []
    if hello.get("system") not in (None, system.name):
        problems.append(f"it serves system {hello['system']!r}, the run uses {system.name!r}")
    ours = system.control_specs()
    theirs = {name: spec_from_json(spec) for name, spec in hello["specs"].items()}
    for name in sorted(set(ours) | set(theirs)):
        if name not in theirs:
            problems.append(f"it has no control {name!r}")
        elif name not in ours:
            problems.append(f"its control {name!r} is unknown to the run's system")
        elif ours[name] != theirs[name]:
            diffs = [
                f"{f.name} {getattr(theirs[name], f.name)} there, {getattr(ours[name], f.name)} "
                "here"
                for f in fields(ControlSpec)
                if getattr(theirs[name], f.name) != getattr(ours[name], f.name)
            ]
            problems.append(f"control {name!r}: {', '.join(diffs)}")
    if problems:
        raise ConfigError(
            f"the device at {url} does not match the run's system: {'; '.join(problems)}; serve "
            "it with the run's --system, --preset and -S options (num_classes follows the "
            "dataset)"
        )


def resolve_token(token: str | None = None, token_file: str | Path | None = None) -> str | None:
    """The shared secret: from ``token_file`` if given, else ``token``, else $PHYSNN_TOKEN."""
    if token_file is not None:
        path = Path(token_file)
        try:
            token = path.read_text().strip()
        except OSError as err:
            raise ConfigError(f"cannot read token file {str(path)!r}: {err.strerror}") from None
        if not token:
            raise ConfigError(f"token file {str(path)!r} is empty")
        return token
    if token is None:
        token = os.environ.get(TOKEN_ENV, "").strip() or None
    return token


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def parse_json(content: bytes) -> dict[str, Any]:
    """A JSON reply's object; :class:`ProtocolError` for anything else."""
    try:
        return json.loads(content)
    except ValueError:
        raise ProtocolError("the reply is not JSON") from None
