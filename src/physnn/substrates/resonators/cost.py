"""What a network of coupled resonators costs: a probe's scattering, and heaters that hold.

Workload of one query (I input modes, H hidden, P probed output modes, N = I + H + P modes,
E couplings between consecutive layers: I H + H P, or I P without a hidden layer):

* operations: E couplings — each pair of coupled modes exchanges the probe's light while it
  scatters (``operation`` "coupling"); the scattering is linear and passive
  (``operation_energy`` 0), the probe light paid per detected output;
* inputs: I DAC conversions — the input pixels *set* the detunings of the input modes (the
  paper's encoding in the parameters), one tuner value per pixel and query;
* outputs: the system's outputs, the reflections S_ℓℓ of the P ports as Re and Im (2 P,
  homodyne) or as powers (P), each converted by an ADC;
* controls: the N detunings and E couplings;
* static elements: the N + E tuners that hold them (below), each drawing ``static_power``;
* digital baseline: S = 1 − i √K (ω − H + i(K + Γ)/2)⁻¹ √K for the P probe columns, one dense
  complex LU factorization (8/3 N³ real FLOPs, LAPACK's count for a complex matrix: four
  times the real ⅔ N³) and a forward and back substitution per column (8 N² FLOPs each):
  8/3 N³ + 8 N² P.

Wanjura & Marquardt, "Fully nonlinear neuromorphic computing with linear wave scattering",
Nat. Phys. 20, 1434 (2024), is a theory: it proposes integrated racetrack resonators but
states no energy, power or time. Every figure below is therefore assumed and marked so:

* the trainable detunings and couplings are thermo-optic (the configuration's tuning ranges
  are "heaters" and tunable couplers), each like Harris et al.'s phase shifter, Opt. Express
  22, 10487 (2014): P_π = 24.77 mW, −3 dB bandwidth 130 kHz (τ = 1.22 µs). A tuner holding on
  average half a π step draws P_π/2: that is ``static_power``, per tuner, and the workload
  counts the N + E tuners of the configured network as its ``static_elements``, so the bill's
  static power (N + E) P_π / 2 follows the network's size; a write stores up to P_π τ = 30 nJ
  of heat per tuner and settles to 1 % in τ ln 100 = 5.6 µs, all tuners in parallel (the
  heater figures of :mod:`physnn.cost.components`, shared with the MZI mesh);
* the input detunings change with every sample, so they are electro-optic (fast): 1 pJ per
  8-bit conversion, as for the ADCs; 20 pJ per value moved from or to DRAM;
* a query lasts 10 ns: the input tuners set and about ten photon lifetimes 1/κ at
  κ/2π ≈ 1 GHz (a loaded quality factor of about 2 × 10⁵ at 1550 nm) for the network to
  settle; 10⁴ probe photons per detected output (1 % shot noise) at 1550 nm.

Presets: ``default`` (at its system preset, 64 inputs straight to 10 ports: N = 74, E = 640,
714 tuners, 8.84 W) and ``wanjura2024`` (at its system preset, the paper's 64-80-10 network:
N = 154, E = 5920, 6074 tuners, 75.2 W) — the same assumed per-tuner and per-query figures;
the tuners are counted from the configured network.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from physnn.cost.components import (
    CONVERTER_8BIT,
    DRAM_ACCESS,
    HEATER_WRITE_ENERGY,
    HEATER_WRITE_TIME,
    P_PI,
    Figure,
    detection,
    figure_sources,
    figure_values,
    thermo_optic_writes,
)
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.resonators.system import CoupledResonators, ResonatorsConfig

LU_FLOPS = 8 / 3  # × N³, complex LU (four times the real ⅔ N³)
SOLVE_FLOPS = 8  # × N² per right-hand side, complex forward and back substitution
TELECOM = 1550e-9  # m, assumed


def couplings(config: ResonatorsConfig) -> int:
    """E: one coupling per pair of modes in consecutive layers."""
    return sum(a * b for a, b in pairwise(config.layer_sizes))


def tuners(config: ResonatorsConfig) -> int:
    """N + E: the detunings of all modes and the couplings, each a heater (assumed)."""
    return config.num_modes + couplings(config)


def workload(system: CoupledResonators) -> Workload:
    """One query of ``system``: E couplings, I input tuners, its outputs, N + E tuners held."""
    c = system.config
    n = c.num_modes
    return Workload(
        operations=couplings(c),
        inputs=c.num_inputs,
        outputs=system.num_outputs,
        controls=tuners(c),
        digital_flops=LU_FLOPS * n**3 + SOLVE_FLOPS * n**2 * c.num_ports,
        operation="coupling",
        static_elements=tuners(c),
    )


_THEORY = "the paper is a theory and states no hardware"
_HEATERS = f"the tuners are assumed to be such heaters ({_THEORY})"
_FIGURES = {
    "operation_energy": Figure(
        0.0, "J", "0: linear scattering is passive; the probe light is paid per detection"
    ),
    "detection_energy": detection(TELECOM).with_note(f"probe photons; {_THEORY}"),
    "dac_energy": CONVERTER_8BIT.with_note("an electro-optic input tuner per pixel"),
    "adc_energy": CONVERTER_8BIT,
    "memory_energy": DRAM_ACCESS,
    "query_time": Figure(
        10e-9,
        "s",
        "assumed: 10 ns (input tuners set, then ~10 photon lifetimes 1/κ at κ/2π ≈ 1 GHz for "
        "the network to settle)",
    ),
    **thermo_optic_writes(),
    "write_energy": HEATER_WRITE_ENERGY.with_note(
        f"{_HEATERS}; an upper bound, a tuner steps by up to π"
    ),
    "write_time": HEATER_WRITE_TIME.with_note(_HEATERS),
    "static_power": Figure(
        P_PI.value / 2,
        "W",
        f"assumed: P_π/2 = 12.4 mW per thermo-optic tuner, half a π step held on average "
        f"({P_PI.source}); the workload counts the tuners of the configured network "
        "(static_elements = N detunings + E couplings)",
    ),
}
"""Every parameter (all assumed), the same for every preset: the tuners' count is the
workload's."""


DEFAULT = CostModel(
    name="default",
    reference="64 input modes coupled to 10 probed ports, thermo-optic tuning (all figures "
    "assumed)",
    **figure_values(_FIGURES),
    sources=figure_sources(_FIGURES),
)
WANJURA = replace(
    DEFAULT,
    name="wanjura2024",
    reference="Wanjura & Marquardt, Nat. Phys. 20, 1434 (2024): 64-80-10 network; a theory "
    "that states no hardware figures (all assumed)",
)

COST = SubstrateCost(workload=workload, presets={"default": DEFAULT, "wanjura2024": WANJURA})
