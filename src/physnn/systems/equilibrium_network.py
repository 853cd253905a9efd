"""Equilibrium networks: nodes joined by edges whose physical elements are the controls (the
resistive network's conductances, the elastic network's springs), settling at the minimum of an
energy that is a sum over the edges.

The layout (which nodes are sources, outputs, held or free, and the edges between them) is fixed
by the config's ``graph_seed`` when the system is built (:meth:`EquilibriumNetwork.layout`). A
sample x is resampled to ``num_inputs`` values and imposed on the source nodes as
``input_scale``·x (voltages, strains); the outputs are ``num_outputs`` measured node quantities.
The network is solved by Newton's method and differentiated implicitly; a complex nudge
(holomorphic EP on a simulated device) is solved in complex arithmetic with no gradient. Every
measurement — the outputs and the per-edge quantities of the local rule ∂E/∂θ_e — carries white
noise of the rms that the nuisance entry ``reading_noise`` names (:meth:`EquilibriumNetwork.read`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from physnn.systems.base import NoiseSource, Nuisance
from physnn.systems.encoding import as_vector
from physnn.systems.energy import EnergySystem


def check_counts(config: Any, names: tuple[str, ...]) -> None:
    """Raise ValueError unless every named config field is at least 1."""
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be a positive integer, got {getattr(config, name)}")


def check_positive(config: Any, names: tuple[str, ...]) -> None:
    """Raise ValueError unless every named config field is positive."""
    for name in names:
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)}")


def check_choice(config: Any, name: str, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless the named config field is one of ``choices``."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def node_index(idx: np.ndarray, like: Tensor) -> Tensor:
    """Node (or edge) indices as a long tensor on ``like``'s device."""
    return torch.as_tensor(idx, dtype=torch.long, device=like.device)


class EquilibriumNetwork(EnergySystem):
    """An energy system of nodes and trainable edges (see the module)."""

    reading_noise: ClassVar[str]
    """The nuisance entry: rms noise of every measurement, in the measured quantity's unit."""

    edges: np.ndarray  # (E, 2) node pairs, set by :meth:`layout`

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.layout()

    @abstractmethod
    def layout(self) -> None:
        """Fix the nodes and ``edges`` of the network from the config (and its graph_seed)."""

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    def scaled_inputs(self, x: Tensor, like: Tensor | None = None) -> Tensor:
        """input_scale·x (B, num_inputs), x resampled to ``num_inputs`` values (kept as given,
        dtype included, when it has exactly that many) and converted to ``like`` if given."""
        c = self.config
        exact = x.dim() == 2 and x.shape[1] == c.num_inputs  # keep the dtype (float64 tests)
        values = x if exact else as_vector(x, c.num_inputs)
        return c.input_scale * (values if like is None else values.to(like))

    def read(self, value: Tensor, nuisance: Nuisance, noise: NoiseSource | None) -> Tensor:
        """A measurement of ``value``: value + σ·ε with the nuisance's rms noise σ."""
        sigma = nuisance.get(self.reading_noise, 0.0)
        if noise is None or not sigma:
            return value
        return value + sigma * noise.standard_normal(value)

    def refuse_complex_gradient(self, nudge: Tensor, element: Tensor) -> None:
        """Raise NotImplementedError where autograd would differentiate a complex solve (only
        devices are asked for complex nudges)."""
        if torch.is_grad_enabled() and (nudge.requires_grad or element.requires_grad):
            raise NotImplementedError(
                f"complex nudges of the {self.name} network are not differentiable"
            )
