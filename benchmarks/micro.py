"""Micro-benchmark: forward and forward+backward time of each system preset.

    python benchmarks/micro.py [--batch 64] [--repeats 20] [--threads 2] [--device cpu] [--json]
                               [--systems crossbar,wave]

Reports medians over repeats after a warm-up, per preset of every registered system, for a batch
of 28×28 images (each system resamples them to its input: an image plane or n input values).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from physnn.systems import SYSTEMS


def _median_seconds(fn, repeats: int, sync) -> float:
    fn()  # warm-up (builds cached transfer functions)
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_preset(name: str, preset: str, batch: int, repeats: int, device: torch.device) -> dict:
    system = SYSTEMS[name].from_preset(preset).to(device)
    gen = torch.Generator().manual_seed(0)
    controls = {k: v.to(device).requires_grad_() for k, v in system.init_controls(gen).items()}
    nuisance = system.nominal_nuisance()
    x = torch.rand(batch, 28, 28, generator=gen).to(device)  # MNIST-sized; each system encodes it

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def forward() -> None:
        with torch.no_grad():
            system(x, controls, nuisance)

    def forward_backward() -> None:
        system(x, controls, nuisance).sum().backward()

    return {
        "system": name,
        "preset": preset,
        "batch": batch,
        "device": str(device),
        "forward_s": _median_seconds(forward, repeats, sync),
        "forward_backward_s": _median_seconds(forward_backward, repeats, sync),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--systems", help="comma-separated names (default: every system)")
    args = parser.parse_args()
    names = args.systems.split(",") if args.systems else list(SYSTEMS)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [
        bench_preset(name, preset, args.batch, args.repeats, device)
        for name in names
        for preset in sorted(SYSTEMS[name].presets)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'system/preset':<26}{'batch':>6}{'forward ms':>12}{'fwd+bwd ms':>12}  ({device})")
    for r in rows:
        label = f"{r['system']}/{r['preset']}"
        print(f"{label:<26}{r['batch']:>6}{1e3 * r['forward_s']:>12.2f}"
              f"{1e3 * r['forward_backward_s']:>12.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
