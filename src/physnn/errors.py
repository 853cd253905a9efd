"""Errors that reach the user.

A :class:`PhysnnError` is a user mistake or an environment problem (bad option, missing data,
out-of-range control write). The CLI prints its message as one sentence and exits with code 2;
anything else is a bug and keeps its traceback.
"""


class PhysnnError(Exception):
    """A user-facing error: one clear sentence, exit code 2 in the CLI."""


class ConfigError(PhysnnError):
    """An invalid option or configuration file."""


class DatasetError(PhysnnError):
    """A dataset that is missing, corrupt, or unknown."""


class ControlBoundsError(PhysnnError):
    """A write that would command a control outside its declared bounds or levels."""


class IncompatibleError(PhysnnError):
    """A method that cannot run on the chosen system (its requirements are not offered)."""


class DeviceError(PhysnnError):
    """A device that failed: unreachable after retries, refused a request, or kept returning
    corrupted measurements."""


class DeviceTimeout(DeviceError):
    """A device (an instrument, a device server) that did not answer in time; retrying may help."""


class CorruptedMeasurement(DeviceError):
    """A measurement that cannot be right (NaN, infinite, wrong shape, a damaged frame)."""
