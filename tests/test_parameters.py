"""Instruments as parameters: a SCPI instrument simulated by pyvisa-sim, driven through
ParameterInstrument and InstrumentDevice; bounds, slew limits and input ranges are applied
before any command reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from physnn.errors import ConfigError, ControlBoundsError
from physnn.hardware.adapter import InstrumentDevice
from physnn.hardware.parameters import (
    InstrumentError,
    ParameterInstrument,
    ScpiParameter,
    open_visa,
)
from physnn.systems.base import ControlSpec

pytest.importorskip("pyvisa_sim")

YAML = Path(__file__).parent / "data" / "visa-sim.yaml"
ADDRESS = "TCPIP::192.168.0.5::INSTR"


class Spy:
    """A PyVISA resource that keeps every command sent to it."""

    def __init__(self, resource):
        self.resource, self.sent = resource, []

    def write(self, command):
        self.sent.append(command)
        return self.resource.write(command)

    def query(self, command):
        self.sent.append(command)
        return self.resource.query(command)


@pytest.fixture
def supply():
    resource = open_visa(ADDRESS, backend=f"{YAML}@sim", read_termination="\n",
                         write_termination="\n")  # fmt: skip
    spy = Spy(resource)

    def scpi(name: str) -> ScpiParameter:
        return ScpiParameter(spy, set_command=f"{name} {{:.6f}}", get_command=f"{name}?",
                             set_reply="OK")  # fmt: skip

    bias1, bias2, drive = scpi("BIAS1"), scpi("BIAS2"), scpi("DRIVE")
    instrument = ParameterInstrument(
        {"bias": (ControlSpec((2,), 0.0, 5.0, unit="V"), [bias1, bias2])},
        inputs=[drive],
        readouts=[bias1, bias2, drive],
        input_range=(0.0, 1.0),
        max_change={"bias": 1.0},
    )
    yield InstrumentDevice(instrument), spy
    resource.close()


def test_writes_and_measurements_reach_the_simulated_instrument(supply):
    device, spy = supply
    device.write({"bias": torch.tensor([2.5, 1.0])})
    y = device.query(torch.tensor([[0.25], [0.75]]))
    torch.testing.assert_close(y, torch.tensor([[2.5, 1.0, 0.25], [2.5, 1.0, 0.75]]))
    # the safe state (0 V) first, then a ramp within the slew limit of 1 V per write
    bias1 = [float(c.split()[1]) for c in spy.sent if c.startswith("BIAS1 ")]
    assert bias1 == pytest.approx([0.0, 2.5 / 3, 5.0 / 3, 2.5], abs=1e-6)  # 6 decimals sent


def test_an_out_of_range_write_never_reaches_the_instrument(supply):
    device, spy = supply
    device.write({"bias": torch.tensor([1.0, 1.0])})
    sent = len(spy.sent)
    with pytest.raises(ControlBoundsError, match="bias"):
        device.write({"bias": torch.tensor([7.0, 1.0])})
    assert spy.sent[sent:] == []  # refused before any command
    assert device.query(torch.tensor([[0.5]]))[0, 0] == 1.0  # the instrument kept its value


def test_an_out_of_range_input_is_refused_before_any_is_set(supply):
    device, spy = supply
    device.write({"bias": torch.tensor([1.0, 1.0])})
    sent = len(spy.sent)
    with pytest.raises(ControlBoundsError, match="input range"):
        device.query(torch.tensor([[0.5], [1.5]]))
    assert not any(c.startswith("DRIVE ") for c in spy.sent[sent:])


def test_a_wrong_answer_is_an_instrument_error(supply):
    _, spy = supply
    odd = ScpiParameter(spy, set_command="BIAS1 {:.6f}", set_reply="DONE")
    with pytest.raises(InstrumentError, match="answered 'OK', not 'DONE'"):
        odd.set(1.0)
    with pytest.raises(InstrumentError, match="not a number"):
        ScpiParameter(spy, get_command="*IDN?").get()


def test_qcodes_style_parameters_need_only_set_and_get():
    class Knob:  # the part of qcodes.parameters.Parameter the adapter uses
        def __init__(self):
            self.value = 0.0

        def set(self, value):
            self.value = value

        def get(self):
            return self.value

    gain, signal = Knob(), Knob()
    device = InstrumentDevice(
        ParameterInstrument(
            {"gain": (ControlSpec((1,), 0.0, 2.0), [gain])},
            inputs=[signal],
            readouts=[signal, gain],
        )
    )
    device.write({"gain": torch.tensor([1.5])})
    torch.testing.assert_close(device.query(torch.tensor([[0.2]])), torch.tensor([[0.2, 1.5]]))


def test_bad_assemblies_are_config_errors():
    knob = ScpiParameter(object(), get_command="X?")
    with pytest.raises(ConfigError, match="2 values but 1 parameters"):
        ParameterInstrument({"w": (ControlSpec((2,), 0.0, 1.0), [knob])}, [], [knob])
    with pytest.raises(ConfigError, match="at least one readout"):
        ParameterInstrument({}, [], [])
    with pytest.raises(ConfigError, match="needs a set_command"):
        ScpiParameter(object())
