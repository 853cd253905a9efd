"""Build an experiment from a configuration: data, system, hidden device, model, method.

This is the one place that assembles a run: it builds what a method needs besides the model
(:func:`~physnn.train.auxiliary.build_auxiliaries`: the optical projector, noise models, the
oracle) and hands it over, and it fits the fitted twins (:func:`prepare_twins`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from physnn.cost.flops import DigitalMeter
from physnn.cost.runs import cost_model, substrate_cost
from physnn.data import Dataset, check_data_dir, check_dataset_name, load_dataset
from physnn.data.datasets import keep_first
from physnn.errors import ConfigError, DatasetError, IncompatibleError, InputRangeWarning, option
from physnn.hardware.device import Device
from physnn.hardware.simulated import SimulatedDevice
from physnn.methods import METHODS, GradientEstimator, incompatibility
from physnn.nets import PNN, PhysicalBlock
from physnn.nets.architectures import build_model
from physnn.nets.pnn import Executor
from physnn.reality import Reality, make_reality
from physnn.reality.levels import check_level
from physnn.seeds import derived_seed
from physnn.systems import SYSTEMS, Controls, System
from physnn.train.auxiliary import build_auxiliaries
from physnn.train.config import TrainConfig
from physnn.twins import fit_twins, make_twin


@dataclass
class Experiment:
    """Everything a run needs, built deterministically from its configuration."""

    config: TrainConfig
    dataset: Dataset
    system: System
    reality: Reality
    device: Device
    model: PNN
    estimator: GradientEstimator
    torch_device: torch.device
    oracle: Executor | None
    """The exact noise-free forward from the simulated device's hidden physics, for diagnostics
    (gradcheck, gradient alignment) only; None when the device hides its physics."""
    meter: DigitalMeter = field(default_factory=DigitalMeter)
    """The digital FLOPs of the run (its bill's digital side)."""


def resolve_torch_device(name: str) -> torch.device:
    """ "cpu", "cuda", "cuda:N" or "auto" (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown torch device {name!r}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("torch device 'cuda' was requested but CUDA is not available here")
    return device


def build_system(config: TrainConfig, num_classes: int) -> System:
    """The substrate from its preset, with the dataset's class count unless overridden."""
    system_cls = SYSTEMS[config.system]
    options = dict(config.system_options)
    if "num_classes" in {f.name for f in fields(system_cls.config_class)}:
        options.setdefault("num_classes", num_classes)
        if options["num_classes"] != num_classes:
            raise ConfigError(
                f"system option num_classes={options['num_classes']} but dataset "
                f"{config.dataset_name!r} has {num_classes} classes"
            )
    return system_cls.from_preset(config.preset, **options)


def check_cost(config: TrainConfig) -> None:
    """Raise ConfigError for an unknown cost preset or parameter, before anything runs."""
    if substrate_cost(config.system) is not None:
        cost_model(config.system, config.preset, config.cost, config.cost_options)


def check_compatible(method: str, system: str) -> type[GradientEstimator]:
    """The method class, or an IncompatibleError that says why it cannot train ``system``."""
    method_cls = METHODS[method]
    reason = incompatibility(method_cls, system, SYSTEMS[system].capabilities)
    if reason:
        raise IncompatibleError(
            f"{reason}: pick a compatible pair (`physnn list matrix` shows them; in a suite, "
            'methods = ["all"] keeps only the compatible ones)'
        )
    return method_cls


def validate_names(config: TrainConfig) -> None:
    """Fail fast, before any work, on an unknown name or an incompatible pair."""
    check_compatible(config.method, config.system)
    check_level(config.gap)
    if isinstance(config.dataset, str):  # a Dataset object was checked when it was made
        check_dataset_name(config.dataset)
        check_data_dir(config.data_dir)
    system = SYSTEMS[config.system].from_preset(config.preset, **config.system_options)
    make_reality(system, config.gap, config.gap_options)


def resolve_dataset(config: TrainConfig) -> Dataset:
    """The run's data: the Dataset object the configuration holds, or the dataset loaded by
    name, which must have the content ``dataset_sha256`` records (when it records one); then
    the first ``limit_train`` training samples."""
    if not isinstance(config.dataset, str):
        return keep_first(config.dataset, config.limit_train)
    data = load_dataset(config.dataset, data_dir=config.data_dir)
    if config.dataset_sha256 not in (None, data.fingerprint):
        raise DatasetError(
            f"dataset {config.dataset!r} now has the content fingerprint {data.fingerprint}, not "
            f"the {config.dataset_sha256} the configuration records: it is other data"
        )
    return keep_first(data, config.limit_train)


def check_input_range(dataset: Dataset, model: PNN) -> None:
    """Warn (:class:`InputRangeWarning`) when the data go straight into a physical block whose
    system encodes a narrower range than the data span: the encoding would clamp them."""
    first = model.blocks[0] if len(model.blocks) else None
    accepted = first.system.input_range if isinstance(first, PhysicalBlock) else None
    if accepted is None:
        return
    low, high = dataset.value_range
    if accepted[0] <= low and high <= accepted[1]:
        return
    warnings.warn(
        f"dataset {dataset.name!r} holds values in [{low:.4g}, {high:.4g}] but system "
        f"{first.system.name!r} encodes inputs in {_interval(accepted)}: its encoding clamps the "
        "values beyond, so rescale the data into that range (e.g. min-max scaling)",
        InputRangeWarning,
        stacklevel=3,
    )


def _interval(bounds: tuple[float, float]) -> str:
    """[a, b], with an open end at infinity: [0, ∞)."""
    low, high = (f"{b:g}".replace("inf", "∞") for b in bounds)
    return f"{'(' if low.endswith('∞') else '['}{low}, {high}{')' if high.endswith('∞') else ']'}"


def make_device(
    config: TrainConfig, system: System, reality: Reality, torch_device: torch.device
) -> Device:
    """The device a run trains: a device server (``device_url``) or the simulated device whose
    hidden reality is drawn from the run's seed and gap."""
    if config.device_url:
        from physnn.hardware.client import RemoteDevice

        return RemoteDevice.connect(config.device_url, system=system)
    return SimulatedDevice(system, reality, seed=config.seed, torch_device=torch_device)


def check_same_controls(device: Device, system: System) -> None:
    """Refuse a device whose controls are not those the run's system (and its twin) describe."""
    expected = system.control_specs()
    differing = sorted(
        name
        for name in expected.keys() | device.specs.keys()
        if expected.get(name) != device.specs.get(name)
    )
    if differing:
        raise ConfigError(
            f"the device's controls differ from those of system {system.name!r} as configured "
            f"({', '.join(differing)}): configure the run's system (preset, -S options) to "
            "describe the device"
        )


def build_experiment(
    config: TrainConfig, *, device: Device | None = None, record_dir: Path | None = None
) -> Experiment:
    """Build a run. ``device`` replaces the device the configuration names (a lab instrument,
    a replayed record); ``record_dir`` records every device interaction there."""
    method_cls = check_compatible(config.method, config.system)
    check_cost(config)
    torch_device = resolve_torch_device(config.torch_device)
    dataset = resolve_dataset(config)
    system = build_system(config, dataset.num_classes).to(torch_device)
    reality = make_reality(system, config.gap, config.gap_options)
    opened = device is None
    if device is None:
        device = make_device(config, system, reality, torch_device)
    check_same_controls(device, system)
    if record_dir is not None:
        from physnn.hardware.record import RecordingDevice

        device = RecordingDevice(device, record_dir, config=config.to_dict(), close_inner=opened)

    def init_controls(k: int) -> Controls:
        stream = "init" if k == 0 else f"init-{k}"
        generator = torch.Generator().manual_seed(derived_seed(config.seed, stream))
        return system.init_controls(generator)

    torch.manual_seed(derived_seed(config.seed, "digital-init"))
    model = build_model(
        config.model, system, device, init_controls, dataset.sample_shape, dataset.num_classes
    ).to(torch_device)
    check_input_range(dataset, model)
    for block in model.physical_blocks():
        block.twin = make_twin(config.twin, block.system, config.twin_options).to(torch_device)
    estimator = method_cls(config.method_options)
    if estimator.updates_controls and config.max_step is not None:
        raise ConfigError(
            f"method {config.method!r} sets the controls itself to discrete levels, which a "
            f"per-step limit would move off; drop {option('max_step')} for this method"
        )
    auxiliaries = build_auxiliaries(device, config.seed, torch_device)
    estimator.attach(auxiliaries)
    estimator.bind(model, config.seed)
    return Experiment(
        config, dataset, system, reality, device, model, estimator, torch_device, auxiliaries.oracle
    )


def prepare_twins(exp: Experiment, *, progress: bool = False) -> dict[str, Any]:
    """Fit the run's fitted twins to its device on its training data, before training (nothing
    to do for the nominal twin); returns what the fits measured, for the run's result."""
    pool = exp.dataset.x_train
    with exp.meter.phase("twin fit"):
        return fit_twins(exp.model, exp.device, pool, exp.config.seed, progress=progress)
