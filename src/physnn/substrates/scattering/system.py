"""Optical random projection through a scattering medium — LightOn's optical processing unit.

An input sample is written as the amplitude ``x ∈ [0, 1]ⁿ`` of n macropixels of a spatial
light modulator (the OPU uses a DMD), a trainable phase mask ``φ ∈ [0, 2π)ⁿ`` is applied to
the same macropixels, and the field crosses a multiple-scattering medium (a layer of white
paint) onto a camera of m pixels:

    y = |B (x ⊙ e^{iφ})|²,        B_ij ~ CN(0, 1/n)  i.i.d.,

with the fixed transmission matrix ``B`` drawn from ``medium_seed``
(:func:`~physnn.physics.scattering.transmission_matrix`). Intensities are in units of the mean
speckle intensity of a fully lit input (x = 1, so ⟨y_j⟩ = ‖x‖²/n). A trainable linear readout
follows: the physical block is a tunable random-feature map (Saade et al., ICASSP 2016,
arXiv:1510.06664; Launay et al., "Hardware beyond backpropagation: a photonic co-processor for
direct feedback alignment", arXiv:2012.06373 (2020), and "Light-in-the-loop",
arXiv:2006.01475 (2020)).

Nuisance (design values in :meth:`ScatteringMedium.nominal_nuisance`): the medium drifts after
its transmission matrix was calibrated, ``B' = √(1 − ε²) B + ε B_new``
(``medium_decorrelation`` ε, ``medium_innovation`` B_new), and the SLM realizes the phase with
an error per macropixel (``slm_phase_error``, rad). Camera shot/read noise and 8-bit
quantization act on the measured intensities (:mod:`physnn.substrates.scattering.gap`).

In-situ gradient (``adjoint``, :meth:`ScatteringMedium.measured_gradient`): a passive medium is
reciprocal, so the error field sent back from the camera plane reaches the SLM through Bᵀ. This
needs a set-up with a modulator *and* a holographic camera at each side of the medium (the two
halves of digital optical phase conjugation, Cui & Yang, Opt. Express 18, 3444 (2010)):
``bidirectional=True``, the default lab set-up. LightOn's OPU has a DMD on one side and a camera
on the other; the preset ``launay2020`` models it with ``bidirectional=False`` and refuses the
procedure (its optical direct feedback alignment needs no backward pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.physics.adjoint import holographic_product, output_cotangent
from physnn.physics.scattering import (
    adjoint_field,
    decorrelate,
    random_projection,
    transmission_matrix,
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

TWO_PI = 2 * torch.pi


@dataclass(frozen=True)
class ScatteringConfig:
    """An OPU: n SLM macropixels, m camera pixels, a medium fixed by a seed."""

    num_inputs: int = 64  # SLM macropixels that carry the input and the phase mask
    num_pixels: int = 256  # camera pixels (measured outputs)
    medium_seed: int = 0  # fixes the transmission matrix B
    phase_levels: int | None = None  # SLM phase levels (256 for an 8-bit SLM); None: continuous
    camera_full_scale: float = 1.0  # intensity that saturates a pixel (mean speckle of x = 1)
    bidirectional: bool = True  # a modulator and a holographic camera at both sides (adjoint)

    def __post_init__(self) -> None:
        for name in ("num_inputs", "num_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.medium_seed < 0:
            raise ValueError(f"medium_seed must be non-negative, got {self.medium_seed}")
        if self.phase_levels is not None and self.phase_levels < 2:
            raise ValueError(f"phase_levels must be at least 2, got {self.phase_levels}")
        if not self.camera_full_scale > 0:
            raise ValueError(f"camera_full_scale must be positive, got {self.camera_full_scale}")


class ScatteringMedium(System):
    """SLM phase mask → random scattering medium → camera (speckle intensities)."""

    name = "scattering"
    input_range = UNIT_INTERVAL  # SLM amplitudes
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # the camera measures |B u|²; the field map u → B u is linear
        reciprocal=True,  # a passive scattering medium is reciprocal (B_backward = Bᵀ)
        gradient_procedures=("adjoint",),  # Bᵀ a read at the SLM plane (bidirectional set-ups)
        description="optical random projection through a scattering medium (LightOn OPU)",
    )
    config_class = ScatteringConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 8×8 input, 256 speckle pixels: trains on digits in seconds.
        "default": {},
        # Launay et al. 2020: the OPU takes up to ~1e6 DMD macropixels and images ~1e6 camera
        # pixels. Scaled down to a 28×28 input (full MNIST resolution) and 4096 camera pixels so
        # that it runs on a CPU; 8-bit SLM phase.
        # The OPU as sold has no camera at the modulator side: no adjoint pass.
        "launay2020": {
            "num_inputs": 784,
            "num_pixels": 4096,
            "phase_levels": 256,
            "bidirectional": False,
        },
    }

    def __init__(self, config: ScatteringConfig) -> None:
        super().__init__(config)
        generator = torch.Generator().manual_seed(config.medium_seed)
        medium = transmission_matrix(config.num_pixels, config.num_inputs, generator)
        self.register_buffer("medium", medium, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {
            "phase": ControlSpec(
                (c.num_inputs,), 0.0, TWO_PI, periodic=True, levels=c.phase_levels, unit="rad"
            )
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "medium_decorrelation": 0.0,  # ε of B' = √(1 − ε²) B + ε B_new
            "medium_innovation": None,  # B_new (num_pixels, num_inputs), complex
            "slm_phase_error": None,  # (num_inputs,) phase error of each macropixel, rad
            "monitor_noise": 0.0,  # relative noise of the in-situ holographic field readings
        }

    output_kind = "intensity"

    @property
    def num_outputs(self) -> int:
        return self.config.num_pixels

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Samples → SLM amplitudes (B, n) in [0, 1]."""
        return as_vector(x, self.config.num_inputs).clamp(0, 1)

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        return random_projection(
            self.input_field(x, controls, nuisance), self.current_medium(nuisance), "intensity"
        )

    def input_field(self, x: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """u = x ⊙ e^{i(φ + δφ)} (B, n) right after the SLM, with its phase errors δφ."""
        phase = controls["phase"]
        error = nuisance.get("slm_phase_error")
        if error is not None:
            phase = phase + error.to(phase)
        return self.encode(x).to(phase.device) * torch.exp(1j * phase)

    def current_medium(self, nuisance: Nuisance) -> Tensor:
        """The transmission matrix the light sees: the calibrated one, or its drifted version."""
        innovation = nuisance.get("medium_innovation")
        if innovation is None:
            return self.medium
        return decorrelate(self.medium, innovation, nuisance.get("medium_decorrelation", 0.0))

    # ----------------------------------------------------------------------------- in situ
    def check_procedure(self, procedure: str) -> None:
        super().check_procedure(procedure)
        if not self.config.bidirectional:
            raise ConfigError(
                "the adjoint procedure sends the error field backwards through the medium, which "
                "an OPU (modulator on one side, camera on the other) cannot: set "
                "-S bidirectional=true for a set-up with a modulator and a camera at both sides"
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
        """In-situ backpropagation through a reciprocal medium: ∂L/∂φ_k = Re(i u_k (Bᵀ a)_k),
        a = 2 g ⊙ conj(z), see :func:`~physnn.physics.scattering.adjoint_field`.

        Passes per sample, on a bidirectional set-up: the forward pass, in which the camera
        measures the speckle field z holographically (off-axis, one shot) and a camera imaging
        the SLM plane the field u after the SLM; the backward pass, in which a modulator at the
        camera side launches a and the SLM-side camera measures Bᵀ a. Both holographic readings
        carry ``monitor_noise`` (relative, complex Gaussian). Exact for any drift of the medium
        or SLM phase error: the light sees the real ones.
        """
        self.check_procedure(procedure)
        medium = self.current_medium(nuisance)
        field = self.input_field(x, controls, nuisance)
        camera = random_projection(field, medium, "linear")
        source = output_cotangent(camera, output_gradient, "intensity").conj()
        product = holographic_product(
            field,
            adjoint_field(source, medium),
            float(nuisance.get("monitor_noise", 0.0)),
            None if noise is None else noise.generator,
        )
        return camera.abs().square(), {"phase": (1j * product).real.sum(0)}, 2
