"""A trainable nonlinear resistive network (Kendall et al. 2020; Dillavou et al. 2022, 2024).

Nodes are joined by edges of trainable conductance G_e ∈ [g_min, g_max] (the controls, in units
of a reference conductance G₀). A sample x is resampled to ``num_inputs`` values and applied as
voltages ``input_scale``·x on the input nodes — with ``differential_inputs`` also −input_scale·x
on a mirrored node each, so that an all-positive network can subtract (Kendall et al. 2020) —
and ``num_bias`` bias nodes are held alternately at +bias_voltage and −bias_voltage. Every
hidden node carries a pair of clipping diodes to the rails ±diode_threshold (with ``diodes``),
the network's nonlinearity. The outputs are the voltages of ``num_outputs`` nodes. The network
settles at the minimum of its co-content (:mod:`physnn.physics.resistive`); the local
derivative at edge e is ∂E/∂G_e = ½ ΔV_e² (the quantity coupled learning and equilibrium
propagation compare between two states).

In situ (``gradient_procedures``: ``"lock-in"``, :meth:`ResistiveNetwork.measured_gradient`):
every node has a capacitance ``node_capacitance`` to ground; an AC current at the outputs drives
the network's real RC dynamics and every edge locks in on its ½ ΔV_e(t)² at the drive's
frequency (frequency propagation's AC circuit, Anisetti et al., Neural Comput. 36, 596 (2024);
holomorphic EP with a real oscillating nudge, Laborieux & Zenke, NeurIPS 2022).

Topologies (fixed by ``graph_seed``): ``layered`` — inputs and bias → ``hidden_layers`` layers
of ``num_hidden`` nodes → outputs, all-to-all between consecutive layers, the bias nodes joined
to every later node; ``random`` — a ring through all nodes plus random chords up to a mean
``degree``.

Nuisance: ``conductance_scale`` (E,) — each edge realizes G_e·scale_e (component tolerance);
``diode_scale`` / ``diode_offset`` (hidden,) — per-node spread of g_d and V_t;
``voltmeter_noise`` — rms noise (V) of every node-voltage measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from physnn.physics import lockin
from physnn.physics import resistive as rn
from physnn.systems.base import Capabilities, Controls, ControlSpec, NoiseSource, Nuisance
from physnn.systems.energy import Equilibrium
from physnn.systems.equilibrium_network import (
    EquilibriumNetwork,
    check_choice,
    check_counts,
    check_positive,
    node_index,
)

TOPOLOGIES = ("layered", "random")


@dataclass(frozen=True)
class ResistiveConfig:
    """Size, topology and elements of the network (voltages in volts, conductances in G₀)."""

    num_inputs: int = 16  # input voltage sources (a sample is resampled to this many values)
    num_outputs: int = 10  # output nodes (measured voltages)
    num_hidden: int = 32  # hidden nodes per layer (layered) or in all (random)
    hidden_layers: int = 1  # layered topology only
    topology: str = "layered"
    degree: float = 6.0  # mean node degree of the random topology
    num_bias: int = 2  # bias sources, alternately at +bias_voltage and −bias_voltage
    bias_voltage: float = 1.0
    differential_inputs: bool = True  # also apply −x on a mirrored source per input
    input_scale: float = 3.0  # volts per unit of input (beyond the diode rails: they act)
    diodes: bool = True  # clipping diode pair on every hidden node
    diode_conductance: float = 20.0  # g_d of a conducting diode, G₀ (≫ g_max: clips hard)
    diode_threshold: float = 0.5  # V_t: the diodes clip hidden voltages near ±V_t
    diode_smoothing: float = 0.05  # s of the smooth rectifier, volts
    g_min: float = 0.01
    g_max: float = 1.0
    graph_seed: int = 0
    # The "lock-in" gradient procedure (times in μs; R₀ = 1/G₀, so ωR₀C = ω·C):
    node_capacitance: float = 1.0  # C of every node to ground, G₀·μs (0: quasi-static)
    lockin_frequency: float = 0.01  # ω of the AC error current, rad/μs
    lockin_periods: int = 10  # M periods the lock-in integrates
    lockin_settle: int = 1  # periods discarded first (the turn-on transient)
    lockin_steps: int = 32  # integration steps (voltage samples) per period

    def __post_init__(self) -> None:
        check_counts(self, ("num_inputs", "num_outputs", "num_hidden", "hidden_layers"))
        if self.num_bias < 0:
            raise ValueError(f"num_bias must be non-negative, got {self.num_bias}")
        check_choice(self, "topology", TOPOLOGIES)
        if not 0 < self.g_min < self.g_max:
            raise ValueError(f"need 0 < g_min < g_max, got g_min={self.g_min}, g_max={self.g_max}")
        check_positive(self, ("diode_conductance", "diode_smoothing", "input_scale", "degree"))
        if self.diode_threshold < 0:
            raise ValueError(f"diode_threshold must be non-negative, got {self.diode_threshold}")
        if self.topology == "random" and self.degree < 2:
            raise ValueError(f"degree must be at least 2 (a ring), got {self.degree}")
        check_positive(self, ("lockin_frequency", "lockin_periods"))
        if self.node_capacitance < 0 or self.lockin_settle < 0:
            raise ValueError("node_capacitance and lockin_settle must be non-negative")
        if self.lockin_steps < 4:
            raise ValueError(f"lockin_steps must be at least 4, got {self.lockin_steps}")


class ResistiveNetwork(EquilibriumNetwork):
    """Voltage sources → resistor network with clipping diodes → output node voltages."""

    name = "resistive"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,
        energy_based=True,
        holomorphic=True,
        gradient_procedures=("lock-in",),
        description="nonlinear resistive network settling at its co-content minimum "
        "(trainable conductances, diodes, sparse Newton solve, implicit gradients)",
    )
    config_class = ResistiveConfig
    learning_rate: ClassVar[float] = 0.02
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 16 inputs (4 × 4 thumbnail of a digit, ±x) and 2 bias → 32 hidden → 10 outputs.
        "default": {},
        # Dillavou et al., PR Applied 18, 014040 (2022): 16 variable resistors, linear (no
        # diodes), 2 inputs and 2 outputs (their regression set-up); the graph layout is ours.
        "dillavou2022": {"num_inputs": 2, "num_outputs": 2, "num_hidden": 3, "num_bias": 1,
                         "topology": "random", "degree": 4.0, "diodes": False,
                         "differential_inputs": False},
    }  # fmt: skip

    reading_noise = "voltmeter_noise"

    # ----------------------------------------------------------------------------- layout
    def layout(self) -> None:
        """Node indices: sources (inputs, mirrored inputs, bias), outputs, hidden."""
        c = self.config
        n_src = c.num_inputs * (2 if c.differential_inputs else 1) + c.num_bias
        self.sources = np.arange(n_src)
        self.bias = np.arange(n_src - c.num_bias, n_src)
        self.outputs = np.arange(n_src, n_src + c.num_outputs)
        total_hidden = c.num_hidden * (c.hidden_layers if c.topology == "layered" else 1)
        self.hidden = np.arange(n_src + c.num_outputs, n_src + c.num_outputs + total_hidden)
        self.num_nodes = int(n_src + c.num_outputs + total_hidden)
        rng = np.random.default_rng(c.graph_seed)
        if c.topology == "random":
            self.edges = rn.ring_and_chords(self.num_nodes, c.degree, rng)
        else:
            inputs = list(range(n_src - c.num_bias))
            hidden = np.split(self.hidden, c.hidden_layers)
            layers = [inputs, *[h.tolist() for h in hidden], self.outputs.tolist()]
            self.edges = rn.layered(layers, self.bias.tolist())
        signs = np.where(np.arange(c.num_bias) % 2 == 0, 1.0, -1.0)
        self.bias_values = c.bias_voltage * signs

    def network(self, nuisance: Nuisance, clamped: bool) -> rn.Network:
        """The circuit of the (nominal or perturbed) device; outputs held when ``clamped``."""
        c = self.config
        diode_nodes = self.hidden if c.diodes else np.zeros(0, dtype=np.int64)
        scale = _array(nuisance.get("diode_scale"), len(diode_nodes), 1.0)
        offset = _array(nuisance.get("diode_offset"), len(diode_nodes), 0.0)
        fixed = np.concatenate([self.sources, self.outputs]) if clamped else self.sources
        return rn.Network(
            self.num_nodes,
            self.edges,
            fixed,
            self.outputs,
            diode_nodes,
            c.diode_conductance * scale,
            c.diode_threshold + offset,
            c.diode_smoothing,
        )

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {"conductance": ControlSpec((self.num_edges,), c.g_min, c.g_max, unit="G0")}

    def nominal_nuisance(self) -> Nuisance:
        return {
            "conductance_scale": None,  # (E,) realized / written conductance (1: exact)
            "diode_scale": None,  # (hidden,) relative g_d of each node's diodes
            "diode_offset": None,  # (hidden,) threshold offset of each node's diodes, V
            "voltmeter_noise": 0.0,  # rms noise of every node-voltage reading, V
        }

    # ----------------------------------------------------------------------------- physics
    def source_voltages(self, x: Tensor) -> Tensor:
        """Voltages of the source nodes (B, |sources|): inputs, mirrored inputs, bias."""
        v = self.scaled_inputs(x)
        parts = [v, -v] if self.config.differential_inputs else [v]
        bias = torch.as_tensor(self.bias_values, device=v.device).to(v).expand(v.shape[0], -1)
        return torch.cat([*parts, bias], dim=1)

    def realized_conductance(self, controls: Controls, nuisance: Nuisance) -> Tensor:
        g = controls["conductance"]
        scale = nuisance.get("conductance_scale")
        return g if scale is None else g * scale.to(g)

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
        """Settle free, with currents ``nudge`` injected at the outputs, or with the outputs
        held at ``clamp`` by sources; read all node voltages (with voltmeter noise), in
        float64: the local derivatives stay float64 (the contrast of two of them over a small
        nudge would lose digits in the controls' float32), the outputs take the controls'
        dtype. The residual reported is the largest net current left at a free node, relative
        (:func:`physnn.physics.resistive.kirchhoff_residual`): round-off for a linear network
        (an exact sparse solve), at most 1e-10 after Newton's method with diodes, which warns
        when its 60 iterations run out first."""
        dtype = controls["conductance"].dtype
        g = self.realized_conductance(controls, nuisance).double()  # readings in float64
        sources = self.source_voltages(x).to(g)
        net = self.network(nuisance, clamped=clamp is not None)
        fixed = sources if clamp is None else torch.cat([sources, clamp.to(g)], dim=1)
        force = torch.zeros(x.shape[0], self.num_outputs).to(g)
        if nudge is not None and clamp is None:
            force = nudge if nudge.is_complex() else nudge.to(g)
        if force.is_complex():
            volts = self.settle_holomorphic(net, g, fixed, force)
        else:
            free = rn.SettleFunction.apply(net, g, fixed, force)
            volts = torch.empty(x.shape[0], self.num_nodes).to(g)
            volts = volts.index_copy(1, node_index(net.fixed, g), fixed).index_copy(
                1, node_index(net.free, g), free
            )
        residual = rn.kirchhoff_residual(
            net, rn.to_numpy(g), volts.detach().cpu().numpy(), force.detach().cpu().numpy()
        )
        volts = self.read(volts, nuisance, noise)
        i, j = node_index(self.edges[:, 0], g), node_index(self.edges[:, 1], g)
        local = 0.5 * (volts[:, i] - volts[:, j]).square().mean(dim=0)
        outputs = volts[:, node_index(self.outputs, g)]
        outputs = outputs if outputs.is_complex() else outputs.to(dtype)
        return Equilibrium(outputs, {"conductance": local.detach()}, residual)

    def settle_holomorphic(
        self, net: rn.Network, g: Tensor, fixed: Tensor, nudge: Tensor
    ) -> Tensor:
        """Complex node voltages for a complex nudge (holomorphic EP on a simulated device; no
        gradient: only devices are asked for it)."""
        self.refuse_complex_gradient(nudge, g)
        volts = rn.settle_holomorphic(
            net, rn.to_numpy(g), rn.to_numpy(fixed), nudge.detach().cpu().numpy()
        )
        return torch.as_tensor(volts).to(device=g.device, dtype=torch.complex128)

    # ----------------------------------------------------------------------------- in situ
    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """The lock-in of frequency propagation (Anisetti et al., Neural Comput. 36, 596 (2024)),
        holomorphic EP with a real oscillating nudge (Laborieux & Zenke, NeurIPS 2022), see
        :mod:`physnn.physics.lockin`: with the DC inputs on, the network settles (its outputs
        are read); then the AC current I_b(t) = −u_b cos ωt (u = ``output_gradient``, whose
        size is the drive's amplitude: the method scales it) is injected at the outputs of the
        capacitive network (``node_capacitance`` per node), and every edge locks in on its
        ½ ΔV_e(t)² over ``lockin_periods`` periods after ``lockin_settle``. The first harmonic,
        summed over the batch, is ∂Σ_b⟨u_b, y_b⟩/∂G_e up to the RC lag (O((ωR₀C)²)), the
        turn-on transient and O(|u|²). Every voltage sample carries the voltmeter noise.

        Passes per sample: the DC state and the AC run (which lasts ``lockin_settle`` +
        ``lockin_periods`` periods) — two. Like :meth:`relax`, an edge measures the derivative
        with respect to its realized conductance: a tolerance is not undone. Float64 inside.
        """
        self.check_procedure(procedure)
        c = self.config
        dtype = controls["conductance"].dtype
        g = rn.to_numpy(self.realized_conductance(controls, nuisance))
        net = self.network(nuisance, clamped=False)
        drive = -rn.to_numpy(output_gradient)
        v_dc = rn.settle(net, g, rn.to_numpy(self.source_voltages(x)), 0 * drive).voltages
        setting = lockin.LockIn(
            c.lockin_frequency, c.node_capacitance, c.lockin_periods, c.lockin_settle,
            c.lockin_steps,
        )  # fmt: skip

        def read(volts: np.ndarray) -> np.ndarray:
            return rn.to_numpy(self.read(torch.as_tensor(volts), nuisance, noise))

        harmonic = lockin.lock_in(net, g, v_dc, drive, setting, read)
        outputs = torch.as_tensor(read(v_dc)[:, self.outputs]).to(x.device, dtype)
        return outputs, {"conductance": torch.as_tensor(harmonic).to(x.device, dtype)}, 2


def _array(value: Any, size: int, default: float) -> np.ndarray:
    if value is None:
        return np.full(size, default)
    return torch.as_tensor(value).detach().to("cpu", torch.float64).numpy()
