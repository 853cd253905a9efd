"""Devices: the query/write contract, the simulated device with a hidden reality, the adapter a
lab subclasses to drive its own instrument, and the record and replay of a run's interactions."""

from physnn.hardware.adapter import (
    Instrument,
    InstrumentDevice,
    InstrumentTimeout,
    load_instrument_device,
)
from physnn.hardware.device import Device, DeviceStats, SimulatedDevice, derived_seed
from physnn.hardware.record import RecordingDevice, ReplayDevice, load_record

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
