"""Programmable Mach-Zehnder interferometer (MZI) meshes — integrated coherent photonics.

Light in N single-mode waveguides (one *mode* each) passes through meshes of MZIs; each MZI has an
internal phase θ and an external phase φ (thermo-optic heaters, rad) and the 2×2 transfer matrix

    T(θ, φ) = i e^{iθ/2} [[e^{iφ} sin(θ/2),  cos(θ/2)],
                          [e^{iφ} cos(θ/2), −sin(θ/2)]]

(two 50:50 couplers; see :mod:`physnn.physics.mesh`). A mesh in the Clements (Optica 3, 1460
(2016)) or Reck (PRL 73, 58 (1994)) layout followed by an output phase screen diag(e^{iψ})
realizes any N×N unitary U. A layer is either one mesh (``architecture="unitary"``) or a general
matrix M = U · Σ · V† (``"svd"``, Shen et al., Nat. Photon. 11, 441 (2017)): two meshes with a
column of attenuators Σ = diag(σ), 0 ≤ σ ≤ 1 (field amplitude), between them.

Input: a sample becomes N numbers with :func:`~physnn.systems.encoding.as_vector` (an 8×8 digit
a 4×4 thumbnail for N = 16), launched as coherent amplitudes a ∝ x (``encoding="amplitude"``) or
unit amplitudes with phases π·x (``"phase"``); total input power 1. Between layers an
opto-electronic activation acts on every mode: the photodiode-driven phase modulator of
Williamson et al. (IEEE JSTQE 26, 7700412 (2020)) or a saturable absorber (Shen et al. 2017).
Output: photodiodes measure the powers |z_n|² (fraction of the input power) of the first
``num_classes`` ports (``readout="ports"``: the brightest port is the class, all-optical as in
Shen et al. 2017) or of all N ports (``"all"``: a digital linear readout); ``detection=
"homodyne"`` measures Re z_n and Im z_n instead (coherent detection against a local oscillator).

Controls: θ, φ, ψ ∈ [0, 2π) rad per mesh, σ ∈ [0, 1] per mode (SVD layers). Nuisance (design
values in :meth:`MZIMesh.nominal_nuisance`): coupler angle errors ε (rad; splitting ratio
sin²(π/4 + ε)), relative heater gain errors, thermal crosstalk fraction κ between neighbouring
heaters of a column, static phase offsets (drift since calibration, rad) and the insertion loss
of each MZI (dB). The physics is deterministic: detector noise is added by the reality gap.

In-situ training of such meshes: Pai et al., Science 380, 398 (2023); a single-chip deep network
with in-situ training: Bandyopadhyay et al., Nat. Photon. 18, 1335 (2024).
The physical gradient procedures (``adjoint``, ``adjoint-pump-probe``, ``ffm``) are in
:mod:`physnn.substrates.mzi.insitu`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import mesh
from physnn.substrates.mzi.insitu import MeshInSitu
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import UNIT_INTERVAL, as_vector

TWO_PI = 2 * math.pi
_CHOICES = {
    "layout": ("clements", "reck"),
    "architecture": ("unitary", "svd"),
    "nonlinearity": ("electro-optic", "saturable-absorber", "none"),
    "encoding": ("amplitude", "phase"),
    "detection": ("intensity", "homodyne"),
    "readout": ("ports", "all"),
}


@dataclass(frozen=True)
class MZIConfig:
    """An MZI-mesh network. Powers are relative to the mean mode power P̄ = 1/N of the input."""

    modes: int = 16
    num_layers: int = 1
    layout: str = "clements"
    architecture: str = "unitary"
    nonlinearity: str = "none"
    activation_gain: float = math.pi  # electro-optic: phase swing (rad) at the mean mode power
    activation_bias: float = math.pi  # electro-optic: interferometer bias φ_b (rad)
    tap_fraction: float = 0.1  # electro-optic: power fraction α sent to the photodiode
    absorber_depth: float = 1.0  # saturable absorber: small-signal optical depth α₀
    saturation_power: float = 1.0  # saturable absorber: P_sat in mean mode powers
    encoding: str = "amplitude"
    detection: str = "intensity"
    readout: str = "ports"
    num_classes: int = 10

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        for name in ("modes", "num_layers", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.modes < 2:
            raise ValueError(f"an MZI mesh needs at least 2 modes, got modes={self.modes}")
        if self.readout == "ports" and self.num_classes > self.modes:
            raise ValueError(
                f"readout='ports' detects num_classes={self.num_classes} output ports but the "
                f"mesh has only modes={self.modes}; use readout='all' or more modes"
            )
        if not 0 <= self.tap_fraction < 1:
            raise ValueError(f"tap_fraction must be in [0, 1), got {self.tap_fraction}")
        if self.absorber_depth < 0 or self.saturation_power <= 0:
            raise ValueError(
                "absorber_depth must be >= 0 and saturation_power > 0, got "
                f"{self.absorber_depth} and {self.saturation_power}"
            )

    @property
    def meshes_per_layer(self) -> int:
        return 2 if self.architecture == "svd" else 1

    @property
    def detected_modes(self) -> int:
        return self.num_classes if self.readout == "ports" else self.modes


class MZIMesh(MeshInSitu, System):
    """Layers of programmable MZI meshes with opto-electronic activations between them."""

    name = "mzi"
    input_range = UNIT_INTERVAL  # amplitudes (or phases π·x) of the input modes
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # |·|² detection, and activations between layers
        reciprocal=True,  # passive waveguide optics: light can be sent backwards (Pai 2023)
        intermediate_measurements=True,  # taps after each layer (Pai 2023; Bandyopadhyay 2024)
        detector_readout=True,
        # in-situ backpropagation (Hughes 2018; Pai 2023), optionally through the saturable
        # absorbers by the pump-probe approximation (Guo et al. 2021); fully forward mode
        # through a mirrored copy of the mesh (Xue et al. 2024): see .insitu
        gradient_procedures=("adjoint", "adjoint-pump-probe", "ffm"),
        description="programmable Mach-Zehnder interferometer meshes (Shen et al. 2017)",
    )
    config_class = MZIConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 16 modes (a 4×4 thumbnail of the 8×8 digits), one unitary Clements mesh (120 MZIs), the
        # class read at the brightest of num_classes output ports: all-optical, trains in seconds.
        "default": {},
        # Shen et al. 2017: a 4-mode, 2-layer network; each layer U Σ V† on a Clements-type mesh,
        # the saturable-absorber nonlinearity of their simulation between layers, 4 photodiodes.
        # Their task was 4 vowels from 4 log-area-ratio features: with readout "all", a dataset
        # of 4 classes is read at the brightest port as in the paper; our `vowels` dataset (12
        # formant features, 12 classes, Hillenbrand 1995) is area-averaged onto the 4 modes and
        # its 12 classes are read by a digital linear layer from the 4 port powers.
        "shen2017": {
            "modes": 4,
            "num_layers": 2,
            "architecture": "svd",
            "nonlinearity": "saturable-absorber",
            "readout": "all",
        },
        # One 16×16 Clements unitary, all 16 ports detected (the mesh vs. digital unitary
        # comparison of benchmarks/mzi_vs_unitary.py).
        "clements16": {"modes": 16, "readout": "all"},
    }

    def __init__(self, config: MZIConfig) -> None:
        super().__init__(config)
        self.layout = mesh.mesh_layout(config.layout, config.modes)
        neighbours = torch.cat(
            [
                self.layout.has_lower_neighbour,  # θ heaters
                self.layout.has_lower_neighbour,  # φ heaters
                torch.arange(config.modes) < config.modes - 1,  # output phase screen
            ]
        )
        self.register_buffer("heater_has_lower_neighbour", neighbours, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c, m = self.config, self.layout.num_mzis
        stack = (c.num_layers, c.meshes_per_layer)
        specs = {
            "theta": ControlSpec((*stack, m), 0.0, TWO_PI, periodic=True, unit="rad"),
            "phi": ControlSpec((*stack, m), 0.0, TWO_PI, periodic=True, unit="rad"),
            "screen": ControlSpec((*stack, c.modes), 0.0, TWO_PI, periodic=True, unit="rad"),
        }
        if c.architecture == "svd":
            specs["sigma"] = ControlSpec((c.num_layers, c.modes), 0.0, 1.0, unit="amplitude")
        return specs

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Haar initialization: every mesh starts as the decomposition of a random unitary.

        Uniformly random θ make deep meshes nearly banded and slow to train (Pai et al., Phys.
        Rev. Applied 11, 064044 (2019)); attenuators σ start uniform in [0, 1].
        """
        controls = super().init_controls(generator)
        c = self.config
        meshes = [
            mesh.decompose(c.layout, mesh.haar_unitary(c.modes, generator))
            for _ in range(c.num_layers * c.meshes_per_layer)
        ]
        for name in ("theta", "phi", "screen"):
            stacked = torch.stack([phases[name] for phases in meshes]).float()
            spec = self.control_specs()[name]
            controls[name] = spec.project(stacked.reshape(spec.shape))
        return controls

    def nominal_nuisance(self) -> Nuisance:
        return {
            "coupler_error": None,  # (L, K, M, 2) coupler angle errors ε₁, ε₂, rad
            "phase_gain_error": None,  # (L, K, 2M + N) relative heater gain errors
            "crosstalk": 0.0,  # fraction κ of a heater's phase on each neighbour in its column
            "phase_offset": None,  # (L, K, 2M + N) static phase offsets (drift), rad
            "mzi_loss_db": 0.0,  # insertion loss per MZI, dB (scalar or (L, K, M))
            "monitor_noise": 0.0,  # relative noise of the in-situ phase-shifter monitors
            "mirror_coupler_error": None,  # (L, K, M, 2) ε of ffm's mirrored mesh; None: exact
        }

    @property
    def output_kind(self) -> str:
        return "intensity" if self.config.detection == "intensity" else "real"

    @property
    def num_outputs(self) -> int:
        per_port = 2 if self.config.detection == "homodyne" else 1
        return per_port * self.config.detected_modes

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Samples → unit-power coherent input field (B, N), complex64."""
        values = as_vector(x, self.config.modes).clamp(0, 1)
        if self.config.encoding == "phase":
            field = torch.polar(torch.ones_like(values), math.pi * values)
            return field / math.sqrt(self.config.modes)
        power = values.square().sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return (values / power.sqrt()).to(torch.complex64)

    def heater_phases(self, controls: Controls, nuisance: Nuisance) -> Tensor:
        """Phases (L, K, 2M + N) that the heaters really impose: θ, φ, then ψ of each mesh.

        φ_real = (1 + g) φ  (gain error) → crosstalk within each column → + static offset.
        """
        phase = torch.cat([controls["theta"], controls["phi"], controls["screen"]], dim=-1)
        gain_error = nuisance.get("phase_gain_error")
        if gain_error is not None:
            phase = phase * (1 + gain_error.to(phase))
        kappa = nuisance.get("crosstalk", 0.0)
        if isinstance(kappa, Tensor) or kappa:
            phase = mesh.thermal_crosstalk(phase, self.heater_has_lower_neighbour, kappa)
        offset = nuisance.get("phase_offset")
        if offset is not None:
            phase = phase + offset.to(phase)
        return phase

    def transfer_matrices(self, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The field transfer matrix of every layer, (L, N, N) complex: z_out = W_l · z_in."""
        m = self.layout.num_mzis
        phase = self.heater_phases(controls, nuisance)
        theta, phi, screen = phase[..., :m], phase[..., m : 2 * m], phase[..., 2 * m :]
        coupler_error = nuisance.get("coupler_error")
        if coupler_error is not None:
            coupler_error = coupler_error.to(theta)
        loss = nuisance.get("mzi_loss_db", 0.0)
        loss = loss.to(theta) if isinstance(loss, Tensor) else loss
        transfer = mesh.mzi_transfer(theta, phi, coupler_error, loss)
        unitaries = mesh.mesh_matrix(self.layout, transfer, screen)  # (L, K, N, N)
        if self.config.architecture == "unitary":
            return unitaries[:, 0]
        sigma = controls["sigma"].to(unitaries.dtype)
        return (unitaries[:, 1] * sigma[:, None, :]) @ unitaries[:, 0]  # U Σ V†

    def activation(self, field: Tensor) -> Tensor:
        """The opto-electronic nonlinearity applied to every mode between layers."""
        c = self.config
        mean_power = 1.0 / c.modes
        if c.nonlinearity == "electro-optic":
            return mesh.electro_optic_activation(
                field, c.activation_gain, c.activation_bias, c.tap_fraction, mean_power
            )
        if c.nonlinearity == "saturable-absorber":
            return mesh.saturable_absorber(field, c.absorber_depth, c.saturation_power, mean_power)
        return field

    def probe_transmission(self, field: Tensor) -> Tensor:
        """What a weak backward probe sees through the saturable absorbers pumped by ``field``."""
        c = self.config
        return mesh.saturable_transmission(
            field, c.absorber_depth, c.saturation_power, 1.0 / c.modes
        )

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        matrices = self.transfer_matrices(controls, nuisance)
        field = self.encode(x.to(matrices.device)).to(matrices.dtype)
        for layer in range(self.config.num_layers):
            field = field @ matrices[layer].mT
            if layer < self.config.num_layers - 1:
                field = self.activation(field)
        ports = field[:, : self.config.detected_modes]
        if self.config.detection == "homodyne":
            return torch.cat([ports.real, ports.imag], dim=-1)
        return ports.abs().square()
