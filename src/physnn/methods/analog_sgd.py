"""In-memory SGD on a resistive crossbar: the update written by stochastic pulse coincidences.

Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point
devices", Front. Neurosci. 10, 333 (2016). The model is a crossbar tile first, then a digital
readout (``pnn``) or network (``post:…``). One step on a batch:

1. forward cycle: the tile is read at the samples, y = act(W x) (a query per sample);
2. the digital back runs on the measured y: the exact gradient of its own weights and
   g = ∂L/∂y (:meth:`~physnn.nets.pnn.Segments.readout_gradient`); the periphery forms each
   sample's δ = ∂ℓ/∂y ⊙ act'(y) from the measured outputs (ReLU: y > 0), ℓ its own loss;
3. update cycle, sample after sample: row i receives BL pulse slots, each firing with
   probability C|x_i| (x the DAC inputs), column j with probability C|δ_j|,
   C = √(η/(BL Δw_min)); every coincidence at device (j, i) fires one pulse of sign
   −sign(x_i δ_j) (:func:`physnn.physics.crossbar.pulse_coincidences`). In expectation the
   tile moves by ΔW = −η Σ_b δ_b x_bᵀ while no probability saturates at 1: η times the
   gradient of the summed per-sample losses. The B updates all use δ from the one forward
   read of the batch; ``batch_size`` 1 is the paper's read-update alternation exactly.

Each sample's pulses are one write (:meth:`~physnn.nets.pnn.PhysicalBlock.commit`) of the held
request plus n Δw_min: a device with pulsed updates (the crossbar gap's ``pulse_step`` > 0)
turns it into round(n Δw_min / pulse_step) pulses with its own nonlinear, asymmetric and
variable steps, so ``dw_min`` should be the device's pulse step; a write-verified device
(``pulse_step`` 0) holds the request exactly. No gradient of W is formed anywhere and the twin
is never called; the optimizer trains only the digital parameters.

Tiki-Taka (``algorithm="tiki-taka"``; Gokmen & Haensch, "Algorithm for training neural networks
on resistive device arrays", Front. Neurosci. 14, 103 (2020)), on a crossbar with
``tiki_taka`` (W = C + γ A): the coincidences pulse the fast array A instead of C; after every
``transfer_every`` sample updates one column i of A, in cyclic order, is read on the device
(the procedure ``"fast-read"`` at the one-hot input e_i, a query) and added to C's column i by
pulses: the row i fires in all BL slots, column j with probability min(1, η_t |A_ji| /
(BL Δw_min)), each coincidence a pulse of sign(A_ji), so that C moves by η_t A eᵢ eᵢᵀ in
expectation (``transfer_lr`` η_t). Random up and down pulses drive an asymmetric device
towards its symmetry point, to which A is referenced: A is a leaky average of the recent
gradients, and C, updated rarely and coherently, is spared the asymmetry's drift.

Options: ``lr`` η, the learning rate of each sample's update (0.01 in the paper);
``bl`` the pulse train length (10 in the paper); ``dw_min`` the design's pulse step Δw_min
(0.001 in the paper). The pulses fired (Σ|n|, endurance) are counted: ``pulses`` in each
epoch's history row, and :attr:`AnalogSGD.pulses` in total (transfers included);
``algorithm`` "sgd" or "tiki-taka", ``transfer_every`` and ``transfer_lr`` (Tiki-Taka).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from physnn.errors import IncompatibleError
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    generator_for,
    is_int,
    is_number,
    require,
)
from physnn.nets.pnn import PNN, PhysicalBlock, run_device
from physnn.physics.crossbar import pulse_coincidences
from physnn.seeds import derived_seed

PROCEDURE = "outer-product"
FAST_READ = "fast-read"
ALGORITHMS = ("sgd", "tiki-taka")


@runtime_checkable
class PulseWritable(Protocol):
    """A system whose ``"weight"`` control is a crossbar written by row and column pulses."""

    def update_signals(
        self, x: Tensor, measured: Tensor, output_gradient: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The rows' inputs x (B, n) and the columns' errors δ (B, m) of the update cycle."""
        ...


@dataclass(frozen=True)
class AnalogSGDOptions:
    lr: float = 0.01
    """η: each sample's expected update is −η δ xᵀ, δ = ∂ℓ/∂(W x) of its own loss ℓ."""
    bl: int = 10
    """BL: pulse slots per update cycle."""
    dw_min: float = 0.001
    """Δw_min: the weight change of one pulse (the device's pulse step)."""
    algorithm: str = "sgd"
    """"sgd": pulse the weights; "tiki-taka": pulse the fast array A, transfer it to C."""
    transfer_every: int = 1
    """Tiki-Taka: sample updates between two column transfers from A to C."""
    transfer_lr: float = 0.1
    """η_t: a transfer adds η_t times A's column to C's (in expectation)."""

    def __post_init__(self) -> None:
        require(is_number(self.lr) and self.lr > 0, "lr", "positive", self.lr)
        require(is_int(self.bl) and self.bl >= 1, "bl", "a positive integer", self.bl)
        require(is_number(self.dw_min) and self.dw_min > 0, "dw_min", "positive", self.dw_min)
        require(self.algorithm in ALGORITHMS, "algorithm", "sgd or tiki-taka", self.algorithm)
        every = self.transfer_every
        require(is_int(every) and every >= 1, "transfer_every", "a positive integer", every)
        lr_t = self.transfer_lr
        require(is_number(lr_t) and lr_t > 0, "transfer_lr", "positive", lr_t)

    @property
    def scale(self) -> float:
        """C = √(η/(BL Δw_min)): the translators' pulse probability per unit |x| or |δ|."""
        return math.sqrt(self.lr / (self.bl * self.dw_min))


@METHODS.register("analog-sgd")
class AnalogSGD(GradientEstimator):
    name = "analog-sgd"
    summary = "in-memory SGD: stochastic pulse coincidences write −η δ xᵀ into the crossbar"
    reference = "Gokmen & Vlasov, Front. Neurosci. 10, 333 (2016)"
    requirements = Requirements(device_forward=True, gradient_procedure=PROCEDURE)
    options_class = AnalogSGDOptions
    updates_controls = True

    pulses: int = 0
    """Pulses fired since training began (coincidences: Σ|n| over devices and samples)."""

    def bind(self, model: PNN, seed: int) -> None:
        self._split = model.physical_first(self.name, "writes pulses into")
        system = self._split.physical.system
        system.check_procedure(PROCEDURE)
        if not isinstance(system, PulseWritable):
            raise IncompatibleError(
                f"system {system.name!r} declares {PROCEDURE!r} but gives no update signals "
                "(update_signals); train it with another method"
            )
        self._tiki_taka = self.options.algorithm == "tiki-taka"
        if self._tiki_taka and "fast" not in self._split.physical.controls:
            raise IncompatibleError(
                "analog-sgd's algorithm tiki-taka needs a fast array: set the crossbar's system "
                "option tiki_taka=true"
            )
        self._system = system
        self._generator = generator_for(model, derived_seed(seed, self.name))
        self.pulses = self._epoch_pulses = self._updates = self._column = 0

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        block = self._split.physical
        measured = run_device(block, x)
        loss, logits, g = self._split.readout_gradient(measured, y, loss_fn)
        per_sample = g * x.shape[0]  # ∂ℓ_b/∂y_b of each sample's own loss (L: their mean)
        inputs, errors = self._system.update_signals(x, measured, per_sample)
        o = self.options
        counts = pulse_coincidences(inputs, errors, o.scale, o.bl, self._generator)
        target = "fast" if self._tiki_taka else "weight"
        for sample in counts:  # batch-1 updates, fired one sample after the other
            self._fire(block, target, sample)
            self._updates += 1
            if self._tiki_taka and self._updates % o.transfer_every == 0:
                self._transfer(block)
        return loss, logits

    def _transfer(self, block: PhysicalBlock) -> None:
        """Tiki-Taka: read the next column of A on the device and pulse it into C's."""
        fast = block.controls["fast"]
        n, o = fast.shape[1], self.options
        onehot = torch.zeros(1, n, dtype=fast.dtype, device=fast.device)
        onehot[0, self._column] = 1.0
        self._column = (self._column + 1) % n
        column, _ = block.require_device().measure_gradient(
            onehot, fast.new_zeros(1, fast.shape[0]), FAST_READ
        )
        drive = -column.to(fast) * (o.transfer_lr / (o.bl * o.dw_min))  # row i fires always
        counts = pulse_coincidences(onehot, drive, 1.0, o.bl, self._generator)
        self._fire(block, "weight", counts[0])

    def _fire(self, block: PhysicalBlock, name: str, counts: Tensor) -> None:
        """Write the held request of control ``name`` moved by ``counts`` pulses of Δw_min
        (one write)."""
        control = block.controls[name]
        with torch.no_grad():
            moved = torch.add(control, counts.to(control), alpha=self.options.dw_min)
            control.copy_(block.specs[name].wrap_or_clip(moved))
        block.commit()
        fired = int(counts.abs().sum())
        self.pulses += fired
        self._epoch_pulses += fired

    def epoch_diagnostics(self) -> dict[str, float]:
        fired, self._epoch_pulses = self._epoch_pulses, 0
        return {"pulses": float(fired)}

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self._generator.get_state(), "pulses": self.pulses,
                "epoch_pulses": self._epoch_pulses, "updates": self._updates,
                "column": self._column}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["rng"])
        self.pulses, self._epoch_pulses = state["pulses"], state["epoch_pulses"]
        self._updates, self._column = state.get("updates", 0), state.get("column", 0)
