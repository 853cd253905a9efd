"""How close is a method's gradient to the true one? The diagnostic every method is judged by.

The reference is the exact gradient of the loss *on the device*: autograd through the hidden true
physics (the simulated device's own perturbation values) with measurement noise switched off,
i.e. through each system's :meth:`~physnn.systems.base.System.exact_forward`, its expected
outputs (for a sampler such as the Ising machine, the Boltzmann means by exact enumeration, which
a configuration with too many free spins refuses). Only a simulated device can provide it. The
method's estimate is taken at the same controls on the same batch, exactly as training would take
it (queries included).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.errors import ConfigError, option
from physnn.nets import PNN
from physnn.seeds import derived_seed
from physnn.train.config import TrainConfig
from physnn.train.setup import Experiment, build_experiment, prepare_twins


def _gradient(parameters: list[torch.nn.Parameter]) -> Tensor:
    grads = [
        p.grad.flatten() if p.grad is not None else torch.zeros(p.numel(), device=p.device)
        for p in parameters
    ]
    return torch.cat(grads).double()


def _compared(model: PNN, method_fills_controls: bool) -> tuple[str, list[torch.nn.Parameter]]:
    """The physical controls; for a method that leaves them alone (feedback alignment trains the
    digital layers around fixed physical blocks), the digital parameters instead."""
    if method_fills_controls:
        return "controls", model.physical_parameters()
    physical = {id(p) for p in model.physical_parameters()}
    return "digital", [p for p in model.parameters() if id(p) not in physical]


def _mean_of(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    """{key: the mean of the rows' values} where every row has one, else {}."""
    if not rows or any(key not in r for r in rows):
        return {}
    return {key: sum(r[key] for r in rows) / len(rows)}


def _check_batch(exp: Experiment, x: Tensor, y: Tensor) -> tuple[str, dict[str, float]]:
    """One batch: what was compared, and the cosine and relative error of the method's estimate
    to the exact gradient (with the theory, where the method states one)."""
    model = exp.model
    model.zero_grad(set_to_none=True)
    with model.executing(exp.oracle):
        F.cross_entropy(model(x), y).backward()
    exact_grads = {p: torch.zeros_like(p) if p.grad is None else p.grad for p in model.parameters()}

    model.zero_grad(set_to_none=True)
    exp.estimator.estimate(model, x, y, F.cross_entropy)
    fills_controls = any(p.grad is not None for p in model.physical_parameters())
    compared, parameters = _compared(model, fills_controls)
    estimate = _gradient(parameters)
    for p in parameters:
        p.grad = exact_grads[p]
    exact = _gradient(parameters)

    row = {
        "cosine": float(F.cosine_similarity(estimate, exact, dim=0)),
        "relative_error": float((estimate - exact).norm() / exact.norm().clamp_min(1e-300)),
    }
    if (theory := exp.estimator.expected_cosine(exact_grads)) is not None:
        row["expected_cosine"] = theory
    return compared, row


def gradcheck(config: TrainConfig, batches: int = 3) -> dict[str, Any]:
    """Cosine similarity and relative error of the method's gradient vs the true device gradient."""
    exp = build_experiment(config)
    if exp.estimator.updates_controls:
        raise ConfigError(
            f"method {config.method!r} sets the controls itself and estimates no gradient; "
            "gradcheck applies to gradient-estimating methods"
        )
    if exp.oracle is None:
        raise ConfigError(
            "gradcheck compares with the exact gradient of a simulated device's hidden physics; "
            f"a device server or lab instrument has none (drop {option('device_url')})"
        )
    prepare_twins(exp)  # a calibrated or learned twin is fitted first, as in training
    data = exp.dataset
    order = torch.randperm(
        len(data.x_train),
        generator=torch.Generator().manual_seed(derived_seed(config.seed, "gradcheck")),
    )
    rows, compared = [], "controls"
    batches = min(batches, math.ceil(len(order) / config.batch_size))  # a small training set
    for b in range(batches):
        idx = order[b * config.batch_size : (b + 1) * config.batch_size]
        x, y = data.x_train[idx].to(exp.torch_device), data.y_train[idx].to(exp.torch_device)
        compared, row = _check_batch(exp, x, y)
        rows.append({"batch": b, **row})
    return {
        "system": config.system,
        "preset": config.preset,
        "method": config.method,
        "gap": config.gap_label,
        "dataset": config.dataset_name,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "parameters": compared,
        "reference": exp.system.exact_reference,
        "cosine": sum(r["cosine"] for r in rows) / len(rows),
        "relative_error": sum(r["relative_error"] for r in rows) / len(rows),
        **_mean_of(rows, "expected_cosine"),
        "batches": rows,
        "device_queries": exp.device.stats("train").queries,
    }
