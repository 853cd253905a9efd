"""Calibrated twin: the system's physics with some nuisance parameters fitted to the device.

The nuisance of a system (:meth:`System.nominal_nuisance`) holds what the builder does not
control exactly: plane misalignments of a diffractive network, splitter and heater errors of
an MZI mesh, frequency errors of an oscillator chain … The nominal twin assumes the design
values. A calibrated twin fits a chosen subset to acquired device data,

    ν̂ = argmin_ν  Σ_settings Σ_samples ‖f(x, θ; ν) − y_measured‖² / σ_y²,

with Adam on minibatches of control settings (seeded), working in units in which the expected
errors are of order one (pixels of lateral shift, wavelengths of axial shift, per cent of
relative error …). The error is not convex in the nuisance (a diffractive plane's shift has a
basin about a pixel wide), so the fit explores from several starts — the design and random
draws around it — keeps the one that fits the data best, fits it on and polishes it with
full-batch L-BFGS (:meth:`CalibratedTwin.initial_fit`). Everything else stays at its design
value, so a perturbation that is not fitted (fabrication phase error, quantization, noise)
leaves a residual error, and biases the fitted values. Calibrating nuisance parameters against
measurements is how the physics-based twins of Wright et al. (Nature 601, 549 (2022)) and
Onodera et al. (arXiv:2402.17343) were made.

Which entries can be fitted is part of each substrate's record
(:attr:`physnn.substrates.Substrate.calibratable`), and so are the defaults
(:attr:`~physnn.substrates.Substrate.calibrate`), the low-dimensional ones that the data
identify well. Where
the physics switches an effect off by testing for exactly zero (a diffractive network's
absorption α, an MZI mesh's crosstalk κ) there is no gradient at the design value, so the fit
starts a hair away from it (α = 1e-4 per rad, κ = 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.substrates import SUBSTRATES, Calibratable
from physnn.systems.base import Controls, Nuisance, System
from physnn.twins.acquisition import (
    FitData,
    FitOptions,
    _positive_int,
    _require,
    unflatten_controls,
)
from physnn.twins.fitted import FittedTwin

SMALL = 16
"""Fitted entries with at most this many values are listed in the run's result."""


@dataclass(frozen=True)
class CalibratedOptions(FitOptions):
    parameters: tuple[str, ...] | list[str] | str | None = None  # None: the system's defaults
    settings_per_step: int = 4  # control settings in each optimizer step
    steps: int = 600
    lr: float = 0.1  # Adam step, in the entries' fit units
    restarts: int = 6  # starts of the fit: the design and restarts − 1 random draws
    scout_steps: int | None = None  # steps fitted from each start (None: steps // 6)
    polish_iterations: int = 20  # full-batch L-BFGS iterations at the end (0: none)
    scan_rounds: int = 2  # coarse scans of the design start, until one changes nothing (0: none)
    scan_settings: int = 12  # control settings that score the coarse scan

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.parameters, str):
            names = tuple(p.strip() for p in self.parameters.split(",") if p.strip())
            object.__setattr__(self, "parameters", names)
        elif self.parameters is not None:
            if not all(isinstance(p, str) for p in self.parameters) or not self.parameters:
                raise ValueError(f"parameters must be a list of names, got {self.parameters!r}")
            object.__setattr__(self, "parameters", tuple(self.parameters))
        for name in ("settings_per_step", "restarts", "scan_settings"):
            _require(
                _positive_int(getattr(self, name)), name, "a positive integer", getattr(self, name)
            )
        _require(
            self.scout_steps is None
            or (_positive_int(self.scout_steps) and self.scout_steps <= self.steps),
            "scout_steps",
            "a positive integer no larger than steps",
            self.scout_steps,
        )
        for name in ("polish_iterations", "scan_rounds"):
            value = getattr(self, name)
            _require(
                isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                name,
                "a non-negative integer",
                value,
            )

    @property
    def steps_per_start(self) -> int:
        return self.scout_steps if self.scout_steps is not None else max(1, self.steps // 6)


def calibratable(system: System) -> dict[str, Calibratable]:
    """The entries a calibrated twin of ``system`` can fit, or a ConfigError."""
    entries = SUBSTRATES[system.name].calibratable if system.name in SUBSTRATES else {}
    if not entries:
        fitted = sorted(name for name, record in SUBSTRATES.items() if record.calibratable)
        raise ConfigError(
            f"the calibrated twin has no nuisance model for system {system.name!r}; it supports "
            f"{', '.join(fitted)} (the learned twin works on any system)"
        )
    return dict(entries)


class CalibratedTwin(FittedTwin):
    """The system's physics at the design nuisance, some entries replaced by fitted values.

    Each fitted entry is a buffer ``offset_<name>``: its deviation from the design in the
    entry's fit unit (before the fit: the start, zero for most entries).
    """

    kind = "calibrated"

    def __init__(self, system: System, options: CalibratedOptions) -> None:
        super().__init__(system, options)
        offered = calibratable(system)
        names = options.parameters or SUBSTRATES[system.name].calibrate
        unknown = sorted(set(names) - set(offered))
        if unknown:
            raise ConfigError(
                f"the calibrated twin cannot fit {', '.join(unknown)} of system "
                f"{system.name!r}; it can fit {', '.join(offered)}"
            )
        self.entries = {name: offered[name] for name in names}
        self.design: Nuisance = system.nominal_nuisance()
        for name, entry in self.entries.items():
            start = torch.full(self._shape(name, entry), entry.start)
            self.register_buffer(f"offset_{name}", start)

    def _shape(self, name: str, entry: Calibratable) -> tuple[int, ...]:
        design = self.design[name]
        if design is None:
            assert entry.shape is not None, f"{name} needs a shape"
            return entry.shape(self.system)
        return tuple(torch.as_tensor(design).shape)

    def offsets(self) -> dict[str, Tensor]:
        return {name: getattr(self, f"offset_{name}") for name in self.entries}

    def nuisance(self, offsets: dict[str, Tensor]) -> Nuisance:
        """The design nuisance with every fitted entry at design + unit × offset."""
        out = dict(self.design)
        for name, entry in self.entries.items():
            offset = offsets[name]
            design = self.design[name]
            base = torch.zeros_like(offset) if design is None else torch.as_tensor(design)
            out[name] = base.to(offset) + entry.size(self.system) * offset
        return out

    def forward(self, x: Tensor, controls: Controls) -> Tensor:
        return self.system(x, controls, self.nuisance(self.offsets()))

    def setting_loss(self, data: FitData, k: int, nuisance: Nuisance) -> Tensor:
        """Mean squared error over the samples of setting ``k`` of ``data``, in units of σ_y²."""
        rows = (data.setting == k).nonzero().squeeze(1)
        controls = unflatten_controls(data.controls[k], self.specs)
        predicted = self.system(data.inputs[rows], controls, nuisance)
        return (predicted - data.outputs[rows]).square().mean() / self.output_scale.square()

    def train_on(
        self, data: FitData, steps: int, generator: torch.Generator, *, anneal: bool = True
    ) -> None:
        """Adam on minibatches of settings, its step annealed (cosine) to a tenth of ``lr``, or
        kept at ``lr`` to explore (``anneal=False``)."""
        params = {
            name: value.detach().clone().requires_grad_() for name, value in self.offsets().items()
        }
        optimizer = torch.optim.Adam(params.values(), lr=self.options.lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, steps, eta_min=0.1 * self.options.lr if anneal else self.options.lr
        )
        for _ in range(steps):
            picks = torch.multinomial(
                data.weight.cpu(), self.options.settings_per_step, replacement=True,
                generator=generator,
            )  # fmt: skip
            nuisance = self.nuisance(params)
            loss = sum(self.setting_loss(data, k, nuisance) for k in picks.tolist())
            optimizer.zero_grad(set_to_none=True)
            (loss / len(picks)).backward()
            optimizer.step()
            schedule.step()
        self.assign(params)

    def assign(self, offsets: dict[str, Tensor]) -> None:
        for name, value in offsets.items():
            setattr(self, f"offset_{name}", value.detach().clone())

    def initial_fit(self, data: FitData, generator: torch.Generator) -> dict[str, Any]:
        """Multi-start, then polish.

        The fit is not convex: a diffractive mask is a pixel-scale random pattern, so the
        error as a function of one plane's shift has a basin about a pixel wide around the
        truth (an axial offset's about a wavelength wide) and is nearly flat beyond it, and the
        minibatch noise that carries Adam across such plateaus also decides where it stops.
        So: first a coarse scan moves a copy of the design towards the basin
        (:meth:`coarse_scan`); then the starts — the design, the scanned design if the scan
        moved anything (its score on a few settings can mislead it out of a basin the design
        was in), and ``restarts`` − 1 draws of N(start, spread²) for every entry with a
        spread (the axial offsets included) — are each fitted for ``scout_steps`` steps at
        the full step ``lr`` (exploring); the one with the least error on the fitting data
        (never anything else) is fitted on, its step annealed, to ``steps`` steps in all; then
        ``polish_iterations`` of full-batch L-BFGS descend to the bottom of its basin without
        minibatch noise. With one start it is ``steps`` annealed steps.
        """
        o = self.options
        scan = self.coarse_scan(data)
        fixed = [self.offsets()] + ([scan["offsets"]] if scan["moves"] else [])
        count = len(fixed) + o.restarts - 1
        scout = o.steps_per_start if count > 1 else o.steps
        candidates, errors = [], []
        for r in range(count):
            self.assign(fixed[r] if r < len(fixed) else self.draw_start(generator))
            self.train_on(data, scout, generator, anneal=count == 1)
            candidates.append(self.offsets())
            errors.append(self.error_on(data))
        best = min(range(count), key=errors.__getitem__)
        self.assign(candidates[best])
        if scout < o.steps:
            self.train_on(data, o.steps - scout, generator)
        before = self.error_on(data)
        if o.polish_iterations:
            self.polish(data, o.polish_iterations, before)
        return {
            "scan": {k: v for k, v in scan.items() if k != "offsets"},
            "starts": {"errors": errors, "chosen": best, "steps_each": scout},
            "polish": {"error_before": before, "iterations": o.polish_iterations},
        }

    def coarse_scan(self, data: FitData) -> dict[str, Any]:
        """Coordinate search on a grid, from the current offsets, without gradients.

        Each value of every entry with ``scan`` steps (a plane's x or y shift) is tried at its
        current value plus each step, one value at a time, the others held; the best value
        (least squared error on the first ``scan_settings`` settings) is kept before the next
        one is tried. Rounds repeat until one changes nothing, at most ``scan_rounds``. A
        plane 2 px off lies beyond the reach of the gradient (its basin is about a pixel wide)
        but on the grid's; the gradient fit then takes it to the bottom of its basin.
        """
        offsets = {name: value.clone() for name, value in self.offsets().items()}
        scanned = [name for name in offsets if self.entries[name].scan]
        settings = range(min(self.options.scan_settings, len(data.controls)))

        @torch.no_grad()
        def score() -> float:
            nuisance = self.nuisance(offsets)
            return sum(float(self.setting_loss(data, k, nuisance)) for k in settings)

        best = before = score()
        moves, rounds = 0, 0
        for _ in range(self.options.scan_rounds if scanned else 0):
            rounds, moves_before = rounds + 1, moves
            for name in scanned:
                flat = offsets[name].view(-1)
                for i in range(flat.numel()):
                    here = keep = float(flat[i])
                    for step in self.entries[name].scan:
                        flat[i] = here + step
                        if (error := score()) < best:
                            best, keep = error, here + step
                    flat[i] = keep
                    moves += keep != here
            if moves == moves_before:
                break
        return {"offsets": offsets, "rounds": rounds, "moves": moves, "error_before": before,
                "error_after": best}  # fmt: skip

    def draw_start(self, generator: torch.Generator) -> dict[str, Tensor]:
        """A random start: each entry at start + spread × N(0, 1) (fit units)."""
        out = {}
        for name, offset in self.offsets().items():
            entry = self.entries[name]
            noise = torch.randn(offset.shape, generator=generator).to(offset)
            out[name] = torch.full_like(offset, entry.start) + entry.spread * noise
        return out

    def polish(self, data: FitData, iterations: int, before: float) -> None:
        """Full-batch L-BFGS (strong Wolfe line search) from the current values, whose error on
        ``data`` is ``before``; its result is kept only if it lowers that error."""
        previous = self.offsets()
        params = {name: value.detach().clone().requires_grad_() for name, value in previous.items()}
        optimizer = torch.optim.LBFGS(
            list(params.values()), max_iter=iterations, line_search_fn="strong_wolfe"
        )
        weights = data.weight.tolist()

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for k, weight in enumerate(weights):  # one graph per setting: bounded memory
                loss = weight * self.setting_loss(data, k, self.nuisance(params))
                loss.backward()
                total += float(loss.detach())
            return torch.tensor(total)

        optimizer.step(closure)
        self.assign(params)
        if not self.error_on(data) < before:
            self.assign(previous)

    def describe_fit(self) -> dict[str, Any]:
        fitted = {}
        for name, offset in self.offsets().items():
            values = offset.detach().cpu()
            summary: dict[str, Any] = {
                "unit": self.entries[name].unit,
                "count": values.numel(),
                "rms": float(values.square().mean().sqrt()),
            }
            if values.numel() <= SMALL:
                summary["values"] = values.tolist()
            fitted[name] = summary
        return {"parameters": fitted}
