"""The lock-in gradient of the resistive network against the exact gradient (gap none, float64).

Holomorphic EP as a real device runs it (Laborieux & Zenke, NeurIPS 2022; the AC circuits of
frequency propagation, Anisetti et al., Neural Comput. 36, 596 (2024)): the resistive network's
``"lock-in"`` procedure (:mod:`physnn.physics.lockin`) injects −u cos ωt at the outputs of the
capacitive network and every edge demodulates ½ ΔV_e(t)² over M periods. This script measures
the cosine and the relative error of its estimate of ∂Σ⟨u, y⟩/∂G against autograd of the same
physics, on the default network (16 inputs, 32 hidden nodes with diodes, 10 outputs), 8 random
inputs and a drive u of largest amplitude 1e-3 (the system's nudge):

* vs ωR₀C from 0.01 to 10 (M = 10 periods after one settling period): the RC lag;
* vs M = 1, 2, 5, 10, 20 without settling periods, at ωR₀C = 1 and 0.1 (the turn-on transient
  inside the window), and at ωR₀C = 0.01 (one settling period) with the voltmeter noise of the
  moderate gap (1 mV, averaged down over the M·K samples) and a drive of amplitude 0.1, whose
  O(ε²) bias is then far below the noise.

Prints the numbers and saves docs/img/lockin-ep.png. Run: ``python benchmarks/lockin_ep.py``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from physnn.systems import SYSTEMS
from physnn.systems.base import NoiseSource

FREQUENCIES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
PERIODS = (1, 2, 5, 10, 20)
OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "lockin_ep.png"


def compare(noise: float = 0.0, amplitude: float = 1e-3, **options: float) -> tuple[float, float]:
    """(cosine, relative error) of the lock-in gradient against autograd, for system options."""
    system = SYSTEMS["resistive"].from_preset("default", **options)
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.double() for k, v in system.init_controls(gen).items()}
    x = torch.rand(8, system.config.num_inputs, generator=gen, dtype=torch.float64)
    u = torch.randn(8, system.num_outputs, generator=gen, dtype=torch.float64)
    u = amplitude * u / u.abs().max()
    nuisance = {**system.nominal_nuisance(), "voltmeter_noise": noise}
    g = controls["conductance"].clone().requires_grad_(True)
    (exact,) = torch.autograd.grad((u * system(x, {"conductance": g}, nuisance)).sum(), g)
    source = NoiseSource(torch.Generator().manual_seed(1))
    _, grads, _ = system.measured_gradient("lock-in", x, controls, nuisance, u, source)
    measured = grads["conductance"]
    cosine = float(torch.nn.functional.cosine_similarity(measured, exact, dim=0))
    return cosine, float((measured - exact).norm() / exact.norm())


def main() -> None:
    by_frequency = [compare(lockin_frequency=w) for w in FREQUENCIES]
    print("ωR₀C   cosine      rel. error   (M = 10, one settling period)")
    for w, (cos, rel) in zip(FREQUENCIES, by_frequency, strict=True):
        print(f"{w:<6g} {cos:.6f}    {rel:.3e}")
    curves = {
        "ωR₀C = 1, no settling": {"lockin_frequency": 1.0, "lockin_settle": 0},
        "ωR₀C = 0.1, no settling": {"lockin_frequency": 0.1, "lockin_settle": 0},
        "ωR₀C = 0.01, 1 mV noise, amplitude 0.1": {"noise": 1e-3, "amplitude": 0.1},
    }
    by_periods = {
        label: [compare(**opts, lockin_periods=m) for m in PERIODS]
        for label, opts in curves.items()
    }
    for label, values in by_periods.items():
        print(f"\nM      cosine      rel. error   ({label})")
        for m, (cos, rel) in zip(PERIODS, values, strict=True):
            print(f"{m:<6d} {cos:.6f}    {rel:.3e}")
    plot(by_frequency, by_periods)


def plot(by_frequency: list, by_periods: dict) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex="col")
    for row, index in enumerate((0, 1)):
        axes[row, 0].semilogx(FREQUENCIES, [v[index] for v in by_frequency], "o-")
        for label, values in by_periods.items():
            axes[row, 1].plot(PERIODS, [v[index] for v in values], "o-", label=label)
    for col in (0, 1):
        axes[0, col].set_ylabel("cosine to the exact gradient")
        axes[1, col].set_ylabel("relative error")
        axes[1, col].set_yscale("log")
    axes[1, 0].set_xlabel("ωR₀C (M = 10 periods)")
    axes[1, 1].set_xlabel("periods M integrated")
    axes[1, 1].set_xscale("log")
    axes[0, 1].legend(fontsize=8)
    fig.suptitle("lock-in gradient of the resistive network (gap none, float64)")
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"\nsaved {OUT}")


if __name__ == "__main__":
    main()
