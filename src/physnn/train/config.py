"""The run configuration: one dataclass, filled from defaults, a TOML file and CLI flags."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from physnn.errors import ConfigError
from physnn.model_spec import ModelSpec, substrate_label

DEFAULT_LEARNING_RATE = 0.05
DIGITAL_LEARNING_RATE = 1e-3  # Adam's usual rate for a digital network without physics


def suggested_learning_rate(system: str, model: str = "pnn") -> float:
    """The system's suggested Adam learning rate, or Adam's usual 1e-3 for a digital model
    (``mlp``, ``ffnet``), whose system is unused (unknown names fail later, with the others)."""
    from physnn.systems import SYSTEMS

    if not ModelSpec.parse(model).uses_physics:
        return DIGITAL_LEARNING_RATE
    return SYSTEMS[system].learning_rate if system in SYSTEMS else DEFAULT_LEARNING_RATE


@dataclass
class TrainConfig:
    """Everything that defines a training run (and nothing that does not change its result)."""

    system: str = "diffractive"
    preset: str = "default"
    system_options: dict[str, Any] = field(default_factory=dict)
    method: str = "pat"
    method_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "digits"
    data_dir: str | None = None
    limit_train: int | None = None
    gap: str = "moderate"
    gap_options: dict[str, Any] = field(default_factory=dict)  # override knobs of the gap level
    seed: int = 0
    epochs: int = 15
    batch_size: int = 32
    lr: float | None = None  # Adam learning rate; None: the system's suggested one
    max_step: float | None = None  # largest change of a control per step (slew limit)
    eval_batch_size: int = 500
    max_queries: int | None = None  # stop training once this many device queries were made
    max_seconds: float | None = None  # stop training after this much wall time
    torch_device: str = "cpu"
    model: str = "pnn"  # architecture around the substrate (physnn.nets.architectures)
    twin: str = "nominal"  # digital twin: nominal, calibrated or learned (physnn.twins)
    twin_options: dict[str, Any] = field(default_factory=dict)
    device_url: str | None = None  # train against a device server (physnn serve) at this URL

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        ModelSpec.parse(self.model)
        if self.lr is None:
            self.lr = suggested_learning_rate(self.system, self.model)
        if not isinstance(self.lr, int | float) or not self.lr > 0:
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.max_step is not None and not (
            isinstance(self.max_step, int | float) and self.max_step > 0
        ):
            raise ConfigError(f"max_step must be a positive number, got {self.max_step!r}")
        if self.limit_train is not None and (
            not isinstance(self.limit_train, int) or self.limit_train < 1
        ):
            raise ConfigError(f"limit_train must be a positive integer, got {self.limit_train!r}")
        if self.max_queries is not None and (
            not isinstance(self.max_queries, int) or self.max_queries < 1
        ):
            raise ConfigError(f"max_queries must be a positive integer, got {self.max_queries!r}")
        if self.max_seconds is not None and not (
            isinstance(self.max_seconds, int | float) and self.max_seconds > 0
        ):
            raise ConfigError(f"max_seconds must be a positive number, got {self.max_seconds!r}")
        for name in ("system_options", "method_options", "gap_options", "twin_options"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a table of options")

    @property
    def substrate(self) -> str:
        """What the run trains, for titles and labels (see :func:`substrate_label`)."""
        return substrate_label(self.system, self.preset, self.model)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "configuration") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(unknown)} in {source}; "
                f"valid: {', '.join(sorted(known))}"
            )
        return cls(**values)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file of :class:`TrainConfig` keys (``out`` and ``resume`` are also accepted)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err.strerror}") from None
