"""The documentation keeps up with the registries: every substrate's gap knobs are documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from physnn.reality import GAP_FAMILIES
from physnn.systems import SYSTEMS

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("system", [s for s in SYSTEMS if s != "diffractive"])
def test_every_gap_knob_is_in_the_reality_docs(system):
    """(The diffractive network's table, written first, names its perturbations in words.)"""
    text = (DOCS / "reality.md").read_text(encoding="utf-8")
    section = text.split(f"### {system}\n", 1)[-1].split("\n### ", 1)[0]
    assert f"### {system}\n" in text, f"docs/reality.md has no section for {system}"
    missing = [k for k in GAP_FAMILIES[system].knobs if f"`{k}`" not in section]
    assert not missing, f"docs/reality.md lacks the {system} knobs {missing}"
