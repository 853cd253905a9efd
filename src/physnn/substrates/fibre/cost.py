"""What a nonlinear multimode-fibre PNN costs: one SLM-shaped pulse through the fibre per query.

Workload of one query (K data and P control macro-pixels, M = G(G+1)/2 modes, T time samples,
s split steps, S × S camera pixels):

* **operations**: the photons of the launched pulse, E₀ / hν with E₀ = P₀ T₀ √π from the
  configuration's peak power and pulse width (``operation`` "photon"): the query is one pulse
  through the fibre, whose modes couple linearly, walk off, disperse and mix through the Kerr
  effect all at once along the fibre, which is not a sequence of MACs, so what it spends is
  counted as its light, the light the nonlinear regime needs (far more than the camera needs:
  no separate detection energy); ``operation_energy`` is one photon, hν at 1030 nm (the
  configuration has no wavelength: the oguz2024 preset's 1030 nm, assumed for both presets).
  The inference bill's ``energy_per_operation_J`` is therefore the query's energy per photon;
* **inputs**: the K data macro-pixels written on the SLM (DAC); **outputs**: the S² camera
  pixels (or the M mode energies) read out (ADC); **controls**: the P control macro-pixels;
* **digital baseline**: the split-step simulation of the same pulse per sample — the launch
  (an M × (K + P) complex matrix on the SLM field: 8 M (K + P)), s steps of two linear
  half-steps (an FFT and inverse FFT of T points per mode, 2 × 5 T log₂ T M, and the
  per-frequency M × M propagator, 8 T M², each) and a fourth-order Runge–Kutta Kerr step
  (4 evaluations of the pair products A_l A_m (6 M²), their product with the M² × M² overlap
  tensor (8 M⁴, dense as simulated), the products with A_n* and their sums (8 M²) and iγ (2 M),
  per time sample; the stage combinations 26 M per time sample), then the camera: the group
  phases (6 T M), the projection on the S² pixel fields (8 T M S²) and the time-integrated
  intensities (4 T S²) — or 4 T M for mode energies:

      F = 8 M (K + P) + s [20 M T log₂ T + 16 T M² + 4 T (8 M⁴ + 14 M² + 2 M) + 26 T M]
          + 6 T M + 8 T M S² + 4 T S²        (speckle).

  The propagators' matrix exponentials are computed once per batch and are not counted; s is
  the configured minimum (a batch of very bright patterns takes more steps).

Presets. Oguz et al., Adv. Photonics 6, 016002 (2024) (with Teğin et al., Nat. Comput. Sci. 1,
542 (2021)), write data and parameters on a phase-only SLM, launch high-peak-power pulses into
a GRIN multimode fibre and read the output speckle with a camera. Their abstract states that
multimode fibres give nonlinear effects "with microwatts of average power" and that the method
needs 97 % fewer parameters and 99 % fewer digital operations than an equivalent digital
network; the parts of the paper consulted here state no energy or time per inference, so:

* ``oguz2024`` — at its system preset (P₀ = 8 kW, T₀ = 1 ps) E₀ = 14.2 nJ, 7.4 × 10¹⁰
  photons at 1030 nm (at about 60 queries per second ≈ 0.8 µW of average power, consistent
  with the abstract's microwatts); an SLM frame and a camera exposure per query, the laser,
  SLM driver and camera as static power: assumed, marked so;
* ``default`` — the same instruments and figures; at the default system preset P₀ = 6 kW:
  E₀ = 10.6 nJ.
"""

from __future__ import annotations

import math
from dataclasses import replace

from physnn.cost.components import figure_sources, figure_values, slm_setup
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.cost.units import photon_energy
from physnn.substrates.fibre.system import MultimodeFibre

FFT_FLOPS = 5  # per point and log₂ of the points, complex radix-2
COMPLEX_MAC_FLOPS = 8
COMPLEX_PRODUCT_FLOPS = 6
RK4_COMBINATION_FLOPS = 26  # per complex value: three stage updates (4 each) and the final sum
INTENSITY_FLOPS = 4  # |A|² (3) and the sum over time (1)
WAVELENGTH = 1030e-9  # m: the oguz2024 preset's laser (the configuration has no wavelength)


def split_step_flops(modes: int, times: int) -> float:
    """FLOPs of one symmetrised split step of M modes on T time samples (see the docstring)."""
    m, t = modes, times
    linear = 2 * (2 * FFT_FLOPS * t * math.log2(t) * m + COMPLEX_MAC_FLOPS * t * m**2)
    kerr = 4 * t * (COMPLEX_MAC_FLOPS * m**4 + 14 * m**2 + 2 * m)
    return linear + kerr + RK4_COMBINATION_FLOPS * t * m


def workload(system: MultimodeFibre) -> Workload:
    """One pulse per query, counted in photons; the digital baseline is the multimode
    split-step simulation."""
    c = system.config
    m, t = c.num_modes, c.num_time
    if c.output == "speckle":
        pixels = c.camera_pixels**2
        camera = COMPLEX_PRODUCT_FLOPS * t * m + COMPLEX_MAC_FLOPS * t * m * pixels
        camera += INTENSITY_FLOPS * t * pixels
    else:
        camera = INTENSITY_FLOPS * t * m
    digital = (
        COMPLEX_MAC_FLOPS * m * c.num_slm_pixels + c.num_steps * split_step_flops(m, t) + camera
    )
    return Workload(
        operations=c.reference_energy * 1e-12 / photon_energy(WAVELENGTH),  # E₀ in pJ → J
        inputs=c.num_data_pixels,
        outputs=system.num_outputs,
        controls=c.num_control_pixels,
        digital_flops=digital,
        operation="photon",
    )


LASER, SLM_DRIVER, CAMERA = 20.0, 5.0, 2.5  # W, wall-plug
_FIGURES = slm_setup("the data macro-pixels", "a 1 ms camera exposure")
OGUZ = CostModel(
    name="oguz2024",
    reference="Oguz et al., Adv. Photonics 6, 016002 (2024): SLM → GRIN multimode fibre → "
    "camera; no energy or time per inference stated: pulse energy from the preset, rest assumed",
    operation_energy=photon_energy(WAVELENGTH),
    static_power=LASER + SLM_DRIVER + CAMERA,
    **figure_values(_FIGURES),
    sources={
        "operation_energy": "hc/λ per photon at λ = 1030 nm (the oguz2024 system preset's "
        "laser); the workload counts the launched pulse's photons, E0/hν with E0 = P0·T0·√π "
        "(8 kW × 1 ps × √π = 14.2 nJ at the oguz2024 system preset)",
        "detection_energy": "0: the launched pulse (≈ 5e10 to 7e10 photons at 1030 nm) is far "
        "more than the camera needs; its energy is operation_energy",
        "static_power": "assumed: 27.5 W = 20 W amplified picosecond fibre laser (wall-plug) + "
        "5 W SLM driver + 2.5 W camera",
        **figure_sources(_FIGURES),
    },
)
DEFAULT = replace(
    OGUZ,
    name="default",
    reference="oguz2024's instruments (the pulse energy follows the system's peak power)",
)

COST = SubstrateCost(workload=workload, presets={"default": DEFAULT, "oguz2024": OGUZ})
