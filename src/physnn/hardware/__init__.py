"""Devices: the query/write contract, the simulated device with a hidden reality, and the
adapter a lab subclasses to drive its own instrument."""

from physnn.hardware.adapter import (
    Instrument,
    InstrumentDevice,
    InstrumentTimeout,
    load_instrument_device,
)
from physnn.hardware.device import Device, DeviceStats, SimulatedDevice, derived_seed

__all__ = [
    "Device",
    "DeviceStats",
    "Instrument",
    "InstrumentDevice",
    "InstrumentTimeout",
    "SimulatedDevice",
    "derived_seed",
    "load_instrument_device",
]
