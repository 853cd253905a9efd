"""RemoteDevice: a device served by ``physnn serve``, behind the ordinary Device contract.

The Device base class does the accounting, the bounds checks and the slew ramps on this side;
the server checks every write again. What this module adds is what a network and a real
instrument need (docs/protocol.md):

* retries with exponential backoff and jitter on connection errors, timeouts and 408/502/503/504,
  up to a total wait; every retry reuses the request id, so the server applies a retried write
  once and answers a retried query with the same measurement;
* a frame that fails its checksum, does not decode or is too large is asked for again;
* a measurement that cannot be right (NaN, infinite, wrong shape) is measured again (new request
  id, counted like any query) up to ``requery`` times, then :class:`CorruptedMeasurement`;
* a server that restarted (new instance) or that ended this client's writer lease put the device
  in another state: the client handshakes again and writes the controls it last wrote (a
  counted write) before it continues;
* query batches are split so that every request stays under the server's size limit.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

import numpy as np
from torch import Tensor

from physnn.errors import (
    ConfigError,
    ControlBoundsError,
    CorruptedMeasurement,
    DeviceError,
    IncompatibleError,
)
from physnn.hardware.device import Device
from physnn.hardware.measurements import Args, Operation, Result
from physnn.hardware.protocol import (
    CHECKSUM_HEADER,
    CLIENT_HEADER,
    INSTANCE_HEADER,
    PROTOCOL,
    PROTOCOL_HEADER,
    REQUEST_HEADER,
    TOKEN_ENV,
    ProtocolError,
    check_same_device,
    checksum,
    decode,
    encode,
    parse_json,
    require,
    resolve_token,
    spec_from_json,
    to_tensor,
)
from physnn.systems.base import Controls, System

logger = logging.getLogger("physnn.remote")

# 408: the server closed a request that arrived too slowly (its limits, docs/protocol.md)
RETRY_STATUS = (408, 502, 503, 504)
FRAME_OVERHEAD = 4096  # bytes of an .npz archive beyond its arrays' data (headers, directory)
MAX_BAD_FRAMES = 5  # damaged frames of one request before giving up
MAX_REPLY_BYTES = 1 << 30  # the most an .npz reply may unpack to (1 GiB)
MAX_RESYNCS = 3  # state losses (restart, lease ended) survived by one request


class StateLost(Exception):
    """The server no longer holds the state this client wrote (restart, lease ended)."""

    def __init__(self, message: str, *, restarted: bool) -> None:
        super().__init__(message)
        self.restarted = restarted  # a new server instance (else: this client's lease ended)


@dataclass
class RemoteHealth:
    """What went wrong between a client and its device server, and was survived."""

    retries: int = 0  # requests sent again (same request id) after a failure
    timeouts: int = 0  # requests not answered within the timeout
    connection_errors: int = 0  # requests that could not reach the server
    unavailable: int = 0  # 408, 502, 503 or 504 answers
    bad_frames: int = 0  # requests or replies damaged in transit, sent again
    requeries: int = 0  # measurements made again because the last one was corrupted
    corrupted_measurements: int = 0  # measurements with NaN, infinite values or a wrong shape
    resyncs: int = 0  # state losses survived: handshake again, controls written back
    restarts: int = 0  # of the resyncs: the server had restarted (new instance)
    leases_lost: int = 0  # of the resyncs: this client's writer lease had ended


class InvalidMeasurement(Exception):
    """The server's device reported a measurement it could not make correctly."""


class Connection:
    """HTTP transport to one device server: token, protocol header, checksums, retries."""

    max_reply_bytes = MAX_REPLY_BYTES  # a larger .npz reply is refused as a damaged frame

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        timeout: float = 30.0,
        max_wait: float = 120.0,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
    ) -> None:
        httpx = require("httpx")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"device URL {url!r} must look like http://HOST:PORT")
        self.url = url.rstrip("/")
        self.client_id = uuid.uuid4().hex
        self.max_wait, self.base_delay, self.max_delay = max_wait, base_delay, max_delay
        self.instance: str | None = None
        self.health = RemoteHealth()
        headers = {PROTOCOL_HEADER: str(PROTOCOL), CLIENT_HEADER: self.client_id}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._httpx = httpx
        self._jitter = random.Random()  # its own stream: the global one stays untouched

    def set_client(self, client_id: str) -> None:
        """Speak as ``client_id`` from now on (its lease, its cached replies)."""
        self.client_id = client_id
        self.http.headers[CLIENT_HEADER] = client_id

    def handshake(self) -> dict[str, Any]:
        """GET /v1/hello; remembers the server instance that later replies must come from."""
        self.instance = None  # any instance may answer a handshake
        hello = self.send("GET", "/v1/hello", parse=parse_json)
        if hello.get("protocol") != PROTOCOL:
            raise DeviceError(
                f"device server at {self.url} speaks device protocol {hello.get('protocol')}, "
                f"this physnn speaks {PROTOCOL}; install the same physnn version on both sides"
            )
        self.instance = hello["instance"]
        return hello

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """One request, retried (same request id) until it is answered or ``max_wait`` passed."""
        parse = parse or partial(decode, max_bytes=self.max_reply_bytes)
        headers = {REQUEST_HEADER: uuid.uuid4().hex}
        if body is not None:
            headers[CHECKSUM_HEADER] = checksum(body)
            if self.instance:
                headers[INSTANCE_HEADER] = self.instance
        start, attempts, bad_frames = time.monotonic(), 0, 0
        while True:
            attempts += 1
            try:
                response = self.http.request(method, path, content=body, headers=headers)
            except self._httpx.TransportError as err:
                timed_out = isinstance(err, self._httpx.TimeoutException)
                if timed_out:
                    self.health.timeouts += 1
                else:
                    self.health.connection_errors += 1
                failure = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            else:
                if response.status_code in RETRY_STATUS:
                    self.health.unavailable += 1
                    failure = f"HTTP {response.status_code}: {_message(response)}"
                else:
                    try:
                        return self._accept(response, parse)
                    except ProtocolError as err:
                        bad_frames += 1
                        self.health.bad_frames += 1
                        if bad_frames >= MAX_BAD_FRAMES:
                            raise CorruptedMeasurement(
                                f"device server at {self.url}: {bad_frames} damaged frames in a "
                                f"row for one request ({err})"
                            ) from None
                        continue  # at once, same request id: the server answers from its cache
            elapsed = time.monotonic() - start
            delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
            delay *= 0.5 + 0.5 * self._jitter.random()  # clients do not retry in lockstep
            if elapsed + delay > self.max_wait:
                raise DeviceError(
                    f"device server at {self.url} unreachable after {attempts} attempts over "
                    f"{elapsed:.1f} s (last: {failure})"
                )
            self.health.retries += 1
            time.sleep(delay)

    def _accept(self, response: Any, parse: Callable[[bytes], Any]) -> Any:
        """The parsed body of a 200 reply; an error for a refusal. ProtocolError: damaged."""
        status, content = response.status_code, response.content
        if status == 200:
            if response.headers.get(CHECKSUM_HEADER) != checksum(content):
                raise ProtocolError("the reply does not match its checksum")
            if self.instance and response.headers.get(INSTANCE_HEADER) != self.instance:
                raise StateLost("the server was restarted", restarted=True)
            return parse(content)
        code, message = _error_of(response)
        where = f"device server at {self.url}"
        if status == 401:
            raise DeviceError(
                f"{where} refused this client (401 unauthorized: {message}); set {TOKEN_ENV} "
                "(or train --token-file) to the server's token"
            )
        if code == "checksum":
            raise ProtocolError("the request arrived damaged")
        if code == "protocol":
            raise DeviceError(f"{where}: {message}; install the same physnn version on both sides")
        if status == 403:
            raise DeviceError(f"{where} refused this identity (403): {message}")
        if code == "reused-id":
            raise DeviceError(f"{where} refused a reused request id (409): {message}")
        if status == 409:
            raise StateLost(message, restarted=code == "instance")
        if status == 413:
            raise DeviceError(f"{where} refused a request as too large (413): {message}")
        if status == 422:
            raise ControlBoundsError(f"{where} refused the write: {message}")
        if status == 423:
            raise DeviceError(f"{where} refused the write (423): {message}")
        if code == "incompatible":
            raise IncompatibleError(message)
        if code == "corrupted":
            raise InvalidMeasurement(message)
        raise DeviceError(f"{where} failed (HTTP {status}): {message}")

    def close(self) -> None:
        self.http.close()


def _error_of(response: Any) -> tuple[str, str]:
    try:
        data = json.loads(response.content)
        return str(data["error"]), str(data["message"])
    except (ValueError, KeyError, TypeError):
        return "", response.text[:200]


def _message(response: Any) -> str:
    return _error_of(response)[1] or response.reason_phrase


class RemoteDevice(Device):
    """A device on a device server. Build it with :meth:`connect`.

    ``read_controls`` answers from the controls the server holds as this client knows them
    (no round trip); :meth:`health` counts what went wrong and was survived (retries,
    timeouts, damaged frames, re-queried measurements, resynchronizations after a server
    restart or a lost lease); a run writes it to result.json as ``device_health``.
    """

    def __init__(
        self, connection: Connection, hello: Mapping[str, Any], *, requery: int = 3
    ) -> None:
        specs = {name: spec_from_json(spec) for name, spec in hello["specs"].items()}
        super().__init__(specs, max_change=hello["max_change"])
        self.url = connection.url
        self.connection = connection
        self._health = connection.health
        self.requery = requery
        self.num_outputs: int | None = hello.get("num_outputs")
        self.max_request_bytes = int(hello["max_request_bytes"])
        self._controls = self._fetch_controls()
        self._target: Controls | None = None  # the controls this client last wrote

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        system: System | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        max_wait: float = 120.0,
        requery: int = 3,
    ) -> RemoteDevice:
        """Handshake with the server at ``url`` and, given the run's ``system``, check that the
        server's device has the same controls. The token is ``token``, else $PHYSNN_TOKEN;
        ``timeout`` bounds one request, ``max_wait`` the retries of one request."""
        connection = Connection(url, token=resolve_token(token), timeout=timeout, max_wait=max_wait)
        try:
            hello = connection.handshake()
            if system is not None:
                check_same_device(system, hello, connection.url)
            return cls(connection, hello, requery=requery)
        except BaseException:
            connection.close()
            raise

    # ------------------------------------------------------------------------------- contract
    def health(self) -> RemoteHealth:
        """A copy of the fault counts so far (kept across a resume from a checkpoint)."""
        return replace(self._health)

    def read_controls(self) -> Controls:
        return {name: value.clone() for name, value in self._controls.items()}

    def _apply(self, controls: Controls) -> None:
        self._post("/v1/write", {name: value.detach().cpu() for name, value in controls.items()})
        for name, value in controls.items():
            self._controls[name] = value.detach().cpu().clone()
        self._target = self.read_controls()

    def _perform(self, op: Operation, args: Args) -> Result:
        """Any measurement operation: ``POST /v1/<endpoint>``, the batch split so that every
        request stays under the server's size limit."""
        x = args["x"]
        sent = {k: v.detach().cpu() if isinstance(v, Tensor) else v for k, v in args.items()}
        chunk = max(1, (self.max_request_bytes - FRAME_OVERHEAD) // op.sample_bytes(sent))
        parts = []
        for start in range(0, max(len(x), 1), chunk):  # an empty batch is still asked
            request = op.request(op.rows(sent, slice(start, start + chunk)))
            reply = self._measured(op, request)
            passes = int(reply["passes"]) if op.counts_passes else 1
            parts.append(op.result(reply, "/", lambda a: to_tensor(a).to(x.device), passes))
        return parts[0] if len(parts) == 1 else op.combine(parts, len(x))

    # ------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "controls": self.read_controls(),
            "client": self.connection.client_id,
            "health": asdict(self._health),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue as the client that saved ``state`` (so a run resumed after a crash keeps
        its writer lease) and write the saved controls back: the device may have been reset
        or put in its safe state meanwhile (unchanged values are not written)."""
        super().load_state_dict(state)
        self.connection.set_client(state["client"])
        self._health = self.connection.health = RemoteHealth(**state.get("health", {}))
        self.write(state["controls"])

    def close(self) -> None:
        """Give up the writer lease (the server puts the device in its safe state)."""
        if self._target is not None:
            self.connection.send("POST", "/v1/release", b"", parse=parse_json)
        self.connection.close()

    # ------------------------------------------------------------------------------- internals
    def _fetch_controls(self) -> Controls:
        arrays = self.connection.send("GET", "/v1/controls")
        return {name: to_tensor(arrays[name]) for name in self.specs}

    def _post(self, path: str, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """POST arrays; after a state loss, resynchronize and send again (new request id)."""
        body = encode(arrays)
        if len(body) > self.max_request_bytes:
            raise DeviceError(
                f"a {path} request of {len(body)} bytes exceeds the limit of the device server "
                f"at {self.url} ({self.max_request_bytes} bytes; physnn serve --max-request-mb)"
            )
        resyncs = 0
        while True:
            try:
                return self.connection.send("POST", path, body)
            except StateLost as lost:
                resyncs += 1
                if resyncs > MAX_RESYNCS:
                    raise DeviceError(
                        f"device server at {self.url} lost this client's state {resyncs} times "
                        f"during one request (last: {lost})"
                    ) from None
                self._resync(lost)

    def _resync(self, lost: StateLost) -> None:
        """Handshake again and write back the controls this client last wrote (counted)."""
        self._health.resyncs += 1
        if lost.restarted:
            self._health.restarts += 1
        else:
            self._health.leases_lost += 1
        logger.warning("device server at %s: %s; restoring the controls", self.url, lost)
        hello = self.connection.handshake()
        specs = {name: spec_from_json(spec) for name, spec in hello["specs"].items()}
        if specs != self.specs or hello["max_change"] != self.max_change:
            raise DeviceError(
                f"device server at {self.url} came back with other controls or slew limits; "
                "restart the run against the device it now serves"
            )
        self.max_request_bytes = int(hello["max_request_bytes"])
        self._controls = self._fetch_controls()
        if self._target is not None:
            self.write(self._target)

    def _measured(self, op: Operation, arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """A measurement that passes :meth:`_problem`, re-measured (new request id) up to
        ``requery`` times; every re-measurement is counted as queries of its batch."""
        batch = len(arrays["x"])
        problem = ""
        for attempt in range(self.requery + 1):
            if attempt:
                self._health.requeries += 1
                stats = self._stats[self._phase]
                stats.queries += batch
                stats.query_calls += 1
            try:
                reply = self._post(f"/v1/{op.endpoint}", arrays)
            except InvalidMeasurement as err:
                problem = str(err)
            else:
                problem = self._problem(reply, op.output, batch)
                if not problem:
                    return reply
            self._health.corrupted_measurements += 1
        raise CorruptedMeasurement(
            f"device server at {self.url}: {self.requery + 1} measurements in a row were "
            f"corrupted (last: {problem}); check the instrument and its readout"
        )

    def _problem(self, reply: Mapping[str, np.ndarray], output: str, batch: int) -> str:
        """What is wrong with a measurement ("" if nothing): missing, non-finite or misshapen."""
        outputs = reply.get(output)
        if outputs is None:
            return "the reply holds no outputs"
        width = self.num_outputs
        if outputs.ndim != 2 or outputs.shape[0] != batch or width not in (None, outputs.shape[1]):
            expected = f"({batch}, {width if width is not None else 'N'})"
            return f"outputs of shape {outputs.shape}, expected {expected}"
        for name, array in reply.items():
            prefix, _, control = name.partition("/")
            if control and (control not in self.specs or array.shape != self.specs[control].shape):
                return f"{prefix} {control!r} of shape {array.shape} does not fit the controls"
            if array.dtype.kind in "fc" and not np.isfinite(array).all():
                return f"{name} holds NaN or infinite values"
        return ""
