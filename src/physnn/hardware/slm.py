"""slmsuite as a physnn instrument: phase masks on an SLM, regions of interest of a camera.

`slmsuite <https://github.com/slmsuite/slmsuite>`_ drives the spatial light modulators and
cameras of many vendors behind one interface (``SLM.set_phase``, ``Camera.get_image``) and
simulates both (:class:`~slmsuite.hardware.slms.simulated.SimulatedSLM`,
:class:`~slmsuite.hardware.cameras.simulated.SimulatedCamera`). :class:`SlmsuiteInstrument`
wraps an slmsuite SLM and camera, real or simulated, as a physnn
:class:`~physnn.hardware.adapter.Instrument` of the Fourier-plane classifier
(:mod:`physnn.substrates.fourier`): its controls are the system's trainable phase θ (N × N);
measuring a sample writes θ + φ_in (φ_in = r · x on the central input window) with
``slm.set_phase(..., phase_correct=True)`` — so slmsuite adds its own wavefront calibration
``slm.source["phase"]`` and converts the phase to grey levels through its measured look-up table
(``slm.set_gamma``) or its ``phase_scaling`` — takes ``averages`` camera frames at
``exposure_s``, subtracts the dark background, sums each class's region of interest (ROI) and
divides by the sum over the ROIs, the twin's outputs (the fraction of the detected light in each
ROI). Wrapped in :class:`~physnn.hardware.adapter.InstrumentDevice`, no phase outside
[0, 2π) ever reaches the SLM.

:func:`simulated_setup` builds slmsuite's simulated SLM and camera with a hidden imperfection
drawn from a seed — a non-ideal phase response ``gamma_sim``, a Gaussian beam
``source["amplitude_sim"]`` of the wrong waist, an aberration ``source["phase_sim"]`` (defocus
and astigmatism), a camera placement ``M``, ``b`` off the design, dark level and read noise —
whose far field slmsuite computes (its FFT, padding, nearest-pixel sampling with pixel
supersampling, 8-bit grey levels, camera gain, noise, bit-depth clipping); physnn only chooses
the hidden parameters. slmsuite is an optional extra: ``pip install 'physnn[slm]'``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from physnn.errors import ConfigError
from physnn.hardware.adapter import Instrument
from physnn.reality.levels import make_reality
from physnn.substrates.fourier.system import FourierNetwork, gaussian_beam
from physnn.systems.base import Controls, ControlSpec, Nuisance

INSTALL = "slmsuite is not installed: pip install 'physnn[slm]'"


def require_slmsuite() -> Any:
    """The slmsuite package, or a ConfigError that says how to install it."""
    try:
        import slmsuite
        from slmsuite.hardware.cameras import simulated as _cameras  # noqa: F401
        from slmsuite.hardware.slms import simulated as _slms  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL) from None
    return slmsuite


class SlmsuiteInstrument(Instrument):
    """An slmsuite SLM and camera as the instrument of a :class:`FourierNetwork` ``system``.

    ``exposure_s`` (None: the camera's current one) is set on the camera; ``averages`` frames
    are summed per sample and divided by their number; ``background`` (counts per pixel of one
    frame: a number, a frame, or None for none) is subtracted before the ROIs are summed —
    measure it with the beam blocked (:meth:`measure_background`). ``settle`` makes each
    ``set_phase`` wait the SLM's ``settle_time_s``.
    """

    def __init__(
        self,
        slm: Any,
        camera: Any,
        system: FourierNetwork,
        *,
        exposure_s: float | None = None,
        averages: int = 1,
        background: float | np.ndarray | None = None,
        settle: bool = True,
    ) -> None:
        if not isinstance(system, FourierNetwork):
            raise ConfigError(
                f"an slmsuite instrument is modelled by the 'fourier' system, got "
                f"{getattr(system, 'name', type(system).__name__)!r}"
            )
        if not isinstance(averages, int) or isinstance(averages, bool) or averages < 1:
            raise ConfigError(f"averages must be a positive integer, got {averages!r}")
        self.slm, self.camera, self.system = slm, camera, system
        self.averages, self.settle = averages, settle
        self.num_outputs = system.num_outputs
        self._check_shapes()
        if exposure_s is not None:
            self.exposure_s = exposure_s
        self.background = self._checked_background(background)
        self._rois = _roi_index(system)
        spec = system.control_specs()["phase"]
        self._phase = np.zeros(spec.shape, dtype=np.float32)

    # ----------------------------------------------------------------------------- checks
    def _check_shapes(self) -> None:
        c = self.system.config
        slm_shape = tuple(int(v) for v in np.shape(self.slm.phase))
        if slm_shape != (c.slm_size, c.slm_size):
            raise ConfigError(
                f"the SLM has {slm_shape[0]} × {slm_shape[1]} pixels (height × width) but the "
                f"fourier system models {c.slm_size} × {c.slm_size}; build the system with "
                f"slm_size={slm_shape[0]} or use a square SLM window of that size"
            )
        height, width = (int(v) for v in self.camera.shape)
        corners = self.system.roi_corners
        bottom = int(corners[:, 0].max()) + c.roi_size
        right = int(corners[:, 1].max()) + c.roi_size
        if bottom > height or right > width or int(corners.min()) < 0:
            raise ConfigError(
                f"the regions of interest reach camera pixel (row {bottom - 1}, column "
                f"{right - 1}) but the camera has {height} × {width} pixels; build the system "
                f"with camera_size={min(height, width)} or smaller ROIs"
            )

    def _checked_background(self, background: Any) -> np.ndarray | float:
        if background is None:
            return 0.0
        value = np.asarray(background, dtype=np.float64)
        if value.ndim == 0:
            return float(value)
        if value.shape != tuple(self.camera.shape):
            raise ConfigError(
                f"the background frame has shape {value.shape}, the camera's frames "
                f"{tuple(self.camera.shape)}"
            )
        return value

    # ----------------------------------------------------------------------------- settings
    @property
    def exposure_s(self) -> float:
        """The camera's exposure time, s."""
        return float(self.camera.exposure_s)

    @exposure_s.setter
    def exposure_s(self, value: float) -> None:
        if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
            raise ConfigError(f"exposure_s must be a positive number of seconds, got {value!r}")
        self.camera.set_exposure(float(value))

    def measure_background(self, frames: int = 8) -> np.ndarray:
        """Average ``frames`` frames as the background to subtract (block the beam first)."""
        total = sum(self._frame(1) for _ in range(frames))
        self.background = total / frames
        return self.background

    # ----------------------------------------------------------------------------- contract
    def control_specs(self) -> dict[str, ControlSpec]:
        return self.system.control_specs()

    def set_controls(self, controls: Controls) -> None:
        self._phase = controls["phase"].detach().cpu().numpy().astype(np.float32)

    def measure(self, x: Tensor) -> Tensor:
        """Write θ + φ_in for each sample, read the camera, sum the ROIs (B, C)."""
        phases = self._phase[None] + self.system.input_phase(x.cpu().float()).numpy()
        outputs = np.empty((len(x), self.num_outputs))
        for b, phase in enumerate(phases):
            self.slm.set_phase(phase, phase_correct=True, settle=self.settle)
            frame = self._frame(self.averages) - self.background
            outputs[b] = frame[self._rois].sum(axis=-1)
        total = outputs.sum(axis=1, keepdims=True)
        return torch.from_numpy(outputs / np.where(total > 0, total, 1.0)).float()

    def _frame(self, averages: int) -> np.ndarray:
        """One frame, the mean of ``averages`` exposures, in counts (float)."""
        image = self.camera.get_image(averaging=averages if averages > 1 else False)
        return np.asarray(image, dtype=np.float64) / averages

    def safe_controls(self) -> Controls:
        spec = self.control_specs()["phase"]
        return {"phase": torch.zeros(spec.shape)}


def _roi_index(system: FourierNetwork) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns), each (C, R²): the camera pixels of each class's ROI."""
    pixels = system.roi_pixels.numpy().astype(np.int64)
    shape = (system.config.num_classes, -1)
    return pixels[:, 1].reshape(shape), pixels[:, 0].reshape(shape)


# --------------------------------------------------------------------------- simulated setup
@dataclass
class SimulatedSetup:
    """slmsuite's simulated SLM and camera, the hidden truth in the fourier system's nuisance
    units and the dark background (counts per pixel of one frame) at the setup's exposure."""

    slm: Any
    camera: Any
    truth: Nuisance
    background: float
    options: dict[str, Any] = field(default_factory=dict)

    def instrument(self, system: FourierNetwork, **options: Any) -> SlmsuiteInstrument:
        """The :class:`SlmsuiteInstrument` of this setup, its background subtracted."""
        options.setdefault("background", self.background)
        return SlmsuiteInstrument(self.slm, self.camera, system, **options)

    @contextmanager
    def beam_blocked(self) -> Iterator[None]:
        """Block the beam (no light on the SLM), e.g. to measure the background at another
        exposure (:meth:`SlmsuiteInstrument.measure_background`)."""
        amplitude = self.slm.source["amplitude_sim"]
        self.slm.source["amplitude_sim"] = amplitude * 0
        try:
            yield
        finally:
            self.slm.source["amplitude_sim"] = amplitude


def hidden_nuisance(system: FourierNetwork, seed: int, level: str = "moderate") -> Nuisance:
    """The imperfection of a simulated setup: the fourier gap family's static perturbations at
    ``level``, drawn with ``seed`` (its grey levels and detector noise are slmsuite's own)."""
    reality = make_reality(system, level)
    generator = torch.Generator().manual_seed(seed)
    truth = reality.sample_nuisance(system, generator)
    return {**truth, "phase_levels": 256}


def gamma_sim(truth: Nuisance, levels: int = 256) -> np.ndarray:
    """slmsuite's ``gamma_sim`` (phase of each grey level, in units of 2π, realized as
    −2π γ[d]) for the response 2π h(u), h(u) = (1 + s) u + c u (1 − u): ``set_phase`` writes
    the wrapped phase 2π u, u = n/levels, as grey level d = levels − 1 − n."""
    d = np.arange(levels)
    u = (levels - 1 - d) / levels
    scale, curve = float(truth["phase_scale"]), float(truth["phase_curvature"])
    return -((1 + scale) * u + curve * u * (1 - u))


def camera_affine(system: FourierNetwork, truth: Nuisance, pitch: float) -> tuple:
    """slmsuite's camera placement (M, b) for the nuisance ``truth``: M = f (1 + δ) R(ρ), with
    f = s_c N · pitch/λ camera pixels per unit of normalized k (``pitch`` = pitch/λ), and
    b = (C/2, C/2) + o."""
    c = system.config
    f = c.camera_scale * c.slm_size * pitch * (1 + float(truth["focal_scale"]))
    rho = float(truth["camera_rotation"])
    m = f * np.array([[math.cos(rho), -math.sin(rho)], [math.sin(rho), math.cos(rho)]])
    offset = np.asarray(torch.as_tensor(truth["camera_offset"]), dtype=np.float64)
    b = np.array([[c.camera_size / 2], [c.camera_size / 2]]) + offset.reshape(2, 1)
    return m, b


def simulated_setup(
    system: FourierNetwork,
    seed: int | None = 0,
    *,
    level: str = "moderate",
    bitdepth: int = 16,
    fill: float = 4.0,
    dark: float = 0.01,
    read: float = 1e-4,
    pitch_um: float = 8.0,
    wav_um: float = 1.0,
) -> SimulatedSetup:
    """slmsuite's SimulatedSLM and SimulatedCamera for ``system``, with a hidden imperfection
    drawn from ``seed`` at the fourier gap ``level`` (``seed=None``: the design, no noise).

    The camera has ``bitdepth`` bits; its exposure puts ``fill`` full-scale pixels' worth of
    counts on the camera for the design's flat mask (so a spot that gathers more than 1/fill of
    the light in one pixel saturates); ``dark`` (pedestal) and ``read`` (rms) are slmsuite's
    GaussianDetectorNoise, as fractions of the full scale.
    """
    require_slmsuite()
    from slmsuite.hardware.cameras.simulated import GaussianDetectorNoise, SimulatedCamera
    from slmsuite.hardware.slms.simulated import SimulatedSLM

    design = seed is None
    truth = system.nominal_nuisance() if design else hidden_nuisance(system, seed, level)
    c = system.config
    slm = SimulatedSLM(
        (c.slm_size, c.slm_size), pitch_um=(pitch_um, pitch_um), wav_um=wav_um, bitdepth=8,
        source=_source(system, truth), gamma_sim=None if design else gamma_sim(truth),
    )  # fmt: skip
    m, b = camera_affine(system, truth, pitch_um / wav_um)
    camera = SimulatedCamera(slm, resolution=(c.camera_size, c.camera_size), M=m, b=b,
                             bitdepth=bitdepth)  # fmt: skip
    slm.set_phase(None, phase_correct=False)
    total = float(camera.render().sum())
    full = 2**bitdepth - 1
    camera.set_exposure(fill * full / total)
    background = 0.0
    if not design:  # a dark pedestal of dark × full scale at this exposure (∝ exposure)
        camera.noise = GaussianDetectorNoise(dark / camera.exposure_s, read)
        background = dark * 2**bitdepth
    options = {"seed": seed, "level": level, "bitdepth": bitdepth, "fill": fill, "dark": dark,
               "read": read}  # fmt: skip
    return SimulatedSetup(slm, camera, truth, background, options)


def _source(system: FourierNetwork, truth: Nuisance) -> dict[str, np.ndarray]:
    """slmsuite's hidden source: the beam's amplitude and the aberration's phase."""
    n = system.config.slm_size
    amplitude = gaussian_beam(n, truth["beam_waist"]).double().numpy()
    phase = system.aberration(truth)
    aberration = np.zeros((n, n)) if phase is None else phase.double().numpy()
    return {"amplitude_sim": amplitude, "phase_sim": aberration}
