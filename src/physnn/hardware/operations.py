"""The device server's operations, run one at a time in its device thread: each request is
checked (:mod:`physnn.hardware.validation`) before the device is called, and every write is
logged."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

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
from physnn.hardware.protocol import ProtocolError, decode
from physnn.hardware.replies import Reply, arrays_reply, error_reply
from physnn.hardware.writelog import WriteLog
from physnn.systems.base import Controls

logger = logging.getLogger("physnn.serve")


class DeviceOperations:
    """The device calls of :class:`~physnn.hardware.server.DeviceServer` by endpoint name
    (``handlers``): query, write, relax and gradient, and putting the device in its safe
    state."""

    def __init__(self, device: Device, write_log: WriteLog, max_request_bytes: int) -> None:
        self.device = device
        self.write_log = write_log
        self.max_request_bytes = max_request_bytes
        self.handlers: dict[str, Callable[[Caller, str, bytes], Reply]] = {
            "query": self._query,
            "write": self._write,
            "relax": self._relax,
            "gradient": self._gradient,
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

    def _query(self, caller: Caller, rid: str, body: bytes) -> Reply:
        arrays = validation.fields(decode(body, self.max_request_bytes), required=("x",))
        return arrays_reply({"y": self.device.query(validation.samples("x", arrays["x"]))})

    def _relax(self, caller: Caller, rid: str, body: bytes) -> Reply:
        arrays = validation.fields(
            decode(body, self.max_request_bytes), required=("x",), optional=("nudge", "clamp")
        )
        x = validation.samples("x", arrays["x"])
        signals = {
            name: validation.samples(name, arrays[name], like=(len(x), num_outputs(self.device)))
            for name in ("nudge", "clamp")
            if name in arrays
        }
        settled = self.device.relax(x, **signals)
        local = {f"local/{name}": value for name, value in settled.local.items()}
        return arrays_reply({"outputs": settled.outputs, **local})

    def _gradient(self, caller: Caller, rid: str, body: bytes) -> Reply:
        arrays = validation.fields(
            decode(body, self.max_request_bytes), required=("x", "output_gradient", "procedure")
        )
        x = validation.samples("x", arrays["x"])
        signal = arrays["output_gradient"]
        signal = validation.samples(
            "output_gradient", signal, like=(len(x), num_outputs(self.device))
        )
        procedure = validation.text("procedure", arrays["procedure"])
        calls = self.device.stats().query_calls
        outputs, grads = self.device.measure_gradient(x, signal, procedure)
        passes = self.device.stats().query_calls - calls  # the device counts one per pass
        named = {f"grad/{name}": value for name, value in grads.items()}
        return arrays_reply({"outputs": outputs, **named, "passes": passes})

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


def _changed(before: Controls, after: Controls) -> int:
    return sum(int((after[name].to(before[name]) != before[name]).sum()) for name in after)


def num_outputs(device: Device) -> int | None:
    """Output channels per sample, where the device declares them (its system, or a lab
    instrument's ``num_outputs``); the client checks every measurement against it."""
    for owner in (getattr(device, "system", None), getattr(device, "instrument", None)):
        if getattr(owner, "num_outputs", None) is not None:
            return int(owner.num_outputs)
    return None
