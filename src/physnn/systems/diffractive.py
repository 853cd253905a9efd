"""Diffractive deep neural network (D2NN) — Lin et al., Science 361, 1004 (2018).

A coherent plane wave carries the input image (amplitude encoding) through L thin phase masks
separated by free space and onto C detector regions; the class is the brightest detector.
Between planes the field is propagated with the band-limited angular spectrum method
(Matsushima & Shimobaba 2009). The layer-``l`` transmission is

    t_l(x, y) = a(φ_l) · exp(i (φ_l(x, y) + ε_l(x, y))),    a(φ) = exp(−α φ),

where φ_l ∈ [0, 2π) are the trainable phases (one per pixel, optionally K-level quantized), ε_l is
a fabrication phase error and α the material absorption per radian of phase delay (thicker
printed pixels absorb more; Lin et al. 2018, supplementary). Each plane may be displaced
laterally and axially (Mengu et al., IEEE JSTQE 26, 3700114 (2020)); displacements enter the
propagation as the linear spectral phase of :func:`~physnn.physics.optics.misalignment_phase`.
All of ε, α, displacements and the device's own phase quantization are *nuisance* parameters:
zero in the design, hidden and non-zero on a real device.

Outputs are the detector energies for a unit-power input (``normalize_input_power``); with
``differential=True`` there are 2C detectors, a positive and a negative one per class
(Li et al., Adv. Photonics 1, 046001 (2019)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.physics import optics
from physnn.physics.quantization import quantize_ste, snap_to_levels
from physnn.systems import SYSTEMS
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import as_image

TWO_PI = 2 * torch.pi


@dataclass(frozen=True)
class DiffractiveConfig:
    """Geometry of a D2NN. Lengths in metres; ``grid``, sizes and gaps in pixels."""

    grid: int = 32
    pitch: float = 400e-6
    wavelength: float = 750e-6
    num_layers: int = 3
    layer_distance: float = 0.01
    input_distance: float | None = None  # None: layer_distance
    output_distance: float | None = None  # None: layer_distance
    input_size: int | None = None  # side of the input window; None: grid // 2
    num_classes: int = 10
    detector_size: int = 3
    detector_gap: int | None = None  # None: detector_size
    differential: bool = False
    phase_levels: int | None = None  # K-level phase quantization of the design, None: continuous
    padding: float = 2.0
    band_limit: bool = True

    def __post_init__(self) -> None:
        positive = ("grid", "pitch", "wavelength", "num_layers", "layer_distance", "num_classes")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.input_size is not None and not 0 < self.input_size <= self.grid:
            raise ValueError(f"input_size must be in 1..grid={self.grid}, got {self.input_size}")
        if self.phase_levels is not None and self.phase_levels < 2:
            raise ValueError(f"phase_levels must be at least 2, got {self.phase_levels}")
        if self.padding < 1:
            raise ValueError(f"padding must be >= 1, got {self.padding}")

    @property
    def distances(self) -> list[float]:
        """The L + 1 free-space gaps: input → layer 1 → … → layer L → detectors."""
        first = self.input_distance if self.input_distance is not None else self.layer_distance
        last = self.output_distance if self.output_distance is not None else self.layer_distance
        return [first] + [self.layer_distance] * (self.num_layers - 1) + [last]

    @property
    def padded_grid(self) -> int:
        return max(self.grid, round(self.padding * self.grid))


@SYSTEMS.register("diffractive")
class DiffractiveNetwork(System):
    """D2NN substrate: L phase layers, angular-spectrum free space, detector regions."""

    name = "diffractive"
    capabilities = Capabilities(
        differentiable=True,
        linear=True,
        reciprocal=True,
        detector_readout=True,
        description="free-space diffractive network of phase masks (Lin et al. 2018)",
    )
    config_class = DiffractiveConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Small and fast: trains on 8×8 digits in about a minute on 2 CPU cores.
        "default": {},
        # Lin et al. 2018: 0.4 THz (λ = 0.75 mm), 0.4 mm pixels, 5 layers 3 cm apart. The paper's
        # 200×200-pixel (8 cm) layers are scaled to 100×100 (4 cm) so that it trains on a CPU.
        "lin2018": {
            "grid": 100,
            "num_layers": 5,
            "layer_distance": 0.03,
            "input_size": 56,
            "detector_size": 10,
            "detector_gap": 8,
        },
    }

    def __init__(self, config: DiffractiveConfig) -> None:
        super().__init__(config)
        c = config
        num_detectors = 2 * c.num_classes if c.differential else c.num_classes
        regions = optics.detector_regions(
            c.grid, num_detectors, c.detector_size, gap=c.detector_gap
        )
        self.register_buffer("detector_masks", regions, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        shape = (c.num_layers, c.grid, c.grid)
        return {
            "phase": ControlSpec(
                shape, 0.0, TWO_PI, periodic=True, levels=c.phase_levels, unit="rad"
            )
        }

    def nominal_nuisance(self) -> Nuisance:
        planes = self.config.num_layers + 1
        return {
            "plane_shift": torch.zeros(
                planes, 2
            ),  # (x, y) offset of each layer and the detector, m
            "plane_dz": torch.zeros(planes),  # axial offset of each plane, m
            "phase_error": None,  # (L, N, N) fabrication phase error, rad
            "absorption": 0.0,  # amplitude attenuation per radian of phase delay
            "phase_levels": None,  # phase levels the hardware realizes (None: continuous)
        }

    @property
    def output_kind(self) -> str:
        """Detector energies, one per class, or a positive/negative pair per class."""
        return "differential-intensity" if self.config.differential else "intensity"

    @property
    def num_outputs(self) -> int:
        return self.detector_masks.shape[0]

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Images (B, h, w) or features (B, F) → unit-power input field (B, N, N).

        The amplitude is the resampled sample (:func:`~physnn.systems.encoding.as_image`).
        """
        c = self.config
        size = c.input_size or c.grid // 2
        img = as_image(x, size)
        before = (c.grid - size) // 2
        amp = F.pad(img.clamp_min(0), (before, c.grid - size - before) * 2)
        power = amp.square().sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        return (amp / power.sqrt()).to(torch.complex64)

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config  # deterministic physics: detector noise is added by the reality gap
        phase = controls["phase"]
        levels = nuisance.get("phase_levels")
        if levels is not None:
            phase = quantize_ste(phase, lambda p: snap_to_levels(p, 0.0, TWO_PI, levels, True))
        alpha = nuisance.get("absorption", 0.0)
        amplitude = torch.exp(-alpha * phase) if alpha else None
        if nuisance.get("phase_error") is not None:
            phase = phase + nuisance["phase_error"].to(phase)
        extra = self._misalignment(nuisance, phase.device)

        field = self.encode(x).to(phase.device)
        for layer, z in enumerate(c.distances):
            field = optics.propagate(
                field,
                c.pitch,
                c.wavelength,
                z,
                padding=c.padding,
                band_limit=c.band_limit,
                extra_phase=None if extra is None else extra[layer],
            )
            if layer < c.num_layers:
                amp = None if amplitude is None else amplitude[layer]
                field = optics.modulate(field, phase[layer], amp)
        return optics.detect(optics.intensity(field), self.detector_masks)

    def _misalignment(self, nuisance: Nuisance, device: torch.device) -> Tensor | None:
        """Spectral phase of each gap from the planes' displacements, or None when aligned."""
        shift = nuisance["plane_shift"].to(device)
        dz = nuisance["plane_dz"].to(device)
        if not (shift.requires_grad or dz.requires_grad or shift.any() or dz.any()):
            return None
        # Gap g ends on plane g; the input plane (before gap 0) is the reference frame.
        relative_shift = torch.diff(shift, dim=0, prepend=torch.zeros_like(shift[:1]))
        relative_dz = torch.diff(dz, prepend=torch.zeros_like(dz[:1]))
        c = self.config
        return optics.misalignment_phase(
            c.padded_grid,
            c.pitch,
            c.wavelength,
            relative_shift[:, 0],
            relative_shift[:, 1],
            relative_dz,
        ).to(torch.complex64)
