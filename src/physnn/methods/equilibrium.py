"""Equilibrium propagation: gradients from the contrast of nudged equilibria of the device.

For an energy-based device with energy E(s; θ) and a cost C(y) of its outputs, the equilibrium
s^β of E + β C satisfies (Scellier & Bengio, Front. Comput. Neurosci. 11, 24, 2017)

    dC(y(s⁰))/dθ = d/dβ ∂E/∂θ (s^β) |_{β=0},

so the gradient is read from the local derivatives ∂E/∂θ the device measures at two or more
nudged equilibria. With a digital readout after the physical block, the device's free phase
gives the outputs y; autograd through the digital part gives the readout its exact gradient and
g = ∂L/∂y (batch-mean loss L); the device is then nudged with the force f = −β B g per sample
(B the batch size), i.e. the linearized cost C = B⟨g, y⟩, whose EP gradient of the batch-mean
local derivatives is dL/dθ.

**The size of the nudge** (:func:`nudge_force`). The option ``beta`` (by default the
system's ``nudge``, :attr:`physnn.systems.energy.EnergySystem.nudge`) is the largest force
on any output of any sample, in the system's own units — a force of 1 on an output moves it
across about its range (a Hopfield unit's local field, an oscillator's (cos, sin) in units of
its couplings, a node's injected current in units of its conductances): the nudge strength is
β / max|B g|, so the force is as large as ``beta`` whatever the scale of the loss and its
gradient at this step of training. The relaxing systems' default β = 10⁻³ = √τ is the
geometric mean of the outputs' range (1) and the residual τ = 10⁻⁶ at which they stop:
the relaxation error relative to the response of the equilibrium (≈ β) is then τ/β = 10⁻³,
and so is the bias of a nudge that pushes a unit across a kink of its activation (the hard
sigmoid's saturation: a bias O(β), as a fraction of the units sit within β of a kink), while
a smooth system's O(β²) bias of symmetric nudging (O(|β|^N) for ``hep``) is 10⁻⁶; float32
rounding of the local derivatives (10⁻⁷ of them, over 2β) stays below 10⁻⁴. A larger β trades
bias for robustness to measurement noise (a real device's local measurements): raise it with
the gap. Paper settings (e.g. Scellier & Bengio's β = 1) are given in the bench
suites that reproduce them.

* ``ep`` — symmetric nudging (Laborieux et al., Front. Neurosci. 15, 633674, 2021):
  ĝ = (∂E/∂θ(s^{+β}) − ∂E/∂θ(s^{−β})) / (2β), bias O(β²); one-sided
  (∂E/∂θ(s^β) − ∂E/∂θ(s⁰)) / β (``symmetric=false``, the original rule), bias O(β).
* ``hep`` — holomorphic EP (Laborieux & Zenke, NeurIPS 2022): for a holomorphic system the
  local derivative is analytic in a complex β, and the gradient is its first Fourier coefficient
  on the circle β_k = |β| e^{2πik/N}: ĝ = Re[(1/(N|β|)) Σ_k ∂E/∂θ(s^{β_k}) e^{−2πik/N}], exact
  up to the aliased harmonics N+1, 2N+1, … (error O(|β|^N)). That realization needs complex
  device states, which no real device holds; it stays as the idealized reference.
  ``realization=lock-in`` is what a real device runs instead (Laborieux & Zenke's oscillating
  teaching signal in time): the nudge β(t) = |β| cos ωt applied as a real AC force, and each
  element's local derivative demodulated at ω over finitely many periods
  (``Device.measure_gradient(x, u, "lock-in")``, :mod:`physnn.physics.lockin` on the resistive
  network). Its first harmonic is the same first Fourier coefficient, read on the real axis
  instead of the circle, so it coincides by construction with ``freqprop realization=lock-in``;
  its errors are the device's (the RC lag, the lock-in's window, O(|β|²) from the third
  harmonic of the response), not aliasing.

Both query only the device (no twin): one free and two (``ep``) or N (``hep``) nudged
relaxations per batch, each counted as one query per sample.
"""

from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

from torch import Tensor

from physnn.errors import IncompatibleError
from physnn.methods.base import (
    METHODS,
    GradientEstimator,
    LossFn,
    Requirements,
    is_int,
    is_number,
    require,
)
from physnn.nets.pnn import PNN, PhysicalBlock, backward_to_latent, relax_on_device
from physnn.systems.base import Controls

NUDGES = "nudges the outputs of"
"""What EP does to the physical block (the refusal of other models says it)."""


def check_nudge(name: str, value: float | None) -> None:
    """Raise ConfigError unless the nudge option ``name`` is None or a positive number."""
    ok = value is None or (is_number(value) and value > 0)
    require(ok, name, "a positive number (or none: the system's nudge)", value)


def nudge_force(largest: float | None, block: PhysicalBlock, g: Tensor) -> tuple[float, Tensor]:
    """The strength β and the force −β B g (B the batch size) of a nudge along the readout's
    gradient g whose largest force on an output is ``largest``, by default the system's
    ``nudge``: β = largest / max|B g| (β = largest for a zero gradient, whose force is zero)."""
    largest = block.system.nudge if largest is None else largest  # type: ignore[attr-defined]
    unit = -g.shape[0] * g
    peak = float(unit.detach().abs().max())
    beta = largest / peak if peak > 0 else largest
    return beta, beta * unit


LOCK_IN = "lock-in"
"""A real oscillating nudge demodulated by the device: its gradient procedure of that name."""


def check_lock_in(model: PNN, method: str, action: str) -> None:
    """Raise IncompatibleError unless the model's physical block can run the lock-in."""
    system = model.physical_first(method, action).physical.system
    if LOCK_IN not in system.capabilities.gradient_procedures:
        raise IncompatibleError(
            f"method {method!r} with realization={LOCK_IN} needs a system with the {LOCK_IN!r} "
            f"gradient procedure (the resistive network), which {system.name!r} lacks; use "
            "its default realization"
        )
    system.check_procedure(LOCK_IN)


def lock_in_gradient(
    block: PhysicalBlock, x: Tensor, g: Tensor, amplitude: float | None
) -> Controls:
    """dL/dθ from the device's lock-in: the AC current −β B g cos ωt (largest ``amplitude``,
    :func:`nudge_force`) demodulated by every element; the device returns the gradient of
    Σ_b ⟨β B g_b, y_b⟩, divided here by β B. Two queries per sample (the DC state, the AC run)."""
    beta, force = nudge_force(amplitude, block, g)
    _, grads = block.require_device().measure_gradient(x, -force, LOCK_IN)
    return {name: value / (beta * x.shape[0]) for name, value in grads.items()}


def contrast(plus: Controls, minus: Controls, scale: float) -> Controls:
    """(plus − minus) / scale per control."""
    return {k: (plus[k] - minus[k]) / scale for k in plus}


@dataclass(frozen=True)
class EPOptions:
    beta: float | None = None  # largest nudge force on an output (None: the system's nudge)
    symmetric: bool = True  # ±β nudges (bias O(β²)) instead of free and +β (bias O(β))

    def __post_init__(self) -> None:
        check_nudge("beta", self.beta)
        require(isinstance(self.symmetric, bool), "symmetric", "true or false", self.symmetric)


@METHODS.register("ep")
class EquilibriumPropagation(GradientEstimator):
    """Free phase, then nudged phases; the gradient from the contrast of local derivatives."""

    name = "ep"
    summary = "equilibrium propagation: free and ±β-nudged equilibria of the device, no twin"
    reference = (
        "Scellier & Bengio, Front. Comput. Neurosci. 11, 24 (2017); symmetric nudging: "
        "Laborieux et al., Front. Neurosci. 15, 633674 (2021)"
    )
    requirements = Requirements(energy_based=True, device_forward=True)
    options_class = EPOptions

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        split = model.physical_first(self.name, NUDGES)
        block = split.physical
        free = relax_on_device(block, x)
        loss, logits, g = split.readout_gradient(free.outputs, y, loss_fn)
        beta, force = nudge_force(self.options.beta, block, g)
        plus = relax_on_device(block, x, nudge=force).local
        if self.options.symmetric:
            minus = relax_on_device(block, x, nudge=-force).local
            grads = contrast(plus, minus, 2 * beta)
        else:
            grads = contrast(plus, free.local, beta)
        backward_to_latent(block, grads)
        return loss, logits


@dataclass(frozen=True)
class HEPOptions:
    """beta: the radius, the largest force of a nudge (None: the system's nudge); points: N
    complex nudges on the circle (N = 2 is symmetric EP); realization: ``complex`` (complex
    device states, the idealized reference) or ``lock-in`` (a real AC nudge demodulated by the
    device, whose samples per period are the system's: ``points`` is then unused)."""

    beta: float | None = None
    points: int = 4
    realization: str = "complex"

    def __post_init__(self) -> None:
        check_nudge("beta", self.beta)
        require(is_int(self.points) and self.points >= 2, "points", "an integer ≥ 2", self.points)
        ok = self.realization in ("complex", LOCK_IN)
        require(ok, "realization", f"complex or {LOCK_IN}", self.realization)


@METHODS.register("hep")
class HolomorphicEP(GradientEstimator):
    """The gradient as the first Fourier coefficient of the local derivative on a circle of
    complex nudges.

    Realization: the simulated device holds complex states (the holomorphic extension of its
    dynamics, :mod:`physnn.physics.hopfield`), as in Laborieux & Zenke's simulations; each of
    the N points is one complex relaxation, one query per sample. The first Fourier coefficient
    is then exact up to aliasing, O(|β|^N), at any radius inside the region where the
    equilibrium stays analytic (for the hard-sigmoid Hopfield network: where no unit changes
    saturation). A real-valued analog device cannot hold complex states; N real nudges
    |β| cos(2πk/N) summed with the same weights give a symmetric finite-difference rule with an
    O(|β|²) bias, which is what ``ep`` already offers. A real device instead applies the nudge
    as an oscillation in time and demodulates it (``realization=lock-in``, see the module):
    the first Fourier coefficient of a real oscillating nudge, equal by construction to
    ``freqprop realization=lock-in``.
    """

    name = "hep"
    summary = "holomorphic EP: N complex nudges on a circle, first Fourier coefficient, no twin"
    reference = "Laborieux & Zenke, NeurIPS 2022 (arXiv:2209.00530)"
    requirements = Requirements(energy_based=True, holomorphic=True, device_forward=True)
    options_class = HEPOptions

    def bind(self, model: PNN, seed: int) -> None:
        if self.options.realization == LOCK_IN:
            check_lock_in(model, self.name, NUDGES)

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        split = model.physical_first(self.name, NUDGES)
        block = split.physical
        free = relax_on_device(block, x)
        loss, logits, g = split.readout_gradient(free.outputs, y, loss_fn)
        if self.options.realization == LOCK_IN:
            backward_to_latent(block, lock_in_gradient(block, x, g, self.options.beta))
            return loss, logits
        n = self.options.points
        radius, force = nudge_force(self.options.beta, block, g)
        total: Controls = {}
        for k in range(n):
            phase = cmath.exp(2j * math.pi * k / n)
            local = relax_on_device(block, x, nudge=force * phase).local
            for name, value in local.items():
                total[name] = total.get(name, 0) + value * phase.conjugate()
        grads = {name: (value / (n * radius)).real for name, value in total.items()}
        backward_to_latent(block, grads)
        return loss, logits
