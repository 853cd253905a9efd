"""Errors that reach the user.

A :class:`PhysnnError` is a user mistake or an environment problem (bad option, missing data,
out-of-range control write). The CLI prints its message as one sentence and exits with code 2;
anything else is a bug and keeps its traceback.

A message names an option with :func:`option`, so that it reads right for whoever called:
``str(error)`` spells it as a Python caller writes it (``resume=True``, ``data_dir``) and
:meth:`PhysnnError.for_cli` as the command line does (``--resume``, ``--data-dir``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence

_OPTION = re.compile(r"⟨(\w+)(?:=([^⟩]*))?⟩")


def option(name: str, value: object | None = None) -> str:
    """An option named in an error message, e.g. ``option("resume", True)``: rendered
    ``resume=True`` for Python callers and ``--resume`` by the CLI (``option("model", "pnn")``:
    ``model='pnn'`` and ``--model pnn``)."""
    return f"⟨{name}⟩" if value is None else f"⟨{name}={value!r}⟩"


def _as_python(match: re.Match[str]) -> str:
    name, value = match.groups()
    return name if value is None else f"{name}={value}"


def _as_flag(match: re.Match[str]) -> str:
    name, value = match.groups()
    flag = "--" + name.replace("_", "-")
    if value is None or value == "True":
        return flag
    return f"{flag} {value.strip(chr(39))}"


class _NamesOptions(BaseException):
    """A message whose options (:func:`option`) read as Python by ``str`` and as flags by
    :meth:`for_cli`."""

    def __str__(self) -> str:
        return _OPTION.sub(_as_python, super().__str__())

    def for_cli(self) -> str:
        """The message with every option spelled as a command-line flag."""
        return _OPTION.sub(_as_flag, super().__str__())


class PhysnnError(_NamesOptions, Exception):
    """A user-facing error: one clear sentence, exit code 2 in the CLI."""


class TrainingInterrupted(_NamesOptions, KeyboardInterrupt):
    """Ctrl-C during training, with a message that says what the run folder really holds."""


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


class PhysnnWarning(UserWarning):
    """Something the user should know although the run goes on (``warnings`` filters can select
    physnn's warnings by this category, e.g. turn them into errors)."""


def warn_unsettled(network: str, what: str, reached: float, tol: float) -> None:
    """Warn (:class:`PhysnnWarning`) that the relaxation of ``network`` ran out of budget before
    its residual reached the tolerance: "the NETWORK did not WHAT (residual … > tolerance …)",
    attributed to the caller of the function that calls this one."""
    warnings.warn(
        PhysnnWarning(
            f"the {network} did not {what} (residual {reached:.2g} > tolerance {tol:g}); its "
            "outputs and local derivatives are those of the state reached"
        ),
        stacklevel=3,
    )


class InputRangeWarning(PhysnnWarning):
    """Data outside the range a system's input encoding represents: the encoding clamps it."""


def refuse_unknown(
    given: Iterable[str], known: Sequence[str], *, kind: str, where: str = ""
) -> None:
    """Raise :class:`ConfigError` naming the names in ``given`` that are not ``known`` and the
    valid ones (in ``known``'s order), e.g. ``unknown option(s) x for method 'pat'; valid: lr``
    (``kind="option"``, ``where="for method 'pat'"``); "it takes no options" when none is."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        valid = f"valid: {', '.join(known)}" if known else "it takes no options"
        place = f" {where}" if where else ""
        raise ConfigError(f"unknown {kind}(s) {', '.join(unknown)}{place}; {valid}")
