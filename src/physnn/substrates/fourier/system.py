"""Fourier-plane classifier: one phase-only SLM, a lens and a camera with detector regions.

A collimated beam of amplitude A(x, y) (Gaussian, A = exp(−r²/w²): w is the 1/e² intensity
radius, in SLM pixels; or uniform) with a wavefront aberration φ_ab illuminates a phase-only
SLM of N × N pixels. The sample (an image, resized onto a central window of the SLM) is written
as a phase, φ_in = r · x (r = π by default), added to the trainable phase θ, as in SLM-based
optical networks where data and weights share one modulator (e.g. Zhou et al., Nat. Photonics
15, 367 (2021); Spall et al., Opt. Lett. 45, 5752 (2020)). The modulator realizes, per pixel,

    φ = 2π · h(u),    u = ((θ + φ_in) mod 2π) / 2π,    h(u) = (1 + s) u + c · u (1 − u),

the grey-level → phase response with a scale error s and a smooth nonlinearity c (both zero in
the design; with ``phase_levels`` = K the wrapped phase is first rounded to K grey levels, 256
on an 8-bit SLM). A lens of focal length f maps the field U = A · exp(i (φ + φ_ab)) to its
Fourier transform at the camera (Goodman, *Introduction to Fourier Optics*, 4th ed., §5.2):

    E(k) = Σ_pixels U(x_n, y_n) · exp(−2πi (k_x x_n + k_y y_n)) / (s_c N),

with pixel coordinates x_n = n − (N − 1)/2 and k in cycles per SLM pixel. This is the centred,
zero-padded FFT of slmsuite's simulated camera (``fftshift(fft2(fftshift(pad(U))))``, norm
"ortho", padded to s_c N, so that Σ |E|² = Σ |U|²: Parseval) evaluated at the camera pixels'
own k, not on the FFT grid, so that a camera placement off the design is a continuous,
differentiable function of its parameters. A camera pixel (i = column, j = row) sees

    k = R(−ρ) ((i, j) − b) / (s_c N (1 + δ)),    b = (C/2, C/2) + o,

the affine placement slmsuite's SimulatedCamera uses (``kxy = M⁻¹ (ij − b)`` with
M = f (1 + δ) R(ρ)): s_c camera pixels per diffraction order 1/(N · pitch) at the design focal
length, an offset o (camera pixels), a focal-length scale error δ and a rotation ρ. Each class
has a square region of interest (ROI) on the camera; the outputs are the ROI-summed intensities
normalized by their sum (the fraction of the detected light in each ROI), which a camera's
unknown gain and exposure do not change. The aberration is a sum of Zernike terms on the unit
disc ρ_n = r / (N/2) (Noll's Z4 defocus √3 (2ρ² − 1), Z6 and Z5 astigmatism √6 ρ² cos 2φ and
√6 ρ² sin 2φ), coefficients in rad. Detector noise (shot and read) is added by the reality gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import optics
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
from physnn.systems.encoding import UNIT_INTERVAL, as_image

TWO_PI = 2 * math.pi


@dataclass(frozen=True)
class FourierConfig:
    """An SLM → lens → camera classifier. SLM sizes in SLM pixels, camera sizes in camera
    pixels, phases in rad."""

    slm_size: int = 32  # N: SLM pixels per side
    input_size: int | None = None  # side of the central input window; None: N // 2
    input_phase: float = math.pi  # phase written for an input value of 1, rad
    beam_waist: float | None = 12.0  # Gaussian 1/e² intensity radius, SLM px; None: uniform
    camera_size: int = 64  # C: camera pixels per side
    camera_scale: float = 2.0  # camera pixels per diffraction order 1/(N pitch) (design f)
    num_classes: int = 10
    roi_size: int = 4  # side of each class's square region of interest, camera px
    roi_gap: int | None = None  # camera px between ROIs; None: roi_size
    phase_levels: int | None = None  # levels of the trainable phase; None: continuous

    def __post_init__(self) -> None:
        for name in ("slm_size", "camera_size", "num_classes", "roi_size", "camera_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.input_size is not None and not 0 < self.input_size <= self.slm_size:
            raise ValueError(
                f"input_size must be in 1..slm_size={self.slm_size}, got {self.input_size}"
            )
        if self.beam_waist is not None and not self.beam_waist > 0:
            raise ValueError(f"beam_waist must be positive or None, got {self.beam_waist}")
        if self.phase_levels is not None and self.phase_levels < 2:
            raise ValueError(f"phase_levels must be at least 2, got {self.phase_levels}")

    @property
    def window(self) -> int:
        """Side of the input window on the SLM, in SLM pixels."""
        return self.input_size or self.slm_size // 2


def roi_corners(config: FourierConfig) -> Tensor:
    """(C, 2) top-left (row, column) of each class's ROI on the camera, rows of 3, 4, 3 … as in
    Lin et al. 2018, centred on the camera (where the design puts the optical axis)."""
    masks = optics.detector_regions(
        config.camera_size, config.num_classes, config.roi_size, gap=config.roi_gap
    )
    corners = []
    for mask in masks:
        rows, cols = mask.nonzero(as_tuple=True)
        corners.append((int(rows.min()), int(cols.min())))
    return torch.tensor(corners, dtype=torch.long)


def zernike_basis(n: int) -> Tensor:
    """(3, n, n): Noll Z4 (defocus), Z6 (astigmatism 0°) and Z5 (astigmatism 45°) on the
    SLM's pixel centres, the unit disc of radius n/2 pixels."""
    c = torch.arange(n, dtype=torch.float64) - (n - 1) / 2
    y, x = torch.meshgrid(c, c, indexing="ij")
    x, y = x / (n / 2), y / (n / 2)
    r2 = x.square() + y.square()
    sqrt3, sqrt6 = math.sqrt(3.0), math.sqrt(6.0)
    return torch.stack(
        [sqrt3 * (2 * r2 - 1), sqrt6 * (x.square() - y.square()), sqrt6 * 2 * x * y]
    ).float()


def gaussian_beam(n: int, waist: float | Tensor | None) -> Tensor:
    """(n, n) amplitude exp(−r²/w²) on the SLM's pixel centres (uniform for ``None``)."""
    if waist is None:
        return torch.ones(n, n)
    c = torch.arange(n, dtype=torch.float32) - (n - 1) / 2
    r2 = c[:, None].square() + c[None, :].square()
    return torch.exp(-r2 / torch.as_tensor(waist, dtype=torch.float32).square())


class FourierNetwork(System):
    """A phase-only SLM in the front focal plane of a lens, a camera with ROIs in the back."""

    name = "fourier"
    input_range = UNIT_INTERVAL
    capabilities = Capabilities(
        differentiable=True,
        detector_readout=True,
        description="SLM phase mask, lens and camera ROIs (Fourier-plane classifier)",
    )
    config_class = FourierConfig
    learning_rate = 0.1  # Adam step on the phases, rad (pat on digits: faster than 0.05)
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 32 × 32 SLM pixels, 64 × 64 camera: a digits epoch in seconds on 2 CPU cores.
        "default": {},
        # MNIST on a 64 × 64 SLM window of a larger modulator, 128 × 128 camera.
        "mnist": {"slm_size": 64, "input_size": 28, "beam_waist": 24.0, "camera_size": 128,
                  "roi_size": 6},
    }  # fmt: skip

    def __init__(self, config: FourierConfig) -> None:
        super().__init__(config)
        c = config
        corners = roi_corners(c)
        s = torch.arange(c.roi_size)
        rows = (corners[:, 0, None, None] + s[None, :, None]).expand(-1, -1, c.roi_size)
        cols = (corners[:, 1, None, None] + s[None, None, :]).expand(-1, c.roi_size, -1)
        self.register_buffer("roi_corners", corners, persistent=False)
        # (K, 2) camera (column, row) of every ROI pixel, ROI by ROI
        pixels = torch.stack([cols.reshape(-1), rows.reshape(-1)], dim=1).float()
        self.register_buffer("roi_pixels", pixels, persistent=False)
        self.register_buffer("zernike", zernike_basis(c.slm_size), persistent=False)
        self.register_buffer("beam", gaussian_beam(c.slm_size, c.beam_waist), persistent=False)
        coords = torch.arange(c.slm_size, dtype=torch.float32) - (c.slm_size - 1) / 2
        self.register_buffer("slm_coords", coords, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        n = self.config.slm_size
        return {
            "phase": ControlSpec(
                (n, n), 0.0, TWO_PI, periodic=True, levels=self.config.phase_levels, unit="rad"
            )
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "camera_offset": torch.zeros(2),  # (x, y) of the optical axis from design, camera px
            "focal_scale": 0.0,  # relative error δ of the focal length (camera magnification)
            "camera_rotation": 0.0,  # camera rotation ρ about the optical axis, rad
            "beam_waist": self.config.beam_waist,  # 1/e² intensity radius, SLM px (None: flat)
            "defocus": 0.0,  # Zernike Z4 coefficient of the wavefront aberration, rad
            "astigmatism": torch.zeros(2),  # Zernike Z6 (0°), Z5 (45°) coefficients, rad
            "phase_scale": 0.0,  # scale error s of the SLM's grey-level → phase response
            "phase_curvature": 0.0,  # nonlinearity c of the response, fraction of 2π
            "phase_levels": None,  # grey levels the SLM realizes (256: 8 bit; None: continuous)
        }

    @property
    def output_kind(self) -> str:
        return "intensity"

    @property
    def num_outputs(self) -> int:
        return self.config.num_classes

    # ----------------------------------------------------------------------------- physics
    def input_phase(self, x: Tensor) -> Tensor:
        """Samples (B, h, w) or (B, F) → the input phase r · x on the SLM (B, N, N), zero
        outside the central window (values clamped to [0, 1])."""
        c = self.config
        img = as_image(x, c.window).clamp(0.0, 1.0)
        before = (c.slm_size - c.window) // 2
        after = c.slm_size - c.window - before
        return torch.nn.functional.pad(img, (before, after, before, after)) * c.input_phase

    def realized_phase(self, phase: Tensor, nuisance: Nuisance) -> Tensor:
        """The phase the SLM shows for a requested phase (any real value): wrapped into
        [0, 2π), rounded to the SLM's grey levels, through its response 2π h(u)."""
        levels = nuisance.get("phase_levels")
        wrapped = torch.remainder(phase, TWO_PI)
        if levels is not None:
            wrapped = quantize_ste(
                wrapped, lambda p: snap_to_levels(p, 0.0, TWO_PI, int(levels), True)
            )
        scale, curve = nuisance.get("phase_scale", 0.0), nuisance.get("phase_curvature", 0.0)
        if not (is_plain_zero(scale) and is_plain_zero(curve)):
            u = wrapped / TWO_PI
            wrapped = TWO_PI * ((1 + scale) * u + curve * u * (1 - u))
        return wrapped

    def slm_field(self, x: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The field U = A exp(i (φ + φ_ab)) leaving the SLM, (B, N, N) complex64."""
        phase = controls["phase"]
        requested = phase + self.input_phase(x).to(phase)
        realized = self.realized_phase(requested, nuisance)
        aberration = self.aberration(nuisance)
        if aberration is not None:
            realized = realized + aberration.to(realized)
        return self._beam(nuisance).to(realized) * torch.exp(1j * realized)

    def far_field(self, field: Tensor, pixels: Tensor, nuisance: Nuisance) -> Tensor:
        """The complex far field E (B, K) at K camera pixels ``pixels`` (K, 2) = (column, row),
        normalized so that its power sums to the field's over one period of the k-space grid."""
        c = self.config
        k = self.camera_k(pixels, nuisance).to(field.real)
        coords = self.slm_coords.to(k)
        ex = torch.exp(-2j * math.pi * k[:, 0, None] * coords[None, :])  # (K, N_x)
        ey = torch.exp(-2j * math.pi * k[:, 1, None] * coords[None, :])  # (K, N_y)
        rows = field @ ex.T  # (B, N_y, K): the x sum for each camera pixel
        return torch.einsum("byk,ky->bk", rows, ey) / (c.camera_scale * c.slm_size)

    def camera_k(self, pixels: Tensor, nuisance: Nuisance) -> Tensor:
        """k (cycles per SLM pixel) seen by camera pixels (K, 2) = (column, row)."""
        c = self.config
        offset = torch.as_tensor(nuisance.get("camera_offset", 0.0)).to(pixels)
        center = pixels.new_tensor([c.camera_size / 2, c.camera_size / 2]) + offset
        v = pixels - center
        rotation = torch.as_tensor(nuisance.get("camera_rotation", 0.0)).to(pixels)
        if not is_plain_zero(rotation):
            cos, sin = torch.cos(rotation), torch.sin(rotation)
            v = torch.stack([cos * v[:, 0] + sin * v[:, 1], -sin * v[:, 0] + cos * v[:, 1]], 1)
        scale = 1 + torch.as_tensor(nuisance.get("focal_scale", 0.0)).to(pixels)
        return v / (c.camera_scale * c.slm_size * scale)

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        field = self.slm_field(x, controls, nuisance)
        intensity = self.far_field(field, self.roi_pixels, nuisance).abs().square()
        power = intensity.view(len(x), self.config.num_classes, -1).sum(-1)
        return power / power.sum(-1, keepdim=True).clamp_min(1e-30)

    def camera_image(self, x: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The whole camera frame (B, C, C) in units of the beam's power (no ROIs, no noise)."""
        c = self.config
        grid = torch.arange(c.camera_size, dtype=torch.float32)
        rows, cols = torch.meshgrid(grid, grid, indexing="ij")
        pixels = torch.stack([cols.reshape(-1), rows.reshape(-1)], 1)
        field = self.slm_field(x, controls, nuisance)
        power = field.abs().square().sum(dim=(-2, -1))[:, None]
        image = self.far_field(field, pixels, nuisance).abs().square() / power
        return image.view(len(x), c.camera_size, c.camera_size)

    def _beam(self, nuisance: Nuisance) -> Tensor:
        """The beam amplitude A (N, N): cached at the design waist, else computed."""
        waist = nuisance.get("beam_waist", self.config.beam_waist)
        if isinstance(waist, Tensor) or waist != self.config.beam_waist:
            return gaussian_beam(self.config.slm_size, waist).to(self.beam)
        return self.beam

    def aberration(self, nuisance: Nuisance) -> Tensor | None:
        """φ_ab (N, N) from the Zernike coefficients, or None when there is none."""
        dtype = self.zernike.dtype
        defocus = torch.as_tensor(nuisance.get("defocus", 0.0), dtype=dtype)
        astig = torch.as_tensor(nuisance.get("astigmatism", torch.zeros(2)), dtype=dtype)
        coefficients = torch.cat([defocus.reshape(1), astig.reshape(2)]).to(self.zernike)
        if is_plain_zero(coefficients):
            return None
        return torch.einsum("z,zyx->yx", coefficients, self.zernike)
