"""Coupled resonators with parameter-encoded inputs (Wanjura & Marquardt, Nat. Phys. 2024).

A network of N linearly coupled modes (ring resonators, microwave cavities, LC circuits) is
arranged in layers: ``num_inputs`` input modes, ``num_hidden`` hidden modes and ``num_ports``
output modes, with a coupling J between every pair of modes in consecutive layers. The input
sample does not drive the network: it *sets its parameters*. Input pixel ``x_j ∈ [0, 1]``
detunes input mode j by

    Δ_j = Δ_in (1 − x_j) + θ_j,

so the background (x = 0) is pushed ``Δ_in`` away (5 κ, as in the paper) and the bright
pixels sit on resonance; ``θ`` (all N detunings) and the couplings J are the trainable
controls. Each output mode has a probe waveguide (external coupling κ, the frequency unit); the
other modes decay at ``internal_decay`` into unobserved channels. A weak probe at frequency ω
is reflected from each output port with

    S(ω) = 1 − i √K (ω − H(x, θ) + i(K + Γ)/2)⁻¹ √K

(:func:`~physnn.physics.coupled_modes.scattering_matrix`; Γ = intrinsic losses). The physics is
linear in the wave amplitudes, yet the map x → S is a nonlinear function of x because x sits
inside the inverse: that is the paper's point. Measured outputs are the reflections
``S_ℓℓ`` of the output ports, as Re and Im (homodyne detection, ``measure="field"``; the
paper's class score is Im S_ℓℓ) or as powers |S_ℓℓ|² (``measure="intensity"``); a trainable
linear readout follows.

Nuisance (design values in :meth:`CoupledResonators.nominal_nuisance`), in units of κ:
per-mode detuning errors after calibration, relative coupling errors, extra intrinsic loss of
every mode, and a common thermal shift of all detunings (:mod:`physnn.substrates.resonators.gap`).
See also Xia et al. and Yildirim et al. (2024) for related parameter-encoding schemes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics.adjoint import output_cotangent
from physnn.physics.coupled_modes import (
    coupling_hamiltonian,
    mode_amplitudes,
    noisy_amplitudes,
    reflection,
    reflection_gradients,
    scattering_matrix,
    symmetric_coupling,
)
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import UNIT_INTERVAL, as_vector

MEASUREMENTS = ("field", "intensity")


@dataclass(frozen=True)
class ResonatorsConfig:
    """A layered coupled-mode network. Rates and frequencies in units of the port coupling κ."""

    num_inputs: int = 64  # input modes (one per input pixel / feature)
    num_hidden: int = 0  # hidden modes (0: inputs couple straight to the output ports)
    num_ports: int = 10  # output modes with probe waveguides
    input_detuning: float = 5.0  # Δ_in: detuning of a dark input pixel, κ
    internal_decay: float = 1.0  # decay rate of the unprobed modes, κ
    intrinsic_loss: float = 0.0  # design intrinsic loss of the probed modes, κ
    probe_frequency: float = 0.0  # ω, from the reference of the detunings, κ
    max_detuning: float = 10.0  # tuning range of each detuning (heaters), ±κ
    max_coupling: float = 5.0  # tuning range of each coupling (tunable couplers), ±κ
    init_coupling: float = 2.0  # initial |J| (the paper starts from J = 2κ with disorder), κ
    measure: str = "field"  # "field": Re and Im of S_ℓℓ; "intensity": |S_ℓℓ|²

    def __post_init__(self) -> None:
        for name in ("num_inputs", "num_ports"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.num_hidden < 0:
            raise ValueError(f"num_hidden must be non-negative, got {self.num_hidden}")
        for name in ("internal_decay", "intrinsic_loss"):
            if getattr(self, name) < 0:
                value = getattr(self, name)
                raise ValueError(f"{name} must be non-negative (a loss rate), got {value}")
        for name in ("max_detuning", "max_coupling"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.init_coupling <= self.max_coupling:
            raise ValueError(
                f"init_coupling must be in [0, max_coupling={self.max_coupling}], "
                f"got {self.init_coupling}"
            )
        if self.measure not in MEASUREMENTS:
            raise ValueError(f"measure must be one of {MEASUREMENTS}, got {self.measure!r}")

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        hidden = (self.num_hidden,) if self.num_hidden else ()
        return (self.num_inputs, *hidden, self.num_ports)

    @property
    def num_modes(self) -> int:
        return sum(self.layer_sizes)


def layered_pairs(sizes: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Mode indices (rows, cols) of every pair of modes in consecutive layers."""
    starts = torch.cumsum(torch.tensor((0, *sizes)), 0).tolist()
    rows, cols = [], []
    for layer in range(len(sizes) - 1):
        here = torch.arange(starts[layer], starts[layer + 1])
        there = torch.arange(starts[layer + 1], starts[layer + 2])
        grid_rows, grid_cols = torch.meshgrid(here, there, indexing="ij")
        rows.append(grid_rows.flatten())
        cols.append(grid_cols.flatten())
    return torch.cat(rows), torch.cat(cols)


class CoupledResonators(System):
    """Layered coupled-mode network; inputs in the detunings, outputs = port reflections."""

    name = "resonators"
    input_range = UNIT_INTERVAL  # detunings set by pixels in [0, 1]
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # linear in the waves, but the inputs enter the parameters: x → S is not
        reciprocal=True,  # real symmetric H: G = Gᵀ, the adjoint field is the forward one
        gradient_procedures=("adjoint",),  # ∂S_ℓℓ/∂H_mn = i a_m a_n from the tapped modes
        description="coupled resonators with inputs encoded in detunings (Wanjura & Marquardt)",
    )
    config_class = ResonatorsConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 64 input modes (one per 8×8 pixel) coupled to 10 probed output modes: 74 modes.
        "default": {},
        # Wanjura & Marquardt 2024, Fig. 2: 64 grey-scale pixels in the detunings of the input
        # layer, a hidden layer of 80 modes, 10 probed output modes, J = 2κ initially, dark
        # pixels detuned by 5κ, no intrinsic loss at the probed sites.
        "wanjura2024": {"num_hidden": 80},
    }

    def __init__(self, config: ResonatorsConfig) -> None:
        super().__init__(config)
        c = config
        rows, cols = layered_pairs(c.layer_sizes)
        ports = torch.arange(c.num_modes - c.num_ports, c.num_modes)
        kappa = torch.zeros(c.num_modes)
        kappa[ports] = 1.0
        gamma = torch.full((c.num_modes,), c.internal_decay)
        gamma[ports] = c.intrinsic_loss
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.register_buffer("ports", ports, persistent=False)
        self.register_buffer("kappa", kappa, persistent=False)
        self.register_buffer("gamma", gamma, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {
            "detuning": ControlSpec((c.num_modes,), -c.max_detuning, c.max_detuning, unit="κ"),
            "coupling": ControlSpec(
                (self.rows.numel(),), -c.max_coupling, c.max_coupling, unit="κ"
            ),
        }

    def init_controls(self, generator: torch.Generator) -> Controls:
        """The paper's start: zero detuning offsets, couplings J = init_coupling·(1 + 0.1 ξ)."""
        c = self.config
        specs = self.control_specs()
        disorder = torch.randn(specs["coupling"].shape, generator=generator)
        coupling = c.init_coupling * (1 + 0.1 * disorder)
        return {
            "detuning": torch.zeros(specs["detuning"].shape),
            "coupling": specs["coupling"].project(coupling),
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "detuning_error": None,  # (num_modes,) residual detuning of each mode, κ
            "coupling_error": None,  # (num_couplings,) relative error of each coupling
            "extra_loss": 0.0,  # intrinsic loss added to every mode, κ
            "thermal_shift": 0.0,  # common shift of all detunings (temperature), κ
            "tap_noise": 0.0,  # rms per quadrature of the in-situ mode-amplitude taps (adjoint)
        }

    @property
    def num_outputs(self) -> int:
        p = self.config.num_ports
        return 2 * p if self.config.measure == "field" else p

    # ----------------------------------------------------------------------------- physics
    def detunings(self, x: Tensor, offset: Tensor, nuisance: Nuisance) -> Tensor:
        """Δ (B, N): the input pixels detune the input modes; θ, errors and drift add to all."""
        c = self.config
        pixels = as_vector(x, c.num_inputs).clamp(0, 1).to(offset.device)
        encoded = torch.nn.functional.pad(
            c.input_detuning * (1 - pixels), (0, c.num_modes - c.num_inputs)
        )
        error = nuisance.get("detuning_error")
        if error is not None:
            offset = offset + error.to(offset)
        return encoded + offset + nuisance.get("thermal_shift", 0.0)

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        s = scattering_matrix(*self._physics(x, controls, nuisance), self.ports)
        return self._measured(reflection(s))

    def _physics(
        self, x: Tensor, controls: Controls, nuisance: Nuisance
    ) -> tuple[Tensor, Tensor, Tensor, float]:
        """H (B, N, N) with the real couplings, κ, γ and the probe frequency ω."""
        c = self.config
        coupling = controls["coupling"]
        error = nuisance.get("coupling_error")
        if error is not None:
            coupling = coupling * (1 + error.to(coupling))
        couplings = symmetric_coupling(coupling, self.rows, self.cols, c.num_modes)
        h = coupling_hamiltonian(self.detunings(x, controls["detuning"], nuisance), couplings)
        gamma = self.gamma.to(coupling.dtype) + nuisance.get("extra_loss", 0.0)
        return h, self.kappa, gamma, c.probe_frequency

    def _measured(self, r: Tensor) -> Tensor:
        """The port readings of the reflections r (B, P): (Re r, Im r), or |r|²."""
        if self.config.measure == "intensity":
            return r.abs().square()
        return torch.cat([r.real, r.imag], dim=-1)

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
        """In-situ gradients from the mode amplitudes (Wanjura & Marquardt, Nat. Phys. 20, 1434
        (2024)): ∂S_ℓℓ/∂Δ_m = i (a_m⁽ℓ⁾)², ∂S_ℓℓ/∂J_mn = 2 i a_m⁽ℓ⁾ a_n⁽ℓ⁾, see
        :func:`~physnn.physics.coupled_modes.reflection_gradients`.

        Passes per sample: one per output port, the probe at port ℓ alone while homodyne taps
        read the complex amplitude of every mode (with ``tap_noise`` per quadrature) and the
        port reads S_ℓℓ = 1 + √κ_ℓ a_ℓ⁽ℓ⁾; the cotangent of S_ℓℓ is formed digitally from
        ∂L/∂y and the measured S_ℓℓ. Exact for any detuning error, thermal shift or loss (they
        are in the measured fields); a relative coupling error δ is not undone (the reading is
        ∂L/∂J_real = ∂L/∂J / (1 + δ)).
        """
        self.check_procedure(procedure)
        h, kappa, gamma, omega = self._physics(x, controls, nuisance)
        amplitudes = mode_amplitudes(h, kappa, gamma, omega, self.ports)
        r = 1 + kappa[self.ports].to(amplitudes.dtype).sqrt() * torch.diagonal(
            amplitudes[:, self.ports], dim1=-2, dim2=-1
        )
        detection = "intensity" if self.config.measure == "intensity" else "homodyne"
        cotangent = output_cotangent(r, output_gradient, detection)
        tapped = noisy_amplitudes(
            amplitudes,
            float(nuisance.get("tap_noise", 0.0)),
            None if noise is None else noise.generator,
        )
        detuning, coupling = reflection_gradients(tapped, cotangent, self.rows, self.cols)
        grads = {"detuning": detuning, "coupling": coupling}
        return self._measured(r), grads, self.config.num_ports
