"""Benchmark suites as TOML files: which systems, methods, datasets, gaps and seeds to run.

A suite file has a ``name``, a ``description``, a ``[defaults]`` table of
:class:`~physnn.train.TrainConfig` fields, optional ``[method_options.<method>]`` tables of
hyperparameters, and ``[[entry]]`` tables. Each entry expands to the cross product of its
``systems`` (``"diffractive"`` or ``"diffractive:lin2018"``; ``["all"]``: every registered
system with its default preset), ``methods`` (``["all"]``: every compatible one), ``gaps`` and
``seeds``, and may override any TrainConfig field. Three optional
entry fields add meaning:

* ``sweep = {knob = "lateral", values = [0, 0.5, 1], label = "..."}`` — a robustness curve:
  one run per value of one reality-gap knob (on top of each gap level);
* ``reproduce = {paper, claim, metric, reported, tolerance}`` — a published number to compare
  the entry's result with (a claim without a published number, e.g. the other side of a paper's
  comparison, leaves out ``reported`` and ``tolerance``: the report shows ours alone);
* ``gradcheck = true`` — after training, the quality of the method's gradient at the initial
  controls (:func:`physnn.train.gradcheck.gradcheck`); ``gradcheck = "only"``: that check
  alone, without training (a table of gradient quality costs seconds per run).

Every run is resolved and validated when the file is loaded, so a bad suite fails before any
run starts, with one sentence naming the file, the entry, the field and the fix.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError, PhysnnError
from physnn.methods import METHODS, incompatibility
from physnn.systems import SYSTEMS
from physnn.train.config import TrainConfig
from physnn.train.setup import validate_names

ENTRY_FIELDS = {"name", "systems", "methods", "gaps", "seeds", "sweep", "reproduce", "gradcheck"}
REPRODUCE_FIELDS = {"paper", "claim", "metric"}
REPRODUCE_NUMBER = {"reported", "tolerance"}  # both, or neither for a claim without a number
GRADCHECK_VALUES = (True, False, "only")  # check after training, none, or the check alone
KEY_EXCLUDES = ("data_dir",)  # where the data lies does not change a run


@dataclass(frozen=True)
class RunSpec:
    """One run of a suite: its identity, configuration and report metadata."""

    key: str
    entry: str
    config: TrainConfig
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    path: Path
    runs: tuple[RunSpec, ...]


def shipped_suites() -> dict[str, Path]:
    """The suites that come with physnn, by name."""
    folder = resources.files("physnn.bench") / "suites"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def run_key(suite: str, entry: str, config: TrainConfig) -> str:
    """Stable identity of a run: suite, entry and a hash of its configuration.

    Only fields that differ from their defaults enter the hash, so that a field added to
    :class:`TrainConfig` later (with a default that keeps the old behaviour) leaves the keys of
    stored runs unchanged.
    """
    defaults = TrainConfig().to_dict()
    identity = {
        k: v for k, v in config.to_dict().items() if k not in KEY_EXCLUDES and v != defaults[k]
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return f"{suite}:{entry}:{digest}"


def load_suite(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> Suite:
    """Load and validate a suite: a shipped name (``quick``) or a TOML file path.

    ``overrides`` are TrainConfig fields applied to every run (e.g. ``data_dir``).
    """
    path = Path(name_or_path)
    if not path.is_file():
        shipped = shipped_suites()
        if str(name_or_path) not in shipped:
            raise ConfigError(
                f"no suite file {str(name_or_path)!r}; shipped suites: {', '.join(sorted(shipped))}"
            )
        path = shipped[str(name_or_path)]
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return _parse(spec, path, overrides or {})


def _parse(spec: dict[str, Any], path: Path, overrides: dict[str, Any]) -> Suite:
    where = str(path)
    unknown = sorted(set(spec) - {"name", "description", "defaults", "method_options", "entry"})
    if unknown:
        raise ConfigError(f"{where}: unknown top-level field(s) {', '.join(unknown)}")
    name = spec.get("name") or path.stem
    defaults = spec.get("defaults", {})
    method_options = spec.get("method_options", {})
    entries = spec.get("entry", [])
    if not entries:
        raise ConfigError(f"{where}: the suite has no [[entry]] tables; add at least one")
    runs: list[RunSpec] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        label = entry.get("name", f"#{i + 1}")
        if label in seen:
            raise ConfigError(f"{where}: entry {label!r} appears twice; give each entry a name")
        seen.add(label)
        try:
            runs += _expand(name, entry, label, defaults, method_options, overrides)
        except PhysnnError as err:
            raise ConfigError(f"{where}: entry {label!r}: {err}") from None
    return Suite(name, spec.get("description", ""), path, tuple(runs))


def _as_list(entry: dict[str, Any], key: str, default: list[Any]) -> list[Any]:
    value = entry.get(key, default)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"field {key} must be a non-empty list, got {value!r}")
    return value


def _expand(
    suite: str,
    entry: dict[str, Any],
    label: str,
    defaults: dict[str, Any],
    method_options: dict[str, Any],
    overrides: dict[str, Any],
) -> list[RunSpec]:
    config_fields = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(entry) - ENTRY_FIELDS - config_fields)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)}; use TrainConfig fields or "
            f"{', '.join(sorted(ENTRY_FIELDS))}"
        )
    base = {**defaults, **{k: v for k, v in entry.items() if k in config_fields}, **overrides}
    meta = _entry_meta(entry)
    gaps = _as_list(entry, "gaps", [base.get("gap", "none")])
    seeds = _as_list(entry, "seeds", [base.get("seed", 0)])
    sweep_values = meta.get("sweep", {}).get("values", [None])
    runs = []
    systems = _as_list(entry, "systems", [base.get("system", "diffractive")])
    if systems == ["all"]:
        systems = list(SYSTEMS)
    for system_name in systems:
        system, _, preset = str(system_name).partition(":")
        methods = _as_list(entry, "methods", ["all"])
        if methods == ["all"]:
            caps = SYSTEMS[system].capabilities
            methods = [m for m, cls in METHODS.items() if not incompatibility(cls, system, caps)]
        for method, gap, seed, value in itertools.product(methods, gaps, seeds, sweep_values):
            axes = {"system": system, "method": method, "gap": gap, "seed": seed}
            if preset:
                axes["preset"] = preset
            options = {**method_options.get(method, {}), **base.get("method_options", {})}
            if options:
                axes["method_options"] = options
            runs.append(_run(suite, label, {**base, **axes}, meta, value))
    return runs


def _entry_meta(entry: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if "sweep" in entry:
        sweep = entry["sweep"]
        if not isinstance(sweep, dict) or "knob" not in sweep or "values" not in sweep:
            raise ConfigError("field sweep must be a table {knob = ..., values = [...]}")
        values = _as_list(sweep, "values", [])
        meta["sweep"] = {
            "parameter": sweep["knob"],
            "label": sweep.get("label", sweep["knob"]),
            "values": values,
        }
    if "reproduce" in entry:
        rep = entry["reproduce"]
        missing = REPRODUCE_FIELDS - set(rep) if isinstance(rep, dict) else REPRODUCE_FIELDS
        if missing:
            raise ConfigError(f"field reproduce lacks {', '.join(sorted(missing))}")
        number = REPRODUCE_NUMBER & set(rep)
        if number and number != REPRODUCE_NUMBER:
            raise ConfigError(
                f"field reproduce has {', '.join(number)} without "
                f"{', '.join(REPRODUCE_NUMBER - number)}; give both, or neither for a claim "
                "without a published number"
            )
        if number and not 0 <= rep["tolerance"] <= 1:
            raise ConfigError(f"reproduce tolerance must be in [0, 1], got {rep['tolerance']!r}")
        meta["reproduce"] = dict(rep)
    check = entry.get("gradcheck", False)
    if check not in GRADCHECK_VALUES:
        raise ConfigError(f'field gradcheck must be true, false or "only", got {check!r}')
    if check:
        meta["gradcheck"] = check
    return meta


def _run(
    suite: str, label: str, values: dict[str, Any], meta: dict[str, Any], sweep_value: Any
) -> RunSpec:
    run_meta = {k: v for k, v in meta.items() if k != "sweep"}
    if sweep_value is not None:
        knob = meta["sweep"]["parameter"]
        values = {**values, "gap_options": {**values.get("gap_options", {}), knob: sweep_value}}
        run_meta["sweep"] = {
            "parameter": knob,
            "label": meta["sweep"]["label"],
            "value": sweep_value,
        }
    config = TrainConfig.from_dict(values, source="the entry")
    validate_names(config)
    return RunSpec(run_key(suite, label, config), label, config, run_meta)
