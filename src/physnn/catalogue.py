"""The static catalogue: what ``physnn list`` shows, readable without importing torch.

``catalogue.json`` (shipped with the package) holds the systems (description, presets,
capabilities, the controls of the default preset, the non-idealities of the reality gap, the
suggested learning rate), the methods (summary, reference, requirements, headline), the datasets,
the gap levels and their knobs, the shipped benchmark suites, the method × system compatibility
matrix and, for every incompatible pair, the sentence that refuses it. The command line lists and
checks names from it before anything heavy is imported, so ``physnn list``, ``--help`` and a
mistyped name answer at once; datasets registered by other packages (entry-point group
``physnn.datasets``) are added when it is read.

It is generated from the live registries, and a test fails when the committed file differs::

    python -m physnn.catalogue --write
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError, DatasetError, IncompatibleError

PATH = Path(__file__).with_name("catalogue.json")
WRITE_COMMAND = "python -m physnn.catalogue --write"
SUITES_FOLDER = "bench/suites"  # shipped suites, relative to the physnn package


def generate() -> dict[str, Any]:
    """The catalogue computed from the live registries (imports torch and builds every system)."""
    from physnn.bench.suite import shipped_suites
    from physnn.data import dataset_info
    from physnn.methods import METHODS
    from physnn.reality import GAP_FAMILIES, LEVELS
    from physnn.systems import SYSTEMS
    from physnn.train.setup import check_compatible

    systems = [
        {"name": name, "description": cls.capabilities.description, "presets": sorted(cls.presets),
         "capabilities": {k: v for k, v in vars(cls.capabilities).items() if k != "description"},
         "controls": _controls_of(cls.from_preset("default")),
         "non_idealities": GAP_FAMILIES[name].knobs if name in GAP_FAMILIES else {},
         "learning_rate": cls.learning_rate}
        for name, cls in SYSTEMS.items()
    ]  # fmt: skip
    methods = [
        {"name": name, "summary": cls.summary, "reference": cls.reference,
         "requirements": vars(cls.requirements), "headline": cls.headline}
        for name, cls in METHODS.items()
    ]  # fmt: skip
    refusals: dict[str, dict[str, str]] = {}
    for method in METHODS:
        for system in SYSTEMS:
            try:
                check_compatible(method, system)
            except IncompatibleError as err:
                refusals.setdefault(method, {})[system] = str(err)
    matrix = {s: [m for m in METHODS if s not in refusals.get(m, {})] for s in SYSTEMS}
    knobs = {name: {"knobs": fam.knobs, "levels": fam.levels} for name, fam in GAP_FAMILIES.items()}
    suites = [{"name": name, "description": _suite_description(path),
               "path": f"{SUITES_FOLDER}/{path.name}"}
              for name, path in sorted(shipped_suites().items())]  # fmt: skip
    return {"systems": systems, "methods": methods, "datasets": dataset_info(),
            "gaps": list(LEVELS), "gap_knobs": knobs, "suites": suites, "matrix": matrix,
            "incompatible": refusals}  # fmt: skip


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
        package = entry.dist.name if entry.dist else entry.module.partition(".")[0]
        found.append({"name": name, "description": f"from package {package} ({entry.value})",
                      "package": package, "loader": entry.value})  # fmt: skip
    return found


def catalogue() -> dict[str, Any]:
    """What ``physnn list --json`` prints: the shipped catalogue, the suites' files where this
    installation keeps them, and the datasets of other packages after physnn's own."""
    info = copy.deepcopy(_shipped())
    root = Path(__file__).parent
    for suite in info["suites"]:
        suite["path"] = str(root / suite["path"])
    info["datasets"] += external_datasets()
    return info


def learning_rate(system: str) -> float | None:
    """The Adam learning rate suggested for ``system``, or None for a name not in the catalogue."""
    rates = {s["name"]: s["learning_rate"] for s in _shipped()["systems"]}
    return rates.get(system)


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
    presets = systems[system]["presets"]
    if preset not in presets:
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
