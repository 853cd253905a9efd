"""Name → factory registries for systems, methods and reality-gap levels.

Every registry lookup of an unknown name raises a :class:`~physnn.errors.ConfigError` that lists
the valid names, so a typo on the command line gives one clear sentence.

A registry may take plug-ins: names that other installed packages register through an
entry-point group (:mod:`physnn.plugins`). They are loaded the first time the registry is read,
once for every registry of the group (systems and reality-gap families share
``physnn.substrates``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from typing import Any, Generic, TypeVar

from physnn import plugins
from physnn.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A case-sensitive mapping from registry names to objects (usually classes).

    ``group``: the entry-point group whose plug-ins join this registry when it is first read
    (None: none).
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, T] = {}
        self._plugins: dict[str, str] = {}
        if group is not None:
            _GROUPS.setdefault(group, []).append(self)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@SYSTEMS.register("diffractive")``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return add

    def __getitem__(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of: {valid}") from None

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self._load_plugins()
        return iter(sorted(self._entries))

    def items(self, *, builtin_only: bool = False) -> list[tuple[str, T]]:
        """(name, object) pairs sorted by name; ``builtin_only``: without the plug-ins'."""
        self._load_plugins()
        return sorted(
            (k, v) for k, v in self._entries.items() if not (builtin_only and k in self._plugins)
        )

    def plugins(self) -> dict[str, str]:
        """Each name a plug-in registered here → the package that registered it, by name."""
        self._load_plugins()
        return dict(sorted(self._plugins.items()))

    def _load_plugins(self) -> None:
        if self.group is not None and self.group not in _LOADED:
            _load_group(self.group)


_GROUPS: dict[str, list[Registry[Any]]] = {}  # entry-point group → the registries its plug-ins fill
_LOADED: set[str] = set()


def _load_group(group: str) -> None:
    """Call the register function of every plug-in of ``group`` (once per process). One that
    fails, or registers a name other than its entry point's, or none, is taken back out of every
    registry of the group and skipped with a :class:`~physnn.errors.PhysnnWarning`."""
    _LOADED.add(group)  # first: a lookup made while registering must not load again
    for home in plugins.HOMES[group]:  # every built-in registered before the snapshots
        importlib.import_module(home)
    registries = _GROUPS[group]
    builtin = {name for registry in registries for name in registry._entries}
    for name, entry in plugins.registered(group, builtin).items():
        before = [dict(registry._entries) for registry in registries]
        problem = _register(entry)
        added = [set(r._entries) - set(b) for r, b in zip(registries, before, strict=True)]
        names = set().union(*added)
        if problem is None and name not in names:
            problem = f"its register function registered no {plugins.KIND[group]} {name!r}"
        elif problem is None and names != {name}:
            strays = ", ".join(repr(n) for n in sorted(names - {name}))
            problem = f"it also registered {strays}: one name per entry point"
        if problem is not None:
            for registry, entries in zip(registries, before, strict=True):
                registry._entries = entries
            plugins.skip(entry, problem)
            continue
        for registry, new in zip(registries, added, strict=True):
            registry._plugins.update(dict.fromkeys(new, plugins.package_of(entry)))


def _register(entry: EntryPoint) -> str | None:
    """Import and call a plug-in's register function; why that failed, or None."""
    try:
        register = entry.load()
        if not callable(register):
            return f"it names a {type(register).__name__}, not a register function"
        register()
    except Exception as err:  # a broken package must not stop physnn's own names
        return f"registering failed: {type(err).__name__}: {err}"
    return None
