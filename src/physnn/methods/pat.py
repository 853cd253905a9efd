"""Physics-aware training (PAT) — Wright et al., Nature 601, 549 (2022).

The forward pass runs on the device; the backward pass is the twin's vector-Jacobian product
evaluated at the *measured* inputs of each physical block (and the current controls). For one
block with device f_p and twin f_m, the block's output in the autograd graph is

    y = f_m(x, θ) + stop_gradient(f_p(x, θ) − f_m(x, θ)),

whose value is the measured f_p(x, θ) and whose derivatives are those of the twin. Errors of the
twin therefore enter only through its Jacobian, never through its predicted outputs, and the
digital layers after a physical block see the true measurements. With a perfect twin and no
noise, PAT's gradient equals backpropagation's exactly.

Every step also shows the twin what the device measured (:meth:`Twin.observe`): a fitted twin
(calibrated or learned, :mod:`physnn.twins`) tracks its running error and refits itself when the
device drifts; each epoch's history reports ``twin_error`` and ``twin_refits``.
"""

from __future__ import annotations

from torch import Tensor

from physnn.methods.base import METHODS, GradientEstimator, LossFn, Requirements, backward_on
from physnn.nets.pnn import PNN, PhysicalBlock, run_device, run_twin


def physics_aware(block: PhysicalBlock, x: Tensor) -> Tensor:
    """Measured value, twin gradient; the twin sees the measurement."""
    measured = run_device(block, x)
    predicted = run_twin(block, x)
    block.twin.observe(x.detach(), block.hardware_controls(), measured, predicted.detach())
    return predicted + (measured - predicted).detach()


@METHODS.register("pat")
class PhysicsAwareTraining(GradientEstimator):
    name = "pat"
    summary = "forward pass on the device, backward pass through the twin at the measured inputs"
    reference = "Wright et al., Nature 601, 549 (2022)"
    requirements = Requirements(differentiable_twin=True, device_forward=True)

    def bind(self, model: PNN, seed: int) -> None:
        self._blocks = model.physical_blocks()

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        return backward_on(model, physics_aware, x, y, loss_fn)

    def epoch_diagnostics(self) -> dict[str, float]:
        """The fitted twins' running error (mean over blocks) and refits so far (total)."""
        figures = [block.twin.diagnostics() for block in self._blocks]
        figures = [f for f in figures if f]
        if not figures:
            return {}
        return {
            "twin_error": sum(f["twin_error"] for f in figures) / len(figures),
            "twin_refits": sum(f["twin_refits"] for f in figures),
        }
