"""The static catalogue: what ``physnn list`` shows, readable without importing torch.

``catalogue.json`` (shipped with the package) holds the systems (description, presets,
capabilities, the controls of the default preset, the non-idealities of the reality gap, the
suggested learning rate), the methods (summary, reference, requirements, headline), the datasets,
the gap levels and their knobs, the shipped benchmark suites, the method × system compatibility
matrix and, for every incompatible pair, the sentence that refuses it, and for every compatible
pair that does not simply train, its learning status ("cannot learn here", "simulation-only",
declared in :mod:`physnn.methods.base`) with its reason. The command line lists and
checks names from it before anything heavy is imported, so ``physnn list``, ``--help`` and a
mistyped name answer at once; the datasets, substrates and methods that other packages register
(entry-point groups ``physnn.datasets``, ``physnn.substrates``, ``physnn.methods``) are added
when it is read: by name and package only (no torch), or in full once loaded (:func:`catalogue`).

It is generated from the live registries, and a test fails when the committed file differs::

    python -m physnn.catalogue --write
"""

from __future__ import annotations

import argparse
import copy
import functools
import itertools
import json
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError, DatasetError, IncompatibleError
from physnn.plugins import METHODS_GROUP, SUBSTRATES_GROUP, package_of, registered

PATH = Path(__file__).with_name("catalogue.json")
WRITE_COMMAND = "python -m physnn.catalogue --write"
SUITES_FOLDER = "bench/suites"  # shipped suites, relative to the physnn package


def generate() -> dict[str, Any]:
    """The catalogue of physnn's own names, computed from the live registries (imports torch
    and builds every system); plug-ins of other packages are left out."""
    from physnn.bench.suite import shipped_suites
    from physnn.data import dataset_info
    from physnn.methods import METHODS
    from physnn.reality import GAP_FAMILIES, LEVELS
    from physnn.systems import SYSTEMS

    systems = [_system_entry(name, cls) for name, cls in SYSTEMS.items(builtin_only=True)]
    methods = [_method_entry(name, cls) for name, cls in METHODS.items(builtin_only=True)]
    method_names, system_names = [m["name"] for m in methods], [s["name"] for s in systems]
    refusals = _refusals(itertools.product(method_names, system_names))
    knobs = {name: _gap_entry(family) for name, family in GAP_FAMILIES.items(builtin_only=True)}
    suites = [{"name": name, "description": _suite_description(path),
               "path": f"{SUITES_FOLDER}/{path.name}"}
              for name, path in sorted(shipped_suites().items())]  # fmt: skip
    return {"systems": systems, "methods": methods, "datasets": dataset_info(),
            "gaps": list(LEVELS), "gap_knobs": knobs, "suites": suites,
            "matrix": _matrix(method_names, system_names, refusals),
            "incompatible": refusals,
            "learning": _learning(itertools.product(method_names, system_names))}  # fmt: skip


def _system_entry(name: str, cls: Any) -> dict[str, Any]:
    """A system's row of the catalogue, from its class."""
    from physnn.reality import GAP_FAMILIES

    return {"name": name, "description": cls.capabilities.description,
            "presets": sorted(cls.presets),
            "capabilities": {k: v for k, v in vars(cls.capabilities).items() if k != "description"},
            "controls": _controls_of(cls.from_preset("default")),
            "non_idealities": GAP_FAMILIES[name].knobs if name in GAP_FAMILIES else {},
            "learning_rate": cls.learning_rate}  # fmt: skip


def _method_entry(name: str, cls: Any) -> dict[str, Any]:
    """A method's row of the catalogue, from its class."""
    return {"name": name, "summary": cls.summary, "reference": cls.reference,
            "requirements": vars(cls.requirements), "headline": cls.headline}  # fmt: skip


def _gap_entry(family: Any) -> dict[str, Any]:
    return {"knobs": family.knobs, "levels": family.levels}


def _refusals(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """method → system → the sentence that refuses the pair, for the incompatible ``pairs``."""
    from physnn.train.setup import check_compatible

    refusals: dict[str, dict[str, str]] = {}
    for method, system in pairs:
        try:
            check_compatible(method, system)
        except IncompatibleError as err:
            refusals.setdefault(method, {})[system] = str(err)
    return refusals


def _learning(pairs: Iterable[tuple[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    """method → system → {"status", "reason"} for the compatible ``pairs`` that run but do not
    simply train ("cannot learn here", "simulation-only"); the others train or are refused."""
    from physnn.methods import METHODS
    from physnn.methods.base import NOT_APPLICABLE, TRAINS, learning_status
    from physnn.systems import SYSTEMS

    out: dict[str, dict[str, dict[str, str]]] = {}
    for method, system in pairs:
        status, reason = learning_status(METHODS[method], system, SYSTEMS[system].capabilities)
        if status not in (TRAINS, NOT_APPLICABLE):
            out.setdefault(method, {})[system] = {"status": status, "reason": reason}
    return out


def _matrix(
    methods: list[str], systems: list[str], refusals: dict[str, dict[str, str]]
) -> dict[str, list[str]]:
    """system → the methods that can train it."""
    return {s: [m for m in methods if s not in refusals.get(m, {})] for s in systems}


def _suite_description(path: Path) -> str:
    """A suite file's ``description`` (read, not loaded: loading makes configurations, whose
    learning rates come from this catalogue)."""
    return tomllib.loads(path.read_text(encoding="utf-8")).get("description", "")


def _controls_of(system: Any) -> dict[str, str]:
    """Each control group of a system as "shape in [low, high] unit" (default preset)."""
    out = {}
    for name, spec in system.control_specs().items():
        shape = "×".join(str(n) for n in spec.shape)
        interval = f"[{spec.low:g}, {spec.high:g}{')' if spec.periodic else ']'}"
        levels = f", {spec.levels} levels" if spec.levels else ""
        out[name] = f"{shape} in {interval}{' ' + spec.unit if spec.unit else ''}{levels}"
    return out


def render(catalogue: dict[str, Any]) -> str:
    """The catalogue as the text of ``catalogue.json`` (stable, so that a diff shows a change)."""
    return json.dumps(catalogue, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


@functools.cache
def _shipped() -> dict[str, Any]:
    return json.loads(PATH.read_text(encoding="utf-8"))


def external_datasets() -> list[dict[str, Any]]:
    """The datasets other installed packages register (entry-point group ``physnn.datasets``),
    each marked with the package and the loader that provide it (neither is imported)."""
    from physnn.data.registry import external_datasets

    found = []
    for name, entry in external_datasets().items():
        package = package_of(entry)
        found.append({"name": name, "description": f"from package {package} ({entry.value})",
                      "package": package, "loader": entry.value})  # fmt: skip
    return found


def catalogue(load_plugins: bool = False) -> dict[str, Any]:
    """What ``physnn list --json`` prints: the shipped catalogue, the suites' files where this
    installation keeps them, and the datasets, substrates and methods of other packages after
    physnn's own. The plug-in substrates and methods are named with their package only, unless
    ``load_plugins``: then they are loaded (torch is imported) and described in full, with their
    gap knobs and their rows and columns of the compatibility matrix. Without plug-ins installed
    neither imports torch."""
    info = copy.deepcopy(_shipped())
    root = Path(__file__).parent
    for suite in info["suites"]:
        suite["path"] = str(root / suite["path"])
    info["datasets"] += external_datasets()
    named = {key: _named_plugins(group, info[key], text) for key, group, text in _PLUGIN_ROWS}
    if load_plugins and any(named.values()):
        _add_loaded_plugins(info)
    else:
        for key, rows in named.items():
            info[key] += rows
    return info


# catalogue section, entry-point group, the row's key for a sentence about it
_PLUGIN_ROWS = (("systems", SUBSTRATES_GROUP, "description"), ("methods", METHODS_GROUP, "summary"))


def _named_plugins(group: str, builtin: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """A row per plug-in of ``group`` (none of its packages imported): name, package and the
    register function, as :func:`external_datasets` describes a dataset."""
    found = registered(group, [row["name"] for row in builtin])
    return [{"name": name, text: f"from package {package_of(entry)} ({entry.value})",
             "package": package_of(entry), "register": entry.value}
            for name, entry in found.items()]  # fmt: skip


def _add_loaded_plugins(info: dict[str, Any]) -> None:
    """Load the plug-in substrates and methods and add their full rows to ``info``."""
    from physnn.methods import METHODS
    from physnn.reality import GAP_FAMILIES
    from physnn.systems import SYSTEMS

    rows = (("systems", SYSTEMS, _system_entry, "description"),
            ("methods", METHODS, _method_entry, "summary"))  # fmt: skip
    for key, registry, entry_of, text in rows:
        for name, package in registry.plugins().items():
            row = entry_of(name, registry[name])
            row[text] = "; ".join(filter(None, (row[text], f"from package {package}")))
            info[key].append({**row, "package": package})
    for name in GAP_FAMILIES.plugins():
        info["gap_knobs"][name] = _gap_entry(GAP_FAMILIES[name])
    new = {*SYSTEMS.plugins(), *METHODS.plugins()}
    methods, systems = [m["name"] for m in info["methods"]], [s["name"] for s in info["systems"]]
    pairs = [(m, s) for m in methods for s in systems if m in new or s in new]
    for method, refused in _refusals(pairs).items():
        info["incompatible"].setdefault(method, {}).update(refused)
    for method, statuses in _learning(pairs).items():
        info["learning"].setdefault(method, {}).update(statuses)
    info["matrix"] = _matrix(methods, systems, info["incompatible"])


def learning_rate(system: str) -> float | None:
    """The Adam learning rate suggested for ``system``, or None for an unknown name. That of a
    plug-in substrate is read from its class, which loads the plug-ins (and torch)."""
    rates = {s["name"]: s["learning_rate"] for s in _shipped()["systems"]}
    if system in rates or system not in registered(SUBSTRATES_GROUP, rates):
        return rates.get(system)
    from physnn.systems import SYSTEMS

    return SYSTEMS[system].learning_rate if system in SYSTEMS else None


def _known(
    kind: str, name: str, valid: Sequence[str], error: type[Exception] = ConfigError
) -> None:
    """Refuse ``name`` unless it is one of ``valid``, naming them (as the registries do)."""
    if name not in valid:
        raise error(f"unknown {kind} {name!r}; choose one of: {', '.join(valid)}")


def check_names(
    *, system: str, preset: str, method: str, dataset: Any, gap: str, info: dict[str, Any]
) -> None:
    """Refuse an unknown system, preset, method, dataset or gap level, or a method that cannot
    train the system, with the sentence the live registries would give (``info``: from
    :func:`catalogue`). A dataset given as an object, not a name, is left to the live code."""
    methods = [m["name"] for m in info["methods"]]
    systems = {s["name"]: s for s in info["systems"]}
    _known("method", method, methods)
    _known("system", system, list(systems))
    refusal = info["incompatible"].get(method, {}).get(system)
    if refusal:
        raise IncompatibleError(refusal)
    _known("gap level", gap, info["gaps"])
    if isinstance(dataset, str):
        _known("dataset", dataset, [d["name"] for d in info["datasets"]], DatasetError)
    presets = systems[system].get("presets")  # a plug-in's presets are checked by the live code
    if presets is not None and preset not in presets:
        raise ConfigError(
            f"unknown preset {preset!r} for system {system!r}; choose: {', '.join(presets)}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m physnn.catalogue",
        description="Regenerate physnn's static catalogue from the live registries.",
    )
    parser.add_argument("--write", action="store_true", help=f"write {PATH.name} (else print it)")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.write:
        PATH.write_text(text, encoding="utf-8")
        print(f"wrote {PATH}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
