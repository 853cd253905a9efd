"""The plot of a size sweep: one inference's energy on the device and digitally, against size."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_sweep(rows: list[dict[str, Any]], key: str, system: str, path: Path) -> None:
    """Energy per inference (device, digital processor) against ``key``, log-log, with the
    crossover where the two meet."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from physnn.cost.sweep import crossover

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    sizes = [row[key] for row in rows]
    ax.loglog(sizes, [r["energy_J"] for r in rows], "o-", label=f"{system} (device)")
    ax.loglog(sizes, [r["digital_energy_J"] for r in rows], "s--", label="digital processor")
    if (where := crossover(rows, key)) is not None:
        ax.axvline(where, color="#7F7F7F", linestyle=":", label=f"crossover {key} ≈ {where:.3g}")
    ax.set(title=f"One inference of {system}: energy against {key}", xlabel=key,
           ylabel="energy per inference (J)")  # fmt: skip
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
