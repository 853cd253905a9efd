"""A run's bill (``result.json``'s ``cost``): its counts priced by its substrate's cost model.

The counts are the device's training and calibration queries and writes and the digital meter's
FLOPs (:mod:`physnn.cost.flops`); the prices are the cost preset the configuration names
(``cost``, ``cost_options``; :mod:`physnn.cost.runs`). ``physnn cost`` prices the same counts
again under other parameters without training.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from physnn.cost.bill import RunCounts
from physnn.cost.runs import run_bill
from physnn.train.config import TrainConfig
from physnn.train.setup import Experiment, build_experiment, prepare_twins
from physnn.train.step import evaluate, train_step
from physnn.train.transforms import default_transforms


def run_counts(exp: Experiment) -> RunCounts:
    """What the run did: training and calibration on the device, and its digital FLOPs."""
    stats = [exp.device.stats(phase) for phase in ("train", "calibration")]
    return RunCounts(
        queries=sum(s.queries for s in stats),
        writes=sum(s.writes for s in stats),
        values_written=sum(s.values_written for s in stats),
        digital_flops=exp.meter.total(),
        readout_flops_per_sample=exp.meter.readout_flops_per_sample or 0.0,
    )


def run_cost(exp: Experiment) -> dict[str, Any]:
    """The bill of the run."""
    return priced(exp, run_counts(exp))


def priced(exp: Experiment, counts: RunCounts) -> dict[str, Any]:
    """``counts`` of the experiment's run priced, or why they cannot be (a digital network has
    no device to price)."""
    config = exp.config
    if not exp.model.physical_blocks():
        return {"unavailable": f"model {config.model!r} is digital: no device to price"}
    values = math.prod(exp.dataset.sample_shape)
    bill = run_bill(config.system, exp.system, config.preset, counts, name=config.cost,
                    options=config.cost_options, sample_values=values)  # fmt: skip
    return {**bill, "digital_work": exp.meter.describe()}


def projected_cost(config: TrainConfig, steps: int = 3) -> dict[str, Any]:
    """The bill of a run of ``config`` without training it: the twins are fitted as the run
    would fit them, ``steps`` training steps are measured (the first one alone, since a method
    may probe its device first, the others averaged) and the counts are extrapolated to the
    run's steps (its epochs, or its query budget), with one evaluation batch for the readout."""
    exp = build_experiment(config)
    prepare_twins(exp)
    data = exp.dataset
    batches = math.ceil(len(data.x_train) / config.batch_size)
    optimizer = torch.optim.Adam(exp.estimator.optimized_parameters(exp.model), lr=config.lr)
    transform = default_transforms(config.max_step)
    train, measured = exp.device.stats("train"), []
    for k in range(min(steps, batches)):
        before = (train.queries, train.writes, train.values_written)
        idx = slice(k * config.batch_size, (k + 1) * config.batch_size)
        x, y = data.x_train[idx].to(exp.torch_device), data.y_train[idx].to(exp.torch_device)
        train_step(exp, optimizer, transform, x, y)
        after = (train.queries, train.writes, train.values_written)
        measured.append([b - a for a, b in zip(before, after, strict=True)])
    total = config.epochs * batches
    later = [sum(m[i] for m in measured[1:]) / max(len(measured) - 1, 1) for i in range(3)]
    if config.max_queries and later[0] > 0:
        total = min(total, 1 + math.ceil((config.max_queries - measured[0][0]) / later[0]))
    per_run = [measured[0][i] + (total - 1) * later[i] for i in range(3)]
    exp.meter.steps = total
    evaluate(exp, data.x_val[: config.eval_batch_size].to(exp.torch_device),
             data.y_val[: config.eval_batch_size].to(exp.torch_device))  # fmt: skip
    calibration = exp.device.stats("calibration")
    counts = RunCounts(
        queries=calibration.queries + per_run[0],
        writes=calibration.writes + per_run[1],
        values_written=calibration.values_written + per_run[2],
        digital_flops=exp.meter.total(),
        readout_flops_per_sample=exp.meter.readout_flops_per_sample or 0.0,
    )
    projected = {"training_steps": total, "measured_steps": len(measured)}
    return {**priced(exp, counts), "projected": projected}
