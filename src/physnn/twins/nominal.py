"""Digital twins: differentiable models ``(x, controls) → y`` of a device.

The nominal twin is the system's physics at the design values of its nuisance (no
misalignment, no fabrication error, no absorption beyond the design, no noise). Calibrated twins
(:mod:`physnn.twins.calibrated`) fit some nuisance entries to device measurements; learned twins
(:mod:`physnn.twins.learned`) replace the physics by a neural surrogate.

A twin may watch the device while training runs: physics-aware training hands every measured
batch to :meth:`Twin.observe`. The nominal twin ignores it; fitted twins track their error and
refit when the device drifts away from them (:class:`physnn.twins.fitted.FittedTwin`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import Tensor, nn

from physnn.systems.base import Controls, Nuisance, System


class Twin(nn.Module, ABC):
    """A differentiable model of one system's device. Holds no trainable ``nn.Parameter``:
    fitted values are buffers, so that the training optimizer never moves them."""

    def __init__(self, system: System) -> None:
        super().__init__()
        self.system = system

    @abstractmethod
    def forward(self, x: Tensor, controls: Controls) -> Tensor:
        """Predicted outputs (B, num_outputs) of the device for inputs x at ``controls``."""

    def observe(self, x: Tensor, controls: Controls, measured: Tensor, predicted: Tensor) -> None:
        """See one device measurement made during training (``predicted`` is this twin's output
        for the same inputs and controls). Twins that are not fitted to data ignore it."""

    def diagnostics(self) -> dict[str, float]:
        """Figures about the twin's agreement with the device, for the training history."""
        return {}


class NominalTwin(Twin):
    """The design: the system's physics at its nominal nuisance, no hidden perturbations."""

    def __init__(self, system: System) -> None:
        super().__init__(system)
        self.nuisance: Nuisance = system.nominal_nuisance()

    def forward(self, x: Tensor, controls: Controls) -> Tensor:
        return self.system(x, controls, self.nuisance)
