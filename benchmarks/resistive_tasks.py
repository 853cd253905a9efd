"""XOR and y = x² on a resistive network with diodes, trained by its own physics.

As in Dillavou et al. (PR Applied 18, 014040 (2022); PNAS 121, e2319718121 (2024)): the inputs
are voltages, the output is one node voltage, the target a voltage, and the conductances learn
with a contrastive local rule — coupled learning (Stern et al., PRX 11, 021045 (2021)),
frequency propagation (Anisetti et al. 2024) and, if ``physnn.methods.equilibrium`` exists,
equilibrium propagation — against the twin-gradient reference (``backprop``). Training is
full-batch on the simulated device (gap level ``--gap``); the cost is L = ½ (y − t)² per sample.

    python benchmarks/resistive_tasks.py [--steps 400] [--seeds 0 1 2] [--gap none]

Reports per task and method the final device RMSE (in volts, and relative to the spread of the
targets) and, for XOR, the fraction of the 4 cases on the right side of the threshold.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import torch

import physnn.methods.coupled  # registers coupled, freqprop
import physnn.substrates.resistive.gap  # registers the gap family
import physnn.substrates.resistive.system  # noqa: F401 (registers the system)
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods import METHODS
from physnn.nets.pnn import PNN, PhysicalBlock, run_device
from physnn.reality.levels import make_reality
from physnn.systems import SYSTEMS

NETWORK = {"num_outputs": 1, "num_hidden": 16, "num_bias": 2, "diodes": True}
LOW, HIGH = -0.1, 0.1  # target voltages


def xor_task() -> tuple[torch.Tensor, torch.Tensor, int]:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    t = torch.tensor([[LOW], [HIGH], [HIGH], [LOW]])
    return x, t, 2


def square_task() -> tuple[torch.Tensor, torch.Tensor, int]:
    x = torch.linspace(-1.0, 1.0, 32)[:, None]
    return x, LOW + (HIGH - LOW) * x.square(), 1


TASKS = {"xor": xor_task, "square": square_task}


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return 0.5 * (outputs - targets).square().sum(dim=1).mean()


def train_task(task: str, method: str, seed: int, steps: int, gap: str, lr: float) -> dict:
    x, t, num_inputs = TASKS[task]()
    system = SYSTEMS["resistive"].from_preset("default", num_inputs=num_inputs, **NETWORK)
    device = SimulatedDevice(system, make_reality(system, gap), seed=seed)
    controls = system.init_controls(torch.Generator().manual_seed(seed))
    block = PhysicalBlock(system, controls, device=device)
    model = PNN([block])
    estimator = METHODS[method]()
    estimator.bind(model, seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        with model.executing(run_device if method != "backprop" else model.executor):
            estimator.estimate(model, x, t, mse)
        optimizer.step()
        with torch.no_grad():
            for name, p in block.controls.items():
                p.copy_(block.specs[name].project(p))
        model.commit()
    with device.accounting("eval"), torch.no_grad():
        y = run_device(block, x)
    rmse = float((y - t).square().mean().sqrt())
    result = {
        "rmse_V": rmse,
        "relative_rmse": rmse / float(t.std()),
        "queries": device.stats().queries,
        "seconds": time.perf_counter() - start,
    }
    if task == "xor":
        right = ((y > (LOW + HIGH) / 2) == (t > (LOW + HIGH) / 2)).float().mean()
        result["xor_correct"] = float(right)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gap", default="none")
    parser.add_argument("--lr", type=float, default=0.02)
    args = parser.parse_args()
    methods = ["coupled", "freqprop", "backprop"]
    if importlib.util.find_spec("physnn.methods.equilibrium") is not None:
        importlib.import_module("physnn.methods.equilibrium")
        methods.insert(2, "ep")
    for task in TASKS:
        for method in methods:
            runs = [train_task(task, method, s, args.steps, args.gap, args.lr) for s in args.seeds]
            summary = {
                key: (
                    statistics.mean(r[key] for r in runs),
                    statistics.pstdev(r[key] for r in runs),
                )
                for key in runs[0]
            }
            text = ", ".join(f"{k} {m:.4g} ± {sd:.2g}" for k, (m, sd) in summary.items())
            print(f"{task:7s} {method:9s} gap={args.gap}: {text}", flush=True)


if __name__ == "__main__":
    main()
