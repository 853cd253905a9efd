"""Physical neural networks: physical and digital blocks, executors, readouts."""

from physnn.nets.pnn import PNN, Executor, PhysicalBlock, run_device, run_twin
from physnn.nets.readout import IntensityReadout, readout_for

__all__ = [
    "PNN",
    "Executor",
    "IntensityReadout",
    "PhysicalBlock",
    "readout_for",
    "run_device",
    "run_twin",
]
