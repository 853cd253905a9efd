"""The device server's checks of a request before the device is given any of it: a body within
the size limit, then its arrays (the names it must hold, batches the device may measure,
control values of real numbers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor

from physnn.errors import PhysnnError
from physnn.hardware.protocol import ProtocolError, to_tensor
from physnn.hardware.replies import Reply, cut, error_reply
from physnn.systems.base import Controls

if TYPE_CHECKING:
    from starlette.requests import Request

DRAIN_FACTOR = 4
"""An oversized body up to this multiple of the limit is read and discarded before the 413, so
that the client receives the answer instead of a reset connection; a larger one is cut off."""


class InvalidRequest(PhysnnError):
    """A well-formed request whose values the device must not be given (422 ``invalid``)."""


def fields(
    arrays: Mapping[str, np.ndarray], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Mapping[str, np.ndarray]:
    """``arrays`` once it holds the required names and no others than the optional ones."""
    missing = [name for name in required if name not in arrays]
    unknown = sorted(set(arrays) - {*required, *optional})
    if missing or unknown:
        names = ", ".join(repr(cut(n, 32)) for n in [*missing, *unknown][:4])
        raise ProtocolError(
            f"the arrays must be {', '.join(required)} (optional: {', '.join(optional) or 'none'})"
            f"; missing or unknown: {names}"
        )
    return arrays


def samples(name: str, array: np.ndarray, like: tuple[int, int | None] | None = None) -> Tensor:
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


def text(name: str, array: np.ndarray) -> str:
    if array.dtype.kind != "U" or array.ndim != 0:
        raise InvalidRequest(f"{name!r} must be one text value, not {array.dtype} {array.shape}")
    return str(array)


def control_values(arrays: Mapping[str, np.ndarray]) -> Controls:
    """Controls by name, once every value is real numbers (integers or floats; bounds, levels
    and slew limits are the device's to check)."""
    for name, array in arrays.items():
        if array.dtype.kind not in "iuf":
            raise InvalidRequest(
                f"control {cut(name, 32)!r} must hold real numbers, not {array.dtype}"
            )
    return {name: to_tensor(array) for name, array in arrays.items()}


async def read_body(request: Request, limit: int) -> bytes | Reply:
    """The body, or a 413 once it is longer than the limit (declared or streamed)."""
    from starlette.requests import ClientDisconnect

    from physnn.hardware.connections import BodyTimeout

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
