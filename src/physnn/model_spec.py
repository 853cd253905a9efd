"""Architecture specs (``TrainConfig.model``) parsed without building anything: ``pnn``,
``stack:K``, ``hybrid:H``, ``post:H1,H2,…``, ``mlp:H1,H2,…``, ``ffnet:H1,H2,…`` (see
:mod:`physnn.nets.architectures` for the models). Free of torch, so that reports can label runs
quickly."""

from __future__ import annotations

from dataclasses import dataclass

from physnn.errors import ConfigError

ARCHITECTURES = ("pnn", "stack", "hybrid", "post", "mlp", "ffnet")
DIGITAL_ONLY = ("mlp", "ffnet")  # no physical block: the system is unused


@dataclass(frozen=True)
class ModelSpec:
    """A parsed architecture spec: its kind and its integer arguments."""

    kind: str
    sizes: tuple[int, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> ModelSpec:
        kind, _, args = str(spec).partition(":")
        usage = (
            "use pnn, stack:K, hybrid:H, post:H1,H2,..., mlp:H1,H2,... or ffnet:H1,H2,... "
            "(positive integers)"
        )
        if kind not in ARCHITECTURES:
            raise ConfigError(f"unknown model {spec!r}; {usage}")
        try:
            sizes = tuple(int(a) for a in args.split(",")) if args else ()
        except ValueError:
            raise ConfigError(f"model {spec!r}: {usage}") from None
        wanted = {
            "pnn": (0, 0),
            "stack": (1, 1),
            "hybrid": (1, 1),
            "post": (1, 64),
            "mlp": (1, 64),
            "ffnet": (1, 64),
        }[kind]
        if not wanted[0] <= len(sizes) <= wanted[1] or any(n < 1 for n in sizes):
            raise ConfigError(f"model {spec!r}: {usage}")
        return cls(kind, sizes)

    @property
    def uses_physics(self) -> bool:
        return self.kind not in DIGITAL_ONLY


def substrate_label(system: str, preset: str, model: str = "pnn") -> str:
    """``system/preset``, or the model of a digital run without physics (``mlp:…``,
    ``ffnet:…``), whose system is unused."""
    return f"{system}/{preset}" if ModelSpec.parse(model).uses_physics else model
