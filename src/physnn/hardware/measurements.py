"""The table of the device's physical measurement operations, read by everything that carries them.

A device has two state operations, :meth:`~physnn.hardware.device.Device.write` and
:meth:`~physnn.hardware.device.Device.read_controls` (ramps, leases and the write log make each
of them a case of its own), and the measurement operations listed in :data:`OPERATIONS`: a
plain ``query``, the ``relax`` of an energy-based device (free, nudged or clamped), and
``measure_gradient`` (a physical gradient procedure: adjoint fields, fully forward mode, a
Hamiltonian echo …). Each :class:`Operation` says everything its carriers need to know, so that
each of them handles every operation in one place:

* the device contract (:meth:`Device.perform <physnn.hardware.device.Device.perform>`): which
  hook implements it and what its public method returns;
* the recorder and the replayer (:mod:`physnn.hardware.recorder`,
  :mod:`physnn.hardware.replayer`): the names of its arrays in a record;
* the lab adapter (:mod:`physnn.hardware.adapter`): the instrument method, the capability it
  needs, how pieces of a batch combine;
* the device server and its client (:mod:`physnn.hardware.operations`,
  :mod:`physnn.hardware.client`): the endpoint ``/v1/<endpoint>``, how each request field is
  checked, the names of the reply's arrays.

To add a measurement operation (an "echo" of its own, say): add an :class:`Operation` to
:data:`OPERATIONS` (its fields, output names, hooks), a public method on
:class:`~physnn.hardware.device.Device` that calls ``self.perform(OP, {...})``, the simulated
implementation (the hook on :class:`~physnn.hardware.simulated.SimulatedDevice`, and the
instrument method on :class:`~physnn.hardware.adapter.Instrument` and
:class:`~physnn.hardware.instrument.SimulatedInstrument` for a lab instrument), a test, and its
endpoint in docs/protocol.md. The recorder, replayer, adapter, client and server need no edit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from physnn.systems.base import Controls
from physnn.systems.energy import Equilibrium

Args = Mapping[str, Any]
"""The arguments of one operation by field name: tensors, text, None for an absent option."""


@dataclass(frozen=True)
class Field:
    """One argument of an operation.

    ``kind``: ``"samples"`` (the batch of inputs, ``(B, ...)``), ``"signal"`` (one row per
    sample and output channel, ``(B, num_outputs)``) or ``"text"`` (a name, such as a gradient
    procedure). Samples and signals are split with the batch; text is not.
    """

    name: str
    kind: Literal["samples", "signal", "text"]
    optional: bool = False

    @property
    def per_sample(self) -> bool:
        return self.kind != "text"


@dataclass(frozen=True)
class Result:
    """What a measurement operation measured: the outputs, the values it measured per control
    (local energy derivatives, gradients; none for a query), and the physical passes it made
    per sample (each counted as a query of the batch)."""

    outputs: Tensor
    controls: Controls = field(default_factory=dict)
    passes: int = 1
    residual: float | None = None  # of a relaxation's equilibrium condition, where reported


@dataclass(frozen=True)
class Operation:
    """One measurement operation, as every carrier names and handles it (module docstring).

    ``fields`` are its arguments, the first one the batch ``x``. ``name`` is the Device's
    public method and the operation of a record's events; ``hook``
    the method a device implements it with (``instrument`` for a lab instrument), called with
    the required fields by position and the optional ones by keyword. ``output`` and ``group``
    name the outputs and the per-control results in records (``group.NAME``) and replies
    (``group/NAME``); ``reduce`` says how the per-control results of pieces of a batch combine
    (``"mean"`` of batch means, ``"sum"`` of batch sums). ``capability`` is the attribute of a
    device's capabilities that must offer it (``keyed_by``: the field whose value must be in
    it). ``counts_passes``: the passes vary and travel with the result (else one pass).
    """

    name: str
    endpoint: str
    fields: tuple[Field, ...]
    hook: str
    instrument: str
    what: str  # "a measurement"; formatted with the arguments
    output: str = "outputs"
    group: str | None = None
    group_label: str = ""
    reduce: Literal["mean", "sum"] = "sum"
    capability: str | None = None
    keyed_by: str | None = None
    counts_passes: bool = False
    unpack: Callable[[Any], Result] = field(default=lambda raw: Result(raw), repr=False)
    answer: Callable[[Result], Any] = field(default=lambda r: r.outputs.detach(), repr=False)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.optional)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.optional)

    def call(self, method: Callable[..., Any], args: Args) -> Any:
        """``method`` (a hook or an instrument method) with ``args``: the required fields by
        position, the optional ones by keyword."""
        optional = {name: args.get(name) for name in self.optional}
        return method(*(args[name] for name in self.required), **optional)

    def request(self, args: Args) -> dict[str, Any]:
        """The arguments given, in field order (absent options left out)."""
        return {f.name: args[f.name] for f in self.fields if args.get(f.name) is not None}

    def rows(self, args: Args, rows: slice) -> dict[str, Any]:
        """The arguments for the samples ``rows`` of the batch."""
        return {
            f.name: value[rows] if value is not None and f.per_sample else value
            for f in self.fields
            for value in [args.get(f.name)]
        }

    def sample_bytes(self, args: Args) -> int:
        """The bytes of one sample of the per-sample arguments (at least 1)."""
        given = [args.get(f.name) for f in self.fields if f.per_sample]
        rows = [v for v in given if v is not None and len(v)]
        return max(1, sum(v[0].numel() * v.element_size() for v in rows))

    def offered(self, capabilities: Any, args: Args) -> bool:
        """Whether a device with ``capabilities`` offers this operation for ``args``."""
        if self.capability is None:
            return True
        declared = getattr(capabilities, self.capability, None)
        return args[self.keyed_by] in (declared or ()) if self.keyed_by else bool(declared)

    def describe(self, args: Args) -> str:
        return self.what.format(**args)

    def arrays(self, result: Result, sep: str) -> dict[str, Tensor]:
        """The result as named arrays: the outputs and ``group<sep>NAME`` per control."""
        named = {f"{self.group}{sep}{k}": v for k, v in result.controls.items()}
        return {self.output: result.outputs, **named}

    def result(
        self, arrays: Mapping[str, Any], sep: str, convert: Callable[[Any], Tensor], passes: int
    ) -> Result:
        """The inverse of :meth:`arrays`, each array converted to a tensor by ``convert``."""
        prefix = f"{self.group}{sep}"
        controls = {
            k[len(prefix) :]: convert(v)
            for k, v in arrays.items()
            if self.group and k.startswith(prefix)
        }
        return Result(convert(arrays[self.output]), controls, passes)

    def combine(self, parts: list[Result], batch: int) -> Result:
        """The result of a batch measured in ``parts`` (consecutive rows; passes agree; the
        largest residual of the pieces)."""
        outputs = torch.cat([part.outputs for part in parts])
        if self.reduce == "mean":  # the batch mean of the pieces' batch means
            controls = {
                name: sum(len(p.outputs) * p.controls[name] for p in parts) / batch
                for name in parts[0].controls
            }
        else:
            controls = {name: sum(p.controls[name] for p in parts) for name in parts[0].controls}
        residuals = [p.residual for p in parts if p.residual is not None]
        return Result(outputs, controls, parts[0].passes, max(residuals) if residuals else None)


def _equilibrium(raw: Any) -> Result:
    if not isinstance(raw, Equilibrium):
        raise TypeError(f"not an Equilibrium but {type(raw).__name__}")
    return Result(raw.outputs, raw.local, residual=raw.residual)


def _gradient(raw: Any) -> Result:
    try:
        outputs, grads, passes = raw
    except (TypeError, ValueError):
        raise TypeError("not a tuple (outputs, gradients, passes)") from None
    return Result(outputs, grads, passes)


QUERY = Operation(
    name="query",
    endpoint="query",
    fields=(Field("x", "samples"),),
    hook="_measure",
    instrument="measure",
    what="a measurement",
    output="y",
)
RELAX = Operation(
    name="relax",
    endpoint="relax",
    fields=(Field("x", "samples"), Field("nudge", "signal", True), Field("clamp", "signal", True)),
    hook="_relax",
    instrument="relax",
    what="a relaxation",
    group="local",
    group_label="local energy derivatives",
    reduce="mean",
    capability="energy_based",
    unpack=_equilibrium,
    answer=lambda r: Equilibrium(r.outputs, r.controls, r.residual),
)
GRADIENT = Operation(
    name="measure_gradient",
    endpoint="gradient",
    fields=(Field("x", "samples"), Field("output_gradient", "signal"), Field("procedure", "text")),
    hook="_measure_gradient",
    instrument="measure_gradient",
    what="a {procedure} gradient",
    group="grad",
    group_label="gradients",
    capability="gradient_procedures",
    keyed_by="procedure",
    counts_passes=True,
    unpack=_gradient,
    answer=lambda r: (r.outputs, r.controls),
)

OPERATIONS: tuple[Operation, ...] = (QUERY, RELAX, GRADIENT)
"""Every measurement operation of a device (module docstring: how to add one)."""

BY_NAME = {op.name: op for op in OPERATIONS}
STATE_OPERATIONS = ("read_controls", "write")
"""The device's two state operations, which each carrier handles on its own."""
