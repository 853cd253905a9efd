"""The reality gap: perturbations that turn a system's design into its hidden "true" device.

A :class:`Perturbation` acts in one or both of two ways:

* **static** — :meth:`~Perturbation.perturb` draws values for nuisance parameters once per device
  (a misalignment, a fabrication error map). A simulated device draws them with a seed that the
  training method never sees; noise-aware training redraws them every step.
* **per measurement** — :meth:`~Perturbation.observe` adds noise to every measured output
  (shot and read noise), with a seeded generator;
* **per write** — :meth:`~Perturbation.write` turns a requested change of the controls into the
  state the device really holds afterwards (e.g. the nonlinear, noisy conductance steps of
  pulsed memristor updates). Without one, writes are exact.

A :class:`Reality` is an ordered composition of perturbations. Values are given in physical units
(metres, radians, photons) so that a level means the same thing on every preset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.systems.base import Controls, Nuisance, System


def normal_draw(shape: tuple[int, ...], sigma: float, generator: torch.Generator) -> Tensor:
    """σ · N(0, 1) of ``shape``, float32, drawn in float64 so that a seed gives the same values
    whatever torch's default dtype."""
    return sigma * torch.randn(shape, generator=generator, dtype=torch.float64).float()


class Perturbation:
    """One physical non-ideality. Subclasses are frozen dataclasses with physical parameters."""

    name: ClassVar[str]
    nuisance_keys: ClassVar[tuple[str, ...]] = ()
    """Nuisance parameters this perturbation writes; the system must declare them."""

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        """Return the nuisance with this perturbation's values drawn (default: unchanged)."""
        return nuisance

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        """Return a noisy measurement of ``y`` (default: noiseless).

        With ``differentiable=True`` the noise must be reparameterized (``y`` + g(y)·ε) so that
        gradients flow through it (noise-aware training); otherwise it may use exact statistics.
        """
        return y

    def write(
        self,
        nuisance: Nuisance,
        held: Controls,
        previous: Controls,
        requested: Controls,
        generator: torch.Generator,
    ) -> Controls:
        """The controls the device holds after ``requested`` replaces ``previous`` (the last
        request) while it held ``held`` (default: exactly the request)."""
        return requested

    def describe(self) -> dict[str, Any]:
        return {"perturbation": self.name, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class Reality:
    """An ordered composition of perturbations: the hidden difference between twin and device."""

    perturbations: tuple[Perturbation, ...] = ()
    level: str = "custom"
    notes: str = field(default="", compare=False)

    def check(self, system: System) -> None:
        """Raise :class:`ConfigError` if a perturbation needs nuisance the system lacks."""
        offered = set(system.nominal_nuisance())
        for p in self.perturbations:
            missing = set(p.nuisance_keys) - offered
            if missing:
                raise ConfigError(
                    f"perturbation {p.name!r} does not apply to system {system.name!r} "
                    f"(it lacks {', '.join(sorted(missing))})"
                )

    def sample_nuisance(self, system: System, generator: torch.Generator) -> Nuisance:
        """Draw every static perturbation on top of the system's nominal nuisance."""
        nuisance = system.nominal_nuisance()
        for p in self.perturbations:
            nuisance = p.perturb(system, nuisance, generator)
        return nuisance

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        """Apply every per-measurement noise in order."""
        for p in self.perturbations:
            y = p.observe(y, generator, differentiable=differentiable)
        return y

    def write(
        self,
        nuisance: Nuisance,
        held: Controls,
        previous: Controls,
        requested: Controls,
        generator: torch.Generator,
    ) -> Controls:
        """The state after a write: the write model of the last perturbation that has one."""
        for p in reversed(self.perturbations):
            if type(p).write is not Perturbation.write:
                return p.write(nuisance, held, previous, requested, generator)
        return requested

    @property
    def noisy(self) -> bool:
        """Whether any perturbation adds per-measurement noise."""
        return any(type(p).observe is not Perturbation.observe for p in self.perturbations)

    def describe(self) -> dict[str, Any]:
        return {"level": self.level, "perturbations": [p.describe() for p in self.perturbations]}
