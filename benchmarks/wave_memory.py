"""Memory and time of the wave RNN's backward pass with and without gradient checkpointing.

    python benchmarks/wave_memory.py [--preset hughes2019] [--steps 1000] [--batch 8]
                                     [--every 0 50 100 200] [--device cpu]

Runs forward + backward of the ``wave`` system (Hughes et al., Sci. Adv. 2019) on a random
signal of ``--steps`` time steps (one step per audio sample at 10 kHz for ``hughes2019``) for a
batch of ``--batch``, with ``checkpoint_every`` = each of ``--every`` (0: plain autograd). It
reports the wall time, the bytes that autograd saved for the backward pass (counted with
``torch.autograd.graph.saved_tensors_hooks`` during the forward pass; with checkpointing the
backward pass holds these segment boundaries plus one recomputed segment at a time, which is
measured as a plain run of ``checkpoint_every`` steps) and, on CUDA,
``torch.cuda.max_memory_allocated``, as a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

from physnn.substrates.wave.system import WaveRNN


def measure(preset: str, steps: int, batch: int, every: int, device: str) -> dict[str, float]:
    system = WaveRNN.from_preset(preset, hold=1, checkpoint_every=every or None).to(device)
    speed_spec = system.control_specs()["speed"]
    generator = torch.Generator().manual_seed(0)
    speed = system.init_controls(generator)["speed"].to(device).requires_grad_()
    x = torch.randn(batch, steps, generator=generator).to(device)
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = system(x, {"speed": speed}, system.nominal_nuisance())
    y.sum().backward()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    assert speed.grad is not None and speed.grad.shape == speed_spec.shape
    return {
        "seconds": time.perf_counter() - start,
        "saved_mb": saved / 2**20,
        "cuda_peak_mb": torch.cuda.max_memory_allocated() / 2**20
        if device.startswith("cuda")
        else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="hughes2019")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--every", type=int, nargs="+", default=[0, 50, 100, 200])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    c = WaveRNN.presets[args.preset]
    print(
        f"wave/{args.preset}: {c.get('nx', 30)}×{c.get('ny', 30)} grid, {args.steps} steps, "
        f"batch {args.batch}, {args.device}\n"
    )
    print("| checkpoint_every | fwd+bwd (s) | saved by forward (MiB) | "
          "+ one segment recomputed (MiB) | CUDA peak (MiB) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for every in (0, 10):  # warm-up: the first calls pay one-off allocation and dispatch costs
        measure(args.preset, 20, args.batch, every, args.device)
    for every in args.every:
        m = measure(args.preset, args.steps, args.batch, every, args.device)
        label = every if every else "none (plain autograd)"
        # a recomputed segment saves what plain autograd saves for `every` steps
        segment = measure(args.preset, every, args.batch, 0, args.device) if every else None
        extra = f"{m['saved_mb'] + segment['saved_mb']:.1f}" if segment else "—"
        print(
            f"| {label} | {m['seconds']:.1f} | {m['saved_mb']:.1f} | {extra} "
            f"| {m['cuda_peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
