"""Record every device interaction of a run, and replay it offline without the hardware.

A :class:`RecordingDevice` wraps any device (simulated, remote, a lab instrument) and keeps, in
call order, every operation the run makes on it: control reads, writes (the values sent, after
slew ramping) and every measurement operation of
:data:`~physnn.hardware.measurements.OPERATIONS` (queries, relaxations of energy-based devices,
physical gradient measurements): its arguments and what it measured. A :class:`ReplayDevice`
answers the same run from the record. :func:`load_record` reads a record for analysis.

Three modules, one concern each: :mod:`.storage` (the file format: segments, events, the
writer, :class:`Record`), :mod:`.recorder` and :mod:`.replayer`.
"""

from physnn.hardware.record.recorder import RecordingDevice
from physnn.hardware.record.replayer import ReplayDevice, ReplayMismatch
from physnn.hardware.record.storage import (
    FORMAT_VERSION,
    OPS,
    Event,
    Record,
    RecordError,
    load_record,
)

__all__ = [
    "FORMAT_VERSION",
    "OPS",
    "Event",
    "Record",
    "RecordError",
    "RecordingDevice",
    "ReplayDevice",
    "ReplayMismatch",
    "load_record",
]
