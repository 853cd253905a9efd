"""Devices: the query/write contract and the simulated device with a hidden reality."""

from physnn.hardware.device import Device, DeviceStats, SimulatedDevice, derived_seed

__all__ = ["Device", "DeviceStats", "SimulatedDevice", "derived_seed"]
