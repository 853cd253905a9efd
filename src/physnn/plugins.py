"""Substrates and methods that other packages register, through entry-point groups.

A package adds a substrate to physnn (``physnn train --system NAME``, ``physnn list``,
``SYSTEMS["NAME"]``) or a training method (``--method NAME``, ``METHODS["NAME"]``) by declaring,
in its ``pyproject.toml``::

    [project.entry-points."physnn.substrates"]
    toy = "toy_substrate:register"

    [project.entry-points."physnn.methods"]
    toy-sign = "toy_substrate:register_method"

where ``register()`` takes no arguments and registers, under the entry point's name and no
other, what the package provides with physnn's own decorators, as physnn's built-in modules do:
a substrate its :class:`~physnn.systems.System` subclass (``SYSTEMS.register(name)``) and, for
``--gap`` levels other than ``none``, its :class:`~physnn.reality.GapFamily`
(``GAP_FAMILIES.register(name)``); a method its
:class:`~physnn.methods.GradientEstimator` subclass (``METHODS.register(name)``). physnn calls
each ``register`` once, the first time one of the group's registries is read (a lookup, ``in``,
listing); the package's module may import torch and physnn freely, it is imported only then.
See the worked example in ``examples/toy_substrate/`` and docs/architecture.md.

A registered name equal to a built-in one is skipped with a :class:`PhysnnWarning`, and so is a
``register`` that fails or registers other names (what it registered is taken back): the
built-in keeps its name, so that an installed package cannot change what ``pat`` means, and a
broken package does not stop physnn's own substrates and methods.

Listing the registered names (:func:`registered`) imports neither torch nor the packages.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from importlib.metadata import EntryPoint, entry_points

from physnn.errors import PhysnnWarning

SUBSTRATES_GROUP = "physnn.substrates"
METHODS_GROUP = "physnn.methods"
DATASETS_GROUP = "physnn.datasets"  # loaded one by one, by physnn.data.registry
KIND = {SUBSTRATES_GROUP: "substrate", METHODS_GROUP: "method", DATASETS_GROUP: "dataset"}
HOMES = {SUBSTRATES_GROUP: ("physnn.substrates.builtin",), METHODS_GROUP: ("physnn.methods",)}
"""The packages whose import registers every built-in name of a group."""


def package_of(entry: EntryPoint) -> str:
    """The distribution that declares ``entry`` (its top-level module when none is known)."""
    return entry.dist.name if entry.dist else entry.module.partition(".")[0]


def registered(group: str, builtin: Collection[str]) -> dict[str, EntryPoint]:
    """Name → entry point of every plug-in of ``group`` (``physnn.substrates``,
    ``physnn.methods``, ``physnn.datasets``) that an installed package declares, sorted by name;
    nothing is imported.

    A name among ``builtin``, or that a second package registers with another function, is
    skipped with a :class:`PhysnnWarning` (the built-in, or the first one found, wins).
    """
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        if entry.name in builtin:
            skip(entry, f"the built-in {KIND[group]} {entry.name!r} keeps that name")
        elif entry.name in found and found[entry.name].value != entry.value:
            skip(entry, f"{found[entry.name].value} already registers it")
        else:
            found.setdefault(entry.name, entry)
    return dict(sorted(found.items()))


def skip(entry: EntryPoint, reason: str) -> None:
    """Warn that the plug-in ``entry`` is not used, and why."""
    warnings.warn(
        f"{KIND[entry.group]} {entry.name!r} registered by {entry.value} (entry point group "
        f"{entry.group!r}) is skipped: {reason}",
        PhysnnWarning,
        stacklevel=3,
    )
