"""What an MZI mesh costs: passive interference, and thermo-optic heaters that burn while they hold.

Workload of one query (N modes, L layers, K meshes per layer — 1 for ``unitary``, 2 for ``svd``
— M = N(N−1)/2 MZIs per mesh in the Clements or Reck layout, D detected modes):

* operations: L N² complex MACs, the N × N matrix each layer applies to the field; the light
  does them passively (``operation_energy`` 0) and is paid per detected output
  (``detection_energy``);
* inputs: N DAC conversions (the input modulators, amplitude or phase encoding); the
  activations between layers are analog (photodiode-driven modulators, or saturable
  absorbers) and convert nothing;
* outputs: the system's outputs, D photodiode readings (2 D for homodyne detection), each
  converted by an ADC;
* controls: every heater's phase, L K (2M + N) (θ and φ per MZI, the output phase screen), plus
  the L N attenuators σ of ``svd`` layers;
* static elements: the H heaters that hold those phases (below), each drawing ``static_power``;
* digital baseline: the same network as complex matrices, 8 real FLOPs per complex MAC,
  8 L N², plus 3 FLOPs per detected intensity |z|² (element-wise activations not counted).

Heaters. A thermo-optic phase shifter draws power as long as it holds a phase: P = P_π φ/π.
With phases spread uniformly over [0, 2π) (assumed) the mean is φ = π, so every heater draws
P_π on average, whether the mesh is queried, written or idle. That is ``static_power``, per
heater — power drawn while the device runs, billed over the run's device time (queries *and*
writes, during which the heaters also hold) — and the workload counts the heaters of the
configured mesh as its ``static_elements``: H = L K (2M + N) (+ L N attenuators, one heater
each, for ``svd``), so the bill's static power H P_π follows the mesh's size. Billing it per
query instead would forget the time spent writing, which for µs-slow heaters and ns-fast
queries is almost all of it.

P_π = 24.77 mW and a −3 dB modulation bandwidth of 130 kHz: Harris et al., "Efficient, compact
and low loss thermo-optic phase shifter in silicon", Opt. Express 22, 10487 (2014),
arXiv:1410.3616 — the phase shifter of the MIT group whose programmable nanophotonic processor
Shen et al. (2017) used. A first-order thermal response has τ = 1/(2π · 130 kHz) = 1.22 µs;
a write settles to 1 % in τ ln 100 = 5.6 µs (``write_time``, all heaters in parallel) and
stores the heat C ΔT_π = P_π τ = 30 nJ in the heater (``write_energy``, with C = τ/R and
ΔT_π = P_π R). These heater figures, like the converters', memory's and detector's below, are
the shared ones of :mod:`physnn.cost.components` (the resonators' tuners use them too).

Presets — the same per-heater and per-query figures; the heaters are counted from the
configured mesh, so a run that changes its size is billed for its own heaters:

* ``default`` — one 16-mode Clements mesh of thermo-optic MZIs; at its system preset
  H = 2 · 120 + 16 = 256 heaters, 6.34 W. (``clements16`` has the same mesh and falls back
  to it.)
* ``shen2017`` — Shen et al., Nat. Photon. 11, 441 (2017); at its system preset, the 4-mode,
  2-layer SVD network, H = 2 · 2 · (2 · 6 + 4) + 2 · 4 = 72 heaters, 1.78 W.

Neither paper states converter, memory, detection or query-time figures: assumed 1 pJ per
8-bit conversion, 20 pJ per value moved from or to DRAM, 10⁴ photons per detection at 1550 nm
(1 % shot noise), and 1 ns per query (a 1 GHz modulation and detection rate; the light's own
latency through a three-layer single-chip network is 410 ps, Bandyopadhyay et al.,
Nat. Photon. 18, 1335 (2024)).
"""

from __future__ import annotations

import math
from dataclasses import replace

from physnn.cost.components import (
    CONVERTER_8BIT,
    DRAM_ACCESS,
    P_PI,
    Figure,
    detection,
    figure_sources,
    figure_values,
    thermo_optic_writes,
)
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.mzi.system import MZIConfig, MZIMesh

FLOPS_PER_COMPLEX_MAC = 8
INTENSITY_FLOPS = 3
TELECOM = 1550e-9  # m, assumed


def heaters(config: MZIConfig) -> int:
    """H: two heaters per MZI and one per output phase of every mesh, one per attenuator."""
    mzis = config.modes * (config.modes - 1) // 2
    per_mesh = 2 * mzis + config.modes
    attenuators = config.num_layers * config.modes if config.architecture == "svd" else 0
    return config.num_layers * config.meshes_per_layer * per_mesh + attenuators


def workload(system: MZIMesh) -> Workload:
    """One query of ``system``: L N² complex MACs, N DACs, its outputs' ADCs, H heaters."""
    c = system.config
    controls = sum(math.prod(spec.shape) for spec in system.control_specs().values())
    detected = INTENSITY_FLOPS * c.detected_modes if c.detection == "intensity" else 0
    return Workload(
        operations=c.num_layers * c.modes**2,
        inputs=c.modes,
        outputs=system.num_outputs,
        controls=controls,
        digital_flops=FLOPS_PER_COMPLEX_MAC * c.num_layers * c.modes**2 + detected,
        operation="complex MAC",
        static_elements=heaters(c),
    )


_FIGURES = {
    "operation_energy": Figure(
        0.0, "J", "0: interference is passive; the light is paid per detection"
    ),
    "detection_energy": detection(TELECOM),
    "dac_energy": CONVERTER_8BIT,
    "adc_energy": CONVERTER_8BIT,
    "memory_energy": DRAM_ACCESS,
    "query_time": Figure(
        1e-9,
        "s",
        "assumed: 1 ns (1 GHz modulation and detection; the light itself crosses a three-layer "
        "chip in 410 ps, Bandyopadhyay et al. 2024)",
    ),
    **thermo_optic_writes(),
    "static_power": Figure(
        P_PI.value,
        "W",
        f"derived: P_π per heater, the mean holding power P_π φ/π of a phase φ assumed uniform "
        f"over [0, 2π) ({P_PI.source}); the workload counts the heaters of the configured mesh "
        "(static_elements = L K (2M + N), + L N attenuators for svd)",
    ),
}
"""Every parameter, the same for every preset: the heaters' count is the workload's."""


DEFAULT = CostModel(
    name="default",
    reference="one 16-mode Clements mesh of thermo-optic MZIs (Harris et al. 2014)",
    **figure_values(_FIGURES),
    sources=figure_sources(_FIGURES),
)
SHEN = replace(
    DEFAULT,
    name="shen2017",
    reference="Shen et al., Nat. Photon. 11, 441 (2017): 4-mode, 2-layer SVD network of "
    "thermo-optic MZIs",
)

COST = SubstrateCost(workload=workload, presets={"default": DEFAULT, "shen2017": SHEN})
