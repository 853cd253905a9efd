"""Instruments as parameters: QCoDeS parameters, or SCPI settings over PyVISA, as physnn controls.

Lab software already describes an instrument as a set of *parameters*, each with a ``set`` and
a ``get``: QCoDeS's :class:`qcodes.parameters.Parameter` is exactly that, and a SCPI instrument's
setting is a command to write and a query to read (:class:`ScpiParameter`, over PyVISA). A
:class:`ParameterInstrument` assembles such parameters into a physnn
:class:`~physnn.hardware.adapter.Instrument`:

* each **control** is a :class:`~physnn.systems.base.ControlSpec` (shape, bounds, levels) with
  one parameter per element, set in order on every write;
* each sample's **inputs** are set on the input parameters (one per input value), and after
  ``settle_seconds`` the **readouts** are read, one parameter per output.

Wrapped in :class:`~physnn.hardware.adapter.InstrumentDevice`, the instrument gets physnn's
guarantees: a value outside a control's bounds is refused before any parameter is set (the
whole write is checked first), slew limits arrive as ramps, timeouts are retried. docs/hardware.md
shows a setup wrapped in a few lines. PyVISA is an optional extra (``pip install
'physnn[visa]'``; ``pyvisa-sim`` simulates instruments from a YAML description, which the tests
use); QCoDeS parameters need nothing from physnn but their ``set`` and ``get``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from physnn.errors import ConfigError, ControlBoundsError, PhysnnError
from physnn.hardware.adapter import Instrument
from physnn.systems.base import Controls, ControlSpec


class InstrumentError(PhysnnError):
    """The instrument answered something other than what its protocol promises."""


class Parameter(Protocol):
    """What a parameter offers: QCoDeS parameters have these two methods."""

    def set(self, value: Any) -> None: ...

    def get(self) -> Any: ...


class ScpiParameter:
    """A numeric setting or reading of a SCPI instrument: ``set_command`` written with the value
    (``"VOLT {:.4f}"``; its acknowledgement ``set_reply`` read and checked, if the instrument
    sends one), ``get_command`` queried and its answer read as a float."""

    def __init__(
        self,
        resource: Any,
        *,
        set_command: str | None = None,
        get_command: str | None = None,
        set_reply: str | None = None,
    ) -> None:
        if set_command is None and get_command is None:
            raise ConfigError("a SCPI parameter needs a set_command, a get_command or both")
        self.resource = resource
        self.set_command, self.get_command, self.set_reply = set_command, get_command, set_reply

    def set(self, value: Any) -> None:
        if self.set_command is None:
            raise ConfigError(f"the SCPI parameter {self.get_command!r} cannot be set")
        command = self.set_command.format(value)
        if self.set_reply is None:
            self.resource.write(command)
            return
        reply = self.resource.query(command).strip()
        if reply != self.set_reply:
            raise InstrumentError(f"{command!r} was answered {reply!r}, not {self.set_reply!r}")

    def get(self) -> float:
        if self.get_command is None:
            raise ConfigError(f"the SCPI parameter {self.set_command!r} cannot be read")
        answer = self.resource.query(self.get_command).strip()
        try:
            return float(answer)
        except ValueError:
            raise InstrumentError(
                f"{self.get_command!r} was answered {answer!r}, not a number"
            ) from None


def open_visa(resource_name: str, *, backend: str = "", **options: Any) -> Any:
    """A PyVISA resource (``backend="@sim"``: pyvisa-sim, optionally ``"path.yaml@sim"``)."""
    try:
        import pyvisa
    except ImportError:
        raise ConfigError("PyVISA is not installed: pip install 'physnn[visa]'") from None
    return pyvisa.ResourceManager(backend).open_resource(resource_name, **options)


class ParameterInstrument(Instrument):
    """An instrument made of parameters (see the module docstring)."""

    def __init__(
        self,
        controls: Mapping[str, tuple[ControlSpec, Sequence[Parameter]]],
        inputs: Sequence[Parameter],
        readouts: Sequence[Parameter],
        *,
        input_range: tuple[float, float] | None = None,
        settle_seconds: float = 0.0,
        max_change: Mapping[str, float] | None = None,
    ) -> None:
        for name, (spec, params) in controls.items():
            if spec.size != len(params):
                raise ConfigError(
                    f"control {name!r} has {spec.size} values but {len(params)} parameters"
                )
        if not readouts:
            raise ConfigError("a parameter instrument needs at least one readout")
        self._controls = dict(controls)
        self.inputs, self.readouts = list(inputs), list(readouts)
        self.input_range = input_range
        self.settle_seconds = settle_seconds
        self.max_change = dict(max_change or {})
        self.num_outputs = len(self.readouts)

    def control_specs(self) -> dict[str, ControlSpec]:
        return {name: spec for name, (spec, _) in self._controls.items()}

    def set_controls(self, controls: Controls) -> None:
        for name, (_, params) in self._controls.items():
            for param, value in zip(params, controls[name].flatten().tolist(), strict=True):
                param.set(value)

    def measure(self, x: Tensor) -> Tensor:
        samples = x.reshape(x.shape[0], -1)
        if samples.shape[1] != len(self.inputs):
            raise ConfigError(
                f"the instrument takes {len(self.inputs)} input values, a sample has "
                f"{samples.shape[1]}"
            )
        self._check_inputs(samples)
        outputs = []
        for sample in samples.tolist():
            for param, value in zip(self.inputs, sample, strict=True):
                param.set(value)
            if self.settle_seconds:
                time.sleep(self.settle_seconds)
            outputs.append([float(param.get()) for param in self.readouts])
        return torch.tensor(outputs, dtype=torch.float32)

    def _check_inputs(self, samples: Tensor) -> None:
        """Refuse a batch with a value outside ``input_range`` before setting any of it."""
        if self.input_range is None:
            return
        low, high = self.input_range
        if bool(((samples < low) | (samples > high)).any()):
            raise ControlBoundsError(
                f"an input value lies outside the instrument's input range [{low:g}, {high:g}] "
                f"(min {float(samples.min()):g}, max {float(samples.max()):g})"
            )
