"""What a 2-D programmable waveguide costs: passive propagation, a camera and a projector.

Workload of one query (K input spots, C detector windows, N_x × N_z simulation grid,
pixels_z × pixels_x programmable pixels):

* operations: K C MACs — the linear map from the K input amplitudes to the C detector windows
  that the programmed index realizes, the layer it replaces (Onodera et al. compare their
  device with such a layer); done by the light as it propagates (``operation_energy`` 0), the
  light paid per detection;
* inputs: K DAC conversions (the input amplitudes); outputs: C ADC conversions (the detector
  windows); controls: pixels_z · pixels_x programmable index values;
* digital baseline: the split-step beam-propagation simulation of the same network
  (:mod:`physnn.physics.bpm`): N_z + 1 diffraction steps, each an FFT and an inverse FFT of
  N_x points (5 N_x log₂ N_x FLOPs each) and a k-space product (6 N_x), N_z index products
  (6 N_x each), the input field synthesized from K Gaussian spots (a real amplitude times a
  complex spot, 4 FLOPs per spot and sample: 4 K N_x) and the detector powers (3 N_x for
  |E|², 2 C N_x for the window sums):
  (N_z + 1)(10 N_x log₂ N_x + 6 N_x) + 6 N_z N_x + 4 K N_x + 3 N_x + 2 C N_x.

Preset ``default`` (no paper gives a programmable waveguide's energy or time): a lab setup as
in Onodera et al., "Scaling on-chip photonic neural processors using arbitrarily programmable
wave propagation", arXiv:2402.17750 (2024) — a thin-film lithium-niobate slab whose index is
written by light projected onto a photoconductive cladding (about 10⁴ programmable degrees of
freedom, Δn up to about 10⁻³), light launched at the input edge and detected at the output
edge. The paper states neither energies nor times, so every figure here is assumed and marked
so: the input pattern from a modulator (1 nJ per value) and the outputs from a camera (1 nJ
per detector, 1 ms per frame), the index written by a projector (1 nJ per pixel, one 60 Hz
frame per write), 5 W for the laser, projector, drive-voltage amplifier and camera, 10⁴ photons
per detection at the configuration's 1550 nm. The ``onodera2024`` system preset therefore has
no cost preset of its own: a run at it is billed with ``default``.
"""

from __future__ import annotations

import math

from physnn.cost.components import camera_queries, figure_sources, figure_values
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.waveguide.system import ProgrammableWaveguide

FFT_FLOPS = 5  # per point and log₂ of the points, complex radix-2 (one forward, one inverse)
COMPLEX_PRODUCT_FLOPS = 6
SPOT_FLOPS = 4  # a real amplitude times a complex spot sample, accumulated
INTENSITY_FLOPS = 3
WINDOW_FLOPS = 2  # a multiply-add per sample and window
TELECOM = 1.55e-6  # m, the wavelength of both system presets


def digital_flops(system: ProgrammableWaveguide) -> float:
    """The beam-propagation simulation of one sample (see the module docstring)."""
    c = system.config
    nx, nz = c.grid_x, c.steps
    diffraction = 2 * FFT_FLOPS * nx * math.log2(nx) + COMPLEX_PRODUCT_FLOPS * nx
    return (
        (nz + 1) * diffraction
        + nz * COMPLEX_PRODUCT_FLOPS * nx
        + SPOT_FLOPS * c.num_inputs * nx
        + INTENSITY_FLOPS * nx
        + WINDOW_FLOPS * c.num_classes * nx
    )


def workload(system: ProgrammableWaveguide) -> Workload:
    """One query of ``system``: K C MACs, K inputs, C detectors (see above)."""
    c = system.config
    return Workload(
        operations=c.num_inputs * c.num_classes,
        inputs=c.num_inputs,
        outputs=c.num_classes,
        controls=c.pixels_z * c.pixels_x,
        digital_flops=digital_flops(system),
    )


_FIGURES = camera_queries(TELECOM)
DEFAULT = CostModel(
    name="default",
    reference="a 2-D programmable waveguide lab setup after Onodera et al. 2024 (no paper "
    "states its energy or time: all assumed)",
    **figure_values(_FIGURES),
    write_energy=1e-9,
    write_time=1 / 60,
    static_power=5.0,
    sources={
        **figure_sources(_FIGURES),
        "operation_energy": "0: propagation in the slab is passive; the light is paid per "
        "detection",
        "write_energy": "assumed: 1 nJ per programmable pixel (a projector of a few W writing "
        "~10⁶ mirrors at ~kHz; the photoconductor's own dissipation is not stated)",
        "write_time": "assumed: 1/60 s per write (one projector frame at 60 Hz); Onodera et "
        "al. 2024 call the index 'rapidly reprogrammed' but state no time",
        "value_write_time": "0: a projected pattern sets all pixels at once",
        "endurance": "inf: the index is written optically and electro-optically, without wear "
        "(assumed)",
        "static_power": "assumed: 5 W (laser, projector, drive-voltage amplifier, camera idle)",
    },
)

COST = SubstrateCost(workload=workload, presets={"default": DEFAULT})
