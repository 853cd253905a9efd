"""What an Ising machine costs: a problem programmed and annealed ``samples`` times per query.

Workload of one query (layer sizes n_0 … n_L, n_0 the fixed input spins, R = ``samples``
reads): one relaxation (a free, nudged or clamped phase: each is one query per sample, as the
device counts it) is R independent anneals of the same problem, so an *operation* is one
coupler J_k,ij taking part in one anneal: R Σ_k n_k n_{k−1} operations. The n_0 inputs are
converted (they enter as the fields W_1 u of the first hidden layer), the n_L output spins are
returned (averaged over the reads); the controls are the couplings and fields,
Σ_k n_k n_{k−1} + Σ_{k≥1} n_k.

The digital baseline is the sampler the device stands for, run on a digital processor (the
twin's mean field is a different and, here, poor approximation: see the system's docstring):
the input field W_1 u once (2 n_1 n_0 FLOPs), then R × ``sweeps`` block-Gibbs sweeps, each
using every other coupling matrix in both directions, 4 Σ_{k≥2} n_k n_{k−1} FLOPs per sweep
(:func:`physnn.substrates.hopfield.cost.relaxation_flops`; the sigmoids and random draws are
element-wise and not counted, as in :mod:`physnn.cost.flops`).

Presets — the D-Wave annealer of Laydevant et al., "Training an Ising machine with equilibrium
propagation", Nat. Commun. 15, 3671 (2024). The paper's hardware figures: its Fig. 1 shows a
Chimera-topology chip; the authors' code (github.com/jlaydevant/Ising-Machine-EqProp) requests a
Pegasus (Advantage) solver with D-Wave's default anneal for the free phase and a 20 µs reverse
anneal ([[0, 1], [10, 0.25], [20, 1]] µs) for the nudged phase, 10 reads per phase, and
computes the input fields W_1 u on the host. The paper states no energy or QPU time per
sample, so the timing is D-Wave's own documentation ("Operation and Timing",
docs.dwavesys.com/docs/latest/c_qpu_timing.html): a problem's QPU access time is
T_p + R (T_a + T_r + T_d), with the programming time T_p "typically between 10 and 20 ms"
(15.94 ms in its timing example), the anneal T_a = 20 µs (the default, and the paper's reverse
anneal), the readout T_r = 39.76 µs and delay T_d = 21.02 µs of its example (T_r grows to about
150 µs for problems of thousands of qubits). Every query programs its own problem (its inputs
change the fields), so T_p is paid per query; the reverse anneal's ``reinitialize_state`` (100
to 600 µs more per read in the nudged phase) and the 10–20 ms "qpu_access_overhead_time" are not
included (the times are lower bounds). R is the system presets' 8 reads (``samples``; the paper's
code takes 10: set ``query_time`` in ``cost_options`` to price another R). The machine's power
is its refrigeration and servers: "slightly less than 25 kilowatts" for a D-Wave 2X, the
processor itself "only a tiny fraction of a microwatt", and "the total system power will still
remain more or less constant for many generations" (D-Wave's C. Williams in IEEE Spectrum, "How
much power will quantum computing need?", 2015): 25 kW assumed for the Advantage, drawn for the
whole query, and every per-operation, converter and memory term is inside it (zero here, not
forgotten). The host's input fields (2 n_1 n_0 FLOPs per query) are not billed.

* ``laydevant2024`` — these figures; ``default`` — the same figures (the substrate's hardware).

Why the reads are not ``query_steps``: a workload's steps each take the model's one
``query_time``, and the model has no per-query overhead beside it, while a D-Wave query is a
fixed programming time plus R reads, T_p + R (T_a + T_r + T_d), with T_p ≈ 200 reads' worth.
Counting R steps of (T_a + T_r + T_d) would drop T_p, the larger part; R steps of
T_p/R + (T_a + T_r + T_d) would put R into the model again; and counting T_p/(T_a + T_r + T_d)
extra "steps" would put a ratio of hardware times into the workload, wrong as soon as
``cost_options`` changes either time. The programming is not a write either (a run bills a
write per control update, not per query). So ``query_time`` stays the whole query at the system
presets' R = 8, the one figure here computed for a configuration: a run with another
``samples`` should set it in ``cost_options`` (the source says so).
"""

from __future__ import annotations

from dataclasses import replace

from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.hopfield.cost import control_count, layered_couplings, relaxation_flops
from physnn.substrates.ising.system import IsingConfig, IsingMachine

DWAVE_DOCS = "D-Wave documentation, 'Operation and Timing' (QPU access time)"
PROGRAMMING_TIME = 15935.4e-6  # s, T_p of the documentation's timing example
ANNEAL_TIME = 20e-6  # s, T_a: the default anneal and the paper's 20 µs reverse anneal
READOUT_TIME = 39.76e-6  # s, T_r of the documentation's example
DELAY_TIME = 21.02e-6  # s, T_d of the documentation's example
READS = IsingConfig().samples  # reads per query of the system presets (8)
SYSTEM_POWER = 25e3  # W, a D-Wave system at the wall (IEEE Spectrum 2015: "slightly less")


def workload(system: IsingMachine) -> Workload:
    """``samples`` anneals of one problem for one sample (see the module docstring)."""
    c = system.config
    return Workload(
        operations=c.samples * layered_couplings(c.sizes),
        inputs=c.num_inputs,
        outputs=system.num_outputs,
        controls=control_count(system),
        digital_flops=relaxation_flops(c.sizes, c.samples * c.sweeps),
        operation="coupler in one anneal (read)",
    )


_INSIDE = "0: inside static_power (the D-Wave system's power at the wall covers the processor, "
_INSIDE += "its control electronics and servers)"
DWAVE = CostModel(
    name="laydevant2024",
    reference="Laydevant et al., Nat. Commun. 15, 3671 (2024), on a D-Wave annealer; timing "
    "from D-Wave's documentation, power from IEEE Spectrum (2015)",
    query_time=PROGRAMMING_TIME + READS * (ANNEAL_TIME + READOUT_TIME + DELAY_TIME),
    static_power=SYSTEM_POWER,
    sources={
        "operation_energy": "0: the processor itself draws 'only a tiny fraction of a "
        "microwatt' (C. Williams, D-Wave, in IEEE Spectrum 2015); the system's power is "
        "static_power",
        "detection_energy": _INSIDE,
        "dac_energy": _INSIDE,
        "adc_energy": _INSIDE,
        "memory_energy": _INSIDE,
        "query_time": f"T_p + R (T_a + T_r + T_d) = 15.94 ms + 8 × (20 + 39.76 + 21.02) µs "
        f"({DWAVE_DOCS}: T_p 'typically between 10 and 20 ms', its example's values; "
        "R = 8 reads of the system presets; the paper states no time per sample). The whole "
        "query, not a time per step: T_p is a per-query overhead; a run with another samples "
        "should set it",
        "write_energy": "0: every query programs its whole problem (h and J), paid in "
        "query_time's T_p",
        "write_time": "0: see write_energy (programming is part of each query)",
        "value_write_time": "0: the couplers are programmed together, in T_p",
        "endurance": "assumed: unlimited (every problem reprograms every coupler; no write "
        "endurance is stated in the sources used)",
        "static_power": "assumed: 25 kW, a D-Wave 2X's 'slightly less than 25 kilowatts' (IEEE "
        "Spectrum 2015), said to 'remain more or less constant for many generations'",
    },
)

COST = SubstrateCost(
    workload=workload,
    presets={"default": replace(DWAVE, name="default"), "laydevant2024": DWAVE},
)
