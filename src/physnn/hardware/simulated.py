"""The simulated device: a system with a hidden reality, behind the :class:`Device` contract.

A simulated experiment trains against this device as a lab trains against its instrument: only
through queries and writes. The reality gap (static perturbations, measurement and write noise)
is drawn here from seeded streams and never shown to a method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from physnn.errors import IncompatibleError
from physnn.hardware.device import Device
from physnn.reality.base import Reality
from physnn.seeds import derived_seed
from physnn.systems.base import Controls, NoiseSource, Nuisance, System
from physnn.systems.energy import EnergySystem, Equilibrium


class SimulatedDevice(Device):
    """A system with a hidden reality: the "true" device of a simulated experiment.

    The static perturbations are drawn once from ``reality`` with ``seed``; per-measurement noise
    comes from a separate seeded stream. Training methods only see :meth:`query` and
    :meth:`write`; :meth:`oracle_forward` exists for diagnostics (gradcheck) and is never called
    by a method.
    """

    def __init__(
        self,
        system: System,
        reality: Reality,
        seed: int,
        *,
        torch_device: str | torch.device = "cpu",
        max_change: dict[str, float] | None = None,
    ) -> None:
        super().__init__(system.control_specs(), max_change=max_change)
        reality.check(system)
        self.system = system.to(torch_device)
        self.reality = reality
        self.torch_device = torch.device(torch_device)
        hidden = torch.Generator().manual_seed(derived_seed(seed, "hidden-nuisance"))
        self._nuisance = _to_device(reality.sample_nuisance(system, hidden), self.torch_device)
        self._noise = torch.Generator(device=self.torch_device)
        self._noise.manual_seed(derived_seed(seed, "measurement-noise"))
        self._write_noise = torch.Generator(device=self.torch_device)
        self._write_noise.manual_seed(derived_seed(seed, "write-noise"))
        self._controls = {k: v.to(self.torch_device) for k, v in self.safe_controls().items()}
        self._held = dict(self._controls)

    def read_controls(self) -> Controls:
        """The controls last written (what the controller asked for)."""
        return {name: value.clone() for name, value in self._controls.items()}

    def _apply(self, controls: Controls) -> None:
        new = {
            name: value.to(self.torch_device, self.control_dtype)
            for name, value in controls.items()
        }
        requested = {**self._controls, **new}
        self._held = self.reality.write(
            self._nuisance, self._held, self._controls, requested, self._write_noise
        )
        self._controls = requested

    def _measure(self, x: Tensor) -> Tensor:
        noise = NoiseSource(self._noise)
        y = self.system(x.to(self.torch_device), self._held, self._nuisance, noise)
        return self.reality.observe(y, self._noise)

    def _relax(self, x: Tensor, *, nudge: Tensor | None, clamp: Tensor | None) -> Equilibrium:
        if not isinstance(self.system, EnergySystem):
            raise IncompatibleError(f"system {self.system.name!r} has no equilibrium to nudge")
        noise = NoiseSource(self._noise)
        dev = self.torch_device
        settled = self.system.relax(
            x.to(dev),
            self._held,
            self._nuisance,
            nudge=None if nudge is None else nudge.to(dev),
            clamp=None if clamp is None else clamp.to(dev),
            noise=noise,
        )
        outputs = self.reality.observe(settled.outputs, self._noise)
        return Equilibrium(outputs, settled.local, settled.residual)

    def _measure_gradient(
        self, x: Tensor, output_gradient: Tensor, procedure: str
    ) -> tuple[Tensor, Controls, int]:
        dev = self.torch_device
        return self.system.measured_gradient(
            procedure,
            x.to(dev),
            self._held,
            self._nuisance,
            output_gradient.to(dev),
            NoiseSource(self._noise),
        )

    def oracle_forward(self, x: Tensor, controls: Controls) -> Tensor:
        """Differentiable noise-free output of the hidden true physics (diagnostics only):
        :meth:`System.exact_forward`."""
        return self.system.exact_forward(x.to(self.torch_device), controls, self._nuisance)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "controls": self.read_controls(),
            "held": {name: value.clone() for name, value in self._held.items()},
            "noise_rng": self._noise.get_state(),
            "write_rng": self._write_noise.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._controls = {k: v.to(self.torch_device) for k, v in state["controls"].items()}
        # Checkpoints written before writes could be inexact hold no separate state: exact.
        held = state.get("held", state["controls"])
        self._held = {k: v.to(self.torch_device) for k, v in held.items()}
        self._noise.set_state(state["noise_rng"])
        if "write_rng" in state:
            self._write_noise.set_state(state["write_rng"])


def simulated_device(
    system: str,
    *,
    preset: str = "default",
    gap: str = "moderate",
    seed: int = 0,
    system_options: Mapping[str, Any] | None = None,
    gap_options: Mapping[str, Any] | None = None,
) -> SimulatedDevice:
    """The simulated device a run with the same options would train in process."""
    from physnn.reality import make_reality
    from physnn.systems import SYSTEMS

    built = SYSTEMS[system].from_preset(preset, **dict(system_options or {}))
    reality = make_reality(built, gap, dict(gap_options or {}))
    return SimulatedDevice(built, reality, seed=seed)


def _to_device(nuisance: Nuisance, device: torch.device) -> Nuisance:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in nuisance.items()}
