"""The device server's operations, run one at a time in its device thread: each request is
checked (:mod:`physnn.hardware.validation`) before the device is called, and every write is
logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np
from torch import Tensor

from physnn.errors import (
    ControlBoundsError,
    CorruptedMeasurement,
    DeviceTimeout,
    IncompatibleError,
    PhysnnError,
)
from physnn.hardware import validation
from physnn.hardware.credentials import Caller
from physnn.hardware.device import Device
from physnn.hardware.measurements import OPERATIONS, Field, Operation
from physnn.hardware.protocol import ProtocolError, decode
from physnn.hardware.replies import Reply, arrays_reply, error_reply
from physnn.hardware.writelog import WriteLog
from physnn.systems.base import Controls

logger = logging.getLogger("physnn.serve")


class DeviceOperations:
    """The device calls of :class:`~physnn.hardware.server.DeviceServer` by endpoint name
    (``handlers``): a write, every measurement operation of
    :data:`~physnn.hardware.measurements.OPERATIONS`, and putting the device in its safe
    state."""

    def __init__(self, device: Device, write_log: WriteLog, max_request_bytes: int) -> None:
        self.device = device
        self.write_log = write_log
        self.max_request_bytes = max_request_bytes
        self.handlers: dict[str, Callable[[Caller, str, bytes], Reply]] = {
            "write": self._write,
            **{op.endpoint: partial(self._measurement, op) for op in OPERATIONS},
        }

    def call(self, op: str, caller: Caller, rid: str, body: bytes) -> Reply:
        """Run one operation in the device thread; the request is checked before the device
        is called (400 malformed, 422 unacceptable values); device errors become refusals."""
        try:
            return self.handlers[op](caller, rid, body)
        except ProtocolError as err:
            return error_reply(400, "bad-request", f"malformed {op} request: {err}")
        except validation.InvalidRequest as err:
            return error_reply(422, "invalid", f"{op} request refused: {err}")
        except IncompatibleError as err:
            return error_reply(400, "incompatible", str(err))
        except CorruptedMeasurement as err:
            return error_reply(500, "corrupted", str(err))
        except DeviceTimeout as err:
            return error_reply(504, "device-timeout", str(err))
        except PhysnnError as err:
            return error_reply(500, "device", str(err))

    def _measurement(self, op: Operation, caller: Caller, rid: str, body: bytes) -> Reply:
        """Any measurement operation: every field checked by its kind before the device is
        called; the reply holds the outputs, the per-control results and, where they vary,
        the passes."""
        arrays = validation.fields(
            decode(body, self.max_request_bytes), required=op.required, optional=op.optional
        )
        x = validation.samples("x", arrays["x"])
        shape = (len(x), num_outputs(self.device))
        given = [f for f in op.fields[1:] if f.name in arrays]  # the first one is x
        args = {"x": x, **{f.name: _argument(f, arrays[f.name], shape) for f in given}}
        calls = self.device.stats().query_calls
        result = self.device.perform(op, args)
        reply = op.arrays(result, "/")
        if op.counts_passes:  # as the device counted them, one per pass
            reply["passes"] = self.device.stats().query_calls - calls
        return arrays_reply(reply)

    def _write(self, caller: Caller, rid: str, body: bytes) -> Reply:
        controls = validation.control_values(decode(body, self.max_request_bytes))
        current = self.device.read_controls()
        try:  # the log shows the values as the device holds them, not as they came
            held = self.device.check_write(controls, current, slew=True)
        except ControlBoundsError as err:
            logger.warning("refused a write of client %s: %s", caller.describe(), err)
            refusal = error_reply(422, "bounds", str(err))
            return replace(refusal, ranges=self.write_log.ranges(controls))
        changed = _changed(current, held)
        self.device.write(held)
        self.write_log.record(
            "applied", identity=caller.key[0] or None, client=caller.client, request=rid,
            changed=changed, controls=held,
        )  # fmt: skip
        return arrays_reply({"changed": changed})

    def safe_state(self, client: tuple[str, str] | None, reason: str) -> None:
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


def _argument(field: Field, array: np.ndarray, shape: tuple[int, int | None]) -> Tensor | str:
    """A request's field checked by its kind (:class:`validation.InvalidRequest` otherwise):
    a signal has one row per sample and output channel."""
    if field.kind == "text":
        return validation.text(field.name, array)
    return validation.samples(field.name, array, like=shape if field.kind == "signal" else None)


def _changed(before: Controls, after: Controls) -> int:
    return sum(int((after[name].to(before[name]) != before[name]).sum()) for name in after)


def num_outputs(device: Device) -> int | None:
    """Output channels per sample, where the device declares them (its system, or a lab
    instrument's ``num_outputs``); the client checks every measurement against it."""
    for owner in (getattr(device, "system", None), getattr(device, "instrument", None)):
        if getattr(owner, "num_outputs", None) is not None:
            return int(owner.num_outputs)
    return None
