"""Multimode fibre with Kerr nonlinearity — Oguz et al., Adv. Photonics 6, 016002 (2024).

Data and trainable parameters are written side by side on a phase-only SLM whose reflected beam
is focused onto the facet of a graded-index (GRIN) multimode fibre; high-peak-power pulses
propagate through the fibre with linear mode coupling, modal walk-off, dispersion and the Kerr
nonlinearity (multimode four-wave mixing), and a camera records the time-integrated output
speckle, which a digital linear layer reads out (Oguz et al., Opt. Lett. 48, 5249 (2023), and
Adv. Photonics 6, 016002 (2024); Teğin et al., Nat. Comput. Sci. 1, 542 (2021)).

Model (units: m, ps, W, rad):

* **SLM → fibre.** N = K + P macro-pixels carry phases φ = [r·x, θ]: the K data pixels the
  sample x ∈ [0, 1] (:func:`~physnn.systems.encoding.as_vector`, phase range r, default π), the
  P control pixels the trainable θ ∈ [0, 2π). The SLM field exp(i(s·φ + ε)) (s: phase-response
  scale, ε: static per-pixel phase error, both nuisance) couples into the M fibre modes through a
  fixed complex Gaussian matrix W (M × N, E Σ_p |a_p|² = 1): a = W exp(iφ). The launched pulse
  is A_p(0, t) = a_p √(P₀ ρ (1 + σ ε)) exp(−t²/2T₀²), with peak power P₀, a static power
  calibration ρ and a per-pulse jitter σ (drawn inside ``forward`` from the noise source).
* **Fibre.** The multimode NLSE of :mod:`physnn.physics.split_step` for the first G mode groups
  of a parabolic GRIN fibre (M = G(G+1)/2 Hermite–Gauss modes, one polarisation), with exact
  resonant GRIN overlap tensor, random linear coupling within each (degenerate) mode group
  (bends, stress, core ellipticity: the fibre's "transmission matrix"), group walk-off Δβ₁·g and
  dispersion β₂. Chosen over a transverse (x, y, t) beam-propagation model because a mode basis
  captures the same physics — intermodal coupling, multimode four-wave mixing, self-imaging —
  at a cost of M⁴ per time sample instead of a 2-D FFT per step, which keeps it trainable on a
  CPU.
* **Output.** The mode-group phases exp(−i g δβ (L + ΔL)) (δβ: group spacing) are applied
  analytically; the camera integrates |Σ_p A_p(L, t) F_p(x, y)|² over the pulse on S × S pixels
  spanning ±``camera_extent`` mode radii (``output="speckle"``), or the mode energies
  Σ_t |A_p|² Δt are read (``output="modes"``). Outputs are energies in units of a uniform share
  of the nominal launched pulse energy (E₀ / num_outputs), so a typical output is ≈ 1.

Default parameters are those of a 50 µm-core GRIN fibre at 1030 nm: γ ≈ 2π n₂/(λ A_eff) ≈
1·10⁻³ 1/(W·m) (n₂ = 2.6·10⁻²⁰ m²/W, A_eff ≈ 150 µm²), β₂ ≈ 0.022 ps²/m (fused silica),
group spacing δβ = NA/(n₀ R) ≈ 5.5·10³ 1/m (NA 0.2, R = 25 µm), and a modal walk-off of
≈ 0.1 ps/m per group (GRIN differential mode delay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.physics import split_step as ss
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
OUTPUTS = ("speckle", "modes")
MAX_STEP_PHASE = 0.5  # largest nonlinear phase γ P₀ h per split step at the nominal power, rad
PEAK_STEP_PHASE = 0.5  # largest γ P_peak h at a batch's actual peak power: ≤ 1 % error


@dataclass(frozen=True)
class FibreConfig:
    """A pulsed SLM → GRIN multimode fibre → camera system. Units: m, ps, W, rad."""

    num_mode_groups: int = 3  # G: M = G(G+1)/2 modes
    num_data_pixels: int = 64  # K SLM macro-pixels carrying the sample
    num_control_pixels: int = 64  # P SLM macro-pixels carrying trainable phases
    data_phase_range: float = math.pi  # phase of a data pixel at x = 1, rad
    length: float = 1.0  # fibre length, m
    num_steps: int = 12  # split-step steps
    peak_power: float = 6000.0  # launched peak power for E Σ|a|² = 1, W
    gamma: float = 1.0e-3  # nonlinear coefficient of the fundamental mode, 1/(W·m)
    beta2: float = 0.022  # group-velocity dispersion, ps²/m
    walk_off: float = 0.1  # group delay per mode group, ps/m
    group_spacing: float = 5.5e3  # propagation-constant spacing of mode groups, 1/m
    coupling_strength: float = 2.0  # rms of the random within-group coupling, 1/m
    pulse_width: float = 1.0  # T₀ of the Gaussian pulse exp(−t²/2T₀²), ps
    num_time: int = 8  # time samples
    time_window: float = 6.0  # ps
    output: str = "speckle"  # "speckle" (camera pixels) or "modes" (mode energies)
    camera_pixels: int = 6  # S: S × S camera pixels
    camera_extent: float = 2.5  # camera half-width, in mode radii w
    phase_levels: int | None = None  # SLM phase levels (None: continuous)
    coupling_seed: int = 0  # seed of the fixed SLM coupling and nominal fibre coupling
    checkpoint_every: int | None = None  # steps per gradient-checkpoint block (None: off)

    def __post_init__(self) -> None:
        positive = (
            "num_mode_groups", "num_data_pixels", "num_control_pixels", "data_phase_range",
            "length", "num_steps", "gamma", "group_spacing", "pulse_width", "num_time",
            "time_window", "camera_pixels", "camera_extent",
        )  # fmt: skip
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("peak_power", "walk_off", "coupling_strength"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if self.phase_levels is not None and self.phase_levels < 2:
            raise ValueError(f"phase_levels must be at least 2, got {self.phase_levels}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1 or None, got {self.checkpoint_every}")
        step_phase = self.gamma * self.peak_power * self.length / self.num_steps
        if step_phase > MAX_STEP_PHASE:
            raise ValueError(
                f"nonlinear phase per step γ·P₀·L/num_steps = {step_phase:.2f} rad exceeds "
                f"{MAX_STEP_PHASE} rad (the Runge–Kutta step would be inaccurate); use at least "
                f"num_steps = {math.ceil(self.gamma * self.peak_power * self.length)}"
            )
        if self.time_window < 4 * self.pulse_width:
            raise ValueError(
                f"time_window ({self.time_window} ps) must hold the pulse: at least "
                f"4 × pulse_width = {4 * self.pulse_width} ps"
            )

    @property
    def num_modes(self) -> int:
        return self.num_mode_groups * (self.num_mode_groups + 1) // 2

    @property
    def num_slm_pixels(self) -> int:
        return self.num_data_pixels + self.num_control_pixels

    @property
    def dt(self) -> float:
        return self.time_window / self.num_time

    @property
    def reference_energy(self) -> float:
        """Nominal launched pulse energy E₀ = P₀ ∫ exp(−t²/T₀²) dt = P₀ T₀ √π (pJ)."""
        return self.peak_power * self.pulse_width * math.sqrt(math.pi)


class MultimodeFibre(System):
    """Pulsed SLM-programmed GRIN multimode fibre with Kerr nonlinearity and a camera readout."""

    name = "fibre"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # Kerr nonlinearity (and the SLM phase encoding)
        reciprocal=False,  # the nonlinear map has no physical adjoint pass
        description="SLM-programmed nonlinear multimode GRIN fibre, camera speckle readout "
        "(Oguz et al. 2023, 2024)",
    )
    config_class = FibreConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 6 modes, 8 time samples, 12 steps, 36 camera pixels: fast on 8×8 digits.
        "default": {},
        # Oguz et al. 2024: 50 µm GRIN fibre, ps pulses at 1030 nm, tens of kW peak power,
        # data and parameters side by side on one SLM, camera speckle readout. Scaled for a
        # CPU: 10 modes (4 groups) instead of the fibre's ~800, 1 m of fibre, a 16-sample time
        # grid and a 10 × 10-pixel camera; the peak power gives ≈ 8 rad of nonlinear phase,
        # the strongly nonlinear regime in which the paper reports its best accuracies.
        "oguz2024": {
            "num_mode_groups": 4,
            "num_data_pixels": 196,
            "num_control_pixels": 196,
            "peak_power": 8000.0,
            "num_steps": 16,
            "num_time": 16,
            "time_window": 8.0,
            "camera_pixels": 10,
            "checkpoint_every": 5,
        },
    }

    def __init__(self, config: FibreConfig) -> None:
        super().__init__(config)
        c = config
        orders = ss.grin_mode_orders(c.num_mode_groups)
        groups = torch.tensor([a + b for a, b in orders], dtype=torch.float32)
        gen = torch.Generator().manual_seed(c.coupling_seed)
        launch = torch.randn(c.num_modes, c.num_slm_pixels, 2, generator=gen, dtype=torch.float64)
        launch = torch.view_as_complex(launch) / math.sqrt(2 * c.num_modes * c.num_slm_pixels)
        coupling = within_group_hermitian(groups, c.coupling_strength, gen)
        pixels = (torch.arange(c.camera_pixels, dtype=torch.float64) + 0.5) / c.camera_pixels
        xs = c.camera_extent * (2 * pixels - 1)
        camera = ss.grin_mode_fields(orders, xs[:, None], xs[None, :]).reshape(-1, c.num_modes)
        pixel_area = (2 * c.camera_extent / c.camera_pixels) ** 2
        t = ss.time_grid(c.num_time, c.time_window, dtype=torch.float64)
        self.register_buffer("groups", groups, persistent=False)
        self.register_buffer("launch_matrix", launch.to(torch.complex64), persistent=False)
        self.register_buffer("nominal_coupling", coupling.to(torch.complex64), persistent=False)
        self.register_buffer("eta", ss.grin_overlap_tensor(orders).float(), persistent=False)
        self.register_buffer(
            "camera_fields", (camera * math.sqrt(pixel_area)).float(), persistent=False
        )
        self.register_buffer(
            "envelope", torch.exp(-(t**2) / (2 * c.pulse_width**2)).float(), persistent=False
        )
        self.register_buffer(
            "omega", ss.angular_frequencies(c.num_time, c.time_window), persistent=False
        )

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        return {
            "slm_phase": ControlSpec(
                (c.num_control_pixels,), 0.0, TWO_PI, periodic=True, levels=c.phase_levels,
                unit="rad",
            )
        }  # fmt: skip

    def nominal_nuisance(self) -> Nuisance:
        return {
            "coupling_error": None,  # (M, M) Hermitian change of the fibre coupling, 1/m
            "length_error": 0.0,  # fibre (optical) length error, m
            "power_scale": 1.0,  # launched / nominal peak power
            "power_jitter": 0.0,  # per-pulse relative rms power fluctuation
            "slm_phase_scale": 1.0,  # realized / commanded SLM phase
            "slm_phase_error": None,  # (K + P,) static phase error per macro-pixel, rad
        }

    @property
    def num_outputs(self) -> int:
        c = self.config
        return c.camera_pixels**2 if c.output == "speckle" else c.num_modes

    output_kind = "intensity"  # camera energies; num_outputs ≠ classes → a Linear readout

    # ----------------------------------------------------------------------------- physics
    def slm_phase(self, x: Tensor, theta: Tensor, nuisance: Nuisance) -> Tensor:
        """Realized phases (B, K + P) of the data and control macro-pixels, rad."""
        c = self.config
        data = c.data_phase_range * as_vector(x, c.num_data_pixels).to(theta)
        phase = torch.cat([data, theta.expand(data.shape[0], -1)], dim=-1)
        phase = phase * nuisance.get("slm_phase_scale", 1.0)
        error = nuisance.get("slm_phase_error")
        return phase if error is None else phase + error.to(phase)

    def launch(self, phase: Tensor, nuisance: Nuisance, noise: NoiseSource | None) -> Tensor:
        """Launched fields (B, T, M) in √W for SLM phases (B, K + P)."""
        complex_dtype = torch.promote_types(phase.dtype, torch.complex64)
        amplitudes = (
            torch.polar(torch.ones_like(phase), phase) @ self.launch_matrix.to(complex_dtype).T
        )
        power = self.config.peak_power * nuisance.get("power_scale", 1.0) * self._jitter(
            phase, nuisance, noise
        )  # fmt: skip
        envelope = self.envelope.to(phase.dtype)[:, None]
        return (power.sqrt()[:, None, None] * envelope * amplitudes[:, None, :]).to(complex_dtype)

    def _jitter(self, phase: Tensor, nuisance: Nuisance, noise: NoiseSource | None) -> Tensor:
        """Per-pulse relative power 1 + σ ε, ε ~ N(0, 1) from the noise source (else 1)."""
        sigma = nuisance.get("power_jitter", 0.0)
        ones = torch.ones(phase.shape[0], dtype=phase.dtype, device=phase.device)
        if noise is None or not sigma:
            return ones
        eps = torch.randn(
            ones.shape, generator=noise.generator, dtype=phase.dtype, device=phase.device
        )
        return (ones + sigma * eps).clamp_min(0.0)

    def propagate(self, field: Tensor, nuisance: Nuisance) -> Tensor:
        """Fibre propagation of launched fields (B, T, M) in the GRIN rotating frame."""
        c = self.config
        coupling = self.nominal_coupling.to(field.dtype)
        if nuisance.get("coupling_error") is not None:
            coupling = coupling + nuisance["coupling_error"].to(coupling)
        real = field.real.dtype
        length = c.length + nuisance.get("length_error", 0.0)
        return ss.split_step(
            field,
            length=length,
            num_steps=self.steps_for(field, length),
            omega=self.omega.to(real),
            coupling=coupling,
            walk_off=c.walk_off * self.groups.to(real),
            beta2=c.beta2,
            gamma=c.gamma,
            eta=self.eta.to(real),
            checkpoint_every=c.checkpoint_every,
        )

    def steps_for(self, field: Tensor, length: float | Tensor) -> int:
        """Split steps for launched fields (B, T, M): at least ``num_steps``, and enough that the
        nonlinear phase per step γ·P_peak·h stays ≤ PEAK_STEP_PHASE at the batch's peak total
        power P_peak = max Σ_p |A_p|². SLM patterns that focus the light into few modes raise the
        peak well above the nominal P₀, where a fixed Runge–Kutta step would diverge."""
        c = self.config
        peak = float(field.detach().abs().square().sum(dim=-1).amax())
        span = abs(float(torch.as_tensor(length).detach()))
        return max(c.num_steps, math.ceil(c.gamma * peak * span / PEAK_STEP_PHASE))

    def measure(self, field: Tensor, nuisance: Nuisance) -> Tensor:
        """Camera pixel energies (or mode energies) per uniform share of E₀, (B, num_outputs)."""
        c = self.config
        scale = self.num_outputs * c.dt / c.reference_energy
        if c.output == "modes":
            return field.abs().square().sum(dim=-2) * scale
        length = c.length + nuisance.get("length_error", 0.0)
        group_phase = torch.polar(
            torch.ones_like(self.groups, dtype=field.real.dtype),
            -c.group_spacing * length * self.groups.to(field.real.dtype),
        )
        speckle = (field * group_phase) @ self.camera_fields.to(field.dtype).T  # (B, T, S²)
        return speckle.abs().square().sum(dim=-2) * scale

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        theta = controls["slm_phase"]
        field = self.launch(self.slm_phase(x.to(theta.device), theta, nuisance), nuisance, noise)
        return self.measure(self.propagate(field, nuisance), nuisance)


def within_group_hermitian(groups: Tensor, rms: float, generator: torch.Generator) -> Tensor:
    """Random Hermitian (M, M) matrix coupling only modes of the same group, float64 complex.

    Entries are complex Gaussian (diagonal: real) with ``rms`` standard deviation; modes of
    different groups stay uncoupled (their β mismatch averages linear coupling out).
    """
    m = groups.shape[0]
    raw = torch.view_as_complex(torch.randn(m, m, 2, generator=generator, dtype=torch.float64))
    hermitian = (raw + raw.conj().T) / 2  # every entry has rms 1 (the diagonal is real)
    same_group = (groups[:, None] == groups[None, :]).to(torch.float64)
    return rms * hermitian * same_group
