"""How the Hamiltonian echo's gradient on the wave RNN degrades with damping.

López-Pastor & Marquardt, Phys. Rev. X 13, 031020 (2023): the echo reads the gradient from a
time-reversed evolution, which retraces the forward one only in a lossless medium. Here the
wave RNN's default grid (30 × 30, digits-sized inputs: 64 values held 4 steps) is a box with
reflecting walls (``pml_cells = 0``) and a uniform damping b = r · ω₁, ω₁ the box's lowest
discrete mode, for r = 0, 1e-4, 1e-3, 1e-2, 1e-1. The system's ``"echo"`` procedure refuses
damping, so the physics-level echo (:func:`physnn.physics.wave_adjoint.echo`) is called
directly; time reversal (exact with losses) is shown for reference. Each point: cosine and
relative error against autograd of the damped forward physics (float64), mean over 3 draws of
the controls, random inputs and output gradients. Writes ``docs/img/wave-echo-damping.png``
and prints the numbers.

    python benchmarks/wave_echo_damping.py [--plot PATH]
"""

from __future__ import annotations

import argparse
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from physnn.physics import wave_adjoint
from physnn.substrates.wave.system import WaveRNN, design_region, probe_cells, source_cell

RATIOS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
DRAWS = 3


def lowest_mode(system: WaveRNN) -> float:
    """ω₁ of the lossless box at c0 (u = 0 outside the grid), by the leapfrog dispersion."""
    c = system.config
    s = sum(math.sin(math.pi / (2 * (n + 1))) ** 2 for n in (c.nx, c.ny))
    return 2 / c.dt * math.asin(c.c0 * c.dt / c.h * math.sqrt(s))


def readings(system: WaveRNN, seed: int) -> dict[str, tuple[float, float]]:
    """Cosine and relative error of echo and time reversal against autograd, one draw."""
    c = system.config
    gen = torch.Generator().manual_seed(seed)
    shape = system.control_specs()["speed"].shape
    speed = (c.c1 + (c.c0 - c.c1) * torch.rand(shape, generator=gen)).double().requires_grad_()
    nuisance = system.nominal_nuisance()
    x = torch.rand(8, 64, generator=gen, dtype=torch.float64)
    y = system(x, {"speed": speed}, nuisance)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64)
    (y * g).sum().backward()
    true = speed.grad.flatten()
    stencil = wave_adjoint.Stencil.of(system.medium({"speed": speed.detach()}, nuisance))
    args = (stencil, system.encode(x).double(), source_cell(c), probe_cells(c), g, c.c0)
    grids = {
        "echo": wave_adjoint.echo(*args, c.echo_kick)[1],
        "time-reversal": wave_adjoint.time_reversal(*args)[1],
    }
    out = {}
    for name, grid in grids.items():
        measured = grid[design_region(c)].flatten()
        cosine = float(F.cosine_similarity(measured, true, dim=0))
        out[name] = (cosine, float((measured - true).norm() / true.norm()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", default="docs/img/wave-echo-damping.png")
    args = parser.parse_args()
    omega = lowest_mode(WaveRNN.from_preset("default", pml_cells=0))
    rows = {}
    for ratio in RATIOS:
        system = WaveRNN.from_preset("default", pml_cells=0, damping=ratio * omega).double()
        draws = [readings(system, seed) for seed in range(DRAWS)]
        rows[ratio] = {
            name: tuple(sum(d[name][i] for d in draws) / DRAWS for i in range(2))
            for name in draws[0]
        }
    print(f"lowest mode ω₁ = {omega:.4f} (1/time unit); b = r · ω₁")
    print("| r = b/ω₁ | echo cosine | echo rel. error | time-reversal rel. error |")
    print("|---|---|---|---|")
    for ratio, row in rows.items():
        echo, reversal = row["echo"], row["time-reversal"]
        print(f"| {ratio:g} | {echo[0]:.6f} | {echo[1]:.2e} | {reversal[1]:.1e} |")
    xs = [max(r, 1e-5) for r in RATIOS]  # r = 0 drawn at 1e-5 on the log axis
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120)
    left.semilogx(xs, [rows[r]["echo"][0] for r in RATIOS], "o-", label="echo")
    left.set(xlabel="damping b / ω₁ (0 at 1e-5)", ylabel="cosine to the exact gradient")
    for name, style in (("echo", "o-"), ("time-reversal", "s--")):
        errors = [max(rows[r][name][1], 1e-16) for r in RATIOS]
        right.loglog(xs, errors, style, label=name)
    right.set(xlabel="damping b / ω₁ (0 at 1e-5)", ylabel="relative error")
    right.legend()
    fig.suptitle("wave RNN, lossless box plus uniform damping: echo vs time reversal")
    fig.tight_layout()
    fig.savefig(args.plot)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
