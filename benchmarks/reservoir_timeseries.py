"""Reservoir benchmarks: NARMA10 one-step prediction and readout-only vowel classification.

NARMA10 (Atiya & Parlos 2000): the reservoir is driven by u(t) ~ U[0, 0.5] (each value held
``hold`` steps), its states at every input step are the features, a ridge readout with a bias is
fitted on the training part after a washout and evaluated on the test part; reported as NMSE
(and NRMSE = √NMSE). Literature: Appeltant et al., Nat. Commun. 2, 468 (2011) report an NRMSE of
about 0.15 for their simulated Mackey–Glass delay reservoir with 400 virtual nodes; an
independent reproduction of that paper reaches NRMSE 0.12
(https://geeksrepos.com/dw-liedji/Echo_State_Network_with_a_single_dynamical_node).

Vowels: ``physnn train --system reservoir --method ridge`` on ``vowels`` and ``vowels3-audio``
(skipped with a note when the data files are missing).

Run: ``OMP_NUM_THREADS=1 python3 benchmarks/reservoir_timeseries.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch

import physnn.methods.ridge  # registers ridge
import physnn.substrates.reservoir.gap  # noqa: F401  (registers the gap family)
from physnn.data.timeseries import narma10, nmse
from physnn.errors import PhysnnError
from physnn.methods.ridge import augmented, ridge_solution
from physnn.substrates.reservoir.system import Reservoir
from physnn.train import TrainConfig, train

# The presets as they are, and operating points chosen on a NARMA10 series of another seed
# (seed 1; the figures below are measured on seed 0): a ring loop (τ = (N + 1) θ, θ = 1) for the
# delay reservoirs, a 400-unit ESN without leak.
RING = {"loop_shift": 1, "node_separation": 1.0}
NARMA_SETTINGS = {
    "delay sin2 (default, 50 nodes)": ("default", {}),
    "delay sin2 (larger2012, 400 nodes)": ("larger2012", {}),
    "delay Mackey-Glass (appeltant2011, 400 nodes)": ("appeltant2011", {}),
    "echo state network (esn, 100 units)": ("esn", {}),
    "delay sin2 ring (400 nodes, tuned on seed 1)": (
        "larger2012",
        {**RING, "feedback": 1.2, "input_scaling": 0.5, "bias": 0.2},
    ),
    "delay Mackey-Glass ring (400 nodes, tuned on seed 1)": (
        "appeltant2011",
        {**RING, "feedback": 0.95, "input_scaling": 0.05},
    ),
    "echo state network (400 units, tuned on seed 1)": (
        "esn",
        {"nodes": 400, "feedback": 1.0, "input_scaling": 0.5, "leak": 1.0},
    ),
}


def narma_nmse(preset: str, options: dict, train_len: int, test_len: int, washout: int) -> float:
    """Test NMSE of a ridge readout on the reservoir states for NARMA10 one-step prediction."""
    u, y = narma10(washout + train_len + test_len, seed=0)
    system = Reservoir.from_preset(preset, **options)
    controls = system.init_controls(torch.Generator())
    with torch.no_grad():
        states = system.states(u[None].float(), controls, system.nominal_nuisance())[0]
    hold = system.config.hold
    features = augmented(states[hold - 1 :: hold])
    fit = slice(washout, washout + train_len)
    test = slice(washout + train_len, None)
    gram = features[fit].T @ features[fit]
    beta = ridge_solution(gram, features[fit].T @ y[fit, None], 1e-6 * train_len)
    return nmse((features[test] @ beta)[:, 0], y[test])


def vowel_accuracy(dataset: str, epochs: int) -> dict | str:
    config = TrainConfig(system="reservoir", method="ridge", dataset=dataset, epochs=epochs)
    with tempfile.TemporaryDirectory() as out:
        try:
            result = train(config, out, progress=False)
        except PhysnnError as err:
            return f"skipped: {err}"
    return {k: result[k] for k in ("device_accuracy", "twin_accuracy", "wall_seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter series, fewer epochs")
    args = parser.parse_args()
    train_len, test_len = (800, 400) if args.quick else (2000, 1000)
    report: dict[str, object] = {}
    for label, (preset, options) in NARMA_SETTINGS.items():
        start = time.perf_counter()
        error = narma_nmse(preset, options, train_len, test_len, washout=200)
        report[f"NARMA10 {label}"] = {
            "nmse": round(error, 4),
            "nrmse": round(error**0.5, 4),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(label, report[f"NARMA10 {label}"], flush=True)
    for dataset in ("vowels", "vowels3-audio"):
        report[f"ridge {dataset}"] = vowel_accuracy(dataset, epochs=1 if args.quick else 3)
        print(dataset, report[f"ridge {dataset}"], flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
