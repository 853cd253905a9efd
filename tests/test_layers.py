"""The shape of the code base (docs/architecture.md): imports that go one way, methods that know
no substrate and no hidden reality, modules and functions small enough to read.

The import graph is read from the source (module-level imports; those under ``if`` blocks such
as ``TYPE_CHECKING`` do not run at import time), so these checks import nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60
METHODS_MUST_NOT_IMPORT = ("physnn.reality", "physnn.substrates", "physnn.hardware.simulated")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(statements: list[ast.stmt] | ast.Module, *, everywhere: bool) -> set[str]:
    """The physnn modules that ``statements`` import (a name imported from a package counts as
    its submodule when there is one); ``everywhere``: also inside functions and ``if`` blocks."""
    nodes = ast.walk(statements) if everywhere else iter(statements.body)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in MODULES:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                names.add(sub if sub in MODULES else node.module)
    return names


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_the_import_graph_has_no_cycle():
    graph = {
        name: _imported(ast.parse(path.read_text()), everywhere=False)
        for name, path in MODULES.items()
    }
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("physnn.methods.")])
def test_a_method_knows_no_substrate_and_no_hidden_reality(module):
    """Methods see the device contract, the model and what setup hands them: never a concrete
    substrate, the reality gap or the simulator behind a device (not even inside a function)."""
    tree = ast.parse(MODULES[module].read_text())
    imported = _imported(tree, everywhere=True)
    forbidden = sorted(name for name in imported if name.startswith(METHODS_MUST_NOT_IMPORT))
    assert forbidden == []
    systems_names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "physnn.systems"
        for alias in node.names
    }
    assert "SYSTEMS" not in systems_names


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_and_functions_stay_small(module):
    source = MODULES[module].read_text()
    assert len(source.splitlines()) <= MAX_MODULE_LINES
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
