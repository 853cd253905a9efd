"""What a wave RNN costs: a signal played through a fabricated inhomogeneous medium per query.

Workload of one query (an Nx × Ny grid, a design region of D cells, P probes, a sample of L
values each held h steps: T = L h time steps):

* **operations**: Nx Ny T — one cell of the medium advanced over one time step. The medium
  evolves all its cells at once, passively (``operation_energy`` 0: the source's drive is in
  ``static_power``); counting cell-steps makes the energy per operation comparable with the
  FLOPs the simulation spends on the same cell-step;
* **inputs**: the L sample values converted for the source (DAC; a zero-order hold keeps each
  for h steps without a new conversion); **outputs**: the P probes' time-integrated intensities
  (ADC); **controls**: the D wave speeds of the design region;
* **query steps**: the T = L h time steps, each one ``query_time`` of the signal;
* **digital baseline**: the leapfrog simulation of the same signal per sample — the unit-energy
  scaling of the input (3 L), then per step the 5-point stencil update of every cell
  (uⁿ⁺¹ = α′uⁿ + κ Σ_nb uⁿ − γuⁿ⁻¹: 3 additions of the neighbours, 5 multiplications and
  additions: 8 FLOPs), the source injection (1) and the probes' intensities (2 P); a nonlinear
  medium adds, per design cell and step, 4 FLOPs for the Kerr speed c = c_lin + c_nl u² and its
  square and 8 for the saturable damping b_lin + b_nl / (1 + u²/u_th²) and the update's two
  damping coefficients:

      F = 3 L + T (8 Nx Ny + 1 + 2 P) + T D (4 [Kerr] + 8 [saturable]).

The sample length L is the dataset's, which the system does not hold: the substrate's cost is
``per_sample_values``, so a run calls ``workload(system, values)`` with the values of one of its
samples (64 for the 8 × 8 ``digits``), and the query time T × ``query_time`` follows it.

Presets. Hughes, Williamson, Minkov & Fan, Sci. Adv. 5, eaay6946 (2019) simulate the wave RNN
(an inverse-designed medium classifying raw vowel audio) and propose acoustic or optical media;
they build none and state no energy or time per inference. Their task is audio at 10 kHz, one
sample per time step (fancompute/wavetorch, study/example.yml: ``sr: 10000``), so an acoustic
medium computes in the signal's own time: ``query_time`` = 1 / 10 kHz = 100 µs per time step,
T / 10 kHz per query. Everything else is assumed for an acoustic implementation, marked so:

* ``hughes2019`` — at its system preset (hold 1) a 0.1 s vowel (1000 samples at 10 kHz, the
  ``vowels-audio`` recordings) is 1000 steps, 0.1 s per query; the medium is fabricated
  (printed or machined) once: endurance 1, so that in-situ training is impossible and the bill
  says so (endurance used ≫ 1), as for printed diffractive layers (Lin et al. 2018);
* ``default`` — the same medium and figures; at the default system preset an 8 × 8 digit is
  64 values held 4 steps, 256 steps at 10 kHz: 25.6 ms.
"""

from __future__ import annotations

from dataclasses import replace

from physnn.cost.components import AUDIO_CONVERTER, DRAM_ACCESS, figure_sources, figure_values
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.wave.system import WaveConfig, WaveRNN, design_region

STENCIL_FLOPS = 8  # neighbour sum (3), κ·Σ, α′u, −γu⁻ (5)
SCALING_FLOPS = 3  # per input value: square, sum, divide by the norm
PROBE_FLOPS = 2  # square and accumulate
KERR_FLOPS = 4  # u², c_nl u², + c_lin, c²
SATURABLE_FLOPS = 8  # u², / u_th², + 1, b_nl / (…), + b_lin, the two damping coefficients (3)


def design_cells(config: WaveConfig) -> int:
    """The number D of trainable cells (the design region)."""
    xs, ys = design_region(config)
    return (xs.stop - xs.start) * (ys.stop - ys.start)


def workload(system: WaveRNN, values: int) -> Workload:
    """Cell-steps of the medium for a sample of ``values`` values held ``hold`` steps each (see
    the docstring)."""
    c = system.config
    steps = values * c.hold
    cells, design = c.nx * c.ny, design_cells(c)
    nonlinear = (KERR_FLOPS if c.kerr else 0) + (SATURABLE_FLOPS if c.saturable else 0)
    per_step = STENCIL_FLOPS * cells + 1 + PROBE_FLOPS * c.num_probes + nonlinear * design
    return Workload(
        operations=cells * steps,
        inputs=values,
        outputs=system.num_outputs,
        controls=design,
        digital_flops=SCALING_FLOPS * values + steps * per_step,
        operation="cell of the medium advanced over one time step",
        query_steps=steps,
    )


SAMPLE_RATE = 10_000.0  # Hz: one audio sample per time step (wavetorch study/example.yml)


_FIGURES = {
    "dac_energy": AUDIO_CONVERTER.with_note("one per sample value"),
    "adc_energy": AUDIO_CONVERTER.with_note("one per probe"),
    "memory_energy": DRAM_ACCESS,
}
HUGHES = CostModel(
    name="hughes2019",
    reference="Hughes et al., Sci. Adv. 5, eaay6946 (2019): simulated only; an acoustic medium "
    "at the paper's 10 kHz audio rate assumed",
    **figure_values(_FIGURES),
    query_time=1 / SAMPLE_RATE,
    endurance=1.0,
    static_power=1.0,
    sources={
        "operation_energy": "0: the medium propagates the waves passively; the source's drive "
        "is in static_power",
        "detection_energy": "0: microphones are driven by the sound itself (no photon budget)",
        **figure_sources(_FIGURES),
        "query_time": "derived: 1 / 10 kHz = 100 µs per time step, one audio sample per step: "
        "the medium computes in the signal's own time (wavetorch sr = 10000); the workload "
        "counts the steps, the sample's values × hold (a 0.1 s vowel at hold 1: 0.1 s)",
        "write_energy": "0: a fabricated medium is made, not written (its cost is not energy)",
        "write_time": "0: see endurance",
        "value_write_time": "0: see endurance",
        "endurance": "1: an inverse-designed medium is fabricated once; it cannot be rewritten",
        "static_power": "assumed: 1 W (the source's audio amplifier and the probes' "
        "microphone preamplifiers)",
    },
)
DEFAULT = replace(
    HUGHES,
    name="default",
    reference="hughes2019's acoustic medium (the time per query follows the sample's length)",
)

COST = SubstrateCost(
    workload=workload,
    presets={"default": DEFAULT, "hughes2019": HUGHES},
    per_sample_values=True,
)
