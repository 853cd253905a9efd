"""The cost models of the energy-based substrates (hopfield, xy, ising, resistive, elastic): one
hand-computed workload and bill per substrate, every value sourced, the paper presets present.

Each workload is counted by hand from the configuration of the substrate's tiny test network
(its query steps and static elements included); each bill is summed term by term from the
preset's values written out here (energies in J, times in s), so that a change of a formula or a
value fails a test. Where the configuration sets a count of static elements or steps, one test
changes a size and checks that the bill changes by the expected factor.
"""

from __future__ import annotations

import math

import pytest
from scipy.spatial import ConvexHull

import physnn.substrates.builtin  # noqa: F401  (registers the substrates and their costs)
from physnn.cost import A100, RunCounts, Workload, inference_bill, training_bill
from physnn.cost.bill import static_power
from physnn.cost.model import quantity_fields
from physnn.cost.runs import cost_model
from physnn.substrates import SUBSTRATES, SYSTEMS

ENERGY_BASED = ("hopfield", "xy", "ising", "resistive", "elastic")
E_FLOP = 400.0 / 156e12  # the A100's energy per FLOP (J), its datasheet TDP over peak rate
R_FLOP = 156e12  # the A100's FLOP/s

# The analog-electronic converter and memory assumptions shared by hopfield, xy and resistive.
DAC, ADC, MEMORY = 1e-12, 2e-12, 20e-12


def tiny(name: str, preset: str = "default", **extra):
    """The substrate's tiny test network (its record's options) at ``preset``."""
    return SYSTEMS[name].from_preset(preset, **{**SUBSTRATES[name].tiny, **extra})


def workload_of(name: str, system) -> Workload:
    return SUBSTRATES[name].cost.workload(system)


# ------------------------------------------------------------------------------ registration
@pytest.mark.parametrize("name", ENERGY_BASED)
def test_every_energy_substrate_registers_its_cost_with_sourced_presets(name):
    cost = SUBSTRATES[name].cost
    assert cost is not None and "default" in cost.presets
    for preset in cost.presets.values():
        for field in quantity_fields():
            source = preset.sources[field.name]
            assert isinstance(source, str) and source.strip(), (preset.name, field.name)
            assert getattr(preset, field.name) >= 0


def test_paper_presets_exist_where_the_paper_gives_figures():
    """The D-Wave figures price ``--preset laydevant2024``; the papers that give no hardware
    figures (simulations, or none confirmed) fall back to ``default``, by design."""
    assert cost_model("ising", "laydevant2024").name == "laydevant2024"
    assert cost_model("ising", "small").name == "default"
    for name, preset in [("hopfield", "scellier2017"), ("resistive", "dillavou2022"),
                         ("elastic", "stern2021")]:  # fmt: skip
        assert preset in SYSTEMS[name].presets
        assert cost_model(name, preset).name == "default"


def test_assumed_values_say_so():
    """Where no source gives a value, its source string starts with "assumed"."""
    hop = cost_model("hopfield", "default")
    assert hop.sources["operation_energy"].startswith("assumed")
    assert cost_model("xy", "default").sources["query_time"].startswith("assumed")
    assert cost_model("elastic", "default").sources["value_write_time"].startswith("assumed")
    assert cost_model("ising", "laydevant2024").sources["static_power"].startswith("assumed")
    assert "PNAS" in cost_model("resistive", "default").sources["operation_energy"]


# ------------------------------------------------------------------------------ hopfield
def test_hopfield_workload_by_hand():
    system = tiny("hopfield")  # 16 inputs, 8 hidden, 6 outputs; tolerance 1e-6, 1000 sweeps
    load = workload_of("hopfield", system)
    assert load.operations == 16 * 8 + 8 * 6
    assert (load.inputs, load.outputs) == (16, 6)
    assert load.controls == 16 * 8 + 8 * 6 + 8 + 6  # weights and biases
    sweeps = 150  # the typical sweeps to the tolerance, within the 1000 of the budget
    assert load.digital_flops == 2 * 16 * 8 + sweeps * 4 * (8 * 6)
    assert (load.query_steps, load.static_elements) == (1, 8 + 6)  # the amplifier neurons
    fixed = workload_of("hopfield", tiny("hopfield", "scellier2017"))  # 20 sweeps, no tolerance
    assert fixed.digital_flops == 2 * 16 * 8 + 20 * 4 * (8 * 6)


def test_hopfield_inference_bill_by_hand():
    load = workload_of("hopfield", tiny("hopfield"))
    model = cost_model("hopfield", "default")
    assert (model.operation_energy, model.query_time, model.static_power) == (1e-12, 1e-6, 20e-6)
    bill = inference_bill(load, model, A100)
    energy = (176 * 1e-12) + 16 * DAC + 6 * ADC + (16 + 6) * MEMORY + (8 + 6) * 20e-6 * 1e-6
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(1e-6, rel=1e-9)
    assert bill["digital_energy_J"] == pytest.approx(29056 * E_FLOP, rel=1e-9)


def test_hopfield_doubling_the_neurons_doubles_the_static_power():
    model = cost_model("hopfield", "default")
    counts = RunCounts(queries=100, writes=10, values_written=10 * 190, digital_flops=0)
    device_time = 100 * 1e-6 + 10 * 1e-3
    static = {}
    for hidden, neurons in ((8, 8 + 6), (22, 22 + 6)):  # 14 → 28 amplifier neurons
        load = workload_of("hopfield", tiny("hopfield", hidden_sizes=[hidden]))
        assert load.static_elements == neurons
        static[hidden] = training_bill(counts, load, model, A100)["energy_J"]["static"]
        assert static[hidden] == pytest.approx(neurons * 20e-6 * device_time, rel=1e-9)
    assert static[22] == pytest.approx(2 * static[8], rel=1e-12)
    default = workload_of("hopfield", SYSTEMS["hopfield"].from_preset("default"))
    assert static_power(default, model) == pytest.approx((32 + 10) * 20e-6, rel=1e-12)


# ------------------------------------------------------------------------------ xy
def test_xy_workload_by_hand():
    system = tiny("xy")  # 16 input, 8 hidden, 3 output oscillators; tolerance, 20000 steps
    load = workload_of("xy", system)
    steps = 3000  # typical steps to the tolerance, step size η = 1 relaxation time
    assert load.operations == (16 * 8 + 8 * 3) * steps  # every coupling over every τ
    assert (load.inputs, load.outputs) == (16, 2 * 3)  # (cos, sin) per output oscillator
    assert load.controls == 16 * 8 + 8 * 3 + 2 * (8 + 3)  # couplings, fields, pins
    assert load.digital_flops == 2 * 2 * 16 * 8 + steps * 4 * 2 * (8 * 3)
    assert (load.query_steps, load.static_elements) == (steps, 16 + 8 + 3)
    fixed = workload_of("xy", tiny("xy", tolerance=None, free_steps=500, step_size=0.5))
    assert fixed.query_steps == 500 * 0.5  # a fixed schedule of 500 half-τ steps
    assert fixed.operations == 152 * 500 * 0.5


def test_xy_inference_bill_by_hand():
    load = workload_of("xy", tiny("xy"))
    model = cost_model("xy", "default")
    assert model.query_time == pytest.approx(10e-9, rel=1e-12)  # τ
    assert model.operation_energy == pytest.approx(1e-6 * 10e-9, rel=1e-12)  # 1 µW over τ
    assert model.static_power == pytest.approx(100e-6, rel=1e-12)  # per oscillator
    query_time = 3000 * 10e-9  # relaxation times × τ
    bill = inference_bill(load, model, A100)
    energy = (
        152 * (1e-6 * query_time)  # couplings at 1 µW while the network locks
        + 16 * DAC
        + 6 * ADC
        + (16 + 6) * MEMORY
        + (16 + 8 + 3) * 100e-6 * query_time  # the 27 oscillators
    )
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(30e-6, rel=1e-9)
    assert bill["digital_latency_s"] == pytest.approx(576512 / R_FLOP, rel=1e-9)
    default = workload_of("xy", SYSTEMS["xy"].from_preset("default"))
    assert static_power(default, model) == pytest.approx(101 * 100e-6, rel=1e-12)  # 10.1 mW


def test_xy_doubling_the_oscillators_doubles_the_static_power():
    model = cost_model("xy", "default")
    static = {}
    for hidden in (8, 35):  # 16 + 8 + 3 = 27 → 16 + 35 + 3 = 54 oscillators
        load = workload_of("xy", tiny("xy", hidden_sizes=[hidden]))
        static[hidden] = static_power(load, model) * load.query_steps * model.query_time
    assert static[8] == pytest.approx(27 * 100e-6 * 30e-6, rel=1e-9)
    assert static[35] == pytest.approx(2 * static[8], rel=1e-12)
    latency = {n: inference_bill(workload_of("xy", tiny("xy", tolerance=None, free_steps=n)),
                                 model, A100)["latency_s"] for n in (400, 800)}  # fmt: skip
    assert latency[400] == pytest.approx(400 * 10e-9, rel=1e-12)
    assert latency[800] == pytest.approx(2 * latency[400], rel=1e-12)  # twice the steps


# ------------------------------------------------------------------------------ ising
def test_ising_workload_by_hand():
    system = tiny("ising")  # 16 inputs, 8 hidden, 6 outputs, 4 reads of 6 sweeps
    load = workload_of("ising", system)
    assert load.operations == 4 * (16 * 8 + 8 * 6)  # every coupler in every read
    assert (load.inputs, load.outputs) == (16, 6)
    assert load.controls == 16 * 8 + 8 * 6 + 8 + 6
    assert load.digital_flops == 2 * 16 * 8 + (4 * 6) * 4 * (8 * 6)
    # one query time per query and one machine: the reads stay inside query_time (docstring)
    assert (load.query_steps, load.static_elements) == (1, 1)


def test_ising_dwave_bills_by_hand():
    """A D-Wave query: programming plus 8 reads of 20 + 39.76 + 21.02 µs at 25 kW."""
    load = workload_of("ising", tiny("ising"))
    model = cost_model("ising", "laydevant2024")
    query_time = 15935.4e-6 + 8 * (20e-6 + 39.76e-6 + 21.02e-6)
    assert model.query_time == pytest.approx(query_time, rel=1e-12)
    bill = inference_bill(load, model, A100)
    assert bill["energy_J"] == pytest.approx(25e3 * query_time, rel=1e-9)  # ≈ 415 J
    assert bill["latency_s"] == pytest.approx(query_time, rel=1e-9)
    counts = RunCounts(queries=1000, writes=50, values_written=50 * 190, digital_flops=1e6)
    train = training_bill(counts, load, model, A100)
    assert train["energy_J"]["total"] == pytest.approx(
        1000 * 25e3 * query_time + 1e6 * E_FLOP, rel=1e-9
    )
    assert train["time_s"]["total"] == pytest.approx(1000 * query_time + 1e6 / R_FLOP, rel=1e-9)
    assert train["writes_per_control"] == pytest.approx(50.0, rel=1e-12)
    assert train["endurance_used"] == 0.0


# ------------------------------------------------------------------------------ resistive
def test_resistive_workload_by_hand():
    system = tiny("resistive")  # 8 inputs (± mirrored), 2 bias, 8 hidden, 10 outputs, diodes
    load = workload_of("resistive", system)
    edges = 16 * 8 + 8 * 10 + 2 * (8 + 10)  # inputs→hidden, hidden→outputs, bias→every later
    assert load.operations == edges == load.controls
    assert (load.inputs, load.outputs) == (2 * 8, 10)
    free = 8 + 10  # hidden and output nodes settle
    newton = 2 * (2 * free**3 / 3 + 2 * free**2)  # two Newton iterations with the diodes
    assert load.digital_flops == pytest.approx(2 * free**2 + newton, rel=1e-12)
    linear = workload_of("resistive", SYSTEMS["resistive"].from_preset("dillavou2022"))
    assert linear.operations == 16  # the paper's 16 variable resistors (ring and chords)
    assert linear.digital_flops == 2 * 5**2  # 3 hidden and 2 output nodes: triangular solves


def test_resistive_bills_by_hand():
    load = workload_of("resistive", tiny("resistive"))
    model = cost_model("resistive", "default")
    bill = inference_bill(load, model, A100)
    energy = 244 * 1e-12 + 16 * DAC + 10 * ADC + (16 + 10) * MEMORY + 10e-3 * 1e-6
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["digital_energy_J"] == pytest.approx(9720 * E_FLOP, rel=1e-9)
    counts = RunCounts(queries=3 * 64, writes=64, values_written=64 * 244, digital_flops=0)
    train = training_bill(counts, load, model, A100)
    per_query = 244 * 1e-12 + 16 * DAC + 10 * ADC + 26 * MEMORY
    device_time = 192 * 1e-6 + 64 * 1e-3
    total = (
        192 * per_query
        + 64 * 244 * (10e-12 + MEMORY)  # each value written and moved
        + 10e-3 * device_time
    )
    assert train["energy_J"]["total"] == pytest.approx(total, rel=1e-9)
    assert train["time_s"]["total"] == pytest.approx(device_time, rel=1e-9)


# ------------------------------------------------------------------------------ elastic
def test_elastic_workload_by_hand():
    system = tiny("elastic")  # 20 nodes, 3 source pairs, 3 target pairs, 2 pinned
    load = workload_of("elastic", system)
    hull = len(ConvexHull(system.points).vertices)
    springs = 3 * 20 - 3 - hull  # edges of a planar triangulation of 20 points
    assert load.operations == springs == load.controls
    assert (load.inputs, load.outputs) == (3, 3)
    coordinates = 2 * (20 - 2 * 3 - 2)  # free nodes in the plane
    assert load.digital_flops == pytest.approx(7 * (coordinates**3 / 3 + 2 * coordinates**2))
    assert load.digital_flops == pytest.approx(40320, rel=1e-12)


def test_elastic_inference_bill_by_hand():
    system = tiny("elastic")
    load = workload_of("elastic", system)
    model = cost_model("elastic", "default")
    spring = 0.5 * 100.0 * (0.01 * 0.05) ** 2  # ½ k (ε L)²
    assert spring == pytest.approx(12.5e-6, rel=1e-12)
    bill = inference_bill(load, model, A100)
    energy = load.operations * spring + 3 * 0.1 + 3 * 10e-3 + 6 * 20e-12 + 5.0 * 1.0
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(1.0, rel=1e-9)
    assert bill["advantage"] == pytest.approx(40320 * E_FLOP / energy, rel=1e-9)
    assert math.isinf(model.endurance)
