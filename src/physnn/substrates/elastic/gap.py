"""The reality gap of an elastic spring network (lengths in mean spring lengths, strains).

The twin computes with the written stiffnesses (or rest lengths) on the designed geometry; the
built network differs by

* **stiffness tolerance** — each spring realizes k_e·(1 + δ_e), δ_e ~ N(0, σ²) once per device
  (the width / thickness tolerance of a cut or printed bond, or of a tunable spring's setting);
* **rest-length error** — each spring's rest length is ℓ_e·(1 + δ_e), δ_e ~ N(0, σ²): it is cut
  slightly too long or short and the network is prestressed;
* **node-position jitter** — every node of the built network sits N(0, σ²) (per coordinate)
  away from its designed position, the springs cut to the built distances (no prestress, but
  another geometry, other source and target axes);
* **strain-gauge noise** — every length reading (the target strains, and every spring's
  extension in the local rule) carries white noise of rms σ (as a strain).

============================  =========  ==========  =========
perturbation                  mild       moderate    severe
============================  =========  ==========  =========
stiffness tolerance σ         2 %        5 %         15 %
rest-length error σ           0.1 %      0.5 %       2 %
node-position jitter σ        0.005      0.02        0.05
strain-gauge noise (rms)      1e-4       1e-3        5e-3
============================  =========  ==========  =========

Reasoning (assumptions of the order of the experiments, not measurements): the laser-cut and
3-D-printed networks of the Stern/Liu/Nagel experiments, and the tunable springs of Altman et
al., PRX 14, 021023 (2024), realize a bond's stiffness to a few per cent (a 5 % error in a
bond's width is 5 % in its stiffness) and worse for soft printed parts (severe). A rest-length
error of 0.5 % of a bond is ≈ 50 µm on a 1 cm bond — a laser cutter's kerf; 2 % a hand-built
network. Node jitter of 0.02 bond lengths is the same fabrication scale on the node positions.
Strains are read by tracking nodes in camera images: 0.1 px on a 100 px bond is 1e-3
(moderate), averaging many frames gives 1e-4, a single unaveraged frame with blur 5e-3. The
inputs strain sources by input_scale = 0.1, and outputs move by about 0.01–0.1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from physnn.reality.base import Perturbation
from physnn.reality.elements import EdgeTolerance, NoiseLevel
from physnn.reality.levels import GapFamily
from physnn.systems.base import Nuisance, System


@dataclass(frozen=True)
class StiffnessTolerance(EdgeTolerance):
    """Each spring realizes k_e·(1 + δ_e), δ_e ~ N(0, sigma²), clipped at 1 % of k_e."""

    name = "stiffness-tolerance"
    nuisance_keys = ("stiffness_scale",)


@dataclass(frozen=True)
class RestLengthError(EdgeTolerance):
    """Each spring's rest length is ℓ_e·(1 + δ_e), δ_e ~ N(0, sigma²) (a prestress)."""

    name = "rest-length-error"
    nuisance_keys = ("rest_length_scale",)


@dataclass(frozen=True)
class NodeJitter(Perturbation):
    """Every built node sits N(0, sigma²) per coordinate from its design (mean spring = 1)."""

    sigma: float
    name = "node-jitter"
    nuisance_keys = ("node_offset",)

    def perturb(self, system: System, nuisance: Nuisance, generator: torch.Generator) -> Nuisance:
        shape = (system.config.num_nodes, 2)
        offset = self.sigma * torch.randn(shape, generator=generator, dtype=torch.float64)
        return {**nuisance, "node_offset": offset}


@dataclass(frozen=True)
class GaugeNoise(NoiseLevel):
    """White noise of rms ``sigma`` (strain) on every length reading."""

    name = "gauge-noise"
    nuisance_keys = ("gauge_noise",)


def _elastic_perturbations(system: System, k: dict[str, float]) -> tuple[Perturbation, ...]:
    candidates = (
        (k["tolerance"], lambda: StiffnessTolerance(k["tolerance"])),
        (k["rest_length_error"], lambda: RestLengthError(k["rest_length_error"])),
        (k["node_jitter"], lambda: NodeJitter(k["node_jitter"])),
        (k["gauge_noise"], lambda: GaugeNoise(k["gauge_noise"])),
    )
    return tuple(make() for value, make in candidates if value)


_ELASTIC_LEVELS = {
    "mild": {"tolerance": 0.02, "rest_length_error": 0.001, "node_jitter": 0.005,
             "gauge_noise": 1e-4},
    "moderate": {"tolerance": 0.05, "rest_length_error": 0.005, "node_jitter": 0.02,
                 "gauge_noise": 1e-3},
    "severe": {"tolerance": 0.15, "rest_length_error": 0.02, "node_jitter": 0.05,
               "gauge_noise": 5e-3},
}  # fmt: skip

GAP_FAMILY = GapFamily(
    knobs={
        "tolerance": "relative rms error σ of every realized spring stiffness",
        "rest_length_error": "relative rms error σ of every spring's rest length",
        "node_jitter": "rms offset of every built node per coordinate, mean spring lengths",
        "gauge_noise": "rms noise of every strain reading",
    },
    levels=_ELASTIC_LEVELS,
    build=_elastic_perturbations,
)
