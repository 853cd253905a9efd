"""Training methods as gradient estimators.

A method receives a batch, decides which device queries to make and what to compute on the
twin, and fills ``.grad`` of the model's parameters (physical controls and digital weights). The
optimizer is an ordinary ``torch.optim`` optimizer; what reaches the device is decided by the
update transforms and the device's own bounds. Each method declares its :class:`Requirements`;
:func:`incompatibility` compares them with a system's capabilities, so that the method × system
matrix is computed, not hand-written.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor

from physnn.errors import ConfigError, refuse_unknown
from physnn.hardware.device import Device
from physnn.nets.pnn import PNN, Executor
from physnn.plugins import METHODS_GROUP
from physnn.registry import Registry
from physnn.systems.base import Capabilities, Nuisance, System

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Requirements:
    """What a method needs from the system and the device."""

    differentiable_twin: bool = False  # computes vector-Jacobian products of a twin
    device_forward: bool = False  # queries the device while training
    reciprocal: bool = False  # physical adjoint (backward) propagation
    energy_based: bool = False  # equilibria of an energy function
    holomorphic: bool = False  # complex-valued nudges of the equilibrium
    linear_readout: bool = False  # sets a final linear readout (not detector regions)
    gradient_procedure: str | None = None  # a physical gradient measurement of the device


# requirement → (the system's capability, what the method needs, how a system lacks it)
_CAPABILITY_OF = {
    "differentiable_twin": (
        "differentiable", "a differentiable twin", "has no differentiable twin"
    ),
    "reciprocal": ("reciprocal", "a reciprocal system", "is not reciprocal"),
    "energy_based": ("energy_based", "an energy-based system", "is not energy-based"),
    "holomorphic": (
        "holomorphic", "complex-valued nudges", "cannot be nudged with complex forces"
    ),
}  # fmt: skip


def incompatibility(
    method: type[GradientEstimator], system_name: str, caps: Capabilities
) -> str | None:
    """Why ``method`` cannot train ``system``, or None if it can."""
    for need, (capability, needed, lacks) in _CAPABILITY_OF.items():
        if getattr(method.requirements, need) and not getattr(caps, capability):
            return f"method {method.name!r} needs {needed}; {system_name!r} {lacks}"
    procedure = method.requirements.gradient_procedure
    if procedure and procedure not in caps.gradient_procedures:
        return f"method {method.name!r} needs the physical procedure {procedure!r}; " + (
            f"{system_name!r} offers {', '.join(caps.gradient_procedures)}"
            if caps.gradient_procedures
            else f"{system_name!r} offers none"
        )
    if method.requirements.linear_readout and caps.detector_readout:
        return (
            f"method {method.name!r} fits a linear readout; {system_name!r} is read out by "
            "detector regions"
        )
    return None


# What a compatible pair does on its tiny problem with the default ``pnn`` model (physnn list
# matrix): it trains (tests/test_methods.py shows it) unless declared below.
TRAINS, CANNOT_LEARN, SIMULATION_ONLY, NOT_APPLICABLE = (
    "trains", "cannot learn here", "simulation-only", "not applicable"
)  # fmt: skip


@dataclass(frozen=True)
class CannotLearn:
    """Pairs that run but cannot learn: ``methods`` (none named: every method but ``exempt``)
    on the systems with the capability ``capability`` or named in ``systems``; and why."""

    reason: str
    methods: tuple[str, ...] = ()
    capability: str = ""
    systems: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()

    def covers(self, method: str, system_name: str, caps: Capabilities) -> bool:
        named = method in self.methods if self.methods else method not in self.exempt
        where = system_name in self.systems or bool(
            self.capability and getattr(caps, self.capability)
        )
        return named and where


CANNOT_LEARN_HERE: tuple[CannotLearn, ...] = (
    CannotLearn(
        "it trains only digital layers around fixed physical blocks, and the pnn model of a "
        "system read out by detector regions has none (use --model post:H)",
        methods=("fa", "dfa", "ff", "phyll", "local-losses", "blockwise-ssl"),
        capability="detector_readout",
    ),
    CannotLearn(
        "the target strains of the elastic network differ by about 1e-3 between samples, so "
        "its linear readout learns slowly at the suggested learning rate: in the 60 steps of "
        "the learning test even backprop lowers the loss by only 8 % (it passes after 120; "
        "ridge, in closed form, and spsa, mgd, es and flip, given 180 steps, learn)",
        systems=("elastic",),
        exempt=("ridge", "spsa", "mgd", "es", "flip"),
    ),
    CannotLearn(
        "on the tiny wave RNN (10 probes read as detectors) at gap mild its loss falls by at "
        "most 7 % in the learning test (60 steps; 180 for the random-search methods) while "
        "backprop and insilico lower it by 32 % on the same problem: not yet understood",
        methods=("pat", "noise-aware", "spsa", "mgd", "flip"),
        systems=("wave",),
    ),
    CannotLearn(
        "it learns and then unlearns at the suggested rate: batch accuracy 0.12 → 0.50 after 60 "
        "steps, back to 0.12 after 180 (Adam at lr 0.05 is too fast for its single-direction "
        "estimates on the mesh; physnn tune searches the rate)",
        methods=("spsa",),
        systems=("mzi",),
    ),
    CannotLearn(
        "its clamp holds the output spins of a sampler at fractional means, which no spin "
        "configuration has: the contrast grows as 1/eta instead of converging (relative error "
        "37 at eta = 0.1, 3741 at 1e-3 against the exact reference; chl, its eta = 1 limit, "
        "has cosine 0.10 to the gradient on the tiny problem); use ep",
        methods=("coupled", "chl"),
        systems=("ising",),
    ),
    CannotLearn(
        "the greedy rule over the reservoir's three global scalars (bias, feedback, input "
        "scaling), snapped to their two bounds, does not learn the tiny problem: in 180 steps "
        "the loss falls by 7 % and the batch accuracy does not rise; anneal, which also "
        "accepts uphill moves, learns",
        methods=("flip",),
        systems=("reservoir",),
    ),
)
"""The one place where "cannot learn here" pairs are declared, each rule with its reason
(tests/test_methods.py expects every pair it covers to fail the learning test)."""

SIMULATED_PROCEDURES: dict[str, str] = {
    "hep": (
        "its nudged equilibria hold complex-valued states, which no physical network of real "
        "conductances, springs or spins can take: its device accuracy is a simulation's "
        "(-M realization=lock-in runs its real-state version on the resistive network)"
    ),
}
"""method → why no real device of any system it runs on can carry out its procedure: the one
place where "simulation-only" methods are declared (reports label their device accuracy)."""


def learning_status(
    method: type[GradientEstimator], system_name: str, caps: Capabilities
) -> tuple[str, str]:
    """What ``method`` does on ``system`` — :data:`TRAINS`, :data:`CANNOT_LEARN`,
    :data:`SIMULATION_ONLY` or :data:`NOT_APPLICABLE`, in that order of precedence — and why
    (the refusal, the declared reason, or "" for TRAINS)."""
    refusal = incompatibility(method, system_name, caps)
    if refusal:
        return NOT_APPLICABLE, refusal
    for rule in CANNOT_LEARN_HERE:
        if rule.covers(method.name, system_name, caps):
            return CANNOT_LEARN, rule.reason
    if method.name in SIMULATED_PROCEDURES:
        return SIMULATION_ONLY, SIMULATED_PROCEDURES[method.name]
    return TRAINS, ""


class NoiseModel(Protocol):
    """An *assumed* statistical model of a system's reality gap (its distribution, never the
    device's drawn values): what noise-aware training redraws every step."""

    def sample_nuisance(self, system: System, generator: torch.Generator) -> Nuisance:
        """A fresh draw of the static perturbations on top of the nominal nuisance."""
        ...

    def observe(
        self, y: Tensor, generator: torch.Generator | None, *, differentiable: bool = False
    ) -> Tensor:
        """``y`` with the per-measurement noise applied."""
        ...


class Projector(Protocol):
    """A physical random projection of row vectors on a device of its own (the optical DFA
    projector): its queries and writes are counted on ``device``, apart from the network's."""

    device: Device

    def project(self, error: Tensor) -> Tensor:
        """The fixed random projection of every row of ``error`` (N, signals) → (N, width)."""
        ...


@dataclass(frozen=True)
class Auxiliaries:
    """What :mod:`physnn.train.setup` builds for a method and hands over with
    :meth:`GradientEstimator.attach` before :meth:`~GradientEstimator.bind`: a method module
    never builds a device, draws a reality gap or reads a device's hidden physics itself. An
    entry is None where the run cannot provide it (a method bound outside setup, a lab device)."""

    make_projector: Callable[[int, int, str], Projector] | None = None
    """``(signals, width, gap level)`` → an optical random projector with its own simulated
    device, seeded by the run."""
    noise_model: Callable[[System, str], NoiseModel] | None = None
    """``(system, gap level)`` → the assumed noise model of that level."""
    oracle: Executor | None = None
    """The **oracle**: the exact, noise-free and differentiable forward of a physical block
    from its simulated device's hidden true physics — for diagnostics only (gradient alignment),
    never for an estimate; None unless every physical block runs on a simulated device."""


@dataclass(frozen=True)
class NoOptions:
    """A method without hyperparameters of its own."""


class GradientEstimator(ABC):
    """Base class of every training method."""

    name: ClassVar[str]
    summary: ClassVar[str]
    reference: ClassVar[str]
    requirements: ClassVar[Requirements]
    options_class: ClassVar[type] = NoOptions
    headline: ClassVar[str] = "device"
    """Which accuracy is the method's result: "device" (deployed) or "twin" (digital reference)."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        options = dict(options or {})
        known = sorted(f.name for f in fields(self.options_class))
        refuse_unknown(options, known, kind="option", where=f"for method {self.name!r}")
        try:
            self.options = self.options_class(**options)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid options for method {self.name!r}: {err}") from None

    updates_controls: ClassVar[bool] = False
    """True for update rules (bit flips, annealing) that set the physical controls themselves
    inside :meth:`estimate`; the optimizer then trains only the digital parameters."""

    def optimized_parameters(self, model: PNN) -> list[torch.nn.Parameter]:
        """The parameters the optimizer steps with the gradients this method fills."""
        if not self.updates_controls:
            return list(model.parameters())
        physical = {id(p) for p in model.physical_parameters()}
        return [p for p in model.parameters() if id(p) not in physical]

    auxiliaries: Auxiliaries = Auxiliaries()
    """What setup built for the method (:meth:`attach`); nothing until then."""

    def attach(self, auxiliaries: Auxiliaries) -> None:
        """Receive what setup built for the run (called before :meth:`bind`)."""
        self.auxiliaries = auxiliaries

    def bind(self, model: PNN, seed: int) -> None:  # noqa: B027 (optional hook)
        """Prepare for training ``model`` (draw random streams, build noise models)."""

    @abstractmethod
    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        """Fill ``.grad`` of the model's parameters for one batch; return (loss, logits)."""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self.options)}

    def predictor(self, model: PNN) -> Callable[[Tensor], Tensor]:
        """What the trained network answers for a batch, as class scores: the model's own
        outputs (its readout), unless the method infers otherwise (forward-forward's goodness
        of each label). Evaluation takes the argmax of these scores."""
        return model

    def expected_cosine(self, exact: Mapping[torch.nn.Parameter, Tensor]) -> float | None:
        """Theory for ``physnn gradcheck``: the mean cosine to the ``exact`` gradient (per
        parameter) that an ideal device would give this method's estimator (noise-free,
        infinitesimal steps), for a method whose error on such a device is that of its random
        probes; None where the method states none (an exact procedure's ideal cosine is 1)."""
        return None

    def start_epoch(self, epoch: int) -> None:  # noqa: B027 (optional hook)
        """Called before the first step of each epoch (not when a run resumes inside one)."""

    def epoch_diagnostics(self) -> dict[str, float]:
        """Method-specific figures for the epoch just finished (e.g. a gradient alignment angle),
        added to the epoch's row of the training history; called once per epoch."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Restore what :meth:`state_dict` returned (random streams) when resuming."""


METHODS: Registry[type[GradientEstimator]] = Registry("method", METHODS_GROUP)


# Option checks, for the ``__post_init__`` of a method's options dataclass: the ValueError they
# raise becomes a ConfigError naming the method (see GradientEstimator.__init__).
def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def require(ok: bool, name: str, what: str, value: Any) -> None:
    """Raise ``ValueError("<name> must be <what>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")


def backward_on(
    model: PNN, executor: Executor, x: Tensor, y: Tensor, loss_fn: LossFn
) -> tuple[Tensor, Tensor]:
    """Forward with ``executor`` for the physical blocks, then autograd backward."""
    with model.executing(executor):
        logits = model(x)
    loss = loss_fn(logits, y)
    loss.backward()
    return loss.detach(), logits.detach()


def generator_for(model: PNN, seed: int) -> torch.Generator:
    """A seeded generator on the device where the model's parameters live."""
    device = next(model.parameters()).device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen
