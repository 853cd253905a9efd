"""A run folder: what it holds and whether a run may start, resume or overwrite there.

Free of torch, so that the command line refuses a mistyped ``--resume`` folder at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from physnn.errors import ConfigError, option

CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
RECORD = "device-record"

Resume = bool | Literal["if-possible"]


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run: its checkpoint or its result."""
    return (out / CHECKPOINT).exists() or (out / RESULT).exists()


def check_run_folder(out: Path, *, resume: Resume, overwrite: bool) -> None:
    """Refuse what would lose or invent a run: ``resume=True`` where nothing is to resume (a
    mistyped folder would otherwise start a fresh run in silence), and a new run over an old one
    without ``overwrite``."""
    if resume not in (False, True, "if-possible"):
        raise ConfigError(f"resume must be True, False or 'if-possible', got {resume!r}")
    held = holds_run(out)
    if resume is True and not held:
        raise ConfigError(
            f"nothing to resume in {str(out)!r} (it holds no {CHECKPOINT} or {RESULT}): check "
            f"the folder's name, or start the run without {option('resume', True)}"
        )
    if not resume and not overwrite and held:
        raise ConfigError(
            f"{str(out)!r} already holds a run; pass {option('resume', True)} to continue it, "
            f"{option('overwrite', True)} to start it again, or choose another {option('out')}"
        )
