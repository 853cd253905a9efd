"""The reality gap of a resistive learning network (conductances in units of G₀, voltages in V).

The twin computes with the written conductances and the nominal diodes; the device differs by

* **component tolerance** — each edge realizes G_e·(1 + δ_e), δ_e ~ N(0, σ²) once per device
  (resistor / potentiometer tolerance);
* **programming quantization** — a written conductance is held as the nearest of K equally
  spaced levels over [g_min, g_max] (a digital potentiometer's wiper positions, a memristor
  programmed to K states);
* **diode spread** — each hidden node's diodes have conductance g_d·(1 + δ), δ ~ N(0, σ²), and
  threshold V_t + N(0, σ_V²);
* **voltmeter noise** — every node-voltage reading (outputs and the ΔV_e² of the local rule)
  carries white noise of rms σ (V).

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
conductance tolerance σ       1 %        5 %         20 %
programming levels K          256        128         32
diode conductance spread σ    2 %        5 %         10 %
diode threshold spread σ      5 mV       10 mV       20 mV
voltmeter noise (rms)         0.1 mV     1 mV        5 mV
============================  =========  ==========  =========

Sources and reasoning: 1 % and 5 % are the common tolerance classes of discrete resistors;
digital potentiometers specify their end-to-end resistance to about ±20 % (severe). 256 and 128
wiper positions are 8- and 7-bit digital potentiometers (Dillavou et al., PR Applied 18, 014040
(2022) built their edges from digital potentiometers; the exact part is not assumed here), 32
levels a coarse memristive device. The diode spreads are assumptions of the order of
same-batch small-signal diodes (a few per cent in saturation current, ≈ 10 mV in forward
voltage). 0.1–5 mV rms spans a 16-bit DAQ (0.3 mV LSB over ±10 V) averaged or not, up to an
unshielded breadboard (an assumption, not a measurement).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.physics.quantization import snap_to_levels
from physnn.reality.base import Perturbation
from physnn.reality.elements import EdgeTolerance, NoiseLevel
from physnn.reality.levels import GapFamily
from physnn.systems.base import Controls, Nuisance, System


@dataclass(frozen=True)
class ConductanceTolerance(EdgeTolerance):
    """Each edge realizes G_e·(1 + δ_e), δ_e ~ N(0, sigma²), clipped at 1 % of G_e."""

    name = "conductance-tolerance"
    nuisance_keys = ("conductance_scale",)


@dataclass(frozen=True)
class DiodeSpread(Perturbation):
    """Per hidden node: diode conductance × (1 + N(0, sigma²)), threshold + N(0, threshold²)."""

    sigma: float
    threshold: float
    name = "diode-spread"
    nuisance_keys = ("diode_scale", "diode_offset")

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        n = len(system.hidden)  # type: ignore[attr-defined]
        scale = 1 + self.sigma * torch.randn(n, generator=generator, dtype=torch.float64)
        offset = self.threshold * torch.randn(n, generator=generator, dtype=torch.float64)
        return {**nuisance, "diode_scale": scale.clamp_min(0.01), "diode_offset": offset}


@dataclass(frozen=True)
class VoltmeterNoise(NoiseLevel):
    """White noise of rms ``sigma`` volts on every node-voltage reading."""

    name = "voltmeter-noise"
    nuisance_keys = ("voltmeter_noise",)


@dataclass(frozen=True)
class ProgrammingLevels(Perturbation):
    """Writes hold the nearest of ``levels`` equally spaced conductances in [low, high]."""

    levels: int
    low: float
    high: float
    name = "conductance-levels"

    def write(
        self,
        nuisance: Nuisance,
        held: Controls,
        previous: Controls,
        requested: Controls,
        generator: torch.Generator,
    ) -> Controls:
        g = snap_to_levels(requested["conductance"], self.low, self.high, self.levels, False)
        return {**requested, "conductance": g}


def _resistive_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    spec = system.control_specs()["conductance"]
    candidates = (
        (k["tolerance"], lambda: ConductanceTolerance(k["tolerance"])),
        (k["diode_spread"] or k["threshold_spread"],
         lambda: DiodeSpread(k["diode_spread"], k["threshold_spread"])),
        (k["voltmeter_noise"], lambda: VoltmeterNoise(k["voltmeter_noise"])),
        (k["levels"], lambda: ProgrammingLevels(int(k["levels"]), spec.low, spec.high)),
    )  # fmt: skip
    return tuple(make() for value, make in candidates if value)


_RESISTIVE_LEVELS = {
    "mild": {"tolerance": 0.01, "levels": 256, "diode_spread": 0.02, "threshold_spread": 0.005,
             "voltmeter_noise": 1e-4},
    "moderate": {"tolerance": 0.05, "levels": 128, "diode_spread": 0.05,
                 "threshold_spread": 0.01, "voltmeter_noise": 1e-3},
    "severe": {"tolerance": 0.2, "levels": 32, "diode_spread": 0.1, "threshold_spread": 0.02,
               "voltmeter_noise": 5e-3},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "tolerance": "relative rms error σ of every realized conductance",
        "levels": "conductance levels a write can hold (0: continuous)",
        "diode_spread": "relative rms spread σ of each node's diode conductance",
        "threshold_spread": "rms spread of each node's diode threshold, V",
        "voltmeter_noise": "rms noise of every node-voltage reading, V",
    },
    levels=_RESISTIVE_LEVELS,
    build=_resistive_perturbations,
)
