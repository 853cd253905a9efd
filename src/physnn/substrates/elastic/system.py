"""A trainable elastic spring network for allostery-type tasks (Stern et al. 2021; Altman et al.
2024).

``num_nodes`` nodes in the plane — uniform random points or a jittered triangular lattice
(``topology``, fixed by ``graph_seed``), lengths in units of the mean spring length — are joined
by the springs of their Delaunay triangulation (a rigid network). The controls are the spring
stiffnesses k_e ∈ [k_min, k_max] (``train="stiffness"``) or, with ``train="rest_length"``, the
rest strains ρ_e ∈ [−rest_range, rest_range] of the springs (ℓ_e = L_e (1 + ρ_e), L_e the
spring's reference length; stiffness 1). A sample x is resampled to ``num_inputs`` values; input
i imposes the strain ``input_scale``·x_i on source pair i (its two nodes are displaced
symmetrically along their axis and held); ``num_pinned`` further nodes are pinned. The outputs
are the strains y_t of ``num_outputs`` target pairs (their distance change over D_t, read
along the pair's reference axis). Sources, targets and
pinned nodes are disjoint (source and target pairs are springs of the network).

The network settles at the minimum of E = ½ Σ_e k_e (d_e − ℓ_e)² (:mod:`physnn.physics.elastic`).
A nudge f pulls the target pairs apart along their axes (F = E − Σ f_t y_t); a clamp holds their
strains. The local derivatives are ∂E/∂k_e = ½ (d_e − ℓ_e)² or ∂E/∂ρ_e = −k_e (d_e − ℓ_e) L_e —
what coupled learning and equilibrium propagation compare between two states (Stern et al.,
PRX 11, 021045 (2021), eqs. for the "stiffness" and "rest length" learning rules).

Physical gradient procedure ``"agnostic"`` (agnostic equilibrium propagation, Scellier et al.,
arXiv:2205.15021 (2022); :mod:`physnn.substrates.elastic.agnostic`): the trained parameters are
compliant degrees of freedom held by a homeostatic controller; under a nudge they move by
themselves, and that displacement is the gradient step.

Nuisance: ``stiffness_scale`` (E,) — each spring realizes k_e·scale_e (stiffness tolerance);
``rest_length_scale`` (E,) — rest lengths ℓ_e·scale_e (fabrication error, a prestress);
``node_offset`` (N, 2) — the built network's node positions differ from the design (springs are
cut to the built distances); ``gauge_noise`` — rms strain noise of every length measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from physnn.physics import elastic as el
from physnn.substrates.elastic.agnostic import agnostic_gradient
from physnn.systems.base import Capabilities, Controls, ControlSpec, NoiseSource, Nuisance
from physnn.systems.energy import Equilibrium
from physnn.systems.equilibrium_network import (
    EquilibriumNetwork,
    check_choice,
    check_counts,
    check_positive,
    node_index,
)

TOPOLOGIES = ("random", "lattice")
TRAINED = ("stiffness", "rest_length")


@dataclass(frozen=True)
class ElasticConfig:
    """Size, geometry and what is trained (lengths in mean spring lengths, stiffness in k₀)."""

    num_nodes: int = 100
    num_inputs: int = 16  # source pairs (a sample is resampled to this many values)
    num_outputs: int = 10  # target pairs (measured strains)
    num_pinned: int = 3  # further nodes held at their reference positions
    topology: str = "random"
    lattice_jitter: float = 0.15  # lattice topology: uniform jitter of every site, ± spacings
    train: str = "stiffness"  # or "rest_length"
    input_scale: float = 0.1  # strain imposed on a source pair per unit of input
    k_min: float = 0.05
    k_max: float = 1.0
    rest_range: float = 0.2  # rest strains ρ ∈ [−rest_range, rest_range]
    graph_seed: int = 0
    agnostic_nudge: float = 1e-3  # agnostic EP: the largest nudge force on a target pair (β)
    agnostic_time: float = 0.1  # agnostic EP: the nudged phase's duration t/γ, γ/(k₀ L̄²)
    agnostic_symmetric: bool = True  # agnostic EP: u held in a −β phase (bias O(β²), not O(β))

    def __post_init__(self) -> None:
        check_counts(self, ("num_inputs", "num_outputs"))
        if self.num_pinned < 0:
            raise ValueError(f"num_pinned must be non-negative, got {self.num_pinned}")
        needed = 2 * (self.num_inputs + self.num_outputs) + self.num_pinned + 1
        if self.num_nodes < needed:
            raise ValueError(
                f"num_nodes must be at least {needed} for {self.num_inputs} source pairs, "
                f"{self.num_outputs} target pairs and {self.num_pinned} pinned nodes, "
                f"got {self.num_nodes}"
            )
        check_choice(self, "topology", TOPOLOGIES)
        check_choice(self, "train", TRAINED)
        if not 0 < self.k_min < self.k_max:
            raise ValueError(f"need 0 < k_min < k_max, got k_min={self.k_min}, k_max={self.k_max}")
        if not 0 < self.rest_range < 1:
            raise ValueError(f"rest_range must be in (0, 1), got {self.rest_range}")
        if not 0 <= self.lattice_jitter < 0.5:
            raise ValueError(f"lattice_jitter must be in [0, 0.5), got {self.lattice_jitter}")
        check_positive(self, ("input_scale", "agnostic_nudge", "agnostic_time"))
        if not isinstance(self.agnostic_symmetric, bool):
            raise ValueError(
                f"agnostic_symmetric must be true or false, got {self.agnostic_symmetric!r}"
            )


class ElasticNetwork(EquilibriumNetwork):
    """Imposed strains on source pairs → spring network → strains of target pairs."""

    name = "elastic"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,
        energy_based=True,
        holomorphic=True,
        # the parameters move themselves under a frozen homeostatic force (Scellier et al. 2022)
        gradient_procedures=("agnostic",),
        description="elastic spring network settling at its energy minimum (trainable "
        "stiffnesses or rest lengths, allostery, batched Newton, implicit gradients)",
    )
    config_class = ElasticConfig
    learning_rate: ClassVar[float] = 0.02
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 16 source pairs (a 4 × 4 thumbnail of a digit) → 100-node network → 10 target pairs.
        "default": {},
        # Stern et al., PRX 11, 021045 (2021), allostery: one source pair, one target pair, a
        # disordered 2-D network of a few hundred nodes whose stiffnesses are trained; the node
        # count, pinning and strain amplitude here are ours.
        "stern2021": {"num_nodes": 128, "num_inputs": 1, "num_outputs": 1, "num_pinned": 3,
                      "input_scale": 0.05},
    }  # fmt: skip

    reading_noise = "gauge_noise"

    # ----------------------------------------------------------------------------- layout
    def layout(self) -> None:
        """Node positions, springs, source and target pairs, pinned nodes (from graph_seed)."""
        c = self.config
        rng = np.random.default_rng(c.graph_seed)
        if c.topology == "lattice":
            points = el.lattice_points(c.num_nodes, c.lattice_jitter, rng)
        else:
            points = el.random_points(c.num_nodes, rng)
        self.points = points
        self.edges = el.triangulated_points(points)
        try:
            self.sources = el.disjoint_pairs(self.edges, c.num_inputs, set(), rng)
            self.targets = el.disjoint_pairs(self.edges, c.num_outputs, set(self.sources.flat), rng)
        except ValueError as err:
            raise ValueError(f"{err}; use more num_nodes or fewer pairs") from None
        taken = set(self.sources.flat) | set(self.targets.flat)
        spare = np.array([n for n in range(c.num_nodes) if n not in taken])
        self.pinned = np.sort(rng.choice(spare, size=c.num_pinned, replace=False))
        self.held = np.concatenate([self.sources.flatten(), self.pinned])
        self.free = np.setdiff1d(np.arange(c.num_nodes), self.held)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        if c.train == "rest_length":
            return {"rest_strain": ControlSpec((self.num_edges,), -c.rest_range, c.rest_range)}
        return {"stiffness": ControlSpec((self.num_edges,), c.k_min, c.k_max, unit="k0")}

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Stiffness: uniform over the bounds; rest strains: zero (the unstressed network)."""
        if self.config.train == "rest_length":
            return {"rest_strain": torch.zeros(self.num_edges)}
        return super().init_controls(generator)

    def nominal_nuisance(self) -> Nuisance:
        return {
            "stiffness_scale": None,  # (E,) realized / written stiffness (1: exact)
            "rest_length_scale": None,  # (E,) realized / designed rest length (1: exact)
            "node_offset": None,  # (N, 2) built − designed node positions
            "gauge_noise": 0.0,  # rms strain noise of every length measurement
        }

    # ----------------------------------------------------------------------------- physics
    def reference(self, nuisance: Nuisance, like: Tensor) -> Tensor:
        """Node positions of the built, unloaded network (N, 2), float64."""
        points = torch.as_tensor(self.points, dtype=torch.float64, device=like.device)
        offset = nuisance.get("node_offset")
        return points if offset is None else points + offset.to(points)

    def lengths(self, ref: Tensor, pairs: np.ndarray) -> Tensor:
        idx = node_index(pairs, ref)
        return (ref[idx[:, 0]] - ref[idx[:, 1]]).norm(dim=-1)

    def springs(self, controls: Controls, nuisance: Nuisance, ref: Tensor) -> tuple[Tensor, Tensor]:
        """Realized stiffness k (E,) and rest length ℓ (E,), float64 (differentiable)."""
        length = self.lengths(ref, self.edges)
        if self.config.train == "rest_length":
            k = torch.ones_like(length)
            rest = length * (1 + controls["rest_strain"].to(length))
        else:
            k, rest = controls["stiffness"].to(length), length
        k = k * _scale(nuisance, "stiffness_scale", k)
        return k, rest * _scale(nuisance, "rest_length_scale", rest)

    def held_positions(self, x: Tensor, ref: Tensor) -> Tensor:
        """Positions (B, N, 2): every node at its reference, each source pair strained by
        input_scale·x along its axis (symmetrically)."""
        strain = self.scaled_inputs(x, like=ref)
        src = node_index(self.sources, ref)
        axis = ref[src[:, 0]] - ref[src[:, 1]]  # (S, 2), length D_s
        shift = 0.5 * strain[..., None] * axis  # (B, S, 2)
        r = ref.expand(strain.shape[0], -1, -1)
        return r.index_add(1, src[:, 0], shift).index_add(1, src[:, 1], -shift)

    def network(self, ref: Tensor) -> el.Network:
        targets = node_index(self.targets, ref)
        axis = ref[targets[:, 0]] - ref[targets[:, 1]]
        gauge = axis / axis.square().sum(-1, keepdim=True)  # n̂ / D
        return el.Network(node_index(self.edges, ref), node_index(self.free, ref), targets, gauge)

    def relax(
        self,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        *,
        nudge: Tensor | None = None,
        clamp: Tensor | None = None,
        noise: NoiseSource | None = None,
    ) -> Equilibrium:
        """Settle free, with forces ``nudge`` pulling the target pairs apart, or with their
        strains held at ``clamp``; read the target strains and every spring's extension. The
        residual reported is the largest unbalanced force on a free node
        (:func:`physnn.physics.elastic.force_residual`), at most 1e-11 after Newton's method,
        which warns when its budget runs out first."""
        dtype = next(iter(controls.values())).dtype
        ref = self.reference(nuisance, next(iter(controls.values())))
        net = self.network(ref)
        k, rest = self.springs(controls, nuisance, ref)
        r0 = self.held_positions(x, ref)
        force = torch.zeros(r0.shape[0], self.num_outputs).to(ref)
        if clamp is not None:
            with torch.no_grad():
                r, force = el.settle_clamped(net, k, rest, r0, clamp.detach().to(ref))
        elif nudge is not None and nudge.is_complex():
            r, dtype = self.settle_holomorphic(net, k, rest, r0, nudge), torch.complex128
            force = nudge.to(r)
        else:
            force = force if nudge is None else nudge.to(ref)
            with torch.no_grad():
                settled = el.settle(net, k.detach(), rest.detach(), r0.detach(), force.detach())
            r = el.implicit_step(net, k, rest, r0, force, settled)
        with torch.no_grad():
            residual = el.force_residual(net, k, rest, r, force)
        outputs = self.read(el.strains(net, r), nuisance, noise)
        extension = self.read_extension(r.detach(), net, rest.detach(), nuisance, noise)
        local = self.local(extension, k.detach(), rest.detach(), controls)
        return Equilibrium(outputs.to(dtype), local, residual)  # local: float64 readings

    def settle_holomorphic(
        self, net: el.Network, k: Tensor, rest: Tensor, r0: Tensor, nudge: Tensor
    ) -> Tensor:
        """Complex positions for a complex nudge (holomorphic EP on a simulated device; no
        gradient: only devices are asked for it)."""
        self.refuse_complex_gradient(nudge, k)
        with torch.no_grad():
            force = nudge.to(device=k.device, dtype=torch.complex128)
            return el.settle_holomorphic(net, k, rest, r0, force)

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """Agnostic equilibrium propagation (Scellier et al., arXiv:2205.15021 (2022); see
        :mod:`physnn.substrates.elastic.agnostic`): the homeostatic controller finds the force u
        that holds the parameters in a phase nudged by −f (``agnostic_symmetric``, the default;
        else in the free phase), then the outputs are nudged by f = −β B g, β =
        ``agnostic_nudge`` / max|B g| (equilibrium propagation's scaling), and the parameters
        move under the frozen u for the time ``agnostic_time``; their displacement is reported
        as ĝ = −Δθ / (T Δβ), Δβ = 2β (or β), the batch sum of the gradient of Σ ⟨g, y⟩. Passes
        per sample: the free phase (the outputs), the hold phase where symmetric, the nudged
        phase. Simulated in float64; the controller reads u through the length gauges."""
        self.check_procedure(procedure)
        ((name, value),) = controls.items()
        theta = value.detach().to(torch.float64)
        with torch.no_grad():
            free = self.relax(x, {name: theta}, nuisance, noise=noise)
            unit = -output_gradient.shape[0] * output_gradient.detach().to(theta)
            peak = float(unit.abs().max())
            beta = self.config.agnostic_nudge / (peak if peak > 0 else 1.0)
            force, hold, contrast, passes = beta * unit, free, beta, 2
            if self.config.agnostic_symmetric:
                hold = self.relax(x, {name: theta}, nuisance, nudge=-force, noise=noise)
                contrast, passes = 2 * beta, 3
        u = hold.local[name]
        grad = agnostic_gradient(self, x, theta, name, nuisance, u, force, contrast)
        return free.outputs.to(value.dtype), {name: grad.to(value.dtype)}, passes

    def local(self, extension: Tensor, k: Tensor, rest: Tensor, controls: Controls) -> Controls:
        """Batch mean of ∂E/∂θ: ½ (d − ℓ)² per stiffness, −k (d − ℓ) ∂ℓ/∂ρ per rest strain
        (∂ℓ/∂ρ = ℓ/(1 + ρ))."""
        if self.config.train == "rest_length":
            slope = rest / (1 + controls["rest_strain"].detach().to(rest))
            return {"rest_strain": (-k * extension * slope).mean(0)}
        return {"stiffness": (0.5 * extension.square()).mean(0)}

    def read_extension(
        self,
        r: Tensor,
        net: el.Network,
        rest: Tensor,
        nuisance: Nuisance,
        noise: NoiseSource | None,
    ) -> Tensor:
        """Measured d_e − ℓ_e of every spring (B, E): length gauge with rms strain noise."""
        d, _ = el.geometry(r, net.edges)
        strain = self.read(d / rest - 1, nuisance, noise)
        return strain * rest


def _scale(nuisance: Nuisance, key: str, like: Tensor) -> Tensor | float:
    value = nuisance.get(key)
    return 1.0 if value is None else torch.as_tensor(value).to(like)
