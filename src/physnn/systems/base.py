"""The System contract: a physical substrate's controls, capabilities and forward physics.

A :class:`System` is pure physics plus configuration. It owns no trainable state: the controls θ
are passed in (the training code keeps them as ``nn.Parameter``), and so is the *nuisance*: the
dictionary of physical parameters that the builder of a device does not control exactly
(misalignments, fabrication errors, absorption …). The nominal nuisance is the design; the
reality gap (:mod:`physnn.reality`) perturbs it to make the hidden device, and a calibrated twin
would fit it. ``forward(x, controls, nuisance)`` is differentiable in all three.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from physnn.errors import ConfigError, ControlBoundsError, IncompatibleError, refuse_unknown
from physnn.physics.quantization import level_step, quantize_ste, snap_to_levels

Nuisance = dict[str, Any]
Controls = dict[str, Tensor]


def is_plain_zero(value: Tensor | float) -> bool:
    """Whether a nuisance value is a plain zero, whose effect a system may skip: every entry
    zero and no gradient asked of it (a calibrated twin fitting it from zero needs the path)."""
    if isinstance(value, Tensor):
        return not value.requires_grad and not bool(value.any())
    return value == 0


_TYPES = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "None": (type(None),),
}


def _has_type(value: Any, annotation: str) -> bool:
    """Whether ``value`` fits a simple annotation such as "int", "float | None" or "bool"."""
    allowed = [_TYPES.get(part.strip()) for part in annotation.split("|")]
    if any(t is None for t in allowed):
        return True  # an annotation this check does not understand: leave it to the class
    if isinstance(value, bool) and "bool" not in annotation:
        return False
    return any(isinstance(value, t) for types in allowed for t in types)


@dataclass(frozen=True)
class ControlSpec:
    """One group of controls: its shape, bounds and optional quantization.

    ``periodic`` controls (phases) live on a circle: values are wrapped into ``[low, high)``
    instead of clipped. ``levels`` (K) restricts realizable values to K equally spaced levels.
    """

    shape: tuple[int, ...]
    low: float
    high: float
    periodic: bool = False
    levels: int | None = None
    unit: str = ""

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def project(self, value: Tensor) -> Tensor:
        """Bring a value into the admissible set: wrap (periodic) or clip, then snap to levels."""
        value = self.wrap_or_clip(value)
        if self.levels is not None:
            value = self.snap(value)
        return value

    def wrap_or_clip(self, value: Tensor) -> Tensor:
        """Wrap (periodic) or clip into the bounds, compared in the dtype of ``value``: the
        result passes :meth:`check` in that dtype (a float32 value that rounds to 2π wraps to
        ``low``)."""
        if self.periodic:
            wrapped = self.low + torch.remainder(value - self.low, self.high - self.low)
            # remainder can round to the full period for values just below low
            return torch.where(wrapped >= self.high, torch.full_like(wrapped, self.low), wrapped)
        return value.clamp(self.low, self.high)

    def snap(self, value: Tensor) -> Tensor:
        """Nearest of the K levels (periodic: K levels on the circle, the top one wraps to low),
        computed in the dtype of ``value``; a level that its rounding puts beyond a closed
        bound is clipped onto it (e.g. the top of 40 levels on [-10, 10] in float32)."""
        assert self.levels is not None
        snapped = snap_to_levels(value, self.low, self.high, self.levels, self.periodic)
        return snapped if self.periodic else snapped.clamp(self.low, self.high)

    def realize(self, value: Tensor) -> Tensor:
        """What the hardware would hold for a latent value, differentiably.

        Wrapping and clipping pass gradients through unchanged where the value is admissible;
        quantization uses the straight-through estimator (Bengio et al. 2013).
        """
        value = self.wrap_or_clip(value)
        if self.levels is not None:
            value = quantize_ste(value, self.snap)
        return value

    def held(self, name: str, value: Tensor, dtype: torch.dtype) -> Tensor:
        """``value`` as a device that holds its controls in ``dtype`` holds it: detached and
        converted (rounded to the nearest ``dtype`` value). Complex values are refused with
        :class:`ControlBoundsError`, since the conversion would drop their imaginary part."""
        if value.is_complex():
            raise ControlBoundsError(
                f"control {name!r} holds complex values; a control takes real values"
            )
        return value.detach().to(dtype)

    def _step(self) -> float:
        assert self.levels is not None
        return level_step(self.low, self.high, self.levels, self.periodic)

    def check(self, name: str, value: Tensor) -> None:
        """Raise :class:`ControlBoundsError` unless ``value`` is admissible for this control.

        ``value`` is taken as the device holds it: the bounds are converted to its dtype and
        compared there, and so are the levels. A value equal to the open upper bound of a
        periodic control in that dtype (float32 cannot tell 2π − 1e-12 from 2π) is refused,
        never wrapped: only projection wraps.
        """
        if tuple(value.shape) != self.shape:
            raise ControlBoundsError(
                f"control {name!r} has shape {tuple(value.shape)}, expected {self.shape}"
            )
        if not value.is_floating_point():
            raise ControlBoundsError(
                f"control {name!r} holds {_dtype_name(value)} values; check it as the device "
                "holds it (ControlSpec.held)"
            )
        if not torch.isfinite(value).all():
            raise ControlBoundsError(f"control {name!r} contains NaN or infinite values")
        low, high = value.new_tensor(self.low), value.new_tensor(self.high)
        too_high = value >= high if self.periodic else value > high
        bad = (value < low) | too_high
        if bad.any():
            held = _shown(value[bad].flatten()[0])
            interval = f"[{_shown(low)}, {_shown(high)}{')' if self.periodic else ']'}"
            raise ControlBoundsError(
                f"refusing to write control {name!r}: {int(bad.sum())} value(s) as held in "
                f"{_dtype_name(value)} lie outside {interval} (e.g. {held}); project updates "
                "onto the bounds before writing"
            )
        if self.levels is not None:
            off = (value - self.snap(value)).abs() > 1e-4 * self._step()
            if off.any():
                raise ControlBoundsError(
                    f"refusing to write control {name!r}: {int(off.sum())} value(s) are not on its "
                    f"{self.levels} levels; quantize updates before writing"
                )


def _dtype_name(value: Tensor) -> str:
    return str(value.dtype).removeprefix("torch.")


def _shown(value: Tensor) -> str:
    """A scalar tensor as its dtype's shortest repr (float32 2π: 6.2831855)."""
    return str(value.detach().cpu().numpy())


@dataclass(frozen=True)
class NoiseSource:
    """Randomness for stochastic physics *inside* a forward pass.

    Most noise is added to the measured outputs by the reality gap (:mod:`physnn.reality`). Some
    substrates are stochastic between their layers (shot noise of every homodyne
    multiply-accumulate, single-photon stochastic neurons): their ``forward`` draws that noise
    from ``generator``, reparameterized (``y + g(y)·ε``, or a straight-through sample) when
    ``differentiable`` is set, so that noise-aware training can backpropagate through it. The
    device passes its seeded measurement generator; twins pass none and get the noise-free mean.
    """

    generator: torch.Generator
    differentiable: bool = False

    def standard_normal(self, like: Tensor) -> Tensor:
        """N(0, 1) draws shaped like ``like`` (real, in its precision), drawn on the generator's
        device and moved to ``like``'s."""
        gen = self.generator
        eps = torch.randn(like.shape, generator=gen, device=gen.device, dtype=like.real.dtype)
        return eps.to(like.device)


@dataclass(frozen=True)
class Capabilities:
    """What a system offers to training methods (compatibility is data, not folklore)."""

    differentiable: bool = True  # a differentiable digital twin exists
    linear: bool = False  # the map from input field to output field is linear
    reciprocal: bool = False  # a physical backward (adjoint) pass is possible
    energy_based: bool = False  # outputs are minima of an energy (EP, coupled learning)
    holomorphic: bool = False  # the relaxation accepts complex nudges (holomorphic EP)
    time_reversible: bool = False  # Hamiltonian dynamics that can be echoed
    intermediate_measurements: bool = False  # taps between internal layers are observable
    detector_readout: bool = False  # one detector region per class, compared (no linear readout)
    gradient_procedures: tuple[str, ...] = ()  # physical gradient measurements ("adjoint", "ffm")
    description: str = ""


class System(nn.Module, ABC):
    """A physical substrate (pure physics, no trainable state).

    Subclasses set ``name``, ``capabilities``, ``config_class`` and ``presets`` and implement
    :meth:`control_specs`, :meth:`nominal_nuisance`, :meth:`forward` and :attr:`num_outputs`.
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    config_class: ClassVar[type]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    """Named configurations; ``"default"`` must exist."""
    learning_rate: ClassVar[float] = 0.05
    """The Adam learning rate a run uses unless it sets one (``--lr``)."""
    input_range: ClassVar[tuple[float, float] | None] = None
    """The sample values the input encoding represents; it clamps values beyond (None: any real
    value passes). Building an experiment warns when the data exceed it."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    @classmethod
    def from_preset(cls, preset: str = "default", **overrides: Any) -> System:
        """Build from a named preset, with individual fields overridden."""
        if preset not in cls.presets:
            valid = ", ".join(sorted(cls.presets))
            raise ConfigError(f"unknown preset {preset!r} for system {cls.name!r}; choose: {valid}")
        known = sorted(f.name for f in fields(cls.config_class))
        refuse_unknown(overrides, known, kind="option", where=f"for system {cls.name!r}")
        values = {**cls.presets[preset], **overrides}
        for f in fields(cls.config_class):
            if f.name in values and not _has_type(values[f.name], str(f.type)):
                raise ConfigError(
                    f"system option {f.name} of {cls.name!r} must be {f.type}, "
                    f"got {values[f.name]!r}"
                )
        try:
            return cls(cls.config_class(**values))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"invalid {cls.name!r} configuration: {err}") from None

    def describe(self) -> dict[str, Any]:
        """The fully resolved configuration, JSON-serializable."""
        return {"name": self.name, **asdict(self.config)}

    @abstractmethod
    def control_specs(self) -> dict[str, ControlSpec]:
        """The controls θ this system exposes, by name."""

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Initial control values: uniform over the admissible range."""
        out = {}
        for name, spec in self.control_specs().items():
            u = torch.rand(spec.shape, generator=generator, dtype=torch.float32)
            out[name] = spec.project(spec.low + (spec.high - spec.low) * u)
        return out

    @abstractmethod
    def nominal_nuisance(self) -> Nuisance:
        """The design values of every nuisance parameter (what a nominal twin assumes)."""

    output_kind: str = "real"
    """How readouts interpret the outputs: "real", "intensity" or "differential-intensity"."""

    @property
    @abstractmethod
    def num_outputs(self) -> int:
        """Number of measured output channels per input sample."""

    @abstractmethod
    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        """Physics: inputs (B, ...) → measured outputs (B, num_outputs).

        Without ``noise`` the result is deterministic (the noise-free mean for stochastic
        substrates); with it, internal noise is drawn from ``noise.generator``.
        """

    exact_reference: ClassVar[str] = "autograd through the noise-free forward"
    """What :meth:`exact_forward` is, as ``gradcheck`` names its reference."""

    def exact_forward(self, x: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The exact, differentiable expected outputs of the noise-free device: the reference
        of ``gradcheck`` (the oracle). By default :meth:`forward` without noise; a substrate
        whose noise-free forward only approximates that expectation (the Ising machine's
        mean-field twin) overrides it and :attr:`exact_reference`."""
        return self(x, controls, nuisance)

    def check_procedure(self, procedure: str) -> None:
        """Raise :class:`IncompatibleError` (saying what to change) unless this configuration
        can run the physical gradient ``procedure``."""
        if procedure not in self.capabilities.gradient_procedures:
            raise IncompatibleError(
                f"system {self.name!r} has no physical gradient procedure {procedure!r}"
            )

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """Run the physical gradient ``procedure``: the measured outputs y (B, num_outputs), the
        gradient of Σ ⟨output_gradient, y⟩ with respect to the controls as the procedure
        measures it (batch sum, with its measurement noise when ``noise`` is given), and the
        number of physical passes it took per sample."""
        self.check_procedure(procedure)
        raise NotImplementedError(f"{self.name} declares {procedure!r} but does not implement it")
