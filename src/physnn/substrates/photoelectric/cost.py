"""What a homodyne (photoelectric) optical MLP costs: photons per MAC, converters at every layer.

Workload of one query (layer sizes N_0, …, N_L: input, hidden layers, classes; n_l photons per
MAC of layer l):

* operations: the photons of the query, Σ_l n_l N_l N_{l+1} (``operation`` "photon"). Each of
  the Σ_l N_l N_{l+1} MACs is the charge that a balanced homodyne detector integrates from one
  input pulse and one weight pulse (Hamerly et al. 2019), and its energy is the light, n_l
  photons of energy hν (``operation_energy`` = h c / λ, one photon), so the
  ``detection_energy`` per output is zero: the detector's photons are already counted. n_l is
  the configuration's budget: ``photons_per_mac`` for homodyne layers (``DEFAULT_PHOTONS`` = 10
  where the design is noiseless, ``photons_per_mac`` None: a device needs light), and
  ``spd_photons_per_mac`` (ν) for the hidden layers of single-photon neurons, so the optical
  energy follows the configured budgets and layer sizes. Since the operations are photons, the
  inference bill's ``energy_per_operation_J`` (energy / operations) is the energy per *photon*
  of the whole query, converters and memory included — not per MAC: divide the energy by
  Σ_l N_l N_{l+1} (the ``controls``) for that;
* inputs (DAC conversions): every layer's input vector, Σ_{l<L} N_l values (the hidden
  activations are digitized, passed through the ReLU and re-encoded), *and* every weight,
  Σ_l N_l N_{l+1} values: the weights are streamed optically from memory at each query, which
  is what lets the network be reprogrammed on the fly. A scheme that reuses one weight stream
  for a batch of samples would divide this term by the batch size; that is not modelled here,
  so the converter and memory terms are upper bounds;
* outputs (ADC conversions): every homodyne reading, Σ_{l≥1} N_l; single-photon neurons
  (``neuron="single-photon"``) report a click, not an analog value, so their hidden layers add
  no ADC conversion;
* controls: the Σ_l N_l N_{l+1} weights, numbers in memory (a write costs one memory access);
* query steps: Σ_{l<L} N_l time slots — each layer integrates its N_l inputs in N_l slots, in
  sequence — each one ``query_time`` = 1/f at a symbol rate f; the paper's "gigahertz speeds"
  are taken as f = 1 GHz, a 1 ns slot;
* digital baseline: the same MLP on a digital processor, 2 FLOPs per MAC.

Photon energy: the configuration has no wavelength field. Hamerly et al. are priced at an
assumed λ = 1550 nm (telecom C band), where hν = 128 zJ. Their abstract puts the standard
quantum limit "as low as 50 zJ/MAC", i.e. about 0.4 photons per MAC at 1550 nm; the
``hamerly2019`` system preset runs at 1 photon per MAC (where, by its note, the MNIST network's
accuracy starts to drop), so its 128 zJ/MAC is the paper's scale, 2.6 × its bound.

Presets (one photon's energy, one slot's time; the photons and slots are the workload's):

* ``default`` — hν at an assumed 1550 nm; at its system preset, the 64-32-10 network,
  noiseless in simulation, is billed at ``DEFAULT_PHOTONS`` = 10 photons per MAC (ten times
  the hamerly2019 budget).
* ``hamerly2019`` — Hamerly et al., Phys. Rev. X 9, 021032 (2019), hν at 1550 nm: at its
  system preset, 784-100-100-10 at 1 photon per MAC, 1.28 × 10⁻¹⁹ J per MAC.
* ``ma2025`` — Ma et al., Nat. Commun. 16, 359 (2025), hν at 532 nm: at its system preset,
  784-400-10, single-photon hidden neurons at ν = 1 photon per MAC (at full scale) and a
  homodyne output layer at 10 photons per MAC. Their abstract reports 0.008 photons (0.003 aJ)
  per MAC, i.e. 0.375 aJ per photon: a wavelength near 530 nm, taken as 532 nm.

Converters, memory and static power are not given by these papers: assumed 1 pJ per 8-bit
conversion (DAC or ADC), 20 pJ per value moved from or to DRAM, and no idle power beyond the
light (marked so in each source).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from physnn.cost.components import CONVERTER_8BIT, DRAM_ACCESS, figure_sources, figure_values
from physnn.cost.model import CostModel, SubstrateCost, Workload
from physnn.cost.units import photon_energy
from physnn.substrates.photoelectric.system import PhotoelectricConfig, PhotoelectricMLP

FLOPS_PER_MAC = 2
TELECOM = 1550e-9  # m, assumed for Hamerly et al. 2019 and the default
VISIBLE = 532e-9  # m, from Ma et al. 2025's photons and attojoules per MAC
SYMBOL_RATE = 1e9  # Hz, Hamerly et al.'s "gigahertz speeds"
DEFAULT_PHOTONS = 10.0  # photons per MAC for the (noiseless) default design


def macs_per_layer(config: PhotoelectricConfig) -> list[int]:
    """N_l N_{l+1} for every layer."""
    return [fan_in * fan_out for fan_in, fan_out in pairwise(config.layer_sizes)]


def photons_per_layer(config: PhotoelectricConfig) -> list[float]:
    """n_l for every layer: single-photon hidden layers at their ν, homodyne layers at
    ``photons_per_mac`` (``DEFAULT_PHOTONS`` where the design is noiseless)."""
    homodyne = config.photons_per_mac or DEFAULT_PHOTONS
    hidden = config.spd_photons_per_mac if config.neuron == "single-photon" else homodyne
    return [hidden] * (len(config.layer_sizes) - 2) + [homodyne]


def workload(system: PhotoelectricMLP) -> Workload:
    """One query of ``system``: its photons, every layer input and weight encoded, one time
    slot per layer input (see above)."""
    c = system.config
    sizes, macs = c.layer_sizes, macs_per_layer(c)
    hidden = sizes[1:-1]
    digitized = c.num_classes + (sum(hidden) if c.neuron == "relu" else 0)
    photons = sum(n * m for n, m in zip(photons_per_layer(c), macs, strict=True))
    return Workload(
        operations=photons,
        inputs=sum(sizes[:-1]) + sum(macs),
        outputs=digitized,
        controls=sum(macs),
        digital_flops=FLOPS_PER_MAC * sum(macs),
        operation="photon",
        query_steps=sum(sizes[:-1]),
    )


_FIGURES = {
    "dac_energy": CONVERTER_8BIT,
    "adc_energy": CONVERTER_8BIT,
    "memory_energy": DRAM_ACCESS,
}
_COMMON: Mapping[str, Any] = {
    **figure_values(_FIGURES),
    "query_time": 1 / SYMBOL_RATE,
    "detection_energy": 0.0,
    "write_energy": 0.0,
    "write_time": 0.0,
    "value_write_time": 0.0,
    "static_power": 0.0,
}
_SOURCES = {
    **figure_sources(_FIGURES),
    "detection_energy": "0: the homodyne detector's photons are the operations (operation_energy)",
    "query_time": "assumed: 1 ns per time slot, a 1 GHz symbol rate (Hamerly et al. 2019: "
    "'gigahertz speeds'); the workload counts the slots, Σ N_l over the layers' inputs",
    "write_energy": "0: a weight is a number in memory; changing it costs one memory access",
    "write_time": "0: a new weight is streamed at the next query, no device settles",
    "value_write_time": "0: see write_time",
    "endurance": "inf: weights live in memory, not in a wearing device",
    "static_power": "assumed: 0 (no source gives the idle power; the light is billed per photon)",
}


def _model(preset: str, wavelength: float, reference: str, light: str) -> CostModel:
    """The cost model of system preset ``preset``: one photon's energy at ``wavelength``."""
    return CostModel(
        name=preset,
        reference=reference,
        operation_energy=photon_energy(wavelength),
        **_COMMON,
        sources={
            **_SOURCES,
            "operation_energy": f"hc/λ per photon at {light}; the workload counts the photons "
            "from the configured budgets (Σ_l photons per MAC × N_l N_l+1)",
        },
    )


HAMERLY = _model(
    "hamerly2019",
    TELECOM,
    "Hamerly et al., Phys. Rev. X 9, 021032 (2019): homodyne optical MLP at 1 photon per MAC",
    "λ = 1550 nm (assumed: telecom C band; the paper's SQL bound is 50 zJ/MAC)",
)
MA = _model(
    "ma2025",
    VISIBLE,
    "Ma et al., Nat. Commun. 16, 359 (2025): single-photon hidden neurons, homodyne output",
    "λ = 532 nm (derived: the abstract's 0.003 aJ per 0.008 photons is 0.375 aJ per photon)",
)
DEFAULT = _model(
    "default",
    TELECOM,
    "a homodyne MLP after Hamerly et al. 2019; a noiseless design is billed at 10 photons per MAC",
    "λ = 1550 nm (assumed: telecom C band)",
)

COST = SubstrateCost(
    workload=workload,
    presets={"default": DEFAULT, "hamerly2019": HAMERLY, "ma2025": MA},
)
