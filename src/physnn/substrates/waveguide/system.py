"""2-D programmable waveguide — Onodera et al., arXiv:2402.17750 (2024).

A slab waveguide (a thin lithium-niobate film, effective index n₀ of its guided mode) whose
refractive index Δn(x, z) is programmed over a 2-D region: light projected onto a
photoconductive cladding sets the local voltage across the film, and the electro-optic effect
turns it into an index change of up to Δn_max ≈ 10⁻³ (Onodera et al. 2024). The data enter as
the amplitudes of K Gaussian spots launched side by side at the input edge (z = 0); the light
diffracts and is steered by the programmed index over the length L; the outputs are the powers
in C detector windows at the output edge (z = L). The envelope obeys the paraxial equation

    ∂E/∂z = (i / 2k₀n₀) ∂²E/∂x² + i k₀ Δn(x, z) E,     k₀ = 2π/λ,

integrated by the split-step Fourier method of :mod:`physnn.physics.bpm` on N_x transverse
samples over N_z steps, with graded absorbing layers at the window's edges.

Controls: the index of a coarse grid of programmable pixels (pixels_z × pixels_x over the
window minus its absorbers), in units of 10⁻³ (``INDEX_UNIT``), bounded by [0, Δn_max];
optionally on K levels (the grey levels of the projector). They are upsampled to the
simulation grid (nearest-neighbour like a projected pixel, or bilinear). The written index is

    Δn = s · Δn_max · g_a(u) + ε(x, z),    u = Δn_cmd / Δn_max,   g_a(u) = (1 + a) u / (1 + a u),

blurred by a Gaussian of standard deviation σ_b, where the nuisance parameters are a global
scale s (calibration of the index per unit of written light), the saturation a of the
photoconductor's sublinear response (a = 0: linear), a static writing error ε (RIU, per
programmable pixel) and the writing blur σ_b (m, carrier diffusion and projection optics). The
input coupling may be displaced by δx (m) and tilted by θ (rad, a phase ramp exp(i k₀n₀ θ x)).
All are nuisance: s = 1 and zero otherwise in the design, drawn by
:mod:`physnn.substrates.waveguide.gap` for a device. Outputs are detector powers for a
unit-power input, so a perfect device with one window per class uses the brightest-detector
readout (``output_kind = "intensity"``).

In-situ gradients (``adjoint``, ``ffm``): :mod:`physnn.substrates.waveguide.insitu`.

Units: metres, refractive-index units (RIU), radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from physnn.physics import bpm
from physnn.substrates.waveguide.insitu import WaveguideInSitu
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
    is_plain_zero,
)
from physnn.systems.encoding import NON_NEGATIVE, as_vector

INDEX_UNIT = 1e-3
"""The controls are Δn in units of 10⁻³ (so that optimizer steps of ~0.05 are sensible)."""

UPSAMPLING = ("nearest", "bilinear")


@dataclass(frozen=True)
class WaveguideConfig:
    """Geometry of a 2-D programmable slab waveguide. Lengths in metres."""

    wavelength: float = 1.55e-6
    effective_index: float = 1.8  # n₀ of the slab mode
    delta_n_max: float = 1e-3  # largest programmable index change (RIU)
    width: float = 384e-6  # transverse simulation window
    length: float = 4e-3  # length of the programmable region
    grid_x: int = 128  # transverse samples
    steps: int = 40  # propagation steps over the length
    pixels_x: int = 28  # programmable pixels across the region (window minus absorbers)
    pixels_z: int = 20  # programmable pixels along the propagation direction
    num_inputs: int = 64  # K Gaussian input spots; samples are resampled to K values
    input_pitch: float = 4.5e-6
    input_waist: float = 5e-6
    num_classes: int = 10
    detector_width: float = 16e-6
    detector_pitch: float = 24e-6
    index_levels: int | None = None  # K-level index (projector grey levels), None: continuous
    upsampling: str = "nearest"
    absorber_width: float = 40e-6  # graded absorbing layer at each window edge
    absorber_extinction: float = 2e-3  # its largest extinction κ (imaginary index)
    checkpoint_steps: int = 0  # steps per gradient checkpoint block, 0: off

    def __post_init__(self) -> None:
        positive = (
            "wavelength", "effective_index", "delta_n_max", "width", "length", "grid_x",
            "steps", "pixels_x", "pixels_z", "num_inputs", "input_pitch", "input_waist",
            "num_classes", "detector_width", "detector_pitch",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("absorber_width", "absorber_extinction", "checkpoint_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.delta_n_max >= 0.1 * self.effective_index:
            raise ValueError(
                f"delta_n_max={self.delta_n_max} is not small against n0="
                f"{self.effective_index}: the paraxial BPM needs a weak index perturbation"
            )
        if self.input_waist < 1.5 * self.dx:
            raise ValueError(
                f"input_waist={self.input_waist:g} m is under-sampled by the grid "
                f"(dx={self.dx:g} m); use a finer grid_x or a wider waist"
            )
        if self.pixels_x > self.inner_samples:
            raise ValueError(
                f"pixels_x={self.pixels_x} exceeds the {self.inner_samples} grid samples "
                "inside the absorbers"
            )
        if self.pixels_z > self.steps:
            raise ValueError(f"pixels_z={self.pixels_z} exceeds steps={self.steps}")
        if self.index_levels is not None and self.index_levels < 2:
            raise ValueError(f"index_levels must be at least 2, got {self.index_levels}")
        if self.upsampling not in UPSAMPLING:
            raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {self.upsampling!r}")
        self._check_fits("inputs", self.num_inputs, self.input_pitch, self.input_pitch)
        self._check_fits("detectors", self.num_classes, self.detector_pitch, self.detector_width)

    def _check_fits(self, what: str, count: int, pitch: float, size: float) -> None:
        span = (count - 1) * pitch + size
        if span > self.inner_width:
            raise ValueError(
                f"{count} {what} at a {pitch:g} m pitch span {span:g} m, more than the "
                f"{self.inner_width:g} m inside the absorbing layers"
            )

    @property
    def dx(self) -> float:
        return self.width / self.grid_x

    @property
    def dz(self) -> float:
        return self.length / self.steps

    @property
    def absorber_samples(self) -> int:
        return round(self.absorber_width / self.dx)

    @property
    def inner_samples(self) -> int:
        return self.grid_x - 2 * self.absorber_samples

    @property
    def inner_width(self) -> float:
        return self.inner_samples * self.dx


class ProgrammableWaveguide(WaveguideInSitu, System):
    """2-D programmable slab waveguide: Gaussian inputs, programmed Δn(x, z), detector windows."""

    name = "waveguide"
    input_range = NON_NEGATIVE  # an amplitude: negative values are dropped
    capabilities = Capabilities(
        differentiable=True,
        linear=True,  # the output field is linear in the input field (intensities are detected)
        reciprocal=True,  # passive dielectric propagation; the adjoint is backward propagation
        detector_readout=True,
        # the error sent backwards through the index, or forwards through the index written
        # mirrored along z (fully forward mode, Xue et al. 2024): see .insitu
        gradient_procedures=("adjoint", "ffm"),
        description="2-D programmable slab waveguide, split-step BPM (Onodera et al. 2024)",
    )
    config_class = WaveguideConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Small and fast: a 0.38 mm × 4 mm region, 128 × 40 grid, 64 overlapping input spots
        # (an 8×8 digit, or an 8×8 thumbnail of a larger image).
        "default": {},
        # Onodera et al. 2024: Δn_max = 10⁻³, ~10⁴ programmable pixels on 12 mm², up to 49
        # inputs (7×7 MNIST); the authors' simulation code (github.com/mcmahon-lab/
        # 2D-programmable-waveguide, MNIST example) uses λ = 1.55 µm, n₀ = 1.8, a 1-cm-long
        # region and 49 Gaussian inputs of 6 µm waist 8.3 µm apart. Scaled down to run on a CPU: a
        # 0.77 mm × 8 mm region (6 mm²) on a 256 × 160 grid (3 µm × 50 µm steps) with
        # 80 × 40 = 3200 programmable pixels; the 49 inputs are kept.
        "onodera2024": {
            "width": 768e-6,
            "length": 8e-3,
            "grid_x": 256,
            "steps": 160,
            "pixels_x": 80,
            "pixels_z": 40,
            "num_inputs": 49,
            "input_pitch": 8.3e-6,
            "input_waist": 6e-6,
            "detector_width": 24e-6,
            "detector_pitch": 40e-6,
            "absorber_width": 90e-6,
            "checkpoint_steps": 40,
        },
    }

    def __init__(self, config: WaveguideConfig) -> None:
        super().__init__(config)
        c = config
        x = bpm.transverse_axis(c.grid_x, c.dx)
        self.register_buffer("x", x, persistent=False)
        self.register_buffer("input_centres", _centred(c.num_inputs, c.input_pitch), False)
        self.register_buffer("detector_windows", self._windows(x), persistent=False)
        extinction = bpm.absorbing_boundary(c.grid_x, c.absorber_samples, c.absorber_extinction)
        self.register_buffer("extinction", extinction, persistent=False)

    def _windows(self, x: Tensor) -> Tensor:
        c = self.config
        centres = _centred(c.num_classes, c.detector_pitch)[:, None]
        return ((x - centres).abs() <= c.detector_width / 2).float()

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {
            "delta_n": ControlSpec(
                (c.pixels_z, c.pixels_x),
                0.0,
                c.delta_n_max / INDEX_UNIT,
                levels=c.index_levels,
                unit="1e-3 RIU",
            )
        }

    def nominal_nuisance(self) -> Nuisance:
        return {
            "index_scale": 1.0,  # realized / commanded index, global
            "index_saturation": 0.0,  # a of the sublinear writing response (0: linear)
            "index_error": None,  # (pixels_z, pixels_x) static writing error, RIU
            "blur_length": 0.0,  # Gaussian writing blur σ, m
            "input_shift": 0.0,  # lateral displacement of the input spots, m
            "input_tilt": 0.0,  # tilt of the input beams in the slab, rad
            "monitor_noise": 0.0,  # relative noise of the in-situ holographic field images
        }

    @property
    def output_kind(self) -> str:
        return "intensity"

    @property
    def num_outputs(self) -> int:
        return self.config.num_classes

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor, shift: Tensor | float = 0.0, tilt: Tensor | float = 0.0) -> Tensor:
        """Samples → unit-power input field (B, N_x): K Gaussian spots with amplitudes ∝ x.

        Spot k sits at c_k + δx; a tilt θ adds the phase ramp exp(i k₀ n₀ θ x).
        """
        c = self.config
        amplitudes = as_vector(x, c.num_inputs).clamp_min(0).to(self.x.device)
        centres = (self.input_centres + shift)[:, None]
        spots = bpm.gaussian_beam(self.x, centres, c.input_waist, c.wavelength, c.effective_index)
        field = amplitudes.to(spots.dtype) @ spots
        power = (field.real.square() + field.imag.square()).sum(-1, keepdim=True)
        field = field / power.clamp_min(1e-12).sqrt()
        if not is_plain_zero(tilt):
            k = 2 * math.pi * c.effective_index / c.wavelength
            field = field * torch.exp(1j * k * tilt * self.x)
        return field

    def written_index(self, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The realized index Δn on the simulation grid (N_z, N_x), RIU, before absorbers."""
        c = self.config
        u = controls["delta_n"] * (INDEX_UNIT / c.delta_n_max)
        a = nuisance.get("index_saturation", 0.0)
        if not is_plain_zero(a):
            u = (1 + a) * u / (1 + a * u)
        pixels = nuisance.get("index_scale", 1.0) * c.delta_n_max * u
        if nuisance.get("index_error") is not None:
            pixels = pixels + nuisance["index_error"].to(pixels)
        grid = self._upsample(pixels)
        blur = nuisance.get("blur_length", 0.0)
        if not is_plain_zero(blur):
            grid = _gaussian_blur(grid, blur / c.dz, blur / c.dx)
        return grid

    def _upsample(self, pixels: Tensor) -> Tensor:
        """Programmable pixels → (N_z, N_x): resampled over the region, zero in the absorbers."""
        c = self.config
        size = (c.steps, c.inner_samples)
        mode = {"nearest": "nearest-exact", "bilinear": "bilinear"}[c.upsampling]
        extra = {} if mode == "nearest-exact" else {"align_corners": False}
        inner = F.interpolate(pixels[None, None], size=size, mode=mode, **extra)[0, 0]
        return F.pad(inner, (c.absorber_samples, c.absorber_samples))

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config  # passive linear optics: detector noise is added by the reality gap
        delta_n = self.written_index(controls, nuisance)
        complex_index = torch.complex(delta_n, self.extinction.expand_as(delta_n))
        field = self.encode(x, nuisance.get("input_shift", 0.0), nuisance.get("input_tilt", 0.0))
        out = bpm.bpm_propagate(
            field,
            complex_index,
            c.dx,
            c.dz,
            c.wavelength,
            c.effective_index,
            checkpoint_steps=c.checkpoint_steps,
        )
        return bpm.window_power(out, self.detector_windows)


def _centred(count: int, pitch: float) -> Tensor:
    """Positions of ``count`` elements ``pitch`` apart, centred on x = 0."""
    return (torch.arange(count, dtype=torch.float64) - (count - 1) / 2).mul(pitch).float()


def _gaussian_kernel(sigma_px: Tensor | float, device: torch.device) -> Tensor:
    """Normalized 1-D Gaussian of standard deviation σ pixels, truncated at 3σ (odd length).

    Computed in float64 (cast by the caller); differentiable in a tensor σ.
    """
    plain = sigma_px.detach() if isinstance(sigma_px, Tensor) else sigma_px
    radius = max(1, math.ceil(3 * float(plain)))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    return kernel / kernel.sum()


def _gaussian_blur(grid: Tensor, sigma_z_px: Tensor | float, sigma_x_px: Tensor | float) -> Tensor:
    """Separable Gaussian blur of (N_z, N_x) with zero padding, differentiable in σ."""
    kz = _gaussian_kernel(sigma_z_px, grid.device).to(grid)
    kx = _gaussian_kernel(sigma_x_px, grid.device).to(grid)
    out = F.conv2d(grid[None, None], kz[None, None, :, None], padding=(kz.numel() // 2, 0))
    out = F.conv2d(out, kx[None, None, None, :], padding=(0, kx.numel() // 2))
    return out[0, 0]
