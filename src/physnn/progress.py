"""Progress bars: tqdm's notebook widget where Jupyter can draw it, its text bar elsewhere.

``tqdm.auto`` picks the widget in a Jupyter kernel, and warns on import (in a red block, in
every reader's notebook) when ipywidgets, which draws it, is not installed; physnn asks for the
widget only where ipywidgets is there.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("ipywidgets") is not None:
    from tqdm.auto import tqdm
else:
    from tqdm.std import tqdm

__all__ = ["tqdm"]
