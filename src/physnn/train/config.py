"""The run configuration: one dataclass, filled from defaults, a TOML file and CLI flags."""

from __future__ import annotations

import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from physnn.errors import ConfigError, option, refuse_unknown
from physnn.labels import gap_label
from physnn.model_spec import ModelSpec, substrate_label

if TYPE_CHECKING:
    from physnn.data import Dataset

DEFAULT_LEARNING_RATE = 0.05
DIGITAL_LEARNING_RATE = 1e-3  # Adam's usual rate for a digital network without physics


def suggested_learning_rate(system: str, model: str = "pnn") -> float:
    """The system's suggested Adam learning rate, or Adam's usual 1e-3 for a digital model
    (``mlp``, ``ffnet``), whose system is unused (unknown names fail later, with the others).
    Read from the static catalogue (generated from the systems' ``learning_rate``), so that a
    configuration is made without importing torch."""
    from physnn.catalogue import learning_rate

    if not ModelSpec.parse(model).uses_physics:
        return DIGITAL_LEARNING_RATE
    rate = learning_rate(system)
    return DEFAULT_LEARNING_RATE if rate is None else rate


@dataclass
class TrainConfig:
    """Everything that defines a training run (and nothing that does not change its result)."""

    system: str = "diffractive"
    preset: str = "default"
    system_options: dict[str, Any] = field(default_factory=dict)
    method: str = "pat"
    method_options: dict[str, Any] = field(default_factory=dict)
    dataset: str | Dataset = "digits"  # a dataset's name (built-in or registered) or your Dataset
    dataset_sha256: str | None = None  # content fingerprint (Dataset.fingerprint), checked on load
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
    cost: str = "auto"  # the substrate's cost preset for the bill; auto: the system preset's
    cost_options: dict[str, Any] = field(default_factory=dict)  # cost parameters replaced

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
        self._check_dataset()
        for name in (
            "system_options",
            "method_options",
            "gap_options",
            "twin_options",
            "cost_options",
        ):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be a table of options")

    @property
    def substrate(self) -> str:
        """What the run trains, for titles and labels (see :func:`substrate_label`)."""
        return substrate_label(self.system, self.preset, self.model)

    @property
    def gap_label(self) -> str:
        """The reality gap as shown to people: the level, with any overridden knobs."""
        return gap_label(self.gap, self.gap_options)

    def _check_dataset(self) -> None:
        """A dataset name, or a Dataset object whose fingerprint fills ``dataset_sha256``."""
        if self.dataset_sha256 is not None and not (
            isinstance(self.dataset_sha256, str)
            and re.fullmatch(r"[0-9a-f]{64}", self.dataset_sha256)
        ):
            raise ConfigError(
                f"dataset_sha256 must be 64 lowercase hex digits, got {self.dataset_sha256!r}"
            )
        if isinstance(self.dataset, str):
            return
        from physnn.data import Dataset

        if not isinstance(self.dataset, Dataset):
            raise ConfigError(
                "dataset must be a dataset's name or a physnn.data.Dataset, got "
                f"{type(self.dataset).__name__} {self.dataset!r}"
            )
        if self.data_dir is not None:
            raise ConfigError(
                f"{option('data_dir', self.data_dir)} is for a dataset loaded by name; "
                f"dataset {self.dataset.name!r} is given as a Dataset object"
            )
        fingerprint = self.dataset.fingerprint
        if self.dataset_sha256 not in (None, fingerprint):
            raise ConfigError(
                f"dataset_sha256={self.dataset_sha256!r} is not the fingerprint of the Dataset "
                f"object given ({fingerprint})"
            )
        self.dataset_sha256 = fingerprint

    @property
    def dataset_name(self) -> str:
        """The dataset's name, also when the configuration holds a Dataset object."""
        return self.dataset if isinstance(self.dataset, str) else self.dataset.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-able values: a Dataset object is recorded by its name, its content by
        ``dataset_sha256`` (so that resuming on other data is refused)."""
        if isinstance(self.dataset, str):
            return asdict(self)
        return asdict(replace(self, dataset=self.dataset.name))

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "configuration") -> TrainConfig:
        refuse_unknown(
            values, sorted(f.name for f in fields(cls)), kind="key", where=f"in {source}"
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
