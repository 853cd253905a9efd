"""Broadband second-harmonic generation of shaped femtosecond pulses (the SHG-PNN).

Wright, Onodera, Stein, Wang, Schachter, Hu & McMahon, "Deep physical neural networks trained
with backpropagation", Nature 601, 549 (2022): a femtosecond pulse is shaped by a pulse shaper
(an SLM in the Fourier plane of a 4f line); the spectral phases of some SLM pixels carry the
input data, those of the others the trainable parameters; the shaped pulse generates its second
harmonic (SH) in a thin χ⁽²⁾ crystal, and a spectrometer measures the SH power spectrum,
integrated into bins, as the layer's output.

Physics (see :mod:`physnn.physics.shg` for the equations and units)
-------------------------------------------------------------------
1. Transform-limited Gaussian pump, intensity FWHM ``pulse_fwhm`` (fs), peak power P₀ (the unit
   of |A|²), spectrum Ã₀(Ω) ∝ exp(−Ω²T₀²/2).
2. Pulse shaper: K = ``num_inputs`` + ``num_controls`` SLM pixels span the detuning window
   |Ω| < ``shaper_span``/T₀ (outside it the spectrum is blocked); pixel k imposes the complex
   transmission a_k exp(iφ_k^real) with the realized phase of a miscalibrated SLM

       φ_k^real = (1 + g_k) φ_k + o_k          (per-pixel gain error g_k, offset o_k, rad),

   and the mask is smoothed over ``shaper_resolution`` pixels (finite spot size, fringing).
   Inputs x ∈ [0, 1] (``as_vector(x, num_inputs)``) set φ = ``input_phase_range``·x on the input
   pixels; the controls θ set φ ∈ [0, 2π) (periodic) on the control pixels and, with
   ``trainable_amplitude``, their amplitude a ∈ [0, 1]. Layout ``"interleaved"`` alternates
   input and control pixels across the spectrum (every SH frequency mixes both); ``"blocks"``
   puts the inputs in the low- and the controls in the high-frequency half, as drawn in Wright
   et al., Fig. 2.
3. Crystal: coupled-wave equations with group-velocity mismatch, both group-velocity
   dispersions, phase mismatch Δk and pump depletion, solved by split-step Fourier over
   ``crystal_steps`` steps. The coupling is set by the dimensionless drive Γ = γL (γ = κ√P₀): a
   phase-matched continuous wave would convert tanh²Γ of its power. Per-shot pump-energy
   fluctuations scale the pump power by (1 + σε), drawn inside ``forward`` from the noise
   source (``nuisance["pump_noise"]`` = σ).
4. Spectrometer: the SH power spectrum summed into ``num_outputs`` equal bands over
   |Ω| < 2·``shaper_span``/T₀ (the full band of sum frequencies), in units of the mean band
   energy of a pulse with random spectral phases (see ``_scrambled_band_energy``), so that
   outputs are of order 1 (a spectrometer whose exposure is set for shaped pulses).

Outputs are non-negative band energies. By default a trainable linear layer reads them
(``output_kind`` "real"): one physical layer's SH spectrum is a smooth feature map whose bands
have no natural one-to-one relation to classes. With ``band_per_class`` (and ``num_outputs`` equal
to the number of classes) the class is the brightest band, as in Wright et al.'s vowel PNN,
whose prediction was the largest of the SH spectral bins of its last layer (``output_kind``
"intensity").

Default crystal: β-barium borate (BBO), type-I 800 nm → 400 nm: GVM δ ≈ 190 fs/mm, GVD
β₂ ≈ 75 fs²/mm at 800 nm and ≈ 200 fs²/mm at 400 nm (Sellmeier data of Eimerl et al., J. Appl.
Phys. 62, 1968 (1987)). In the default 0.5 mm crystal the phase-matching bandwidth 2π/(δL) ≈
0.066 rad/fs is about 1.5 times the SH bandwidth of a transform-limited 100 fs pulse (power FWHM
≈ 0.039 rad/fs): broadband SHG with a noticeable spectral filter on the wings of the SH, which a
detuning Δk shifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import shg
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)
from physnn.systems.encoding import as_vector

TWO_PI = 2 * math.pi
FWHM_PER_T0 = 2 * math.sqrt(math.log(2))  # intensity FWHM of exp(−τ²/(2T₀²)) in units of T₀
LAYOUTS = ("interleaved", "blocks")


@dataclass(frozen=True)
class SHGConfig:
    """An SHG-PNN layer. Times in fs, lengths in mm, phases in rad."""

    num_inputs: int = 64
    num_controls: int = 64
    num_outputs: int = 64
    layout: str = "interleaved"
    input_phase_range: float = math.pi  # phase of an input of 1 (x ∈ [0, 1] → [0, range])
    trainable_amplitude: bool = False
    band_per_class: bool = False  # the class is the brightest SH band (needs num_outputs = classes)
    pulse_fwhm: float = 100.0  # fs, transform-limited intensity FWHM
    shaper_span: float = 2.5  # SLM half-aperture in units of 1/T₀ (power ≥ e^−6.25 of the peak)
    bins_per_pixel: int = 1  # spectral grid points per SLM pixel (time grid = 2·K·bins points)
    crystal_length: float = 0.5  # mm
    crystal_steps: int = 6
    drive: float = 0.5  # Γ = γL: nonlinear drive of the transform-limited peak
    gvm: float = 190.0  # δ = 1/v₂ − 1/v₁, fs/mm
    gvd_fundamental: float = 75.0  # β₂ at the pump, fs²/mm
    gvd_second_harmonic: float = 200.0  # β₂ at the SH, fs²/mm
    num_classes: int = 10  # set from the dataset; unused by the physics

    def __post_init__(self) -> None:
        positive = (
            "num_inputs", "num_controls", "num_outputs", "pulse_fwhm", "shaper_span",
            "bins_per_pixel", "crystal_length", "crystal_steps", "num_classes",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.layout == "interleaved" and self.num_inputs != self.num_controls:
            raise ValueError(
                "the interleaved layout needs num_inputs == num_controls, got "
                f"{self.num_inputs} and {self.num_controls}; use layout='blocks'"
            )
        if not 0 < self.input_phase_range <= TWO_PI:
            raise ValueError(f"input_phase_range must be in (0, 2π], got {self.input_phase_range}")
        if self.drive < 0:
            raise ValueError(f"drive must be non-negative, got {self.drive}")

    @property
    def num_pixels(self) -> int:
        return self.num_inputs + self.num_controls

    @property
    def time_points(self) -> int:
        """Twice the bins under the SLM, so that all sum frequencies fit without aliasing."""
        return 2 * self.num_pixels * self.bins_per_pixel

    @property
    def t0(self) -> float:
        """T₀ of exp(−τ²/(2T₀²)), fs."""
        return self.pulse_fwhm / FWHM_PER_T0

    @property
    def shaper_half_span(self) -> float:
        """Half-width of the SLM aperture in detuning, rad/fs."""
        return self.shaper_span / self.t0

    @property
    def dt(self) -> float:
        """Time step, fs: the spectral grid puts ``bins_per_pixel`` bins on every pixel."""
        pixel_width = 2 * self.shaper_half_span / self.num_pixels
        return TWO_PI / (self.time_points * pixel_width / self.bins_per_pixel)


class SecondHarmonicGeneration(System):
    """SHG-PNN: spectral-phase pulse shaping, broadband χ⁽²⁾ crystal, SH spectrometer."""

    name = "shg"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,
        reciprocal=False,
        description="pulse-shaped femtosecond SHG in a χ(2) crystal (Wright et al. 2022)",
    )
    config_class = SHGConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 64 data pixels (the 8×8 digits, unresampled) and 64 parameter pixels, 256 time points.
        "default": {},
        # Wright et al. 2022, vowel SHG-PNN: the formant features on the low-frequency half of
        # the SLM, the parameters on the high-frequency half, the SH spectrum in bins. The
        # multi-layer network of the paper (SH spectra fed back as the next layer's input
        # phases) is reduced to one physical layer followed by the digital readout. The 12
        # features spread over 48 input pixels (4 per feature) so that they modulate the bright
        # part of the spectrum, not only its dim wing.
        "wright2022": {
            "num_inputs": 48,
            "num_controls": 48,
            "num_outputs": 24,
            "layout": "blocks",
            "bins_per_pixel": 2,
            "crystal_steps": 8,
        },
    }

    def __init__(self, config: SHGConfig) -> None:
        super().__init__(config)
        c = config
        omega = shg.detuning_grid(c.time_points, c.dt, dtype=torch.float64)
        t = shg.time_grid(c.time_points, c.dt, dtype=torch.float64)
        pump = shg.to_spectrum(shg.gaussian_pulse(t, c.t0))
        pixels = shg.pixel_matrix(omega, c.shaper_half_span, c.num_pixels)
        bands = shg.band_matrix(omega, 2 * c.shaper_half_span, c.num_outputs)
        self.register_buffer("omega", omega.float(), persistent=False)
        self.register_buffer("pump_spectrum", pump.to(torch.complex64), persistent=False)
        self.register_buffer("pixel_to_bin", pixels.T.float(), persistent=False)  # (K, n)
        self.register_buffer("bin_to_band", bands.float(), persistent=False)  # (n, M)
        self.register_buffer("input_pixels", self._input_pixel_index(), persistent=False)
        self.register_buffer("control_pixels", self._control_pixel_index(), persistent=False)
        self.output_unit = self._scrambled_band_energy(pump * pixels.sum(dim=-1))

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        specs = {"phase": ControlSpec((c.num_controls,), 0.0, TWO_PI, periodic=True, unit="rad")}
        if c.trainable_amplitude:
            specs["amplitude"] = ControlSpec((c.num_controls,), 0.0, 1.0)
        return specs

    def init_controls(self, generator: torch.Generator) -> Controls:
        """Random phases, full amplitude (a dark pixel would start with no gradient)."""
        controls = super().init_controls(generator)
        if "amplitude" in controls:
            controls["amplitude"] = torch.ones_like(controls["amplitude"])
        return controls

    def nominal_nuisance(self) -> Nuisance:
        k = self.config.num_pixels
        return {
            "phase_gain": torch.zeros(k),  # relative SLM phase-response error per pixel
            "phase_offset": torch.zeros(k),  # SLM phase offset per pixel, rad
            "shaper_resolution": 0.0,  # Gaussian mask blur σ, in pixels
            "mismatch": 0.0,  # phase mismatch Δk = 2k₁ − k₂, 1/mm
            "crystal_length": self.config.crystal_length,  # mm
            "pump_power": 1.0,  # mean pump peak power / design
            "pump_noise": 0.0,  # relative rms of the per-shot pump power
        }

    @property
    def output_kind(self) -> str:
        """Band energies: "intensity" (brightest band wins) with ``band_per_class``, else "real"."""
        return "intensity" if self.config.band_per_class else "real"

    @property
    def num_outputs(self) -> int:
        return self.config.num_outputs

    # ----------------------------------------------------------------------------- physics
    def pixel_phases(self, x: Tensor, phase: Tensor) -> Tensor:
        """Inputs (B, ...) and control phases (C,) → the designed phase of every pixel (B, K)."""
        c = self.config
        data = as_vector(x, c.num_inputs).to(phase) * c.input_phase_range
        out = phase.new_zeros(data.shape[0], c.num_pixels)
        out = out.index_copy(1, self.input_pixels, data)
        return out.index_copy(1, self.control_pixels, phase.expand(data.shape[0], -1))

    def spectral_mask(self, phases: Tensor, controls: Controls, nuisance: Nuisance) -> Tensor:
        """The SLM's realized complex transmission on the spectral grid (B, n)."""
        gain = nuisance["phase_gain"].to(phases)
        realized = phases * (1 + gain) + nuisance["phase_offset"].to(phases)
        amplitude = torch.ones_like(realized)
        if "amplitude" in controls:
            amplitude = amplitude.index_copy(
                1, self.control_pixels, controls["amplitude"].expand(phases.shape[0], -1)
            )
        mask = torch.polar(amplitude, realized)
        mask = mask @ self.pixel_to_bin.to(mask.dtype)
        resolution = nuisance["shaper_resolution"]
        if float(torch.as_tensor(resolution).detach()) > 0:
            pixel_width = 2 * self.config.shaper_half_span / self.config.num_pixels
            blur = shg.smoothing_matrix(self.omega.to(phases), resolution * pixel_width)
            mask = mask @ blur.T.to(mask.dtype)
        return mask

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config
        mask = self.spectral_mask(self.pixel_phases(x, controls["phase"]), controls, nuisance)
        power = self._pump_power(nuisance, mask.shape[0], noise, mask.real)
        pump = shg.to_time(self.pump_spectrum.to(mask) * mask) * power.sqrt()
        length = nuisance["crystal_length"]
        _, sh = shg.propagate_shg(
            pump,
            c.dt,
            length,
            c.crystal_steps,
            c.drive / c.crystal_length,
            gvm=c.gvm,
            gvd_fundamental=c.gvd_fundamental,
            gvd_second_harmonic=c.gvd_second_harmonic,
            mismatch=nuisance["mismatch"],
        )
        bands = shg.power_spectrum(sh, c.dt) @ self.bin_to_band.to(mask.real)
        return bands / self.output_unit

    def _pump_power(
        self, nuisance: Nuisance, batch: int, noise: NoiseSource | None, like: Tensor
    ) -> Tensor:
        """Peak power of each shot / P₀, (B, 1): the mean times (1 + σε) with per-shot noise."""
        mean = torch.as_tensor(nuisance["pump_power"]).to(like)
        sigma = nuisance.get("pump_noise") or 0.0
        if noise is None or not sigma:
            return mean.expand(batch, 1)
        eps = torch.randn((batch, 1), generator=noise.generator, device=like.device)
        eps = eps.to(like)
        return (mean * (1 + sigma * eps)).clamp_min(0.0)

    # ----------------------------------------------------------------------------- layout
    def _input_pixel_index(self) -> Tensor:
        c = self.config
        if c.layout == "interleaved":
            return torch.arange(0, c.num_pixels, 2)
        return torch.arange(c.num_inputs)

    def _control_pixel_index(self) -> Tensor:
        c = self.config
        if c.layout == "interleaved":
            return torch.arange(1, c.num_pixels, 2)
        return torch.arange(c.num_inputs, c.num_pixels)

    def _scrambled_band_energy(self, pump_spectrum: Tensor) -> float:
        """The output unit: mean SH energy per band of a pulse with random spectral phases.

        A pulse whose spectral phases are uniformly random fills the time window T_w = n·dt with
        circular-Gaussian speckle, ⟨|A|⁴⟩ = 2⟨|A|²⟩², so in the undepleted, dispersionless limit
        its SH energy ∝ ∫|A|⁴ is 2√(2π) T₀ / T_w times that of the transform-limited pulse
        (∫|A|⁴ = T₀√(π/2), ∫|A|² = T₀√π). The transform-limited SH energy is computed with the
        design crystal; dividing by the number of bands makes typical outputs of order 1.
        """
        c = self.config
        scrambled_fraction = 2 * math.sqrt(2 * math.pi) * c.t0 / (c.time_points * c.dt)
        return self._transform_limited_sh_energy(pump_spectrum) * scrambled_fraction / c.num_outputs

    def _transform_limited_sh_energy(self, pump_spectrum: Tensor) -> float:
        """SH energy of the unshaped (SLM-apertured) pulse in the design crystal, units P₀·fs."""
        c = self.config
        _, sh = shg.propagate_shg(
            shg.to_time(pump_spectrum),
            c.dt,
            c.crystal_length,
            c.crystal_steps,
            c.drive / c.crystal_length,
            gvm=c.gvm,
            gvd_fundamental=c.gvd_fundamental,
            gvd_second_harmonic=c.gvd_second_harmonic,
        )
        return float(shg.pulse_energy(sh, c.dt))
