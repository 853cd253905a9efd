"""What a chain of coupled nonlinear oscillators costs: one free evolution of the chain per query.

Workload of one query (N oscillators, n RK4 steps over the time T, S measured times):

* **operations**: N n — one oscillator evolving over one step T/n of the chain's motion. The
  chain moves all its oscillators at once; the mechanical energy involved (½ m ω² A², about
  2e-11 J for a gram at 1 kHz and 1 µm) is negligible beside the actuators' and sensors'
  electronics, which are ``static_power``, so ``operation_energy`` is 0; counting
  oscillator-steps makes the device comparable with the FLOPs the simulation spends on each;
* **inputs**: the N initial displacements set by actuators (DAC); **outputs**: the N S
  displacements measured (ADC); **controls**: N offsets, N − 1 spring constants and N drive
  amplitudes (3 N − 1);
* **query steps**: T + 5/γ — the query's duration in the configuration's own unit of time,
  1/ω₀ (the evolution over T, then the ring-down to rest before the next sample: 5/γ, the
  amplitude falling to e^−2.5 ≈ 8 % and the energy to e^−5 < 1 %), so that ``query_time`` is
  1/ω₀ of the hardware. 1/ω₀ rather than the period 2π/ω₀ because the system's times and rates
  (T, γ, Ω) are all in units of 1/ω₀ and ω₀: the count is then the configured numbers
  themselves, without a 2π. An undamped chain (γ = 0, an idealization) does not ring down by
  itself: it is assumed stopped by its actuators as the next sample is set, and no ring-down
  is counted (a lower bound);
* **digital baseline**: the RK4 simulation of the same chain per sample — the initial positions
  s x + θ (2 N), then per step four evaluations of the acceleration and the stage combinations
  (three stages of two axpy updates, 12 N; the final position and velocity sums, 12 N):

      a = N (f_onsite + 1 + 1 + 2 [drive] + 2 [damping, γ > 0]) + 2 (N − 1),
      F = 2 N + n (4 a + 24 N),

  with f_onsite = 5 for the Duffing force −ω²q − βq³ (ω²q, q³ in two products, βq³, the
  difference) and 2 for the pendulum's −ω² sin q (the sine counted as one FLOP, as elsewhere:
  a lower bound), the spring tensions J_i (q_{i+1} − q_i) (2 per spring), their difference on
  each oscillator (1) and its sum with the on-site force (1), the drive F_i cos(Ωt) (a product
  and a sum) and the damping −γ v (a product and a difference).

Presets. Wright et al., Nature 601, 549 (2022), train a mechanical PNN: a metal plate driven by
time-dependent forces (a speaker) whose multimode oscillations are measured; the chain here is
the one-dimensional stand-in of the Physics-Aware-Training example (coupled pendula,
github.com/mcmahon-lab/Physics-Aware-Training). The parts of the paper consulted here (its
abstract and introduction) state no energy or time per inference, so every figure is assumed
for an audio-frequency mechanical chain, marked so:

* ``wright2022`` — oscillators of f₀ = 1 kHz (an audio-frequency plate mode, ω₀ = 2π f₀):
  ``query_time`` = 1/ω₀ = 159 µs; at its system preset (T = 10, γ = 0.1) a query lasts
  60/ω₀ = 9.55 ms;
* ``default`` — the same chain and figures; at the default system preset (T = 6, γ = 0.1)
  56/ω₀ = 8.91 ms.
"""

from __future__ import annotations

import math
from dataclasses import replace

from physnn.cost.components import AUDIO_CONVERTER, DRAM_ACCESS, figure_sources, figure_values
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.oscillators.system import OscillatorChain, OscillatorsConfig

ONSITE_FLOPS = {"duffing": 5, "pendulum": 2}
SPRING_FLOPS = 2  # q_{i+1} − q_i and its product with J_i
DRIVE_FLOPS = 2  # F_i cos(Ωt) and its sum
DAMPING_FLOPS = 2  # γ v and its difference
STAGE_FLOPS = 24  # per oscillator and step: 3 stages × 2 axpys (12) and the final sums (12)
FREQUENCY = 1e3  # Hz: f₀ of the design oscillator (an audio-frequency plate mode)
RING_DOWN = 5.0  # ring-down time in units of 1/(γ ω₀) before the next sample


def acceleration_flops(config: OscillatorsConfig) -> int:
    """FLOPs of one evaluation of the chain's accelerations (see the docstring)."""
    n = config.num_oscillators
    per_oscillator = ONSITE_FLOPS[config.kind] + 1 + 1 + DRIVE_FLOPS
    if config.damping:
        per_oscillator += DAMPING_FLOPS
    return n * per_oscillator + SPRING_FLOPS * (n - 1)


def ring_down(config: OscillatorsConfig) -> float:
    """5/γ in units of 1/ω₀: the time the chain takes to come to rest (0 when undamped)."""
    return RING_DOWN / config.damping if config.damping else 0.0


def workload(system: OscillatorChain) -> Workload:
    """Oscillator-steps of one free evolution, lasting T + 5/γ in units of 1/ω₀; the digital
    baseline is its RK4 simulation."""
    c = system.config
    n = c.num_oscillators
    step = 4 * acceleration_flops(c) + STAGE_FLOPS * n
    return Workload(
        operations=n * c.num_steps,
        inputs=n,
        outputs=system.num_outputs,
        controls=3 * n - 1,
        digital_flops=2 * n + c.num_steps * step,
        operation="oscillator evolving over one step T/n of the chain's motion",
        query_steps=c.duration + ring_down(c),
    )


_FIGURES = {
    "dac_energy": AUDIO_CONVERTER.with_note("one per actuator command"),
    "adc_energy": AUDIO_CONVERTER.with_note("one per displacement read"),
    "memory_energy": DRAM_ACCESS,
    "write_energy": AUDIO_CONVERTER.with_note(
        "one DAC conversion per control, setting an offset, a coupler or a drive level"
    ),
}
WRIGHT = CostModel(
    name="wright2022",
    reference="Wright et al., Nature 601, 549 (2022): mechanical PNN (a driven plate), here a "
    "chain stand-in; the paper states no energy or time per inference: all figures assumed",
    **figure_values(_FIGURES),
    query_time=1 / (2 * math.pi * FREQUENCY),
    write_time=1e-3,
    static_power=1.0,
    sources={
        "operation_energy": "0: the chain's mechanical energy (≈ 2e-11 J per oscillator) is "
        "negligible; the actuators' and sensors' electronics are static_power",
        "detection_energy": "0: displacement sensors are read electronically (ADC)",
        **figure_sources(_FIGURES),
        "query_time": "derived from assumed f0 = 1 kHz: 1/ω0 = 1/(2π·1 kHz) = 159 µs, the unit "
        "of the system's times; the workload counts T + 5/γ of them, the evolution and the "
        "ring-down (at the wright2022 system preset: 60/ω0 = 9.55 ms)",
        "write_time": "assumed: 1 ms per write (actuators and tunable couplers settle)",
        "value_write_time": "0: the controls are set in parallel, one DAC channel each",
        "endurance": "inf: offsets, couplings and drives are set electronically, without wear",
        "static_power": "assumed: 1 W (actuator drivers and displacement sensors)",
    },
)
DEFAULT = replace(
    WRIGHT,
    name="default",
    reference="wright2022's assumed chain (all figures assumed), for the default preset",
)

COST = SubstrateCost(workload=workload, presets={"default": DEFAULT, "wright2022": WRIGHT})
