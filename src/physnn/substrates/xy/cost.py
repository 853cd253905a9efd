"""What a network of coupled phase oscillators costs: one phase-locking relaxation per query.

Workload of one query (layer sizes n_0 … n_L, n_0 the clamped input oscillators, S Euler
steps of size η, in relaxation times τ): the oscillators lock once (a free, nudged or clamped
phase: each is one query per sample, as the device counts it), which takes S η relaxation
times — the query's ``query_steps``, each one τ (``query_time``). A coupling W_k,ij dissipates
while the network locks, so an *operation* is one coupling over one relaxation time:
S η Σ_k n_k n_{k−1} operations. The n_0 input phases are set by DACs; each of the n_L output
oscillators is read as (cos φ, sin φ), 2 n_L ADC conversions (``num_outputs``); the controls
are the couplings, fields and pinning phases, Σ_k n_k n_{k−1} + 2 Σ_{k≥1} n_k; every one of the
Σ_k n_k oscillators (inputs included: they oscillate, clamped) runs whatever the network
computes, the workload's ``static_elements``. The local measurements cos(φ_k,i − φ_{k−1,j})
are made by each coupling's own circuit: not counted.

The digital baseline is the twin's gradient flow (:func:`physnn.substrates.hopfield.cost.
relaxation_flops` with two matrix products per coupling and direction, the cos and the sin
terms of Σ_j W_ij sin(φ_i − θ_j)): the input terms W_1 cos φ_0, W_1 sin φ_0 once (4 n_1 n_0
FLOPs), then 8 Σ_{k≥2} n_k n_{k−1} FLOPs per Euler step, for S steps: ``free_steps`` for a fixed
schedule, else the smaller of ``free_steps`` and ``TYPICAL_STEPS`` = 3000, the steps the default
network takes to its tolerance (the system's docstring: "hundreds to a few thousand steps";
measured at initialization on 8 batches of 32 digits, a batch stopping when its slowest sample
settles: median 3322, one batch spending the 20000-step budget). Element-wise work (sines,
cosines) is not counted, as in :mod:`physnn.cost.flops`. (``TYPICAL_STEPS`` was measured at
η = 1: with a tolerance and another η, S η is an estimate of the relaxation time.)

Presets: Wang, Wanjura & Marquardt, Neuromorph. Comput. Eng. 4, 034014 (2024) is a
simulation; it names laser arrays, coupled mechanical limit cycles, superfluids and
exciton-polaritons as platforms. Coupled-oscillator hardware exists (four spin-torque
nano-oscillators trained to recognize vowels: Romera et al., Nature 563, 230 (2018);
oscillator Ising machines in CMOS, whose GHz phase dynamics follow the same XY gradient flow:
Gower, arXiv:2505.02103 and arXiv:2510.12934 (2025), simulations), but none of it reports the
energy of an XY network trained by equilibrium propagation.

* ``default`` — an *assumed* analog-electronic implementation: CMOS ring oscillators near
  1 GHz with resistive couplings. A phase relaxes over τ ≈ 10 ns (about ten periods); a
  coupling dissipates about 1 µW while the network locks, 10 fJ per τ; each oscillator draws
  about 100 µW whatever it computes. At the default system preset (a tolerance, ``step_size``
  1) the network needs ``TYPICAL_STEPS`` = 3000 relaxation times, so a query takes
  3000 × 10 ns = 30 µs, 30 pJ per coupling, and its 101 oscillators draw 10.1 mW. Every value
  is marked "assumed".
"""

from __future__ import annotations

from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.substrates.hopfield.cost import (
    control_count,
    layered_couplings,
    relaxation_flops,
    relaxation_sweeps,
)
from physnn.substrates.resistive.cost import ANALOG_CONVERTERS, ANALOG_SOURCES
from physnn.substrates.xy.system import PhaseOscillators

TYPICAL_STEPS = 3000
"""Euler steps (relaxation times) the default network takes to its tolerance (docstring)."""
PRODUCTS = 2  # matrix products per coupling and direction: the cos and the sin terms

LOCK_TIME = 10e-9  # s: τ, about ten periods of a 1 GHz oscillator (assumed)
COUPLING_POWER = 1e-6  # W dissipated by one coupling while the network locks (assumed)
OSCILLATOR_POWER = 100e-6  # W drawn by one running oscillator (assumed)


def workload(system: PhaseOscillators) -> Workload:
    """One phase-locking relaxation for one sample, S η relaxation times long (see the module
    docstring)."""
    c = system.config
    steps = relaxation_sweeps(c.free_steps, c.tolerance, TYPICAL_STEPS)
    relaxation = steps * c.step_size  # in relaxation times τ
    return Workload(
        operations=layered_couplings(c.sizes) * relaxation,
        inputs=c.num_inputs,
        outputs=system.num_outputs,
        controls=control_count(system),
        digital_flops=relaxation_flops(c.sizes, steps, PRODUCTS),
        operation="coupling over one relaxation time τ of the phase locking",
        query_steps=relaxation,
        static_elements=sum(c.sizes),
    )


_ASSUMED = "assumed (no XY network has been built and measured): "
CMOS_OSCILLATORS = CostModel(
    name="default",
    reference="assumed analog-electronic XY network: CMOS ring oscillators near 1 GHz with "
    "resistive couplings (Wang, Wanjura & Marquardt 2024 is a simulation)",
    operation_energy=COUPLING_POWER * LOCK_TIME,
    query_time=LOCK_TIME,
    write_energy=10e-12,
    write_time=1e-3,
    static_power=OSCILLATOR_POWER,
    **ANALOG_CONVERTERS,
    sources={
        "operation_energy": f"{_ASSUMED}1 µW per coupling while the network locks × τ = 10 ns "
        "= 10 fJ per coupling and relaxation time (the workload counts S η of them: 30 pJ over "
        "the default network's 3000)",
        "query_time": f"{_ASSUMED}τ = 10 ns per relaxation time (about ten periods of a 1 GHz "
        "oscillator); the workload counts S η of them (3000 at the default preset: 30 µs)",
        **ANALOG_SOURCES,
        "write_energy": f"{_ASSUMED}10 pJ per coupling, field or pin update (charging the "
        "capacitor that holds its bias, as the resistive default)",
        "write_time": f"{_ASSUMED}1 ms per parallel update of all controls, as the resistive "
        "default",
        "value_write_time": "0: the controls are updated at once, each by its own circuit",
        "endurance": "assumed: unlimited (capacitor-held bias voltages do not wear)",
        "static_power": f"{_ASSUMED}100 µW per running CMOS oscillator; the workload counts the "
        "network's oscillators, Σ_k n_k (101 at the default preset: 10.1 mW)",
    },
)

COST = SubstrateCost(workload=workload, presets={"default": CMOS_OSCILLATORS})
