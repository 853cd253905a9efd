"""The HTML report opens in headless Chromium: it renders, with its tables and plots, no errors."""

from __future__ import annotations

import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest

from physnn.bench.report import write_report
from test_report import example_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs chromium (apt-get install chromium)"
)


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_report_renders_in_headless_chromium(tmp_path):
    paths = write_report(example_records(), tmp_path / "report", commands=["physnn bench"])
    url = paths["html"].resolve().as_uri()

    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<table") >= 2
    assert dom.stdout.count("<img") == len(paths["plots"]) >= 1
    assert "Uncaught" not in dom.stderr and "CONSOLE" not in dom.stderr

    shot = tmp_path / "screenshot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1800", url)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    ink = (pixels.mean(axis=-1) < 0.9).mean()  # fraction of non-white pixels
    assert 0.02 < ink < 0.9, f"the page looks blank or broken ({ink:.3f} of pixels inked)"
    assert np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 50  # text and plots, not a flat fill


# Counts the number cells whose text breaks over more than one line, into <body data-wrapped>.
COUNT_WRAPPED = """<script>addEventListener("load", () => {
  const wrapped = [...document.querySelectorAll("td.num")].filter(td => {
    const range = document.createRange();
    range.selectNodeContents(td);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
  });
  document.body.dataset.wrapped = wrapped.length;
});</script>"""


def _wrapped_cells(tmp_path, page: str) -> int:
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", COUNT_WRAPPED + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--window-size=700,1000", "--dump-dom", probe.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-wrapped="(\d+)"', dom.stdout)
    assert found, dom.stdout[:500]
    return int(found[1])


def test_number_cells_never_wrap_even_in_a_narrow_window(tmp_path):
    paths = write_report(example_records(), tmp_path / "report")
    page = paths["html"].read_text(encoding="utf-8")
    assert page.count('<td class="num">') > 20
    assert _wrapped_cells(tmp_path, page) == 0
    # the probe sees wrapping where the page allows it: without the rule, cells do wrap
    assert _wrapped_cells(tmp_path, page.replace("td.num{white-space:nowrap}", "")) > 0
