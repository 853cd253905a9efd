"""Cost models of the photonic substrates (mzi, photoelectric, scattering, waveguide, resonators).

Each substrate gets one hand-computed case: the workload of a small system counted from its
configuration (its query steps and static elements included), and the energy (J) and time (s) of
an inference or a training bill summed term by term from the figures its docstring cites —
written out here as literal numbers, so that a change in the cost module's constants or formulas
makes these tests fail. Where a count comes from the configuration (heaters, tuners, photons,
time slots), one test changes a size and checks that the bill changes by the expected factor.
"""

from __future__ import annotations

import math

import pytest

import physnn.substrates.builtin  # noqa: F401  (registers the substrates)
from physnn.cost import A100, RunCounts, components, inference_bill, training_bill
from physnn.cost.bill import physical_energy
from physnn.cost.model import quantity_fields
from physnn.cost.runs import cost_model
from physnn.substrates import SUBSTRATES
from physnn.substrates.mzi.cost import COST as MZI_COST
from physnn.substrates.photoelectric.cost import COST as PHOTOELECTRIC_COST
from physnn.substrates.resonators.cost import COST as RESONATORS_COST
from physnn.substrates.scattering.cost import COST as SCATTERING_COST
from physnn.substrates.waveguide.cost import COST as WAVEGUIDE_COST
from physnn.systems import SYSTEMS

H, C = 6.62607015e-34, 299_792_458.0  # J s, m/s (exact)
PHOTON_1550 = H * C / 1550e-9  # J
PHOTON_532 = H * C / 532e-9  # J
A100_J_PER_FLOP = 400.0 / 156e12
P_PI = 24.77e-3  # W (Harris et al. 2014)
TAU = 1 / (2 * math.pi * 130e3)  # s (Harris et al. 2014's 130 kHz bandwidth)

COSTS = {
    "mzi": MZI_COST,
    "photoelectric": PHOTOELECTRIC_COST,
    "scattering": SCATTERING_COST,
    "waveguide": WAVEGUIDE_COST,
    "resonators": RESONATORS_COST,
}
PAPER_PRESETS = {
    "mzi": {"shen2017"},
    "photoelectric": {"hamerly2019", "ma2025"},
    "scattering": {"launay2020"},
    "waveguide": set(),  # Onodera et al. 2024 state no energy or time
    "resonators": {"wanjura2024"},  # a theory: assumed figures, its own tuner count
}


def build(name: str, preset: str = "default", **options):
    return SYSTEMS[name].from_preset(preset, **options)


def described(workload) -> tuple:
    return (
        workload.operations,
        workload.inputs,
        workload.outputs,
        workload.controls,
        workload.digital_flops,
    )


def steps_and_elements(workload) -> tuple:
    return (workload.query_steps, workload.static_elements)


# ------------------------------------------------------------------------- every substrate
@pytest.mark.parametrize("name", sorted(COSTS))
def test_the_substrate_registers_its_cost_model(name):
    assert SUBSTRATES[name].cost is COSTS[name]


@pytest.mark.parametrize("name", sorted(COSTS))
def test_every_preset_gives_a_source_for_every_parameter(name):
    for preset, model in COSTS[name].presets.items():
        assert model.name == preset
        assert model.reference
        for f in quantity_fields():
            source = model.sources[f.name]
            assert isinstance(source, str) and source.strip(), (name, preset, f.name)


@pytest.mark.parametrize("name", sorted(COSTS))
def test_paper_presets_are_named_like_the_system_presets(name):
    presets = set(COSTS[name].presets)
    assert presets == {"default"} | PAPER_PRESETS[name]
    assert presets <= set(SYSTEMS[name].presets)
    for system_preset in SYSTEMS[name].presets:
        expected = system_preset if system_preset in presets else "default"
        assert cost_model(name, system_preset) is COSTS[name].presets[expected]


def test_a_shared_part_brings_its_value_with_its_source():
    """A preset whose source is a shared part's (:mod:`physnn.cost.components`, a note added
    or not) has that part's value: a figure and its source are never taken apart."""
    parts = [f for f in vars(components).values() if isinstance(f, components.Figure)]
    units = {f.name: f.metadata["unit"] for f in quantity_fields()}
    used = set()
    for substrate in sorted(SUBSTRATES):
        cost = SUBSTRATES[substrate].cost
        for model in cost.presets.values() if cost else []:
            for name, unit in units.items():
                for part in parts:
                    if part.unit == unit and model.sources[name].startswith(part.source):
                        assert getattr(model, name) == part.value, (substrate, model.name, name)
                        used.add(part.source)
    assert components.DRAM_ACCESS.source in used and components.HEATER_WRITE_TIME.source in used
    assert components.HEATER_WRITE_ENERGY.value == pytest.approx(P_PI * TAU, rel=1e-12)


# ------------------------------------------------------------------------------------- mzi
def test_mzi_workload_by_hand():
    unitary = build("mzi", modes=4, num_classes=4)  # M = 4·3/2 = 6 MZIs
    work = MZI_COST.workload(unitary)
    assert described(work) == (4**2, 4, 4, 2 * 6 + 4, 8 * 4**2 + 3 * 4)
    assert steps_and_elements(work) == (1, 2 * 6 + 4)  # one pass; a heater per phase
    svd = build(
        "mzi", modes=4, num_layers=2, architecture="svd", detection="homodyne", readout="all"
    )
    controls = 2 * 2 * (2 * 6 + 4) + 2 * 4  # L K (2M + N) + L N attenuators
    work = MZI_COST.workload(svd)
    assert described(work) == (2 * 4**2, 4, 2 * 4, controls, 8 * 2 * 4**2)
    assert steps_and_elements(work) == (1, controls)  # every control is a heater


def test_mzi_heaters_hold_their_phase_as_static_power():
    for model in MZI_COST.presets.values():  # P_π per heater, whatever the mesh
        assert model.static_power == pytest.approx(P_PI, rel=1e-9)
        assert model.write_energy == pytest.approx(P_PI * TAU, rel=1e-9)
        assert model.write_time == pytest.approx(TAU * math.log(100), rel=1e-9)
    assert MZI_COST.workload(build("mzi")).static_elements == 2 * 120 + 16  # 16-mode Clements
    assert MZI_COST.workload(build("mzi", "shen2017")).static_elements == 72


def test_mzi_shen2017_inference_by_hand():
    system = build("mzi", "shen2017")  # 4 modes, 2 SVD layers, 4 photodiodes
    work = MZI_COST.workload(system)
    assert described(work) == (2 * 16, 4, 4, 72, 8 * 2 * 16 + 3 * 4)
    bill = inference_bill(work, MZI_COST.presets["shen2017"], A100)
    energy = (
        4 * 1e4 * PHOTON_1550  # detection
        + 4 * 1e-12  # DACs
        + 4 * 1e-12  # ADCs
        + (4 + 4) * 20e-12  # memory
        + 72 * P_PI * 1e-9  # 72 heaters (2 · 2 · (2 · 6 + 4) + 2 · 4) held for one 1 ns query
    )
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(1e-9, rel=1e-9)
    assert bill["digital_energy_J"] == pytest.approx(268 * A100_J_PER_FLOP, rel=1e-9)


def test_mzi_doubling_the_layers_doubles_the_heaters_static_power():
    model = MZI_COST.presets["default"]
    counts = RunCounts(queries=1000, writes=10, values_written=10 * 32, digital_flops=0)
    device_time = 1000 * 1e-9 + 10 * TAU * math.log(100)  # queries and writes
    static = {}
    for layers in (1, 2):  # 4-mode unitary meshes: H = L (2 · 6 + 4) heaters
        work = MZI_COST.workload(build("mzi", modes=4, num_classes=4, num_layers=layers))
        assert work.static_elements == layers * 16
        static[layers] = training_bill(counts, work, model, A100)["energy_J"]["static"]
        assert static[layers] == pytest.approx(layers * 16 * P_PI * device_time, rel=1e-9)
    assert static[2] == pytest.approx(2 * static[1], rel=1e-12)


# --------------------------------------------------------------------------- photoelectric
def test_photoelectric_workload_by_hand():
    relu = build("photoelectric", hidden_sizes=[16])  # 64-16-10, noiseless: 10 photons per MAC
    macs = 64 * 16 + 16 * 10
    work = PHOTOELECTRIC_COST.workload(relu)
    assert work.operation == "photon"
    assert described(work) == (
        10 * macs,  # photons
        (64 + 16) + macs,  # every layer's inputs and every weight, encoded per query
        16 + 10,  # every homodyne reading
        macs,
        2 * macs,
    )
    assert steps_and_elements(work) == (64 + 16, 1)  # one time slot per layer input
    clicks = build("photoelectric", hidden_sizes=[16], neuron="single-photon")
    work = PHOTOELECTRIC_COST.workload(clicks)
    assert work.outputs == 10  # clicks need no ADC
    assert work.operations == 1.0 * 64 * 16 + 10 * 16 * 10  # ν = 1 hidden, 10 homodyne


def test_photoelectric_presets_price_one_photon_at_the_papers_scale():
    for name, wavelength_photon in [("default", PHOTON_1550), ("hamerly2019", PHOTON_1550),
                                    ("ma2025", PHOTON_532)]:  # fmt: skip
        model = PHOTOELECTRIC_COST.presets[name]
        assert model.operation_energy == pytest.approx(wavelength_photon, rel=1e-9)
        assert model.query_time == pytest.approx(1e-9, rel=1e-9)  # one slot at 1 GHz
    assert 50e-21 < PHOTON_1550 < 3 * 50e-21  # 128 zJ per MAC at 1 photon vs. the 50 zJ bound
    hamerly = PHOTOELECTRIC_COST.workload(build("photoelectric", "hamerly2019"))
    assert hamerly.operations == 1.0 * (784 * 100 + 100 * 100 + 100 * 10)
    assert hamerly.query_steps == 784 + 100 + 100
    ma = PHOTOELECTRIC_COST.workload(build("photoelectric", "ma2025"))
    assert ma.operations == 784 * 400 * 1.0 + 400 * 10 * 10.0  # ν = 1 hidden, 10 at the output
    assert ma.query_steps == 784 + 400


def test_photoelectric_hamerly2019_inference_by_hand():
    work = PHOTOELECTRIC_COST.workload(build("photoelectric", "hamerly2019"))
    macs = 784 * 100 + 100 * 100 + 100 * 10
    inputs, outputs = (784 + 100 + 100) + macs, 100 + 100 + 10
    assert described(work) == (1.0 * macs, inputs, outputs, macs, 2 * macs)
    bill = inference_bill(work, PHOTOELECTRIC_COST.presets["hamerly2019"], A100)
    energy = (
        macs * 1 * PHOTON_1550  # one photon per MAC
        + inputs * 1e-12  # DACs
        + outputs * 1e-12  # ADCs
        + (inputs + outputs) * 20e-12  # memory
    )
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx((784 + 100 + 100) * 1e-9, rel=1e-9)
    # the operations are photons: energy per operation is energy per photon (here 1 per MAC)
    assert bill["energy_per_operation_J"] == pytest.approx(energy / macs, rel=1e-9)


def test_photoelectric_doubling_photons_per_mac_doubles_the_optical_energy():
    model = PHOTOELECTRIC_COST.presets["hamerly2019"]
    macs = 784 * 100 + 100 * 100 + 100 * 10
    light = {}
    for photons in (1.0, 2.0):
        work = PHOTOELECTRIC_COST.workload(
            build("photoelectric", "hamerly2019", photons_per_mac=photons)
        )
        light[photons] = physical_energy(work, model)
        assert light[photons] == pytest.approx(photons * macs * PHOTON_1550, rel=1e-9)
        assert work.query_steps == 784 + 100 + 100  # the time slots do not change
    assert light[2.0] == pytest.approx(2 * light[1.0], rel=1e-12)
    spd = {}  # ma2025: doubling ν doubles the hidden layer's light only
    for nu in (1.0, 2.0):
        work = PHOTOELECTRIC_COST.workload(build("photoelectric", "ma2025", spd_photons_per_mac=nu))
        spd[nu] = physical_energy(work, PHOTOELECTRIC_COST.presets["ma2025"])
    assert spd[2.0] - spd[1.0] == pytest.approx(784 * 400 * 1.0 * PHOTON_532, rel=1e-9)


# ------------------------------------------------------------------------------ scattering
def test_scattering_workload_and_training_by_hand():
    work = SCATTERING_COST.workload(build("scattering", num_inputs=16, num_pixels=32))
    assert described(work) == (16 * 32, 16, 32, 16, 8 * 16 * 32 + 2 * 16 + 3 * 32)
    model = SCATTERING_COST.presets["launay2020"]
    frame = 1e12 / 1500e12  # s: a 10⁶ × 10⁶ projection at 1500 TOPS
    inference = inference_bill(work, model, A100)
    assert inference["energy_J"] == pytest.approx(30.0 * frame + 48 * 20e-12, rel=1e-9)
    assert inference["latency_s"] == pytest.approx(frame, rel=1e-9)

    counts = RunCounts(queries=100, writes=10, values_written=160, digital_flops=1e6)
    bill = training_bill(counts, work, model, A100)
    device_time = 100 * frame + 10 / 60
    energy = (
        (100 * 48 + 160) * 20e-12  # memory: inputs and outputs, then the values written
        + 160 * 25e-9  # SLM pixels written
        + 30.0 * device_time  # the OPU's power over the queries and the writes
        + 1e6 * A100_J_PER_FLOP
    )
    assert bill["energy_J"]["total"] == pytest.approx(energy, rel=1e-9)
    assert bill["time_s"]["total"] == pytest.approx(device_time + 1e6 / 156e12, rel=1e-9)
    assert bill["writes_per_control"] == pytest.approx(160 / 16, rel=1e-9)


# ------------------------------------------------------------------------------- waveguide
def test_waveguide_workload_and_inference_by_hand():
    system = build("waveguide", **SUBSTRATES["waveguide"].tiny)  # N_x 64, N_z 8, K 16, C 10
    work = WAVEGUIDE_COST.workload(system)
    digital = (
        (8 + 1) * (2 * 5 * 64 * 6 + 6 * 64)  # diffraction steps (log₂ 64 = 6)
        + 8 * 6 * 64  # index products
        + 4 * 16 * 64  # input spots
        + 3 * 64  # |E|²
        + 2 * 10 * 64  # detector windows
    )
    assert described(work) == (16 * 10, 16, 10, 4 * 6, digital)
    bill = inference_bill(work, WAVEGUIDE_COST.presets["default"], A100)
    energy = 10 * 1e4 * PHOTON_1550 + 16 * 1e-9 + 10 * 1e-9 + (16 + 10) * 20e-12 + 5.0 * 1e-3
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(1e-3, rel=1e-9)


# ------------------------------------------------------------------------------ resonators
def test_resonators_workload_and_inference_by_hand():
    system = build("resonators", num_inputs=9, num_hidden=3, num_ports=4)  # N = 16
    work = RESONATORS_COST.workload(system)
    couplings = 9 * 3 + 3 * 4
    digital = 8 / 3 * 16**3 + 8 * 16**2 * 4
    assert work.operation == "coupling"
    assert described(work) == pytest.approx((couplings, 9, 2 * 4, 16 + couplings, digital))
    assert steps_and_elements(work) == (1, 16 + couplings)  # every detuning and coupling tuned
    model = RESONATORS_COST.presets["default"]
    assert model.static_power == pytest.approx(P_PI / 2, rel=1e-9)  # per tuner
    bill = inference_bill(work, model, A100)
    static = (16 + couplings) * P_PI / 2  # this network's 55 tuners, half a π step each
    energy = 8 * 1e4 * PHOTON_1550 + 9 * 1e-12 + 8 * 1e-12 + 17 * 20e-12 + static * 10e-9
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(10e-9, rel=1e-9)
    wanjura = RESONATORS_COST.workload(build("resonators", "wanjura2024"))
    assert wanjura.static_elements == (64 + 80 + 10) + (64 * 80 + 80 * 10)
    assert RESONATORS_COST.workload(build("resonators")).static_elements == (64 + 10) + 64 * 10


def test_resonators_more_ports_add_their_tuners_static_power():
    model = RESONATORS_COST.presets["default"]
    counts = RunCounts(queries=100, writes=4, values_written=4 * 10, digital_flops=0)
    device_time = 100 * 10e-9 + 4 * TAU * math.log(100)
    static = {}
    for ports in (4, 8):  # 9 inputs, 3 hidden: N + E = (9 + 3 + P) + (9 · 3 + 3 P)
        work = RESONATORS_COST.workload(
            build("resonators", num_inputs=9, num_hidden=3, num_ports=ports)
        )
        static[ports] = training_bill(counts, work, model, A100)["energy_J"]["static"]
    assert static[4] == pytest.approx(55 * P_PI / 2 * device_time, rel=1e-9)
    assert static[8] == pytest.approx(71 * P_PI / 2 * device_time, rel=1e-9)
    assert static[8] / static[4] == pytest.approx(71 / 55, rel=1e-12)
