"""The tutorials in notebooks/ (jupytext percent-format sources) run from top to bottom in a
Jupyter kernel, as a reader would run them; a failing cell fails the test with its traceback."""

from __future__ import annotations

import base64
import functools
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from test_report_browser import CHROMIUM, _chromium

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

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


@functools.cache
def executed(path: Path) -> nbformat.NotebookNode:
    """The tutorial at ``path`` run top to bottom in a Jupyter kernel (once per session)."""
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": NOTEBOOKS}}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        client.execute()
    return notebook


def images_of(notebook: nbformat.NotebookNode) -> list[bytes]:
    """The PNG figures the notebook's cells displayed."""
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    return [base64.b64decode(o.data["image/png"]) for o in outputs
            if o.output_type == "display_data" and "image/png" in o.data]  # fmt: skip


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_the_tutorial_runs(path):
    notebook = executed(path)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type in ("stream", "display_data", "execute_result") for o in outputs)
    if path.stem in PLOTTING:  # its figures are shown inline, as PNG images
        images = images_of(notebook)
        assert len(images) >= PLOTTING[path.stem]
        assert all(image.startswith(b"\x89PNG\r\n\x1a\n") for image in images)


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_a_tutorials_plots_render_in_a_browser(tmp_path):
    """The first tutorial, executed and exported to HTML as nbconvert does for a reader, shows its
    figure in headless Chromium: the page's images are decoded and drawn, not blank."""
    exporter = pytest.importorskip("nbconvert").HTMLExporter(template_name="lab")
    notebook = executed(NOTEBOOKS / "01_first_pnn.py")
    page, _ = exporter.from_notebook_node(notebook)
    html = tmp_path / "01_first_pnn.html"
    html.write_text(page, encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", html.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('src="data:image/png;base64,') == len(images_of(notebook)) >= 1
    assert "Uncaught" not in dom.stderr

    shot = tmp_path / "screenshot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1000,2400", html.as_uri())
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert colours.shape[0] > 100  # text, syntax colouring and an anti-aliased plot
    assert 0.02 < (pixels.mean(axis=-1) < 0.9).mean() < 0.9  # neither blank nor a flat fill
