"""Physical neural networks: physical and digital blocks, executors, readouts."""

from physnn.nets.pnn import PNN, Executor, PhysicalBlock, Segments, run_blocks, run_device, run_twin
from physnn.nets.readout import IntensityReadout, readout_for

__all__ = [
    "PNN",
    "Executor",
    "IntensityReadout",
    "PhysicalBlock",
    "Segments",
    "readout_for",
    "run_blocks",
    "run_device",
    "run_twin",
]
