"""Hardware parts that several substrates' cost presets share: each part's figures, once.

Every parameter of a :class:`~physnn.cost.model.CostModel` names its source. Many presets price
the same parts — the 8-bit converters at a device's edges, the DRAM that feeds it, a
liquid-crystal SLM, a camera, a shot-noise-limited detector, the thermo-optic phase shifter of
Harris et al. (2014) — and those parts' figures live here, each a :class:`Figure`: a value in SI
units, its unit and its source (the citation, or "assumed: …" with the reason; a value computed
from others says "derived: …" and shows how). A substrate takes a figure's value and its source
together, so that no two presets state the same part differently; a figure particular to one
device stays in that substrate's ``cost.py``.

:func:`detection` gives the light one detection needs at a wavelength; :func:`camera_queries`
the query parameters of a setup read by a camera, :func:`slm_setup` all but the light and
the static power of one that an SLM drives and a sensor reads; :func:`slm_writes` and
:func:`thermo_optic_writes` the write parameters of a device programmed through an SLM or
through heaters; :func:`figure_values` and :func:`figure_sources` split a mapping of cost
parameter → figure into the values and the sources a CostModel takes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from physnn.cost.units import format_quantity, photon_energy


@dataclass(frozen=True)
class Figure:
    """One figure of a part: ``value`` in SI ``unit`` ("J", "s", "W", "Hz", or "" for a count
    or a ratio) and its ``source``."""

    value: float
    unit: str
    source: str

    def with_note(self, note: str) -> Figure:
        """This figure, its source followed by ``note`` (what it stands for in one device)."""
        return replace(self, source=f"{self.source}; {note}")


def figure_values(figures: Mapping[str, Figure]) -> dict[str, float]:
    """The values of ``figures`` (cost parameter → figure), by parameter."""
    return {name: figure.value for name, figure in figures.items()}


def figure_sources(figures: Mapping[str, Figure]) -> dict[str, str]:
    """The sources of ``figures`` (cost parameter → figure), by parameter."""
    return {name: figure.source for name, figure in figures.items()}


# ------------------------------------------------------------------- converters and memory
CONVERTER_8BIT = Figure(
    1e-12,
    "J",
    "assumed: 1 pJ per 8-bit conversion, the order of an on-chip DAC or ADC at up to GHz rates "
    "(the papers priced with it state none)",
)
"""One digital-to-analog or analog-to-digital conversion of an 8-bit value."""

DRAM_ACCESS = Figure(
    20e-12, "J", "assumed: 20 pJ per value (an off-chip DRAM access of 8-bit data)"
)
"""Moving one 8-bit value between off-chip memory and the device."""

AUDIO_CONVERTER = Figure(
    100e-9,
    "J",
    "assumed: 100 nJ per conversion (an audio-rate DAC or ADC channel at ≈ 10 mW and 100 kS/s)",
)
"""One conversion of an audio-rate DAC or ADC channel (actuators, microphones, slow nodes)."""

# --------------------------------------------------------------------------------- light
PHOTONS_PER_DETECTION = Figure(
    1e4, "", "assumed: 1e4 photons per detection (a shot noise of 1 % of the signal, about 7 bits)"
)
"""The photons one detected value needs for its precision."""


def detection(wavelength: float, at: str = "") -> Figure:
    """The light one detection needs: :data:`PHOTONS_PER_DETECTION` photons of ``wavelength``
    (m); ``at`` says the wavelength in the source (default: in nm)."""
    at = at or f"{wavelength * 1e9:g} nm"
    energy = PHOTONS_PER_DETECTION.value * photon_energy(wavelength)
    return Figure(energy, "J", f"{PHOTONS_PER_DETECTION.source} at {at}")


# --------------------------------------------------------- spatial light modulator, camera
SLM_FRAME = Figure(
    1 / 60, "s", "assumed: 1/60 s per write (one frame of a 60 Hz liquid-crystal SLM)"
)
"""One frame of a liquid-crystal SLM: the time one write of its pixels takes."""

SLM_PIXEL_WRITE = Figure(
    25e-9,
    "J",
    "assumed: 25 nJ per pixel written on a liquid-crystal SLM (about 3 W over 2 Mpixel at 60 Hz)",
)
"""Writing one pixel of a liquid-crystal SLM (its driver's power over its pixels and frames)."""

SLM_IN_STATIC_POWER = Figure(
    0.0,
    "J",
    "0: included in static_power (the SLM driver draws its power whether or not pixels change)",
)
"""A pixel written on an SLM whose driver the preset's ``static_power`` already counts."""

SLM_VALUE_WRITE_TIME = Figure(0.0, "s", "0: an SLM sets all its pixels in one frame")
"""No time per pixel: an SLM writes its pixels in parallel."""

SLM_ENDURANCE = Figure(math.inf, "", "inf: liquid-crystal SLMs are rewritten without wear")
"""The writes a liquid-crystal SLM survives."""


def slm_writes(energy: Figure = SLM_PIXEL_WRITE) -> dict[str, Figure]:
    """The write parameters of controls held on a liquid-crystal SLM: ``energy`` per pixel
    (:data:`SLM_PIXEL_WRITE`, or :data:`SLM_IN_STATIC_POWER`), one frame per write."""
    return {
        "write_energy": energy,
        "write_time": SLM_FRAME,
        "value_write_time": SLM_VALUE_WRITE_TIME,
        "endurance": SLM_ENDURANCE,
    }


CAMERA_FRAME = Figure(
    1e-3, "s", "assumed: 1 ms per frame (one exposure of a camera or spectrometer at 1 kHz)"
)
"""One exposure of a camera (or of a spectrometer's sensor)."""

CAMERA_READ = Figure(
    1e-9, "J", "assumed: 1 nJ per value read (a CMOS camera at about 1 W and 1 Gpixel/s)"
)
"""Reading one value (a pixel, or pixels binned on the chip) from a camera's sensor."""

INPUT_MODULATOR_PIXEL = Figure(
    1e-9, "J", "assumed: 1 nJ per input value (a pixel update of a DMD or spatial light modulator)"
)
"""Writing one input value on the modulator that encodes a sample in light."""


def camera_queries(wavelength: float) -> dict[str, Figure]:
    """The query parameters of an optical setup that writes a sample on a modulator and reads
    its outputs from a camera, one frame per query: the light of a detection at ``wavelength``
    (m), a modulator pixel per input, a camera read per output, a DRAM access per value."""
    return {
        "detection_energy": detection(wavelength),
        "dac_energy": INPUT_MODULATOR_PIXEL,
        "adc_energy": CAMERA_READ,
        "memory_energy": DRAM_ACCESS,
        "query_time": CAMERA_FRAME.with_note("one frame per query, samples in sequence"),
    }


def slm_setup(changes: str, exposure: str, read: Figure = CAMERA_READ) -> dict[str, Figure]:
    """The parameters of a setup whose liquid-crystal SLM carries both a query's values and
    the controls, its driver paid in ``static_power``, and whose sensor is read once per
    query: an SLM frame (``changes``: what a query writes on it) then ``exposure`` (the
    sensor's, in words) per query, ``read`` per output value, a DRAM access per value, one SLM
    frame per write."""
    query_time = Figure(
        SLM_FRAME.value + CAMERA_FRAME.value,
        "s",
        f"assumed: 1/60 s + 1 ms (a query changes {changes}: one frame of a 60 Hz liquid-crystal "
        f"SLM, then {exposure})",
    )
    return {
        "dac_energy": SLM_IN_STATIC_POWER,
        "adc_energy": read,
        "memory_energy": DRAM_ACCESS,
        "query_time": query_time,
        **slm_writes(SLM_IN_STATIC_POWER),
    }


# ------------------------------------------------------------- thermo-optic phase shifter
HARRIS = "Harris et al., Opt. Express 22, 10487 (2014)"
"""Harris et al., "Efficient, compact and low loss thermo-optic phase shifter in silicon",
arXiv:1410.3616: the phase shifter of the MIT group whose processor Shen et al. (2017) used."""

P_PI = Figure(24.77e-3, "W", f"{HARRIS}: P_π = 24.77 mW, a heater's power for a π phase shift")
"""The power a heater draws to hold a π phase shift."""

BANDWIDTH = Figure(130e3, "Hz", f"{HARRIS}: −3 dB thermal modulation bandwidth 130 kHz")
"""The heater's −3 dB modulation bandwidth."""

_TAU = 1 / (2 * math.pi * BANDWIDTH.value)
TAU = Figure(
    _TAU,
    "s",
    f"derived: τ = 1/(2π · 130 kHz) = {format_quantity(_TAU, 's')}, the first-order thermal "
    f"time constant of the −3 dB bandwidth 130 kHz ({HARRIS})",
)
"""The heater's first-order thermal time constant."""

HEATER_WRITE_TIME = Figure(
    TAU.value * math.log(100),
    "s",
    f"derived: τ ln 100 = {format_quantity(TAU.value * math.log(100), 's')}, a first-order "
    f"thermal step settled to 1 % ({HARRIS}: −3 dB bandwidth 130 kHz, τ = 1/(2π · 130 kHz)); all "
    "heaters settle in parallel",
)
"""A write: every heater's phase step settled to 1 %, all heaters at once."""

HEATER_WRITE_ENERGY = Figure(
    P_PI.value * TAU.value,
    "J",
    f"derived: P_π τ = 24.77 mW × {format_quantity(TAU.value, 's')} = "
    f"{format_quantity(P_PI.value * TAU.value, 'J')}, the heat a π step stores in the heater "
    f"(C ΔT_π with C = τ/R and ΔT_π = P_π R; {HARRIS}: P_π 24.77 mW, τ = 1/(2π · 130 kHz))",
)
"""The heat one heater's π step stores."""

HEATER_VALUE_WRITE_TIME = Figure(
    0.0, "s", "0: every heater has its own driver; a write sets them all in parallel"
)
"""No time per heater: a write sets them in parallel."""

HEATER_ENDURANCE = Figure(
    math.inf, "", "inf: resistive heaters are rewritten without wear (assumed)"
)
"""The writes a resistive heater survives."""


def thermo_optic_writes() -> dict[str, Figure]:
    """The write parameters of controls held by heaters like Harris et al.'s phase shifter:
    a π step's heat per heater, one settling time per write, every heater in parallel. (What
    the heaters draw while they hold, ``static_power``, depends on the phases they hold: each
    substrate derives it from :data:`P_PI`.)"""
    return {
        "write_energy": HEATER_WRITE_ENERGY,
        "write_time": HEATER_WRITE_TIME,
        "value_write_time": HEATER_VALUE_WRITE_TIME,
        "endurance": HEATER_ENDURANCE,
    }
