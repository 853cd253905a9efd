"""Digital twins: a system's physics evaluated at an assumed nuisance.

The nominal twin assumes the design values (no misalignment, no fabrication error, no
absorption beyond the design, no noise). Calibrated twins fit the nuisance to device
measurements; learned twins replace the physics by a surrogate. All of them are differentiable
``nn.Module``\\ s mapping ``(x, controls) → y``.
"""

from __future__ import annotations

from torch import Tensor, nn

from physnn.systems.base import Controls, Nuisance, System


class Twin(nn.Module):
    """The system's physics at a fixed assumed nuisance."""

    def __init__(self, system: System, nuisance: Nuisance) -> None:
        super().__init__()
        self.system = system
        self.nuisance = nuisance

    def forward(self, x: Tensor, controls: Controls) -> Tensor:
        return self.system(x, controls, self.nuisance)


class NominalTwin(Twin):
    """The design: same physics, no hidden perturbations."""

    def __init__(self, system: System) -> None:
        super().__init__(system, system.nominal_nuisance())
