"""The tutorials in notebooks/ (jupytext percent-format sources) run from top to bottom in a
Jupyter kernel, as a reader would run them; a failing cell fails the test with its traceback."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

PLOTTING = {"01_first_pnn": 1, "02_your_own_data": 1, "05_reading_a_report": 1,
            "06_the_cost_of_a_run": 2}  # fmt: skip
"""The tutorials that show figures, and how many."""
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
TUTORIALS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_there_are_the_tutorials():
    names = [path.stem for path in TUTORIALS]
    assert names == [
        "01_first_pnn", "02_your_own_data", "03_your_own_substrate", "04_device_over_http",
        "05_reading_a_report", "06_the_cost_of_a_run",
    ]  # fmt: skip


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_the_tutorial_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type in ("stream", "display_data", "execute_result") for o in outputs)
    if path.stem in PLOTTING:  # its figures are shown inline, as PNG images
        images = [base64.b64decode(o.data["image/png"]) for o in outputs
                  if o.output_type == "display_data" and "image/png" in o.data]  # fmt: skip
        assert len(images) >= PLOTTING[path.stem]
        assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in images)
