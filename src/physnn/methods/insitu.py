"""In-situ gradients measured by the physics: adjoint (reciprocity), fully forward mode, time
reversal.

These methods train a model whose first block is a physical block of a linear reciprocal
system, followed by digital blocks (``pnn``: a readout; ``post:…``: a digital network). One step:

1. the device measures the outputs y = f_p(x, θ) (a query, one per sample);
2. the digital blocks run on y with autograd: the loss, the exact gradient of every digital
   weight, and g = ∂L/∂y at the measured outputs (nonlinear digital layers stay digital);
3. the device measures ∂⟨g, y⟩/∂θ physically (``Device.measure_gradient``): forward and error
   fields interfered at every modulator, counted as one query per sample per physical pass.

* ``adjoint`` — in-situ backpropagation by reciprocity: the error field is sent *backwards*
  through the same hardware (Hughes, Minkov, Shi & Fan, Optica 5, 864 (2018); Pai et al.,
  Science 380, 398 (2023) on MZI meshes; Zhou et al., Photon. Res. 8, 940 (2020) on diffractive
  networks). Update: θ ← θ − η · Re(i E_f E_a) per phase shifter.
* ``ffm`` — fully forward mode (Xue et al., Nature 632, 280 (2024)): the error field is sent as a
  second *forward* propagation through the mirrored system, which equals the backward pass for a
  spatially symmetric system: exact for aligned free space (approximate when planes are
  displaced), for an MZI mesh through a mirrored copy with the same phases (approximate when the
  copy's couplers differ), for the programmable waveguide with its index pattern written
  mirrored along z (approximate where a static writing error does not mirror). Same update.
* ``time-reversal`` — the adjoint of a wave medium in time: the probes play their error-weighted
  traces backwards into the same (lossy, linear) medium, and the design region's monitors
  correlate that field with the stored forward field (Hughes, Williamson, Minkov & Fan, Sci.
  Adv. 5, eaay6946 (2019)).

No twin is used: the gradient is the true device's, so the reality gap does not bias it (only
what the procedure cannot see does: heater gain errors, loss, absorption — see the systems'
``measured_gradient``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from physnn.methods.base import METHODS, GradientEstimator, LossFn, Requirements
from physnn.nets.pnn import PNN, Segments, backward_to_latent, run_device


class PhysicalGradient(GradientEstimator):
    """Device forward, digital backward through the digital blocks, physical gradient of θ."""

    procedure: ClassVar[str]

    def bind(self, model: PNN, seed: int) -> None:
        """Refuse, before any work, a model or a system configuration the procedure cannot run."""
        self._segments(model).physical.system.check_procedure(self.procedure)

    def _segments(self, model: PNN) -> Segments:
        return model.physical_first(self.name, "measures the gradient of")

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        split = self._segments(model)
        block = split.physical
        loss, logits, g = split.readout_gradient(run_device(block, x), y, loss_fn)
        _, grads = block.require_device().measure_gradient(x, g, self.procedure)
        backward_to_latent(block, grads)
        return loss, logits


@dataclass(frozen=True)
class AdjointOptions:
    """``pump_probe``: send the error through the saturable absorbers between mesh layers
    optically, by the pump-probe approximation of Guo et al. (Photon. Res. 9, B71 (2021)),
    instead of differentiating the activations digitally at the measured fields."""

    pump_probe: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.pump_probe, bool):
            raise ValueError(f"pump_probe must be true or false, got {self.pump_probe!r}")


@METHODS.register("adjoint")
class AdjointGradient(PhysicalGradient):
    name = "adjoint"
    summary = "in-situ backprop: forward and backward (adjoint) fields interfered at each shifter"
    reference = (
        "Hughes et al., Optica 5, 864 (2018); Pai et al., Science 380, 398 (2023); "
        "pump-probe: Guo et al., Photon. Res. 9, B71 (2021)"
    )
    requirements = Requirements(reciprocal=True, device_forward=True, gradient_procedure="adjoint")
    options_class = AdjointOptions

    @property
    def procedure(self) -> str:  # type: ignore[override]
        return "adjoint-pump-probe" if self.options.pump_probe else "adjoint"


@METHODS.register("ffm")
class FullyForwardGradient(PhysicalGradient):
    name = "ffm"
    summary = "fully forward mode: the error field propagated forward through the mirrored system"
    reference = "Xue et al., Nature 632, 280 (2024)"
    requirements = Requirements(reciprocal=True, device_forward=True, gradient_procedure="ffm")
    procedure = "ffm"


@METHODS.register("time-reversal")
class TimeReversalGradient(PhysicalGradient):
    """The adjoint of a wave medium by time reversal: the probes play their error-weighted traces
    backwards into the same medium and the design region's monitors correlate that field with
    the stored forward field (the wave RNN's ``"time-reversal"`` procedure)."""

    name = "time-reversal"
    summary = "time reversal: the error played backwards from the probes through the same medium"
    reference = "Hughes, Williamson, Minkov & Fan, Sci. Adv. 5, eaay6946 (2019)"
    requirements = Requirements(
        reciprocal=True, device_forward=True, gradient_procedure="time-reversal"
    )
    procedure = "time-reversal"
