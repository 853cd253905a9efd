"""What an SHG-PNN costs: one shaped femtosecond pulse through a χ⁽²⁾ crystal per query.

Workload of one query (K = K_in + K_c SLM pixels, M spectrometer bands, n = 2 K b spectral grid
points with b ``bins_per_pixel``, s ``crystal_steps``):

* **operations**: 1 — the query *is* one shaped pulse through the crystal, whose second
  harmonic at every frequency sums the products of all pairs of pump frequencies (the SH
  spectrum is the self-convolution of the K-pixel spectrum: K² products at once, no MAC of a
  matrix). The crystal is passive: the light is paid per detected band (``detection_energy``)
  and the laser by ``static_power``, so ``operation_energy`` is 0 and one operation is counted,
  the pulse, not a number of MACs the physics does not do one by one;
* **inputs**: K_in input pixels written on the pulse shaper's SLM (DAC); **outputs**: M bands
  read from the spectrometer (ADC); **controls**: K_c phases (× 2 with trainable amplitudes);
* **digital baseline**: the split-step simulation of the same layer per sample —
  the pump's inverse FFT, s steps of four FFTs (both envelopes to time and back:
  4 × 5 n log₂ n), four dispersion products (4 × 6 n) and an RK4 step of the two coupled
  envelopes (4 evaluations of iγB₂A₁* and iγA₁²: 4 × 16 n; the stage and final combinations:
  52 n), then the inverse FFTs of both envelopes and the spectrometer's FFT (3 × 5 n log₂ n),
  the shaped pump (6 n), the power spectrum (4 n), the band sums (n) and the output scaling (M):

      F = (20 s + 20) n log₂ n + (140 s + 11) n + M.

Presets. Wright et al., Nature 601, 549 (2022), describe the SHG-PNN (a femtosecond pulse shaped
by an SLM pulse shaper, its second harmonic generated in a χ⁽²⁾ crystal and measured with a
spectrometer), but the parts of the paper consulted here (its abstract and introduction) state
no energy or time per inference; every figure below is therefore an assumption for that
kind of laboratory setup, marked "assumed" with its reason:

* ``wright2022`` — a liquid-crystal pulse shaper (a query changes the input pixels: one SLM
  frame), a spectrometer with on-chip binning, the femtosecond laser and drivers as static
  power; the SH light each band needs is 10⁴ photons at 400 nm (1 % shot noise) divided by an
  assumed 0.1 % conversion efficiency of a shaped, unamplified pulse;
* ``default`` — ``wright2022``'s figures for the default configuration.
"""

from __future__ import annotations

import math
from dataclasses import replace

from physnn.cost.components import CAMERA_READ, detection, figure_sources, figure_values, slm_setup
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.shg.system import SecondHarmonicGeneration

FFT_FLOPS = 5  # per point and log₂ of the points, complex radix-2
COMPLEX_PRODUCT_FLOPS = 6
STEP_FLOPS = 4 * COMPLEX_PRODUCT_FLOPS + 4 * 16 + 52  # dispersion, RK4 rates, RK4 combinations
OUTSIDE_FLOPS = 6 + 4 + 1  # shaped pump, power spectrum, band sums (per grid point)


def workload(system: SecondHarmonicGeneration) -> Workload:
    """One shaped pulse per query; the digital baseline is the split-step simulation."""
    c = system.config
    n = c.time_points
    fft = FFT_FLOPS * n * math.log2(n)
    digital = (
        (4 * c.crystal_steps + 4) * fft
        + (STEP_FLOPS * c.crystal_steps + OUTSIDE_FLOPS) * n
        + c.num_outputs
    )
    return Workload(
        operations=1,
        inputs=c.num_inputs,
        outputs=system.num_outputs,
        controls=c.num_controls * (2 if c.trainable_amplitude else 1),
        digital_flops=digital,
        operation="shaped pulse through the χ(2) crystal (K² sum-frequency products at once)",
    )


SECOND_HARMONIC = 400e-9  # m: the SH of an 800 nm pump (the default BBO crystal)
CONVERSION = 1e-3  # SH energy / pump energy of a shaped, unamplified femtosecond pulse
LASER, SLM_DRIVER, SPECTROMETER = 10.0, 5.0, 2.5  # W, wall-plug
_BAND = detection(SECOND_HARMONIC, "400 nm, second-harmonic photons per band")
_FIGURES = slm_setup(
    "the input pixels",
    "one 1 ms spectrometer exposure",
    CAMERA_READ.with_note("per band, the band's CCD pixels binned on the chip into one conversion"),
)
WRIGHT = CostModel(
    name="wright2022",
    reference="Wright et al., Nature 601, 549 (2022): SHG-PNN (pulse shaper, χ(2) crystal, "
    "spectrometer); the paper states no energy or time per inference: all figures assumed",
    detection_energy=_BAND.value / CONVERSION,
    static_power=LASER + SLM_DRIVER + SPECTROMETER,
    **figure_values(_FIGURES),
    sources={
        "operation_energy": "0: the crystal is passive; the pump light is paid per detected band "
        "(detection_energy) and the laser by static_power",
        "detection_energy": f"{_BAND.source}, divided by an assumed 0.1 % conversion efficiency "
        "(a shaped, unamplified femtosecond pulse): hν·1e4/1e-3",
        "static_power": "assumed: 17.5 W = 10 W femtosecond oscillator (wall-plug) + 5 W SLM "
        "driver + 2.5 W spectrometer; the pulse energy itself is a negligible part of it",
        **figure_sources(_FIGURES),
    },
)

COST = SubstrateCost(
    workload=workload,
    presets={"default": replace(WRIGHT, name="default"), "wright2022": WRIGHT},
)
