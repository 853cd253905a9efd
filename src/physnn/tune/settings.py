"""The settings ``physnn tune`` chose, and ``physnn bench --tuned``, which runs a suite with them.

A run of a suite is tuned as its *tuning key* says: the suite, the entry and a hash of the run's
configuration without its seed, its query budget and where its data lie (runs that differ only
by seed share one study and one setting). The chosen settings are a JSON file beside the results
store (``physnn-results.tuned.json`` for ``physnn-results.db``), one object per tuning key with
the learning rate and method options chosen, the validation accuracy that chose them, the trials
and the device-query budget per trial; it is plain JSON so that ``bench --tuned`` needs no Optuna
and a tuned setting can be read, reviewed and committed beside its suite.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from physnn.bench.suite import RunSpec, Suite, run_key
from physnn.errors import ConfigError
from physnn.train.config import TrainConfig

NOT_TUNED_BY = ("seed", "max_queries", "data_dir")
"""Fields of a run's configuration that do not change which settings it is tuned with."""


def tuning_key(suite: str, entry: str, config: TrainConfig) -> str:
    """``suite:entry:method@system:hash``: which study tunes a run, and which setting it gets."""
    identity = {k: v for k, v in config.to_dict().items() if k not in NOT_TUNED_BY}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return f"{suite}:{entry}:{config.method}@{config.system}:{digest}"


def default_paths(store: str | os.PathLike) -> tuple[Path, Path]:
    """The Optuna study database and the settings file beside a results store:
    ``physnn-results.tune.db`` and ``physnn-results.tuned.json`` for ``physnn-results.db``."""
    store = Path(store)
    return store.with_suffix(".tune.db"), store.with_suffix(".tuned.json")


def read_settings(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The settings file's settings by tuning key; empty when there is no file."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read the tuned settings {str(path)!r}: {err}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{str(path)!r} is not a file of tuned settings (a JSON object)")
    return settings


def write_settings(path: str | os.PathLike, new: dict[str, dict[str, Any]]) -> None:
    """Merge ``new`` into the settings file (atomically: a reader sees the old or the new)."""
    path = Path(path)
    merged = {**read_settings(path), **new}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def tuned_suite(suite: Suite, path: str | os.PathLike) -> tuple[Suite, int]:
    """``suite`` with, beside every run that has a setting in ``path``, that run with the setting
    at the budget it was tuned for (``meta["tuned"]`` says so) and at its defaults at the same
    budget (the run itself when its own ``max_queries`` is that budget); and how many runs have
    a setting. A ConfigError if no run has a setting."""
    settings = read_settings(path)
    runs: dict[str, RunSpec] = {}
    tuned = 0
    for run in suite.runs:
        setting = settings.get(tuning_key(suite.name, run.entry, run.config))
        pair = [] if setting is None else _with_setting(suite.name, run, setting)
        runs |= {r.key: r for r in [run, *pair]}
        tuned += setting is not None
    if not tuned:
        raise ConfigError(
            f"there are no tuned settings for suite {suite.name!r} in {str(path)!r}; run "
            f"physnn tune {suite.name} first (with the same --store)"
        )
    return replace(suite, runs=tuple(runs.values())), tuned


def _with_setting(suite: str, run: RunSpec, setting: dict[str, Any]) -> list[RunSpec]:
    """``run`` at its defaults and with the learning rate and method options of a tuned
    setting, both at the setting's query budget; the tuned run names its default's key (and
    has a key of its own when the setting is the default: it runs again, as the tuned one)."""
    budget = setting["max_queries"]
    default = run
    if run.config.max_queries != budget:
        config = replace(run.config, max_queries=budget)
        default = RunSpec(run_key(suite, run.entry, config), run.entry, config,
                          {**run.meta, "budget": budget})  # fmt: skip
    options = {**run.config.method_options, **setting["method_options"]}
    config = replace(default.config, lr=setting["lr"], method_options=options)
    meta = {**run.meta, "tuned": {**setting, "default": default.key}}
    key = run_key(suite, run.entry, config)
    if key == default.key:  # the default was chosen: the same run, reported as both
        key += "-tuned"
    return [default, RunSpec(key, run.entry, config, meta)]
