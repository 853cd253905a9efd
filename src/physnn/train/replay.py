"""Train a recorded run again, its device answered by the run's device record
(:mod:`physnn.hardware.record`), and compare the two results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError, option
from physnn.hardware.record import RecordError, ReplayDevice
from physnn.train.checkpoint import load_checkpoint
from physnn.train.config import TrainConfig
from physnn.train.folder import CHECKPOINT, RECORD, RESULT
from physnn.train.loop import train
from physnn.train.setup import resolve_torch_device


def replay(
    run_dir: str | Path, out: str | Path, *, overwrite: bool = False, progress: bool = False
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Train the run in ``run_dir`` again into ``out``, its device answered by the run's record
    (``run_dir/device-record``); returns the replayed result and the recorded one (None when
    the recorded run left no result.json). The replayed result's ``"replay"`` entry says how
    many of the recorded events the replay consumed; :func:`differences` compares the two."""
    run_dir, out = Path(run_dir), Path(out)
    if not overwrite and ((out / RESULT).exists() or (out / CHECKPOINT).exists()):
        raise ConfigError(
            f"{str(out)!r} already holds a run; pass {option('overwrite', True)} to replay into it "
            f"again, or choose another {option('out')}"
        )
    recorded = None
    if (run_dir / RESULT).exists():
        recorded = json.loads((run_dir / RESULT).read_text())
        saved = recorded["config"]
    elif (run_dir / CHECKPOINT).exists():
        saved = load_checkpoint(run_dir / CHECKPOINT)["config"]
    else:
        raise RecordError(f"{str(run_dir)!r} holds no run ({RESULT} and {CHECKPOINT} are missing)")
    config = TrainConfig.from_dict(saved, source=str(run_dir))
    device = ReplayDevice(run_dir / RECORD, torch_device=resolve_torch_device(config.torch_device))
    train(config, out, overwrite=overwrite, progress=progress, device=device)
    replayed = json.loads((out / RESULT).read_text())
    replayed["replay"] = {"events": len(device.record), "replayed": device.position}
    return replayed, recorded


def differences(replayed: dict[str, Any], recorded: dict[str, Any] | None) -> list[str]:
    """How a replayed result differs from the recorded one (wall-clock times aside), and
    whether recorded events were left over; empty when the replay reproduced the run."""
    if recorded is None:
        return ["the recorded run left no result.json to compare with (it did not finish)"]
    found = []
    info = replayed.get("replay", {})
    if info.get("replayed", 0) < info.get("events", 0):
        found.append(f"the replay used {info['replayed']} of the {info['events']} recorded events")
    ours = _flatten({k: v for k, v in replayed.items() if k != "replay"})
    theirs = _flatten(recorded)
    for key in sorted(ours.keys() | theirs.keys()):
        if key not in theirs and _added_since(key, recorded):
            continue
        a, b = ours.get(key, "(missing)"), theirs.get(key, "(missing)")
        if a != b:
            found.append(f"{key}: {a!r} replayed, {b!r} recorded")
    return found


PERTURBATIONS = "resolved.reality.perturbations."


def _added_since(key: str, recorded: dict[str, Any]) -> bool:
    """Whether ``key`` (a dotted path) belongs to a result field or configuration field that
    the recorded result does not have at all: added by a later physnn (the bill, its options),
    not a difference of the replay. So is a perturbation a later physnn appends to a gap level
    (the mirror couplers of the MZI's ``ffm``): appended last, it leaves every earlier draw of
    the hidden device as it was, and a replay's device answers from the record anyway."""
    top, _, rest = key.partition(".")
    if top not in recorded:
        return True
    if key.startswith(PERTURBATIONS):
        index = key.removeprefix(PERTURBATIONS).partition(".")[0]
        listed = recorded.get("resolved", {}).get("reality", {}).get("perturbations", [])
        return index.isdigit() and int(index) >= len(listed)
    return top == "config" and rest.partition(".")[0] not in recorded["config"]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON value by dotted path, leaving out wall-clock times (keys ending in
    "seconds" outside the configuration)."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value}
    flat = {}
    for key, item in items:
        timing = key.endswith("seconds") and not prefix.startswith("config")
        if not timing:
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
    return flat
