"""The search space of ``physnn tune``: per method, the hyperparameters searched beside the
learning rate, with their ranges.

Every method searches the Adam learning rate log-uniformly within a factor :data:`LR_SPAN` of
the run's own (the suite's, else the system's suggested rate), and its own options
(:attr:`~physnn.methods.base.GradientEstimator.options_class`) over the ranges of
:data:`SEARCH_SPACE`. The perturbation sizes of the zeroth-order methods are relative to each
control's range, as their options are, and may also be their default "auto" rule (the step
probed from the device's noise floor, :mod:`physnn.methods.perturbation`); the ranges span the
regime from "below the device's noise floor" to "far outside the linear regime", so that the
search, not the table, finds where a method's estimate is good (Spall 1998 for SPSA's c;
Scellier & Bengio 2017 for EP's β). Options that are choices of physics or of instrumentation
rather than hyperparameters (``symmetric`` nudging, ``pump_probe``, quantization ``levels``, the
DFA ``projector``, MGD's ``waveform``) are not searched, nor SPSA's decay exponent ``gamma``
(Spall's recommended 0.101). The table in docs/tuning.md is :func:`markdown_table`'s output.

Nothing here imports torch or Optuna: a trial is anything with Optuna's ``suggest_*`` methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

LR_SPAN = 10.0
"""The learning rate is searched log-uniformly in [lr / LR_SPAN, lr · LR_SPAN]."""


class Trial(Protocol):
    """What a search space asks of a trial (an ``optuna.Trial``)."""

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        """A float in [low, high]."""
        ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
                    ) -> int:  # fmt: skip
        """An integer in [low, high] on the grid low + k · step."""
        ...

    def suggest_categorical(self, name: str, choices: tuple[Any, ...]) -> Any:
        """One of ``choices``."""
        ...


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a float or integer range (log-uniform when ``log``), or a
    choice among ``choices``; with ``auto``, first the choice between the method's "auto" rule
    and a number of the range (the trial's parameter "NAME rule")."""

    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    step: int = 1
    choices: tuple[Any, ...] = ()
    auto: bool = False

    def suggest(self, trial: Trial, name: str) -> Any:
        """This parameter's value in ``trial``."""
        if self.auto and trial.suggest_categorical(f"{name} rule", RULES) == AUTO:
            return AUTO
        if self.choices:
            return trial.suggest_categorical(name, self.choices)
        if self.integer:
            return trial.suggest_int(name, int(self.low), int(self.high), step=self.step,
                                     log=self.log)  # fmt: skip
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def fixed(self, name: str, value: Any) -> dict[str, Any]:
        """The trial parameters that make :meth:`suggest` return ``value`` (a setting to try
        first, such as the run's default: Optuna's ``enqueue_trial``)."""
        if not self.auto:
            return {name: value}
        return {f"{name} rule": AUTO} if value == AUTO else {f"{name} rule": "value", name: value}

    def describe(self) -> str:
        """The range in words, for the documentation's table."""
        if self.choices:
            return "one of " + ", ".join(f"`{c}`" for c in self.choices)
        kind = "integer" if self.integer else "float"
        spacing = "log-uniform " if self.log else "uniform "
        grid = f", step {self.step}" if self.step != 1 else ""
        rule = f'`"{AUTO}"` or a ' if self.auto else ""
        return f"{rule}{spacing}{kind} in [{self.low:g}, {self.high:g}]{grid}"


def floats(low: float, high: float, log: bool = True) -> Param:
    return Param(low, high, log=log)


def ints(low: int, high: int, step: int = 1, log: bool = False) -> Param:
    return Param(low, high, log=log, integer=True, step=step)


def choice(*values: Any) -> Param:
    return Param(choices=values)


AUTO = "auto"  # a step option's rule that probes the device (physnn.methods.perturbation)
RULES = (AUTO, "value")
PERTURBATION = Param(1e-3, 0.25, log=True, auto=True)
"""A zeroth-order step relative to a control's range: "auto", or a number in the span that "auto"
itself searches (from 10⁻³, below most noise floors, to a quarter of the range)."""
NUDGE = floats(1e-3, 1.0)  # β, η, ε of the contrastive methods: small bias … strong signal
LABEL_SCALE = floats(0.25, 4.0)
HEAD_LR = floats(1e-4, 0.1)

SEARCH_SPACE: dict[str, dict[str, Param]] = {
    "fd": {
        "epsilon": PERTURBATION,
        "coordinates": ints(1, 256, log=True),
        "forward": choice(False, True),
    },
    "spsa": {"c": PERTURBATION, "samples": ints(1, 8)},
    "mgd": {"amplitude": PERTURBATION, "tau": ints(2, 32, step=2)},
    "es": {"sigma": PERTURBATION, "population": ints(1, 16)},
    "ep": {"beta": NUDGE},
    "hep": {"beta": NUDGE, "points": ints(2, 8)},
    "coupled": {"eta": NUDGE},
    "freqprop": {"amplitude": NUDGE, "phases": ints(2, 8)},
    "anneal": {
        "t0": floats(1e-4, 0.1),
        "cooling": floats(0.9, 1.0, log=False),
        "flips": ints(1, 8),
    },
    "flip": {"flips": ints(1, 8)},
    "ff": {"threshold": floats(0.05, 5.0), "label_scale": LABEL_SCALE},
    "phyll": {"scale": floats(1.0, 16.0), "label_scale": LABEL_SCALE},
    "local-losses": {"beta": floats(0.0, 1.0, log=False), "head_lr": HEAD_LR},
    "blockwise-ssl": {
        "redundancy_weight": floats(1e-4, 0.1),
        "mask": floats(0.0, 0.5, log=False),
        "noise": floats(0.0, 0.5, log=False),
        "head_lr": HEAD_LR,
    },
    "ridge": {"alpha": floats(1e-6, 1.0)},
    "fa": {"surrogate": choice("one", "cos")},
    "dfa": {"surrogate": choice("one", "cos")},
    "noise-aware": {"assumed_gap": choice("none", "mild", "moderate", "severe")},
}
"""Per method, its options searched beside the learning rate; a method not named here (pat,
insilico, backprop, …) has no hyperparameter of its own and searches the learning rate only."""


def suggest(trial: Trial, method: str, lr: float) -> tuple[float, dict[str, Any]]:
    """The learning rate (around ``lr``) and the method's options that ``trial`` tries."""
    rate = trial.suggest_float("lr", lr / LR_SPAN, lr * LR_SPAN, log=True)
    options = {name: p.suggest(trial, name) for name, p in SEARCH_SPACE.get(method, {}).items()}
    return rate, options


def fixed_params(method: str, lr: float, options: dict[str, Any]) -> dict[str, Any]:
    """The trial parameters of learning rate ``lr`` and the method's ``options`` (the searched
    ones it names; the others are left to the sampler)."""
    params: dict[str, Any] = {"lr": lr}
    for name, param in SEARCH_SPACE.get(method, {}).items():
        if name in options:
            params.update(param.fixed(name, options[name]))
    return params


def markdown_table() -> str:
    """The search space as a Markdown table (docs/tuning.md holds this text)."""
    span = f"[lr / {LR_SPAN:g}, lr · {LR_SPAN:g}]"
    rows = ["| method | searched beside the learning rate |", "|---|---|"]
    rows.append(f"| every method | `lr`: log-uniform in {span} around the run's own rate |")
    for method, params in sorted(SEARCH_SPACE.items()):
        ranges = "; ".join(f"`{name}`: {p.describe()}" for name, p in params.items())
        rows.append(f"| `{method}` | {ranges} |")
    rows.append("| every other method | the learning rate only |")
    return "\n".join(rows)
