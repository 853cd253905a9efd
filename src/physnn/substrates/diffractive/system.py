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

from physnn.physics import adjoint, optics
from physnn.physics.quantization import quantize_ste, snap_to_levels
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
    is_plain_zero,
)
from physnn.systems.encoding import NON_NEGATIVE, as_image

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


class DiffractiveNetwork(System):
    """D2NN substrate: L phase layers, angular-spectrum free space, detector regions."""

    name = "diffractive"
    input_range = NON_NEGATIVE  # an amplitude: negative values are dropped
    capabilities = Capabilities(
        differentiable=True,
        linear=True,
        reciprocal=True,
        detector_readout=True,
        # in-situ optical backpropagation (Zhou 2020) and fully forward mode (Xue 2024)
        gradient_procedures=("adjoint", "ffm"),
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
            "monitor_noise": 0.0,  # relative noise of the in-situ holographic field measurements
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
        field, _ = self._trace(x, controls, nuisance)
        return optics.detect(optics.intensity(field), self.detector_masks)

    def _masks(self, controls: Controls, nuisance: Nuisance) -> tuple[Tensor, Tensor | None]:
        """The phases the masks really impose and their amplitudes (None: lossless)."""
        phase = controls["phase"]
        levels = nuisance.get("phase_levels")
        if levels is not None:
            phase = quantize_ste(phase, lambda p: snap_to_levels(p, 0.0, TWO_PI, levels, True))
        alpha = nuisance.get("absorption", 0.0)
        amplitude = torch.exp(-alpha * phase) if isinstance(alpha, Tensor) or alpha else None
        if nuisance.get("phase_error") is not None:
            phase = phase + nuisance["phase_error"].to(phase)
        return phase, amplitude

    def _gap(self, field: Tensor, layer: int, extra: Tensor | None, *, transpose: bool = False):
        """Free space of gap ``layer`` (input → mask 1 is gap 0), or its transpose."""
        c = self.config
        propagate = adjoint.propagate_transpose if transpose else optics.propagate
        return propagate(
            field,
            c.pitch,
            c.wavelength,
            c.distances[layer],
            padding=c.padding,
            band_limit=c.band_limit,
            extra_phase=None if extra is None else extra[layer],
        )

    def _trace(
        self, x: Tensor, controls: Controls, nuisance: Nuisance
    ) -> tuple[Tensor, list[Tensor]]:
        """The field on the detector plane and the fields right after each mask (L of them,
        each (B, N, N); autograd keeps them anyway, so listing them costs no memory)."""
        c = self.config  # deterministic physics: detector noise is added by the reality gap
        phase, amplitude = self._masks(controls, nuisance)
        extra = self._misalignment(nuisance, phase.device)
        field = self.encode(x).to(phase.device)
        after_masks = []
        for layer in range(c.num_layers + 1):
            field = self._gap(field, layer, extra)
            if layer < c.num_layers:
                amp = None if amplitude is None else amplitude[layer]
                field = optics.modulate(field, phase[layer], amp)
                after_masks.append(field)
        return field, after_masks

    def measured_gradient(
        self,
        procedure: str,
        x: Tensor,
        controls: Controls,
        nuisance: Nuisance,
        output_gradient: Tensor,
        noise: NoiseSource | None = None,
    ) -> tuple[Tensor, Controls, int]:
        """dL/dφ_l = Re(i · E_f · E_a) at every mask pixel, E_f and E_a measured holographically.

        The adjoint source ḡ = 2 (∂L/∂y_c) z* on detector c (the output field z is measured
        holographically in the forward pass) is sent back through the network:

        * ``"adjoint"`` (Zhou et al., Photon. Res. 8, 940 (2020)): backwards through the same
          free space, i.e. by reciprocity the transpose of each gap — exact;
        * ``"ffm"`` (fully forward mode, Xue et al., Nature 632, 280 (2024)): a second *forward*
          propagation through the mirrored system, the masks met in reverse order. It equals the
          backward pass when each gap is spatially symmetric, H(f) = H(−f); lateral plane
          displacements break that symmetry and the reading becomes approximate.

        Two passes per sample (forward, error field), each imaging every mask plane. The
        readings assume pure phase masks: the absorption a(φ) = e^{−αφ} of thick pixels adds a
        term −α Re(E_f E_a) that the procedure does not know and omits.
        """
        self.check_procedure(procedure)
        c = self.config
        phase, amplitude = self._masks(controls, nuisance)
        extra = self._misalignment(nuisance, phase.device)
        field, after_masks = self._trace(x, controls, nuisance)
        forward = torch.stack(after_masks, 1)
        measured = optics.detect(optics.intensity(field), self.detector_masks)
        weight = output_gradient.to(measured) @ self.detector_masks.flatten(1).to(measured)
        error = adjoint.output_cotangent(field, weight.view_as(field.real), "intensity").conj()
        backward = []
        for layer in reversed(range(c.num_layers + 1)):
            error = self._gap(error, layer, extra, transpose=procedure == "adjoint")
            if layer > 0:
                backward.append(error)
                amp = None if amplitude is None else amplitude[layer - 1]
                error = optics.modulate(error, phase[layer - 1], amp)
        product = adjoint.holographic_product(
            forward,
            torch.stack(backward[::-1], 1),
            float(nuisance.get("monitor_noise", 0.0)),
            None if noise is None else noise.generator,
        )
        return measured, {"phase": (1j * product).real.sum(0)}, 2

    def _misalignment(self, nuisance: Nuisance, device: torch.device) -> Tensor | None:
        """Spectral phase of each gap from the planes' displacements, or None when aligned."""
        shift = nuisance["plane_shift"].to(device)
        dz = nuisance["plane_dz"].to(device)
        if is_plain_zero(shift) and is_plain_zero(dz):
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
