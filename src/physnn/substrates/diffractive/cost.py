"""What a diffractive network costs: free-space propagation through L phase masks to detectors.

Workload of one query (N × N pixels per layer, L layers, padded grid P × P, D detectors):
L N⁴ MACs — every pixel of a layer reaches every pixel of the next, the fully connected layer a
D2NN computes in free space (Lin et al. 2018) — done by the light itself at no energy beyond
the light the detectors need (``detection_energy`` per detector); the input window's pixels are
converted onto the modulator (DAC), the D detectors read out (ADC); L N² phase controls. The same
network digitally is its angular-spectrum simulation: L + 1 propagations of two complex FFTs of
P² points (5 P² log₂ P² FLOPs each) and a transfer-function product (6 P² FLOPs), L phase masks
(6 N² FLOPs each) and the detector intensities (3 N² FLOPs).

Presets (no paper gives a programmable D2NN's whole bill; each value says where it comes from):

* ``default`` — a reconfigurable visible-light D2NN with a liquid-crystal SLM per layer and a
  camera, as in Zhou et al., Nat. Photonics 15, 367 (2021) (DMD input, SLM layers, CMOS sensor)
  — the SLM's and camera's figures assumed for typical devices, marked so.
* ``lin2018`` — Lin et al., Science 361, 1004 (2018): 3D-printed layers at 0.4 THz. A printed
  layer is written once (endurance 1): training it *in situ* is impossible, and the bill says so
  (endurance used ≫ 1); its training happens in silico, and the printed network is queried.
"""

from __future__ import annotations

import math
from dataclasses import replace

from physnn.cost.components import (
    camera_queries,
    detection,
    figure_sources,
    figure_values,
    slm_writes,
)
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.diffractive.system import DiffractiveNetwork

FFT_FLOPS = 5  # per point and log₂ of the points, complex radix-2 (two per propagation)
COMPLEX_PRODUCT_FLOPS = 6
INTENSITY_FLOPS = 3


def workload(system: DiffractiveNetwork) -> Workload:
    c = system.config
    n2, p2 = c.grid**2, c.padded_grid**2
    window = (c.input_size or c.grid // 2) ** 2
    propagation = 2 * FFT_FLOPS * p2 * math.log2(p2) + COMPLEX_PRODUCT_FLOPS * p2
    digital = (
        (c.num_layers + 1) * propagation
        + c.num_layers * COMPLEX_PRODUCT_FLOPS * n2
        + INTENSITY_FLOPS * n2
    )
    return Workload(
        operations=c.num_layers * n2**2,
        inputs=window,
        outputs=system.num_outputs,
        controls=c.num_layers * n2,
        digital_flops=digital,
    )


VISIBLE = 532e-9
THZ = 0.75e-3  # λ of Lin et al. 2018 (0.4 THz)
_FIGURES = {**camera_queries(VISIBLE), **slm_writes()}
SLM = CostModel(
    name="default",
    reference="a reconfigurable visible D2NN (SLM layers, camera), after Zhou et al. 2021",
    **figure_values(_FIGURES),
    static_power=5.0,
    sources={
        **figure_sources(_FIGURES),
        "operation_energy": "0: free-space propagation is passive; the light is paid per detection",
        "static_power": "assumed: 5 W (laser, SLM drivers, camera idle)",
    },
)
_PRINTED_DETECTION = detection(THZ, "0.4 THz (λ = 0.75 mm)")
PRINTED = replace(
    SLM,
    name="lin2018",
    reference="Lin et al., Science 361, 1004 (2018): 3D-printed layers at 0.4 THz",
    detection_energy=_PRINTED_DETECTION.value,
    write_energy=0.0,
    write_time=0.0,
    endurance=1.0,
    sources={
        **SLM.sources,
        "detection_energy": _PRINTED_DETECTION.source,
        "write_energy": "0: a printed layer is fabricated, not written (its cost is not energy)",
        "write_time": "0: see endurance",
        "endurance": "1: a 3D-printed layer is written once, when it is printed",
    },
)

COST = SubstrateCost(workload=workload, presets={"default": SLM, "lin2018": PRINTED})
