"""What a physical reservoir costs: a time-multiplexed delay loop driven by one sample per query.

Workload of one query (N virtual nodes, R readout times, a sample of L values each held h
steps: T = L h input steps; node interval θ in units of the node's response time τ_node):

* **operations**: T N virtual-node updates — during each input step the one physical node
  visits its N virtual nodes in turn, each for a node interval θ τ_node (the physics: one
  nonlinear response f(z) filtered by the node's inertia); the node's power is
  ``static_power`` over the query time T N θ τ_node, so ``operation_energy`` is 0;
* **query steps**: T N θ — the query's duration in units of τ_node, the one physical time
  scale of the loop, which is the model's ``query_time``: θ is the configuration's
  ``node_separation`` (a dimensionless spacing), τ_node a property of the hardware, so the
  split keeps every configured number in the workload and the hardware's constant in the
  model;
* **inputs**: T N — the masked input stream m_i u(n) is produced digitally and played by a
  waveform generator at the node rate, one conversion per virtual node and step (Appeltant et
  al. 2011, Fig. 1); **outputs**: the N R measured states (ADC; a window readout integrates in
  the detector, as a slow detector does); **controls**: 3 (feedback gain α, input scaling γ,
  bias φ);
* **digital baseline**: the efficient simulation of the same loop per sample — per virtual node
  and step, z = α x + γ m u + φ (4 FLOPs with γ m precomputed), the node f(z) (sin²: 2; the
  Mackey–Glass z/(1 + |z|^p): 4; a sine or power counted as one FLOP, a lower bound) and the
  node's low-pass recursion x_i = e^{−θ} x_{i−1} + (1 − e^{−θ}) f (3), plus 1 (``window-mean``)
  or 2 (``window-power``) to accumulate the window readout:

      F = T N (4 + f + 3 + r).

  (physnn's own simulation applies the recursion as a dense N × N lower-triangular product,
  2 N² per step; the baseline is the cheaper recursion, so as not to flatter the device.)
  An echo state network (``kind = "esn"``) is digital: T inputs and
  F = T (N (8 + r) + 2 nnz(W)) — α(Wx), (γ w) u, two additions, tanh and the leak (8 per unit)
  and the sparse recurrent product. Its device *is* a digital processor, so its operations and
  its query steps are those F FLOPs, each one FLOP's energy and time on the A100.

The sample length L is the dataset's, which the system does not hold: the substrate's cost is
``per_sample_values``, so a run calls ``workload(system, values)`` with the values of one of its
samples (64 for the 8 × 8 ``digits``), and the query time follows it.

Presets. Appeltant et al., Nat. Commun. 2, 468 (2011), demonstrate the delay reservoir with an
electronic Mackey–Glass circuit, Larger et al., Opt. Express 20, 3241 (2012), with an
optoelectronic sin² oscillator (Mach–Zehnder modulator and delay line); the parts of the papers
consulted here (their abstracts and introductions) state no energy per query and no node
interval θ in seconds, so these figures are assumed, marked so. θ is set by the system preset
in units of the node's response time τ_node (``node_separation``); τ_node, the preset's
``query_time``, is assumed:

* ``larger2012`` — τ_node = 100 ns (a photodetector and RF amplifier of a few MHz bandwidth):
  at its system preset θ = 0.5 × 100 ns = 50 ns, a 20 µs loop for 400 nodes; 1 GS/s
  converters; 5 W static;
* ``appeltant2011`` — τ_node = 100 µs (an analog electronic low-pass of a few kHz): at its
  system preset θ = 0.2 × 100 µs = 20 µs, an 8 ms loop for 400 nodes; audio-rate converters;
  1 W static;
* ``default`` — ``larger2012``'s optoelectronic loop (at the default system preset: 50 nodes);
* ``esn`` — an echo state network (Jaeger 2001) has no physical device: it is priced as the
  digital processor (A100) running it, one FLOP's energy and time per operation and step, so
  that its bill shows no physical advantage (an echo state network configured at another
  system preset is priced with ``cost = "esn"``).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from physnn.cost.components import AUDIO_CONVERTER, DRAM_ACCESS, figure_sources, figure_values
from physnn.cost.model import A100, CostModel, SubstrateCost, Workload
from physnn.substrates.reservoir.system import Reservoir

INPUT_FLOPS = 4  # α x, (γ m) u and two additions
NODE_FLOPS = {"sin2": 2, "mackey-glass": 4}  # f(z)
LOW_PASS_FLOPS = 3  # e^{−θ} x_{i−1} + (1 − e^{−θ}) f
ESN_UNIT_FLOPS = 8  # α (Wx), (γ w) u, two additions, tanh, leak (3)
READOUT_FLOPS = {"snapshots": 0, "window-mean": 1, "window-power": 2}


def workload(system: Reservoir, values: int) -> Workload:
    """Virtual-node updates for a sample of ``values`` values held ``hold`` steps each, or an
    echo state network's FLOPs (see the docstring)."""
    c = system.config
    steps = values * c.hold
    readout = READOUT_FLOPS[c.readout]
    if c.kind == "esn":
        nonzero = int(torch.count_nonzero(system.recurrent))
        flops = steps * (c.nodes * (ESN_UNIT_FLOPS + readout) + 2 * nonzero)
        return Workload(
            operations=flops,
            inputs=steps,
            outputs=system.num_outputs,
            controls=3,
            digital_flops=flops,
            operation="FLOP of the echo state network on the digital processor",
            query_steps=flops,
        )
    per_node = INPUT_FLOPS + NODE_FLOPS[c.nonlinearity] + LOW_PASS_FLOPS + readout
    return Workload(
        operations=steps * c.nodes,
        inputs=steps * c.nodes,
        outputs=system.num_outputs,
        controls=3,
        digital_flops=steps * c.nodes * per_node,
        operation="virtual-node update (one node interval θ)",
        query_steps=steps * c.nodes * c.node_separation,
    )


OPTOELECTRONIC_NODE = 100e-9  # s: τ_node of a photodetector and RF amplifier
ELECTRONIC_NODE = 100e-6  # s: τ_node of an analog electronic low-pass
_NODE = "0: the node's power is static_power over the query time"
LARGER = CostModel(
    name="larger2012",
    reference="Larger et al., Opt. Express 20, 3241 (2012): optoelectronic sin² delay "
    "reservoir; no energy or node interval in seconds stated: all figures assumed",
    dac_energy=1e-9,
    adc_energy=1e-9,
    memory_energy=DRAM_ACCESS.value,
    query_time=OPTOELECTRONIC_NODE,
    write_energy=1e-9,
    write_time=1e-3,
    static_power=5.0,
    sources={
        "operation_energy": _NODE,
        "detection_energy": "0: the loop's photodiode is part of the node (static_power)",
        "dac_energy": "assumed: 1 nJ per masked input value (a waveform generator at ≈ 1 W "
        "and 1 GS/s)",
        "adc_energy": "assumed: 1 nJ per state read (a digitizer at ≈ 1 W and 1 GS/s)",
        "memory_energy": DRAM_ACCESS.source,
        "query_time": "assumed: τ_node = 100 ns, the response time of a photodetector and RF "
        "amplifier of a few MHz bandwidth; the workload counts T N θ of them (at the larger2012 "
        "system preset, 400 nodes × θ 0.5: a 20 µs loop per input step)",
        "write_energy": "assumed: 1 nJ per control (one conversion setting a gain or bias)",
        "write_time": "assumed: 1 ms per write (the modulator bias and amplifier gains settle)",
        "value_write_time": "0: the three controls are set in parallel",
        "endurance": "inf: gains and bias are set electronically, without wear",
        "static_power": "assumed: 5 W (laser, modulator driver and RF amplifier, photodiode "
        "amplifier)",
    },
)
_AUDIO = {
    "dac_energy": AUDIO_CONVERTER.with_note("one per masked input value"),
    "adc_energy": AUDIO_CONVERTER.with_note("one per state read"),
    "write_energy": AUDIO_CONVERTER.with_note("one DAC conversion per control"),
}
APPELTANT = replace(
    LARGER,
    name="appeltant2011",
    reference="Appeltant et al., Nat. Commun. 2, 468 (2011): electronic Mackey–Glass delay "
    "reservoir; no energy or node interval in seconds stated: all figures assumed",
    **figure_values(_AUDIO),
    query_time=ELECTRONIC_NODE,
    static_power=1.0,
    sources={
        **LARGER.sources,
        "detection_energy": "0: the node's states are voltages read by the ADC",
        **figure_sources(_AUDIO),
        "query_time": "assumed: τ_node = 100 µs, the response time of an analog electronic "
        "low-pass of a few kHz; the workload counts T N θ of them (at the appeltant2011 system "
        "preset, 400 nodes × θ 0.2: an 8 ms loop per input step)",
        "write_time": "assumed: 1 ms per write (the circuit's gains and bias settle)",
        "static_power": "assumed: 1 W (the analog node, its delay line and converters)",
    },
)
DEFAULT = replace(
    LARGER,
    name="default",
    reference="larger2012's optoelectronic loop (all figures assumed), for the default preset",
)
_DIGITAL = "0: an echo state network runs on the digital processor (its cost is operation_energy)"
ESN = CostModel(
    name="esn",
    reference="Jaeger, GMD Report 148 (2001): a digital model with no physical device, priced "
    "as the A100 running it",
    operation_energy=A100.energy_per_flop,
    memory_energy=DRAM_ACCESS.value,
    query_time=1 / A100.flops_per_second,
    sources={
        "operation_energy": "derived: the A100's 2.56 pJ per FLOP (400 W / 156 TFLOP/s); the "
        "workload counts the network's FLOPs, T (N (8 + r) + 2 nnz(W))",
        "detection_energy": _DIGITAL,
        "dac_energy": _DIGITAL,
        "adc_energy": _DIGITAL,
        "memory_energy": DRAM_ACCESS.source,
        "query_time": "derived: 1 / 156 TFLOP/s per FLOP (A100 peak); the workload counts the "
        "FLOPs as its steps",
        "write_energy": "0: three digital registers",
        "write_time": _DIGITAL,
        "value_write_time": _DIGITAL,
        "endurance": "inf: digital registers",
        "static_power": "0: the A100's power is in its energy per FLOP",
    },
)

COST = SubstrateCost(
    workload=workload,
    presets={"default": DEFAULT, "larger2012": LARGER, "appeltant2011": APPELTANT, "esn": ESN},
    per_sample_values=True,
)
