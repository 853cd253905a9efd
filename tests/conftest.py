"""Shared fixtures: tiny systems and seeded generators, so every test is fast and deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from physnn.systems.diffractive import DiffractiveNetwork
from physnn.threads import intra_op_threads
from physnn.train import train

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY = {"grid": 16, "num_layers": 2, "input_size": 8, "num_classes": 4, "detector_size": 2}


@pytest.fixture(autouse=True)
def _threads_and_seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """One intra-op thread for tests of many tiny calls: waking a pool for each costs more than
    it saves, and two threads oversubscribe a shared two-core machine."""
    with intra_op_threads(1):
        yield


@pytest.fixture
def tiny_system() -> DiffractiveNetwork:
    """A 16×16, 2-layer D2NN with 4 detectors (milliseconds per forward)."""
    return DiffractiveNetwork.from_preset("default", **TINY)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


TINY_RUN = {
    "system_options": {"grid": 16, "num_layers": 2, "input_size": 8, "detector_size": 2,
                       "detector_gap": 1},
    "dataset": "digits",
    "limit_train": 64,
    "epochs": 2,
    "batch_size": 16,
}  # fmt: skip
"""Options of a TrainConfig that trains in well under a second."""

TINY_SYSTEM_OPTIONS: dict[str, dict] = {
    "diffractive": TINY_RUN["system_options"],
    "scattering": {"num_inputs": 16, "num_pixels": 32},
    "resonators": {"num_inputs": 9, "num_hidden": 3, "num_ports": 4},
    "crossbar": {"num_inputs": 16, "num_outputs": 16},
    "mzi": {},
    "elastic": {"num_nodes": 20, "num_inputs": 3, "num_outputs": 3, "num_pinned": 2},
    "ising": {"num_inputs": 16, "hidden_sizes": [8], "num_outputs": 6, "sweeps": 6, "samples": 4,
              "mean_field_steps": 5},
    "xy": {"num_inputs": 16, "hidden_sizes": [8], "output_oscillators": 3, "free_steps": 20,
           "nudged_steps": 10},
    "hopfield": {"num_inputs": 16, "hidden_sizes": [8], "num_outputs": 6, "free_steps": 5,
                 "nudged_steps": 3},
    "oscillators": {"num_oscillators": 9, "num_steps": 20, "duration": 2.0, "damping": 0.0},
    "photoelectric": {"hidden_sizes": [16]},
    "reservoir": {"nodes": 10, "readout_times": 2},
    "resistive": {"num_inputs": 8, "num_hidden": 8, "num_outputs": 4},
    "shg": {"num_inputs": 16, "num_controls": 16, "num_outputs": 16, "crystal_steps": 3},
    "fibre": {"num_mode_groups": 2, "num_data_pixels": 9, "num_control_pixels": 8,
              "num_steps": 6, "num_time": 4, "time_window": 4.0, "camera_pixels": 3,
              "peak_power": 2000.0},
    "wave": {"nx": 14, "ny": 12, "pml_cells": 2, "src_x": 3, "probe_x": 10, "num_probes": 3,
             "probe_spacing": 2, "design_margin": 1, "hold": 1},
    "waveguide": {"width": 128e-6, "length": 1e-3, "grid_x": 64, "steps": 8, "pixels_x": 6,
                  "pixels_z": 4, "input_waist": 4e-6, "absorber_width": 16e-6, "num_inputs": 16,
                  "input_pitch": 5e-6, "detector_width": 6e-6, "detector_pitch": 8e-6},
}  # fmt: skip
"""Per system: options of its default preset that make it tiny (every system needs one)."""


def crash_at_estimate(monkeypatch, method_cls, config, out, step: int, **train_options) -> None:
    """Train ``config`` into ``out`` and kill it (KeyboardInterrupt) at the ``step``-th call of
    ``method_cls.estimate``, as a crash or a Ctrl-C would; the run is left to be resumed."""
    original = method_cls.estimate
    calls = 0

    def crash(self, *args):
        nonlocal calls
        calls += 1
        if calls == step:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(method_cls, "estimate", crash)
    with pytest.raises(KeyboardInterrupt):
        train(config, out, progress=False, **train_options)
    monkeypatch.setattr(method_cls, "estimate", original)


def without_timings(result: dict) -> dict:
    """A result without its wall-clock figures, for comparing two runs of the same training."""
    strip = {"wall_seconds", "epoch_seconds"}
    history = [{k: v for k, v in row.items() if k not in strip} for row in result["history"]]
    kept = {**{k: v for k, v in result.items() if k not in strip}, "history": history}
    if "twin_fit" in result:
        kept["twin_fit"] = {k: v for k, v in result["twin_fit"].items() if k != "seconds"}
    return kept


def tiny_run(system: str) -> dict:
    """TINY_RUN for ``system``: a training configuration that runs in about a second."""
    return {**TINY_RUN, "system": system, "system_options": TINY_SYSTEM_OPTIONS[system]}
