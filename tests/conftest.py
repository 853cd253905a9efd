"""Shared fixtures: tiny systems and seeded generators, so every test is fast and deterministic."""

from __future__ import annotations

import functools
from collections.abc import Mapping, ValuesView
from pathlib import Path

import pytest
import torch

from physnn.hardware.device import Device
from physnn.substrates import SUBSTRATES
from physnn.substrates.diffractive.system import DiffractiveNetwork
from physnn.threads import THREADS_ENV, intra_op_threads
from physnn.train import TrainConfig, build_experiment, train
from physnn.train.setup import prepare_twins
from physnn.train.step import train_step
from physnn.train.transforms import default_transforms

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY = {"grid": 16, "num_layers": 2, "input_size": 8, "num_classes": 4, "detector_size": 2}

# The rule: pytest.approx compares plain numbers only, never a torch.Tensor (on either side of
# the ==, alone or inside a list, tuple or dict). Compare float(t) or t.item() with
# pytest.approx, or tensors with torch.testing.assert_close. How approx treats a tensor depends
# on the pytest release (9.2 fails on 0-d tensors that 9.0 accepted), so the guard below makes
# every release refuse one with the same clear TypeError instead of letting a new pytest break
# the suite unseen.
PYTEST_APPROX = pytest.approx
"""pytest's own approx, which the guard wraps."""


def _refuse_tensors(value: object, side: str) -> None:
    """Raise a TypeError if ``value`` is a tensor or a list, tuple or dict holding one."""
    __tracebackhide__ = True  # report the test's line, not this one
    if isinstance(value, torch.Tensor):
        raise TypeError(
            f"pytest.approx got a tensor as its {side} value; compare float(t) or t.item() "
            "with pytest.approx, or tensors with torch.testing.assert_close"
        )
    items = value.values() if isinstance(value, Mapping) else value
    if isinstance(items, list | tuple | ValuesView):
        for item in items:
            _refuse_tensors(item, side)


@functools.cache
def _tensor_refusing(approx_class: type) -> type:
    """A subclass of the class ``pytest.approx`` returned whose == refuses a tensor (so
    pytest's own failure explanation, which checks the class, still applies)."""

    class TensorRefusing(approx_class):
        __hash__ = None

        def __eq__(self, actual: object) -> bool:
            __tracebackhide__ = True
            _refuse_tensors(actual, "compared")
            return super().__eq__(actual)

    return TensorRefusing


@functools.wraps(PYTEST_APPROX)
def _approx_refusing_tensors(expected: object, *args, **kwargs) -> object:
    __tracebackhide__ = True
    _refuse_tensors(expected, "expected")
    approx = PYTEST_APPROX(expected, *args, **kwargs)
    approx.__class__ = _tensor_refusing(type(approx))  # the same object, now refusing too
    return approx


def pytest_configure(config: pytest.Config) -> None:
    """Install the tensor guard on pytest.approx for this session (undone when it ends); at
    configure time, so that even ``from pytest import approx`` in a test module gets it.

    Every run trains with one intra-op thread (``$PHYSNN_THREADS``, also for the command lines
    the tests start): the tests' problems are tiny, and a thread count chosen from the machine's
    load would make two runs of the same configuration differ in their last bits."""
    patch = pytest.MonkeyPatch()
    patch.setattr(pytest, "approx", _approx_refusing_tensors)
    patch.setenv(THREADS_ENV, "1")
    config.add_cleanup(patch.undo)


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
    "system_options": dict(SUBSTRATES["diffractive"].tiny),
    "dataset": "digits",
    "limit_train": 64,
    "epochs": 2,
    "batch_size": 16,
}  # fmt: skip
"""Options of a TrainConfig that trains in well under a second."""

TINY_SYSTEM_OPTIONS: dict[str, dict] = {
    name: dict(substrate.tiny) for name, substrate in SUBSTRATES.items()
}
"""Per system: options of its default preset that make it tiny (from each substrate's record)."""


def crash_at_estimate(
    monkeypatch, method_cls, config, out, step: int, **train_options
) -> KeyboardInterrupt:
    """Train ``config`` into ``out`` and kill it (KeyboardInterrupt) at the ``step``-th call of
    ``method_cls.estimate``, as a crash or a Ctrl-C would; the run is left to be resumed.
    Returns what ``train`` raised."""
    original = method_cls.estimate
    calls = 0

    def crash(self, *args):
        nonlocal calls
        calls += 1
        if calls == step:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(method_cls, "estimate", crash)
    with pytest.raises(KeyboardInterrupt) as crashed:
        train(config, out, progress=False, **train_options)
    monkeypatch.setattr(method_cls, "estimate", original)
    return crashed.value


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


# The learning test of a method × system pair: fit one fixed batch of BATCH training samples for
# STEPS steps, as train() steps it (Adam at the system's suggested rate, the default update
# transforms), and compare the method's loss and accuracy on that batch with those of the
# untrained model — a fixed baseline that a wrong-sign gradient moves away from, not towards.
LEARNING_BATCH, LEARNING_STEPS = 8, 60
LOSS_FACTOR = 0.9  # learns: the loss falls below this fraction of the untrained model's while
# the batch accuracy rises (a loss that falls by a readout's temperature alone is not learning) …
ACCURACY_MARGIN = 0.25  # … or the accuracy on the batch rises by this much above the untrained's


def fit_one_batch(
    config: TrainConfig, steps: int = LEARNING_STEPS, device: Device | None = None
) -> tuple[list[float], list[float]]:
    """The method's loss and accuracy on one fixed batch of ``config``'s training data before
    each of ``steps`` updates on it, and after the last (``steps + 1`` values each); ``device``
    replaces the configured one, as in train()."""
    exp = build_experiment(config, device=device)
    prepare_twins(exp)  # as train() does (nothing to fit for the nominal twin)
    params = exp.estimator.optimized_parameters(exp.model)
    optimizer = torch.optim.Adam(params, lr=config.lr)
    transform = default_transforms(config.max_step)
    x = exp.dataset.x_train[:LEARNING_BATCH].to(exp.torch_device)
    y = exp.dataset.y_train[:LEARNING_BATCH].to(exp.torch_device)
    exp.estimator.start_epoch(1)
    losses, accuracies = [], []
    for _ in range(steps + 1):
        loss, logits = train_step(exp, optimizer, transform, x, y)
        losses.append(float(loss))
        accuracies.append(float((logits.argmax(dim=1) == y).float().mean()))
    return losses, accuracies


def learned(losses: list[float], accuracies: list[float]) -> bool:
    """Whether a fit of one batch beat the untrained model's accuracy by the margin, or its loss
    by the factor with a higher accuracy."""
    gained = accuracies[-1] - accuracies[0]
    return gained >= ACCURACY_MARGIN or (gained > 0 and losses[-1] < LOSS_FACTOR * losses[0])


class ExactDevice(Device):
    """A noiseless float64 device of a system's nominal physics (a SimulatedDevice holds
    float32): for comparing a method's gradient with the exact one to high precision."""

    control_dtype = torch.float64

    def __init__(self, system) -> None:
        super().__init__(system.control_specs())
        self.system = system
        self.state = {k: torch.zeros(s.shape, dtype=torch.float64) for k, s in self.specs.items()}

    def read_controls(self):
        return {k: v.clone() for k, v in self.state.items()}

    def _apply(self, controls):
        self.state = {**self.state, **controls}

    def _measure(self, x):
        return self.system(x, self.state, self.system.nominal_nuisance())

    def _relax(self, x, *, nudge, clamp):
        nominal = self.system.nominal_nuisance()
        return self.system.relax(x, self.state, nominal, nudge=nudge, clamp=clamp)
