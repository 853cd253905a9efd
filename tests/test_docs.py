"""The documentation keeps up with the code: every substrate's gap knobs are documented, and
docs/cli.md and the README name every option of every command and everything `physnn list`
lists."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from physnn.catalogue import PATH as CATALOGUE
from physnn.cli import build_parser
from physnn.reality import GAP_FAMILIES
from physnn.systems import SYSTEMS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
SHARED_SECTIONS = {"gradcheck": "train", "cost": "train"}  # their experiment options are train's


@pytest.mark.parametrize("system", [s for s in SYSTEMS if s != "diffractive"])
def test_every_gap_knob_is_in_the_reality_docs(system):
    """(The diffractive network's table, written first, names its perturbations in words.)"""
    text = (DOCS / "reality.md").read_text(encoding="utf-8")
    section = text.split(f"### {system}\n", 1)[-1].split("\n### ", 1)[0]
    assert f"### {system}\n" in text, f"docs/reality.md has no section for {system}"
    missing = [k for k in GAP_FAMILIES[system].knobs if f"`{k}`" not in section]
    assert not missing, f"docs/reality.md lacks the {system} knobs {missing}"


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _command_section(text: str, command: str) -> str:
    """The part of docs/cli.md under the level-2 heading that names `physnn COMMAND`."""
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    found = [s for s in sections if f"`physnn {command}" in s.splitlines()[0]
             or f"`physnn {command}`" in s.splitlines()[0]]  # fmt: skip
    assert found, f"docs/cli.md has no section for physnn {command}"
    return found[0]


def _documented(option: argparse.Action, section: str) -> bool:
    """An option is documented when one of its spellings is, as code (`--flag ...`)."""
    if not option.option_strings:  # a positional, by its name in the usage (SUITE, RUN_DIR)
        return str(option.metavar or option.dest.upper()) in section
    return any(re.search(f"`{re.escape(o)}[ `=\\]]", section) or f"[{o} " in section
               or f"[{o}]" in section for o in option.option_strings)  # fmt: skip


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_option_of_every_command_is_in_the_cli_docs(command):
    text = CLI_DOC.read_text(encoding="utf-8")
    sections = [_command_section(text, command)]
    if command in SHARED_SECTIONS:
        sections.append(_command_section(text, SHARED_SECTIONS[command]))
    parser = _subcommands()[command]
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction) and not any(_documented(a, s) for s in sections)
    ]
    assert not missing, f"docs/cli.md does not document physnn {command} {', '.join(missing)}"


def _catalogue_names() -> dict[str, list[str]]:
    info = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    names = {key: [x["name"] for x in info[key]] for key in ("systems", "methods", "datasets")}
    return {**names, "suites": [s["name"] for s in info["suites"]], "gap levels": info["gaps"]}


@pytest.mark.parametrize("kind", ["systems", "methods", "datasets", "suites", "gap levels"])
def test_the_cli_docs_list_what_physnn_list_lists(kind):
    text = CLI_DOC.read_text(encoding="utf-8")
    missing = [n for n in _catalogue_names()[kind] if f"`{n}`" not in text]
    assert not missing, f"docs/cli.md does not name the {kind} {', '.join(missing)}"


@pytest.mark.parametrize("kind", ["systems", "methods", "datasets"])
def test_the_readme_table_lists_what_physnn_list_lists(kind):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## What is here", 1)[-1].split("\n## ", 1)[0]
    missing = [n for n in _catalogue_names()[kind] if f"`{n}`" not in table]
    assert not missing, f"README.md's 'What is here' table lacks the {kind} {', '.join(missing)}"


def test_the_procedures_table_of_the_substrate_docs_is_what_the_systems_declare():
    """docs/substrates.md lists every substrate's physical gradient procedures, and only those."""
    text = (ROOT / "docs" / "substrates.md").read_text(encoding="utf-8")
    start = text.index("| substrate | procedures |")
    rows = [line for line in text[start:].split("\n\n")[0].splitlines()[2:] if line.strip()]
    documented = {
        cells[0].strip("` "): sorted(re.findall(r"`([^`]+)`", cells[1]))
        for line in rows
        for cells in [line.strip("|").split("|")]
    }
    declared = {
        name: sorted(cls.capabilities.gradient_procedures)
        for name, cls in SYSTEMS.items()
        if cls.capabilities.gradient_procedures
    }
    assert documented == declared
