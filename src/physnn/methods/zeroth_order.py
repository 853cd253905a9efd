"""Zeroth-order training: gradients estimated from device queries alone (model-free).

Let θ ∈ ℝⁿ be the perturbed parameters and L(θ) the batch loss *measured through the device*.
Every estimator here makes P probes θ + a ⊙ u_p (a: the amplitude of each coordinate, u_p: a
dimensionless direction), measures L_p = L(θ + a ⊙ u_p) on the same batch, and forms

* ``fd`` — coordinate finite differences on a set S of k = ``coordinates`` coordinates,
  ĝ_i = [L(θ + a_i e_i) − L(θ − a_i e_i)] / (2 a_i) (central, error O(a²)) or
  ĝ_i = [L(θ + a_i e_i) − L(θ)] / a_i (``forward``, error O(a)); ĝ_i = 0 off S. 2k or k + 1
  probes. By default S is every coordinate (k = n: the full gradient, 2n probes); with a number
  k, step t takes entries tk … tk + k − 1 (mod n) of one random permutation of the coordinates
  drawn at bind time from the run's seed, so every coordinate is differentiated once in each
  ⌈n / k⌉ steps.
* ``spsa`` — simultaneous perturbation stochastic approximation (Spall, IEEE TAC 37, 332 (1992)):
  Δ with independent ±1 (Rademacher) entries, c_k = c / (k + 1)^γ with γ = 0.101 at step k, and
  ĝ = (L(θ + c_k Δ) − L(θ − c_k Δ)) / (2 c_k) · Δ⁻¹, averaged over ``samples`` draws. The gain
  a_k of Spall's update is the optimizer's learning rate here. 2 probes per sample.
* ``mgd`` — multiplexed gradient descent (McCaughan et al., APL Mach. Learn. 1, 026118 (2023)):
  every parameter is perturbed at once for τ time steps with its own distinguishable waveform
  u_i(t) (a balanced random ±1 code, or a sinusoid of one of ⌊(τ−1)/2⌋ frequencies in cosine or
  sine phase with a random sign), zero-mean and of unit mean square over the τ steps. The cost
  is broadcast to all parameters; its change C̃(t) = L_t − ⟨L⟩ (the high-pass filter that removes
  the unperturbed cost) is correlated with each parameter's own perturbation:
  ĝ_i = ⟨C̃(t) u_i(t)⟩_t / a_i. τ probes.
* ``es`` — evolution strategies with antithetic Gaussian sampling (Salimans et al.,
  arXiv:1703.03864 (2017)): ε_j ~ N(0, I), ĝ = Σ_j (L(θ + σ ε_j) − L(θ − σ ε_j)) ε_j / (2 N σ)
  for N = ``population`` pairs: the gradient of the loss smoothed by a Gaussian of width σ.
  2N probes.

What is perturbed. The model is cut after its last physical block. Everything up to that cut
feeds the device and is perturbed: the controls of every physical block, and digital parameters
upstream of a physical block (the input layer of ``hybrid:H``). The digital blocks after the cut
(the readout) get the exact gradient from the measured outputs, by autograd on the digital part
only, with the measured outputs detached — what a lab does. The readout gradient is averaged
over the probes whose perturbations average to zero (all of them, except that forward
differences use their unperturbed probe), so that it is the gradient at θ to O(a²).

Amplitudes. The relative amplitude (``epsilon``, ``c``, ``amplitude``, ``sigma``) is "auto" by
default: a short probe of the device's loss noise and quantization picks the smallest step whose
signal clears the noise (:mod:`physnn.methods.perturbation` states the rule); a number overrides
it. a_i is the method's relative amplitude times the coordinate's range: high − low of
a control (one period for a phase), 1 for a digital weight. On a quantized control it is rounded
to a whole number (at least one) of levels, so that the ±1 perturbations of fd, spsa and mgd's
codes land on levels exactly a_i apart (the Gaussian and sinusoidal ones of es and mgd are
snapped to the nearest levels by the write).

Device honesty. A probe sets the perturbed controls and measures the batch on the device: the
device forward commits each physical block's controls (:meth:`PhysicalBlock.commit`: projected
onto the admissible set once, then ``Device.write``) and queries: one write and B queries per
probe and physical block. The twin is never called. The unperturbed controls are restored in the
model afterwards; the training step commits the updated ones.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

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
from physnn.methods.perturbation import (
    AUTO,
    PAIRS,
    Coordinates,
    ProbeResult,
    draw_directions,
    is_step,
    probe_step,
    projection_cosine,
    rademacher,
)
from physnn.nets.pnn import PNN
from physnn.seeds import derived_seed

# ----------------------------------------------------------------------------- the model, cut
# (PNN.segments: the front, perturbed and measured on the device, and the readout after it)


def readout_backward(loss: Tensor, logits: Tensor) -> tuple[Tensor, Tensor]:
    """Backpropagate a loss of measured outputs into the readout; return (loss, logits)."""
    if loss.requires_grad:
        loss.backward()
    return loss.detach(), logits.detach()


# ----------------------------------------------------------------------------- the estimators

THEORY_SEED = 20
"""The seed of the directions that :meth:`ZerothOrder.expected_cosine` averages over."""


class ZerothOrder(GradientEstimator):
    """Shared probing loop; subclasses give the directions, the amplitude and the estimate.

    The step option (``epsilon``, ``c``, ``amplitude``, ``sigma``) is a number or "auto": then
    :func:`~physnn.methods.perturbation.probe_step` picks it at the first step, along probe
    directions of the subclass's ``probe_kind``."""

    requirements = Requirements(device_forward=True)
    probe_kind: ClassVar[str]
    """How the step probe draws its directions: "coordinate", "rademacher" or "gaussian"."""
    step_field: ClassVar[str]
    """The option that holds the perturbation size: a number relative to the range, or "auto"."""
    pairs_field: ClassVar[str | None] = None
    """The option that holds the number P of antithetic pairs of a random-projection estimator
    (:meth:`expected_cosine`); None for the others."""
    _base: float | None = None
    _probe: ProbeResult | None = None

    def bind(self, model: PNN, seed: int) -> None:
        self._split = model.segments(self.name)
        self._coords = Coordinates(self._split)
        self._generator = generator_for(model, derived_seed(seed, self.name))
        self._probe_generator = generator_for(model, derived_seed(seed, f"{self.name}-probe"))
        self._device = self._coords.scale.device
        self._step = 0
        option = getattr(self.options, self.step_field)
        self._base = None if option == AUTO else float(option)
        self._probe = None

    def base_step(self) -> float:
        """The perturbation size, relative to each coordinate's range: the option or the
        probed one."""
        assert self._base is not None, "the step is probed at the first estimate"
        return self._base

    def relative_amplitude(self) -> float:
        """The perturbation size of this step, relative to each coordinate's range (the base
        step, unless the method schedules it)."""
        return self.base_step()

    @torch.no_grad()
    def _measured_loss(self, offset: Tensor, x: Tensor, y: Tensor, loss_fn: LossFn) -> Tensor:
        """The batch loss measured on the device at θ + offset (θ restored afterwards)."""
        theta = self._coords.values()
        self._coords.assign(theta + offset)
        try:
            return loss_fn(self._split.readout(self._split.measure(x)), y)
        finally:
            self._coords.assign(theta)

    def _choose_step(self, x: Tensor, y: Tensor, loss_fn: LossFn) -> None:
        coords = self._coords
        directions = draw_directions(
            self.probe_kind, PAIRS, coords.size, self._probe_generator, self._device
        )
        self._probe = probe_step(
            lambda offset: self._measured_loss(offset, x, y, loss_fn),
            coords.amplitude,
            directions,
            start=coords.finest_level(),
        )
        self._base = self._probe.step

    @abstractmethod
    def directions(self, n: int) -> Tensor:
        """The (P, n) dimensionless perturbations u_p of this step's probes."""

    @abstractmethod
    def combine(self, losses: Tensor, u: Tensor) -> Tensor:
        """The gradient estimate in units of the amplitude, ĝ_i · a_i, from the P losses."""

    def estimate(self, model: PNN, x: Tensor, y: Tensor, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
        if self._base is None:
            self._choose_step(x, y, loss_fn)
        coords = self._coords
        theta = coords.values()
        amplitude = coords.amplitude(self.relative_amplitude())
        u = self.directions(coords.size)
        measured = []
        for direction in u:
            coords.assign(theta + amplitude * direction)
            measured.append(self._split.measure(x))
        coords.assign(theta)
        logits = torch.stack([self._split.readout(z) for z in measured])
        losses = torch.stack([loss_fn(out, y) for out in logits])
        coords.set_grad(self.combine(losses.detach(), u) / amplitude)
        self._step += 1
        readout = ~u.any(dim=1)  # the unperturbed probes, if any; else all (zero-mean ones)
        if not readout.any():
            readout[:] = True
        return readout_backward(losses[readout].mean(), logits[readout].mean(0))

    def rademacher(self, *shape: int) -> Tensor:
        return rademacher(shape, self._generator, self._device)

    def expected_cosine(self, exact: Mapping[torch.nn.Parameter, Tensor]) -> float | None:
        """For a random-projection estimator (its ``pairs_field`` names the option that holds
        its P): :func:`~physnn.methods.perturbation.projection_cosine` at this step's
        amplitudes, with directions drawn from a stream of their own (training's are left
        alone)."""
        if self.pairs_field is None or self._base is None:
            return None
        g = torch.cat([exact[p].flatten() for p in self._coords.params])
        amplitude = self._coords.amplitude(self.relative_amplitude())
        pairs = getattr(self.options, self.pairs_field)
        generator = torch.Generator(device=self._device).manual_seed(THEORY_SEED)
        return projection_cosine(g, amplitude, self.probe_kind, pairs, generator)

    def describe(self) -> dict[str, Any]:
        if self._probe is None:
            return super().describe()
        probe = self._probe
        return {
            **super().describe(),
            "probed_step": probe.step,
            "noise_floor": probe.noise,
            "probe_measurements": probe.measurements,
            "probe_cleared": probe.cleared,
        }

    def epoch_diagnostics(self) -> dict[str, float]:
        """The step option's value relative to the range, given or probed (once known)."""
        return {} if self._base is None else {"perturbation": self._base}

    def state_dict(self) -> dict[str, Any]:
        probe = None if self._probe is None else asdict(self._probe)
        return {"rng": self._generator.get_state(), "step": self._step, "probe": probe}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["rng"])
        self._step = state["step"]
        probe = state.get("probe")  # None until probed, and in checkpoints older than the probe
        if probe is not None:
            self._probe = ProbeResult(**probe)
            self._base = self._probe.step


@dataclass(frozen=True)
class FiniteDifferenceOptions:
    epsilon: float | str = AUTO
    """Step, relative to each coordinate's range; "auto": probed from the device."""
    coordinates: int | str = "all"
    """Coordinates differentiated per step: "all", or k, the next k of a fixed random cyclic
    order (all of them if k ≥ n)."""
    forward: bool = False
    """Forward differences (k + 1 probes) instead of central ones (2k probes)."""

    def __post_init__(self) -> None:
        require(is_step(self.epsilon), "epsilon", 'positive or "auto"', self.epsilon)
        require(
            self.coordinates == "all" or (is_int(self.coordinates) and self.coordinates >= 1),
            "coordinates",
            'a positive integer or "all"',
            self.coordinates,
        )
        require(isinstance(self.forward, bool), "forward", "true or false", self.forward)


@METHODS.register("fd")
class FiniteDifferences(ZerothOrder):
    name = "fd"
    summary = "coordinate finite differences of the measured loss, every coordinate in turn"
    reference = "Kiefer & Wolfowitz, Ann. Math. Stat. 23, 462 (1952)"
    options_class = FiniteDifferenceOptions
    probe_kind, step_field = "coordinate", "epsilon"

    def bind(self, model: PNN, seed: int) -> None:
        super().bind(model, seed)
        n = self._coords.size
        self._order = torch.randperm(n, generator=self._generator, device=self._device)

    def directions(self, n: int) -> Tensor:
        wanted = self.options.coordinates
        k = n if wanted == "all" else min(wanted, n)
        at = (self._step * k + torch.arange(k, device=self._device)) % n
        chosen = self._order[at]  # step t: entries tk … tk + k − 1 of the cyclic order
        steps = torch.zeros(k, n, device=self._device)
        steps[torch.arange(k, device=self._device), chosen] = 1.0
        if self.options.forward:
            return torch.cat([torch.zeros(1, n, device=self._device), steps])
        return torch.cat([steps, -steps])

    def combine(self, losses: Tensor, u: Tensor) -> Tensor:
        if self.options.forward:  # [L(θ + a e_i) − L(θ)] e_i
            return ((losses[1:] - losses[0])[:, None] * u[1:]).sum(0)
        k = len(u) // 2  # [L(θ + a e_i) − L(θ − a e_i)] / 2 · e_i
        return ((losses[:k] - losses[k:])[:, None] * u[:k]).sum(0) / 2


@dataclass(frozen=True)
class SpsaOptions:
    c: float | str = AUTO
    """Initial perturbation c_0, relative to each coordinate's range; "auto": probed."""
    gamma: float = 0.101
    """Decay exponent of c_k = c / (k + 1)^γ (Spall's recommended value)."""
    samples: int = 1
    """Perturbation pairs averaged per step (2 probes each)."""

    def __post_init__(self) -> None:
        require(is_step(self.c), "c", 'positive or "auto"', self.c)
        require(is_number(self.gamma) and self.gamma >= 0, "gamma", "non-negative", self.gamma)
        require(
            is_int(self.samples) and self.samples >= 1,
            "samples",
            "a positive integer",
            self.samples,
        )


@METHODS.register("spsa")
class Spsa(ZerothOrder):
    name = "spsa"
    summary = "simultaneous ±1 perturbation of every control, 2 device queries per estimate"
    reference = "Spall, IEEE Trans. Autom. Control 37, 332 (1992)"
    options_class = SpsaOptions
    probe_kind, step_field, pairs_field = "rademacher", "c", "samples"

    def relative_amplitude(self) -> float:
        return self.base_step() / (self._step + 1) ** self.options.gamma

    def directions(self, n: int) -> Tensor:
        delta = self.rademacher(self.options.samples, n)
        return torch.cat([delta, -delta])

    def combine(self, losses: Tensor, u: Tensor) -> Tensor:
        s = self.options.samples
        delta, plus, minus = u[:s], losses[:s], losses[s:]
        return ((plus - minus)[:, None] / (2 * delta)).mean(0)


@dataclass(frozen=True)
class MgdOptions:
    tau: int = 8
    """Time steps (probes) over which the perturbations are integrated into one estimate."""
    amplitude: float | str = AUTO
    """Perturbation amplitude Δθ, relative to each coordinate's range; "auto": probed."""
    waveform: str = "code"
    """"code": balanced random ±1 codes (τ even); "sinusoid": distinct frequencies (τ ≥ 3)."""

    def __post_init__(self) -> None:
        require(is_int(self.tau) and self.tau >= 2, "tau", "an integer of at least 2", self.tau)
        require(is_step(self.amplitude), "amplitude", 'positive or "auto"', self.amplitude)
        require(
            self.waveform in ("code", "sinusoid"), "waveform", "code or sinusoid", self.waveform
        )
        if self.waveform == "code":
            require(self.tau % 2 == 0, "tau", "even for balanced ±1 codes", self.tau)
        else:
            require(self.tau >= 3, "tau", "at least 3 for sinusoids", self.tau)


@METHODS.register("mgd")
class MultiplexedGradientDescent(ZerothOrder):
    name = "mgd"
    summary = "all controls perturbed at once with distinguishable codes; cost-change correlation"
    reference = "McCaughan et al., APL Mach. Learn. 1, 026118 (2023)"
    options_class = MgdOptions
    probe_kind, step_field = "rademacher", "amplitude"

    def directions(self, n: int) -> Tensor:
        tau = self.options.tau
        if self.options.waveform == "code":  # each column: a random order of τ/2 (+1) and (−1)
            noise = torch.rand(tau, n, generator=self._generator, device=self._device)
            return torch.where(noise.argsort(0) < tau // 2, 1.0, -1.0)
        frequencies = (tau - 1) // 2
        which = torch.randint(
            0, 2 * frequencies, (n,), generator=self._generator, device=self._device
        )
        t = torch.arange(tau, device=self._device)[:, None]
        phase = 2 * math.pi * (which // 2 + 1) * t / tau
        wave = torch.where(which % 2 == 0, torch.cos(phase), torch.sin(phase))
        return math.sqrt(2) * wave * self.rademacher(n)

    def combine(self, losses: Tensor, u: Tensor) -> Tensor:
        change = losses - losses.mean()  # C̃(t): the broadcast cost, high-pass filtered
        return (change[:, None] * u).mean(0)


@dataclass(frozen=True)
class EsOptions:
    population: int = 4
    """Antithetic pairs per step (2 probes each)."""
    sigma: float | str = AUTO
    """Standard deviation of the Gaussian perturbation, relative to each coordinate's range;
    "auto": probed."""

    def __post_init__(self) -> None:
        require(
            is_int(self.population) and self.population >= 1,
            "population",
            "a positive integer",
            self.population,
        )
        require(is_step(self.sigma), "sigma", 'positive or "auto"', self.sigma)


@METHODS.register("es")
class EvolutionStrategies(ZerothOrder):
    name = "es"
    summary = "antithetic Gaussian perturbations of every control (evolution strategies)"
    reference = "Salimans et al., arXiv:1703.03864 (2017)"
    options_class = EsOptions
    probe_kind, step_field, pairs_field = "gaussian", "sigma", "population"

    def directions(self, n: int) -> Tensor:
        eps = torch.randn(
            self.options.population, n, generator=self._generator, device=self._device
        )
        return torch.cat([eps, -eps])

    def combine(self, losses: Tensor, u: Tensor) -> Tensor:
        pairs = self.options.population
        eps, plus, minus = u[:pairs], losses[:pairs], losses[pairs:]
        return ((plus - minus)[:, None] * eps).sum(0) / (2 * pairs)
