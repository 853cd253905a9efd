"""What a Fourier-plane SLM classifier costs: one SLM frame and one camera exposure per query.

Workload of one query (N × N SLM pixels, an input window of W × W pixels, C classes, R × R
camera pixels per ROI, camera of S × S pixels): the lens computes the N² × S² Fourier transform
of the SLM field at once — every SLM pixel reaches every camera pixel, N² S² MACs, done by the
light at no energy beyond what the detectors need (``detection_energy`` per ROI); the W² input
pixels are written on the SLM (in the same frame as the controls), the C ROI sums are read; N²
phase controls. The same query digitally is its simulation as slmsuite runs it: the field
(6 N² FLOPs: the phase, exp and the beam), a zero-padded FFT of the camera's grid
(5 S² log₂ S² FLOPs, two per complex radix-2 butterfly point and level), the intensity (3 S²)
and the ROI sums (C R²).

Preset (no paper gives the bill of an SLM Fourier-plane classifier; every figure is assumed for
a typical laboratory setup and says so):

* ``default`` (every system preset) — a liquid-crystal-on-silicon SLM at 60 Hz carrying both
  the sample and the trainable phase, a 1 W visible laser, a CMOS camera exposed for 1 ms; the
  SLM driver, laser and camera are static power.
"""

from __future__ import annotations

import math

from physnn.cost.components import detection, figure_sources, figure_values, slm_setup
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.fourier.system import FourierNetwork

FFT_FLOPS = 5  # per point and log₂ of the points, complex radix-2
FIELD_FLOPS = 6  # per SLM pixel: phase sum, exp (as a complex product) and the beam
INTENSITY_FLOPS = 3


def workload(system: FourierNetwork) -> Workload:
    c = system.config
    n2, s2 = c.slm_size**2, c.camera_size**2
    digital = (
        FIELD_FLOPS * n2
        + FFT_FLOPS * s2 * math.log2(s2)
        + INTENSITY_FLOPS * s2
        + c.num_classes * c.roi_size**2
    )
    return Workload(
        operations=n2 * s2,
        inputs=c.window**2,
        outputs=system.num_outputs,
        controls=n2,
        digital_flops=digital,
    )


VISIBLE = 532e-9
LASER, SLM_DRIVER, CAMERA = 1.0, 5.0, 2.5  # W, wall-plug
_ROI = detection(VISIBLE, "532 nm, photons per region of interest")
_FIGURES = slm_setup("the input window's pixels", "one 1 ms camera exposure")
LAB = CostModel(
    name="default",
    reference="an LCOS SLM, a lens and a CMOS camera (the setup slmsuite drives); all figures "
    "assumed",
    detection_energy=_ROI.value,
    static_power=LASER + SLM_DRIVER + CAMERA,
    **figure_values(_FIGURES),
    sources={
        "operation_energy": "0: the lens is passive; the light is paid per detected ROI "
        "(detection_energy) and the laser by static_power",
        "detection_energy": _ROI.source,
        "static_power": "assumed: 8.5 W = 1 W visible laser (wall-plug) + 5 W SLM driver + 2.5 W "
        "camera",
        **figure_sources(_FIGURES),
    },
)

COST = SubstrateCost(workload=workload, presets={"default": LAB})
