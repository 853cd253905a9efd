"""Wave physics as an analog recurrent neural network (Hughes et al., Sci. Adv. 2019).

Hughes, Williamson, Minkov & Fan, "Wave physics as an analog recurrent neural network",
Sci. Adv. 5, eaay6946 (2019). A 2-D scalar wave medium (:mod:`physnn.physics.wave`) is the
recurrent cell: the time-discretized wave equation maps the fields (uⁿ, uⁿ⁻¹) to uⁿ⁺¹ with a
fixed, physical update whose "weights" are the wave-speed distribution c(x, y) inside a
rectangular design region between the source and the probes. Outside it the medium is the
background material c0; an absorbing layer of ``pml_cells`` cells surrounds the grid.

* **Input** — the sample, flattened at its native length (an audio waveform is not resampled),
  scaled to unit energy Σ x² = 1 and multiplied by ``amplitude``, is injected as an additive
  source term at the source cell, each value held for ``hold`` time steps (zero-order hold).
  Unit energy makes the detected intensities independent of the dataset's units and fixes the
  field strength at which the nonlinearity acts; only the shape of the signal carries
  information (as for the paper's normalized vowel waveforms).
* **Controls** — the wave speed of every cell of the design region, in [c1, c0] (two
  materials; Hughes et al.: c0 = 1, c1 = 0.5). ``binarized = True`` restricts it to the two
  materials (``levels = 2``: trained with the straight-through estimator).
* **Nonlinearity** — a Kerr-like speed c = c_lin + c_nl u² and/or saturable absorption
  b_nl / (1 + u²/u_th²) inside the design region (0: linear).
* **Output** — Σ_t u(probe)² at ``num_probes`` probe cells on a vertical line after the design
  region (``output_kind = "intensity"``: with one probe per class the readout is the paper's
  normalized probe power).

Physical gradients (:meth:`WaveRNN.measured_gradient`, :mod:`physnn.physics.wave_adjoint`):
``"time-reversal"`` — the probes play their error-weighted traces backwards into the same medium
(Hughes et al. 2019; exact for a linear medium, absorbing layer and damping included);
``"echo"`` — Hamiltonian echo backpropagation (López-Pastor & Marquardt, Phys. Rev. X 13, 031020
(2023)) in a lossless box (``pml_cells = 0``: reflecting walls, ``damping = 0``).

Nuisance (design values in :meth:`WaveRNN.nominal_nuisance`): an additive error map of the
wave speed (fabrication), the realized slow material c1 (contrast miscalibration), a relative
error of the nonlinearity strength, and shifts of the source and probe cells
(:mod:`physnn.substrates.wave.gap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from physnn.errors import IncompatibleError
from physnn.physics import wave_adjoint
from physnn.physics.wave import (
    CFL_LIMIT,
    WaveMedium,
    absorbing_profile,
    courant_number,
    propagate,
)
from physnn.systems.base import (
    Capabilities,
    Controls,
    ControlSpec,
    NoiseSource,
    Nuisance,
    System,
)


@dataclass(frozen=True)
class WaveConfig:
    """Grid, materials, absorbing layer, nonlinearity, source/probe geometry and input timing."""

    nx: int = 30  # grid cells along x (source → probes)
    ny: int = 30  # grid cells along y
    dt: float = 0.707  # time step
    h: float = 1.42  # grid spacing (Courant number c0 dt/h ≈ 0.5)
    c0: float = 1.0  # background material (fast), upper bound of the controls
    c1: float = 0.5  # second material (slow), lower bound of the controls
    binarized: bool = False  # controls restricted to the two materials {c1, c0}
    pml_cells: int = 4  # thickness of the absorbing layer
    pml_order: float = 4.0  # polynomial order p of the damping profile
    pml_max: float = 3.0  # damping b at the outermost cell
    damping: float = 0.0  # uniform damping b added everywhere (0: lossless inside the layer)
    kerr: float = 0.0  # c_nl of c = c_lin + c_nl u² in the design region
    saturable: float = 0.0  # b_nl of the saturable absorption b_nl / (1 + u²/u_th²)
    u_threshold: float = 1.0  # saturation intensity threshold u_th
    src_x: int = 6  # source cell x (y: the middle row)
    probe_x: int = 23  # probe column x
    num_probes: int = 10  # probes (outputs), centred on the middle row
    probe_spacing: int = 2  # cells between neighbouring probes
    design_margin: int = 2  # cells between the design region and the source / probes
    hold: int = 4  # time steps each input value is held
    amplitude: float = 1.0  # source amplitude for a unit-energy input
    checkpoint_every: int | None = None  # steps per checkpointed segment (None: plain autograd)
    # η: the error kicks of the "echo" procedure are ε_b = η / ‖g_b‖; in a linear medium the
    # ±ε difference is exact at any size, and a kick as large as the signal keeps it well above
    # the monitors' noise (noise/signal ∝ monitor_noise / η)
    echo_kick: float = 1.0

    def __post_init__(self) -> None:
        for name in ("nx", "ny", "num_probes", "hold"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("dt", "h", "c0", "c1", "u_threshold", "amplitude", "echo_kick"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("pml_cells", "pml_max", "damping", "kerr", "saturable", "design_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if not self.c1 < self.c0:
            raise ValueError(
                f"c1 ({self.c1}) must be below c0 ({self.c0}): c1 is the slow material"
            )
        courant = courant_number(self.c0, self.dt, self.h)
        if courant > CFL_LIMIT:
            raise ValueError(
                f"dt·c_max/h = {courant:.3f} exceeds the CFL limit 1/√2 ≈ 0.707 of the 2-D "
                f"leapfrog scheme; reduce dt or increase h"
            )
        if self.probe_spacing < 1 and self.num_probes > 1:
            raise ValueError(f"probe_spacing must be positive, got {self.probe_spacing}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise ValueError(
                f"checkpoint_every must be positive or None, got {self.checkpoint_every}"
            )
        inner = range(self.pml_cells, self.nx - self.pml_cells)
        if self.src_x not in inner or self.probe_x not in inner:
            raise ValueError(
                f"src_x ({self.src_x}) and probe_x ({self.probe_x}) must lie inside the absorbing "
                f"layer's interior [{self.pml_cells}, {self.nx - self.pml_cells})"
            )
        if self.probe_x - self.src_x <= 2 * self.design_margin:
            raise ValueError(
                f"no room for a design region between src_x={self.src_x} and "
                f"probe_x={self.probe_x} with design_margin={self.design_margin}"
            )
        rows = [y for _, y in probe_cells(self)]
        if min(rows) < self.pml_cells or max(rows) >= self.ny - self.pml_cells:
            raise ValueError(
                f"{self.num_probes} probes spaced {self.probe_spacing} cells do not fit in the "
                f"{self.ny - 2 * self.pml_cells} rows inside the absorbing layer"
            )


def source_cell(config: WaveConfig) -> tuple[int, int]:
    return config.src_x, config.ny // 2


def probe_cells(config: WaveConfig) -> tuple[tuple[int, int], ...]:
    """Probes on the column ``probe_x``, spaced ``probe_spacing`` and centred on the middle row."""
    first = config.ny // 2 - (config.num_probes - 1) * config.probe_spacing // 2
    return tuple(
        (config.probe_x, first + i * config.probe_spacing) for i in range(config.num_probes)
    )


def design_region(config: WaveConfig) -> tuple[slice, slice]:
    """The trainable rectangle: between source and probes, inside the absorbing layer."""
    x = slice(config.src_x + config.design_margin + 1, config.probe_x - config.design_margin)
    y = slice(config.pml_cells, config.ny - config.pml_cells)
    return x, y


def _shifted(cell: tuple[int, int], shift: Tensor | None, config: WaveConfig) -> tuple[int, int]:
    if shift is None:
        return cell
    x = min(max(cell[0] + int(shift[0]), 0), config.nx - 1)
    y = min(max(cell[1] + int(shift[1]), 0), config.ny - 1)
    return x, y


class WaveRNN(System):
    """Source → trainable wave-speed region → probes on an FDTD grid (scalar waves)."""

    name = "wave"
    capabilities = Capabilities(
        differentiable=True,
        linear=False,  # intensity detection (and optional material nonlinearity)
        reciprocal=True,  # the linear wave equation is reciprocal (adjoint = time-reversed field)
        time_reversible=True,  # for pml_cells = 0, damping = 0 (the echo refuses lossy media)
        gradient_procedures=("time-reversal", "echo"),
        detector_readout=True,
        description="wave-physics recurrent network: scalar FDTD with a trainable speed map",
    )
    config_class = WaveConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 30 × 30 grid, 10 probes, 4-step hold: 64-value digits → 256 steps, seconds per epoch.
        "default": {},
        # Hughes et al. 2019 / fancompute/wavetorch study/example.yml: 160 × 160 grid,
        # dt = 0.707, h = 2.01 dt / c0, absorbing layer N = 20, p = 4, b_max = 3; c0 = 1,
        # c1 = 0.5 (paper); 3 probes spaced 30 cells; audio at 10 kHz, one sample per step.
        "hughes2019": {
            "nx": 160, "ny": 160, "dt": 0.707, "h": 1.42107, "pml_cells": 20,
            "pml_order": 4.0, "pml_max": 3.0, "src_x": 40, "probe_x": 120, "num_probes": 3,
            "probe_spacing": 30, "design_margin": 5, "hold": 1, "checkpoint_every": 100,
        },
    }  # fmt: skip

    def __init__(self, config: WaveConfig) -> None:
        super().__init__(config)
        c = config
        damping = absorbing_profile(c.nx, c.ny, c.pml_cells, c.pml_max, c.pml_order) + c.damping
        self.register_buffer("damping", damping, persistent=False)
        mask = torch.zeros(c.nx, c.ny)
        mask[design_region(c)] = 1.0
        self.register_buffer("design_mask", mask, persistent=False)

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        c = self.config
        xs, ys = design_region(c)
        shape = (xs.stop - xs.start, ys.stop - ys.start)
        levels = 2 if c.binarized else None
        return {"speed": ControlSpec(shape, c.c1, c.c0, levels=levels, unit="c0")}

    def nominal_nuisance(self) -> Nuisance:
        return {
            "speed_error": None,  # (Nx, Ny) additive wave-speed error (fabrication), or None
            "c1_realized": None,  # the slow material's realized speed (None: as designed, c1)
            "nonlinearity_scale": 1.0,  # realized / designed nonlinearity strength
            "source_shift": None,  # (2,) integer cells the source sits off its design cell
            "probe_shift": None,  # (2,) integer cells the probe column sits off design
            "monitor_noise": 0.0,  # relative noise of the field monitors read by the procedures
        }

    output_kind = "intensity"

    @property
    def num_outputs(self) -> int:
        return self.config.num_probes

    # ----------------------------------------------------------------------------- physics
    def encode(self, x: Tensor) -> Tensor:
        """Samples → source signal (B, T): flat, unit energy × amplitude, held ``hold`` steps."""
        flat = x.reshape(x.shape[0], -1).float()
        energy = flat.square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
        signal = self.config.amplitude * flat / energy
        return signal.repeat_interleave(self.config.hold, dim=1)

    def speed_map(self, controls: Controls, nuisance: Nuisance) -> Tensor:
        """c_lin(x, y): background c0 with the design region's controls (and errors) inside."""
        c = self.config
        speed = controls["speed"]
        c1 = nuisance.get("c1_realized")
        if c1 is not None:  # a material between c1 and c0 is a mix; the slow one is off
            fraction = (c.c0 - speed) / (c.c0 - c.c1)
            speed = c.c0 - fraction * (c.c0 - c1)
        full = torch.full((c.nx, c.ny), c.c0, dtype=speed.dtype, device=speed.device)
        full = full.index_put(self._region_index(speed.device), speed.reshape(-1))
        error = nuisance.get("speed_error")
        if error is not None:
            full = full + error.to(full) * self.design_mask.to(full)
        return full

    def _region_index(self, device: torch.device) -> tuple[Tensor, Tensor]:
        xs, ys = design_region(self.config)
        gx, gy = torch.meshgrid(
            torch.arange(xs.start, xs.stop, device=device),
            torch.arange(ys.start, ys.stop, device=device),
            indexing="ij",
        )
        return gx.reshape(-1), gy.reshape(-1)

    def medium(self, controls: Controls, nuisance: Nuisance) -> WaveMedium:
        c = self.config
        speed = self.speed_map(controls, nuisance)
        mask = self.design_mask.to(speed)
        scale = nuisance.get("nonlinearity_scale", 1.0)
        return WaveMedium(
            speed=speed,
            damping=self.damping.to(speed),
            dt=c.dt,
            h=c.h,
            kerr=scale * c.kerr * mask if c.kerr else None,
            saturable=scale * c.saturable * mask if c.saturable else None,
            u_threshold=c.u_threshold,
        )

    def forward(
        self, x: Tensor, controls: Controls, nuisance: Nuisance, noise: NoiseSource | None = None
    ) -> Tensor:
        c = self.config
        medium = self.medium(controls, nuisance)
        signal = self.encode(x).to(medium.speed)
        src = _shifted(source_cell(c), nuisance.get("source_shift"), c)
        shift = nuisance.get("probe_shift")
        probes = tuple(_shifted(p, shift, c) for p in probe_cells(c))
        return propagate(signal, medium, src, probes, checkpoint_every=c.checkpoint_every)

    # ----------------------------------------------------------------------------- in situ
    def check_procedure(self, procedure: str) -> None:
        super().check_procedure(procedure)
        c = self.config
        if c.kerr or c.saturable:
            raise IncompatibleError(
                f"the {procedure} procedure needs a linear medium (the adjoint of a Kerr or "
                "saturable medium is a different, field-dependent medium); set the system "
                "options kerr=0 and saturable=0"
            )
        if procedure == "echo" and (c.pml_cells or c.damping):
            losses = f"pml_cells={c.pml_cells}" if c.pml_cells else f"damping={c.damping:g}"
            raise IncompatibleError(
                f"the echo procedure needs a lossless medium, but {losses} dissipates; set the "
                "system options pml_cells=0 and damping=0 (reflecting walls)"
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
        """The gradient of Σ_b ⟨g_b, y_b⟩ read from measured fields
        (:mod:`physnn.physics.wave_adjoint`): ``"time-reversal"`` — a forward pass whose monitors
        record the field in the design region and whose probes record their traces u_p(t), then
        the time-reversed adjoint source (c0²/h²) 2 g_p u_p(T − t) played from the probes into the
        same medium: ∂L/∂c = (2/c) Σ ν ∇²ₕu (two passes); ``"echo"`` — the forward pass (one
        more step before the flip), then two echoes with the error kicked in at the probes with
        signs ±: ∂L/∂c = −ΔK / (2ε dt) from the integrated local ∂H/∂c (three passes).

        The readings are gradients with respect to the *realized* wave speed of each cell (the
        fabrication error is seen, the miscalibrated slow material c1 — a common factor of the
        control-to-speed map — is not undone); each cell's speed comes from the monitors. The
        adjoint source assumes the background material c0 at the probes. Each monitor's reading
        (per sample and cell: the correlation, or each echo's integral) carries the relative
        noise ``monitor_noise``; the probe traces and the speed fit are noise-free here. The
        medium is simulated in float64.
        """
        self.check_procedure(procedure)
        c = self.config
        exact = {name: value.to(torch.float64) for name, value in controls.items()}
        stencil = wave_adjoint.Stencil.of(self.medium(exact, nuisance))
        signal = self.encode(x).to(torch.float64)
        source = _shifted(source_cell(c), nuisance.get("source_shift"), c)
        probes = tuple(_shifted(p, nuisance.get("probe_shift"), c) for p in probe_cells(c))
        g = output_gradient.to(torch.float64)
        monitors = (
            float(nuisance.get("monitor_noise", 0.0)),
            None if noise is None else noise.generator,
        )
        args = (stencil, signal, source, probes, g, c.c0)
        if procedure == "echo":
            trace, grid = wave_adjoint.echo(*args, c.echo_kick, monitors)
        else:
            trace, grid = wave_adjoint.time_reversal(*args, monitors)
        dtype = controls["speed"].dtype
        speed = grid[design_region(c)].to(dtype)
        passes = 3 if procedure == "echo" else 2
        return trace.square().sum(0).to(dtype), {"speed": speed}, passes
