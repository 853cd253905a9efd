"""Devices: the query/write contract, the simulated device with a hidden reality, the adapter a
lab subclasses to drive its own instrument, and the record and replay of a run's interactions."""

from typing import Any

from physnn.hardware.adapter import (
    Instrument,
    InstrumentDevice,
    InstrumentTimeout,
    load_instrument_device,
)
from physnn.hardware.device import Device, DeviceStats
from physnn.hardware.record import RecordingDevice, ReplayDevice, load_record
from physnn.seeds import derived_seed

__all__ = [
    "Device",
    "DeviceStats",
    "Instrument",
    "InstrumentDevice",
    "InstrumentTimeout",
    "RecordingDevice",
    "ReplayDevice",
    "SimulatedDevice",
    "derived_seed",
    "load_instrument_device",
    "load_record",
]


def __getattr__(name: str) -> Any:
    """``SimulatedDevice`` is imported on first use, so that importing the contract
    (``physnn.hardware.device``) does not import the simulator and every reality gap with it."""
    if name == "SimulatedDevice":
        from physnn.hardware.simulated import SimulatedDevice

        return SimulatedDevice
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
