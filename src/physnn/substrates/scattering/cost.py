"""What an optical random projection costs: a LightOn OPU frame, whatever the projection's size.

Workload of one query (n SLM macropixels, m camera pixels):

* operations: n m complex MACs, the field y = B (x ⊙ e^{iφ}) the scattering medium forms on
  the camera — done by the light, at no energy of its own beyond the OPU's power;
* inputs: n DAC conversions (the input pattern on the modulator); outputs: m ADC conversions
  (the camera's pixels); controls: the n phases of the mask;
* digital baseline: the same projection computed, x ⊙ e^{iφ} (2 FLOPs per input, a real times
  a complex number), B u (8 real FLOPs per complex MAC) and |·|² (3 FLOPs per pixel):
  8 n m + 2 n + 3 m.

The OPU (LightOn's Optical Processing Unit: a laser, a DMD, a scattering medium and a camera)
draws its power whatever it projects, and takes one camera frame per projection whether the
projection is 64 × 256 or 10⁶ × 10⁶. So its cost is ``static_power`` × ``query_time`` per
query, and the per-operation energy is zero: at its full size the same figures give
30 W / 1500 TOPS = 20 fJ per operation (50 TOPS/W), at the 64 × 256 default a frame costs the
same 20 mJ for 16 384 MACs. The converters, the laser and the camera are inside those 30 W.

Figures:

* 1500 TeraOPS: Brossollet et al., "LightOn Optical Processing Unit", Hot Chips 33 (2021),
  arXiv:2107.11814, and Wang et al., "Streamlined optical training of large-scale modern deep
  learning architectures with direct feedback alignment", arXiv:2409.12965 (2024): "up to
  1500 TeraOPS under 30 Watts of power" (abstract) — ``static_power`` = 30 W.
* Random projections "with trillions of parameters" (Launay et al., "Hardware beyond
  backpropagation", arXiv:2012.06373 (2020), abstract): 10⁶ × 10⁶ = 10¹² MACs per frame. No
  frame rate was found stated in these sources; counting one operation per MAC, 1500 TOPS /
  10¹² = 1.5 kHz, i.e. ``query_time`` = 1/1500 s (assumed; counting two operations per MAC
  would halve the rate).
* The trainable phase mask needs a phase SLM beside the OPU's binary DMD; none of these papers
  prices one: assumed a liquid-crystal SLM, 25 nJ per pixel and one 60 Hz frame per write.

Presets: ``default`` and ``launay2020`` (the OPU of Launay et al. 2020; the 2021 and 2024
figures are of the same LightOn OPU line) share these figures — the OPU's cost does not
depend on the projection's size.
"""

from __future__ import annotations

from dataclasses import replace

from physnn.cost.components import (
    DRAM_ACCESS,
    SLM_PIXEL_WRITE,
    figure_sources,
    figure_values,
    slm_writes,
)
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.scattering.system import ScatteringMedium

FLOPS_PER_COMPLEX_MAC = 8
MODULATION_FLOPS = 2  # a real amplitude times a complex phase factor
INTENSITY_FLOPS = 3
OPU_POWER = 30.0  # W (Wang et al. 2024, abstract: "under 30 Watts")
OPU_OPS = 1500e12  # operations per second (Brossollet et al. 2021; Wang et al. 2024)
OPU_MACS_PER_FRAME = 1e6 * 1e6  # a 10⁶ × 10⁶ projection (Launay et al. 2020: 10¹² parameters)


def workload(system: ScatteringMedium) -> Workload:
    """One query of ``system``: an n × m projection, n inputs, m camera pixels."""
    c = system.config
    n, m = c.num_inputs, c.num_pixels
    return Workload(
        operations=n * m,
        inputs=n,
        outputs=m,
        controls=n,
        digital_flops=FLOPS_PER_COMPLEX_MAC * n * m + MODULATION_FLOPS * n + INTENSITY_FLOPS * m,
        operation="complex MAC",
    )


_INSIDE = "0: inside the OPU's 30 W (static_power), paid per frame, whatever the projection's size"
_FIGURES = {
    "memory_energy": DRAM_ACCESS,
    **slm_writes(SLM_PIXEL_WRITE.with_note("the OPU's DMD cannot hold a phase mask")),
}
OPU = CostModel(
    name="launay2020",
    reference="LightOn OPU (Launay et al. 2020; Brossollet et al. 2021; Wang et al. 2024): "
    "1500 TOPS under 30 W",
    query_time=OPU_MACS_PER_FRAME / OPU_OPS,
    static_power=OPU_POWER,
    **figure_values(_FIGURES),
    sources={
        "operation_energy": _INSIDE + " (30 W / 1500 TOPS = 20 fJ per operation at full size)",
        "detection_energy": _INSIDE,
        "dac_energy": _INSIDE,
        "adc_energy": _INSIDE,
        "query_time": "assumed: one frame, 10¹² MACs (Launay et al. 2020: 'trillions of "
        "parameters') / 1500 TOPS (Wang et al. 2024) = 1/1500 s; no frame rate found stated",
        "static_power": "Wang et al., arXiv:2409.12965 (2024), abstract: the OPU runs 'up to "
        "1500 TeraOPS under 30 Watts' (an upper bound on its power)",
        **figure_sources(_FIGURES),
    },
)

COST = SubstrateCost(
    workload=workload, presets={"default": replace(OPU, name="default"), "launay2020": OPU}
)
