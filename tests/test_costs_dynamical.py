"""The cost models of the dynamical substrates (shg, fibre, wave, oscillators, reservoir): one
query's workload counted by hand from the configuration (its query steps included), one bill per
substrate summed by hand from its cited (or marked) parameters, and, where the configuration or
the sample sets a count, a bill that changes by the expected factor when that size changes."""

from __future__ import annotations

import math

import pytest

import physnn.substrates.builtin  # noqa: F401  (registers the substrates)
from physnn.cost import A100, RunCounts, Workload, inference_bill, training_bill
from physnn.cost.bill import physical_energy
from physnn.cost.model import quantity_fields
from physnn.cost.runs import workload as run_workload
from physnn.substrates import SUBSTRATES

DYNAMICAL = ("shg", "fibre", "wave", "oscillators", "reservoir")
PLANCK, LIGHT = 6.62607015e-34, 299_792_458.0
J_PER_FLOP, FLOP_PER_S = 400 / 156e12, 156e12  # the A100 of the bill


def tiny(name: str, **options):
    record = SUBSTRATES[name]
    return record.system.from_preset("default", **{**record.tiny, **options})


def workload(name: str, system, *values) -> Workload:
    return SUBSTRATES[name].cost.workload(system, *values)


def preset(name: str, system_preset: str):
    return SUBSTRATES[name].system.from_preset(system_preset)


def counts(w: Workload) -> tuple:
    return (w.operations, w.inputs, w.outputs, w.controls, w.digital_flops)


@pytest.mark.parametrize("name", DYNAMICAL)
def test_every_system_preset_has_its_cost_preset_with_every_source(name):
    record = SUBSTRATES[name]
    assert set(record.system.presets) <= set(record.cost.presets)
    for preset in record.system.presets:
        model = record.cost.for_system_preset(preset)
        assert model.name == preset
        assert model.query_time > 0
        for f in quantity_fields():
            assert model.sources[f.name].strip(), (preset, f.name)
            if model.sources[f.name].startswith("assumed"):
                assert ":" in model.sources[f.name]  # "assumed: <value and reason>"


def test_shg_workload_by_hand():
    system = tiny("shg")  # 16 + 16 pixels, 16 bands, 3 crystal steps, 1 bin per pixel
    n = 2 * (16 + 16) * 1  # 64 spectral grid points, log2 = 6
    fft = 5 * n * 6
    per_step = 4 * fft + (4 * 6 + 4 * 16 + 52) * n
    flops = 3 * per_step + 4 * fft + (6 + 4 + 1) * n + 16
    assert flops == 58320
    assert counts(workload("shg", system)) == (1, 16, 16, 16, flops)
    amplitude = tiny("shg", trainable_amplitude=True)
    assert workload("shg", amplitude).controls == 2 * 16


def test_shg_inference_bill_by_hand():
    w = workload("shg", tiny("shg"))
    model = SUBSTRATES["shg"].cost.presets["wright2022"]
    detection = 1e4 * PLANCK * LIGHT / 400e-9 / 1e-3  # 1e4 SH photons per band / 0.1 %
    query_time = 1 / 60 + 1e-3
    energy = 16 * detection + 16 * 1e-9 + (16 + 16) * 20e-12 + 17.5 * query_time
    bill = inference_bill(w, model, A100)
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(query_time, rel=1e-9)
    assert bill["digital_energy_J"] == pytest.approx(58320 * J_PER_FLOP, rel=1e-9)


def photons(peak_power: float, pulse_width: float = 1.0) -> float:
    """E0 / hν of a launched pulse: P0 T0 √π (W × ps → pJ → J) at 1030 nm."""
    return peak_power * pulse_width * 1e-12 * math.sqrt(math.pi) / (PLANCK * LIGHT / 1030e-9)


def test_fibre_workload_by_hand():
    system = tiny("fibre")  # 2 groups: 3 modes; 9 + 8 pixels; 6 steps; 4 times; 3 × 3 camera
    m, t = 3, 4
    linear = 2 * (2 * 5 * t * 2 * m + 8 * t * m**2)  # log2(4) = 2
    kerr = 4 * t * (8 * m**4 + 14 * m**2 + 2 * m)
    camera = 6 * t * m + 8 * t * m * 9 + 4 * t * 9
    flops = 8 * m * (9 + 8) + 6 * (linear + kerr + 26 * t * m) + camera
    assert flops == 84576
    w = workload("fibre", system)
    assert w.operation == "photon"
    assert counts(w) == pytest.approx((photons(2000.0), 9, 9, 8, flops), rel=1e-12)
    assert (w.query_steps, w.static_elements) == (1, 1)
    modes = tiny("fibre", output="modes")
    assert workload("fibre", modes).digital_flops == flops - camera + 4 * t * m
    assert workload("fibre", modes).outputs == m


def test_fibre_inference_bill_by_hand():
    w = workload("fibre", preset("fibre", "oguz2024"))  # P0 = 8 kW, T0 = 1 ps
    model = SUBSTRATES["fibre"].cost.presets["oguz2024"]
    photon = PLANCK * LIGHT / 1030e-9
    assert model.operation_energy == pytest.approx(photon, rel=1e-12)
    pulse = 8000.0 * 1e-12 * math.sqrt(math.pi)  # P0 T0 √π of the oguz2024 preset
    assert w.operations * photon == pytest.approx(14.18e-9, rel=1e-3)
    query_time = 1 / 60 + 1e-3
    outputs = 10 * 10  # the 10 × 10 camera
    energy = pulse + outputs * 1e-9 + (196 + outputs) * 20e-12 + 27.5 * query_time
    bill = inference_bill(w, model, A100)
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(query_time, rel=1e-9)
    default = SUBSTRATES["fibre"].cost.presets["default"]
    assert default.operation_energy == model.operation_energy  # the same laser
    w = workload("fibre", preset("fibre", "default"))  # P0 = 6 kW
    assert physical_energy(w, default) == pytest.approx(6000.0e-12 * math.sqrt(math.pi), rel=1e-9)


def test_fibre_doubling_the_peak_power_doubles_the_pulse_energy():
    model = SUBSTRATES["fibre"].cost.presets["oguz2024"]
    light = {}
    for power in (2000.0, 4000.0):  # 8 split steps keep γ P0 L / s ≤ 0.5 rad
        w = workload("fibre", tiny("fibre", peak_power=power, num_steps=8))
        light[power] = physical_energy(w, model)
        assert light[power] == pytest.approx(power * 1e-12 * math.sqrt(math.pi), rel=1e-9)
    assert light[4000.0] == pytest.approx(2 * light[2000.0], rel=1e-12)


def test_wave_workload_by_hand():
    system = tiny("wave")  # 14 × 16 grid, 10 probes; design x 5…8, y 2…13: 4 × 12 cells
    steps = 20 * 1  # a 20-value sample, hold 1
    flops = 3 * 20 + steps * (8 * 14 * 16 + 1 + 2 * 10)
    assert flops == 36320
    w = workload("wave", system, 20)
    assert counts(w) == (14 * 16 * 20, 20, 10, 48, flops)
    assert (w.query_steps, w.static_elements) == (steps, 1)
    nonlinear = tiny("wave", kerr=0.1, saturable=0.2)
    assert workload("wave", nonlinear, 20).digital_flops == flops + 20 * 48 * 12
    assert SUBSTRATES["wave"].cost.per_sample_values
    digits = run_workload("wave", system)  # a run's default sample: 64 values (8 × 8 digits)
    assert (digits.operations, digits.query_steps) == (14 * 16 * 64, 64)


def test_wave_inference_bill_by_hand():
    w = workload("wave", tiny("wave"), 20)
    presets = SUBSTRATES["wave"].cost.presets
    for model in presets.values():
        assert model.query_time == pytest.approx(1 / 10_000, rel=1e-12)  # one audio step
    query_time = 20 * 1 / 10_000  # 20 values × hold 1 at 10 kHz
    energy = 20 * 100e-9 + 10 * 100e-9 + (20 + 10) * 20e-12 + 1.0 * query_time
    bill = inference_bill(w, presets["hughes2019"], A100, readout_flops=30)
    assert bill["energy_J"] == pytest.approx(energy + 30 * J_PER_FLOP, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(query_time + 30 / FLOP_PER_S, rel=1e-9)
    assert presets["hughes2019"].endurance == 1  # a fabricated medium cannot be retrained
    digits = run_workload("wave", preset("wave", "default"))  # 64 values × hold 4
    bill = inference_bill(digits, presets["default"], A100)
    assert bill["latency_s"] == pytest.approx(64 * 4 / 10_000, rel=1e-12)  # 25.6 ms
    vowel = workload("wave", preset("wave", "hughes2019"), 1000)  # 0.1 s at 10 kHz, hold 1
    assert inference_bill(vowel, presets["hughes2019"], A100)["latency_s"] == pytest.approx(0.1)


def test_wave_doubling_the_sample_length_doubles_the_query_time():
    model = SUBSTRATES["wave"].cost.presets["default"]
    system = tiny("wave", hold=2)
    latency = {n: inference_bill(workload("wave", system, n), model, A100)["latency_s"]
               for n in (20, 40)}  # fmt: skip
    assert latency[20] == pytest.approx(20 * 2 / 10_000, rel=1e-12)
    assert latency[40] == pytest.approx(2 * latency[20], rel=1e-12)


def test_oscillators_workload_by_hand():
    system = tiny("oscillators")  # 9 Duffing oscillators, 20 steps, undamped
    acceleration = 9 * (5 + 1 + 1 + 2) + 2 * 8
    flops = 2 * 9 + 20 * (4 * acceleration + 24 * 9)
    assert flops == 12098
    assert counts(workload("oscillators", system)) == (9 * 20, 9, 9, 3 * 9 - 1, flops)
    pendulum = tiny("oscillators", kind="pendulum", damping=0.1, num_samples=2)
    acceleration = 9 * (2 + 1 + 1 + 2 + 2) + 2 * 8
    w = workload("oscillators", pendulum)
    assert (w.outputs, w.digital_flops) == (18, 2 * 9 + 20 * (4 * acceleration + 24 * 9))


def test_oscillators_query_steps_are_the_evolution_and_the_ring_down():
    assert workload("oscillators", tiny("oscillators")).query_steps == 2.0  # T; undamped
    damped = workload("oscillators", tiny("oscillators", damping=0.1))
    assert damped.query_steps == pytest.approx(2.0 + 5 / 0.1, rel=1e-12)
    model = SUBSTRATES["oscillators"].cost.presets["wright2022"]
    assert model.query_time == pytest.approx(1 / (2 * math.pi * 1000), rel=1e-12)  # 1/ω0
    w = workload("oscillators", preset("oscillators", "wright2022"))  # T = 10, γ = 0.1
    bill = inference_bill(w, model, A100)
    assert bill["latency_s"] == pytest.approx((10 + 50) / (2 * math.pi * 1000), rel=1e-12)
    assert bill["latency_s"] == pytest.approx(9.55e-3, rel=1e-3)
    w = workload("oscillators", preset("oscillators", "default"))  # T = 6, γ = 0.1
    latency = inference_bill(w, SUBSTRATES["oscillators"].cost.presets["default"], A100)
    assert latency["latency_s"] == pytest.approx((6 + 50) / (2 * math.pi * 1000), rel=1e-12)


def test_oscillators_training_bill_by_hand():
    w = workload("oscillators", tiny("oscillators"))
    model = SUBSTRATES["oscillators"].cost.presets["wright2022"]
    query_time = 2.0 / (2 * math.pi * 1000)  # T = 2 of the tiny chain (undamped), f0 = 1 kHz
    run = RunCounts(queries=100, writes=5, values_written=130, digital_flops=1e6)
    bill = training_bill(run, w, model, A100)
    device_time = 100 * query_time + 5 * 1e-3
    energy = (
        100 * (9 * 100e-9 + 9 * 100e-9)  # conversions
        + (100 * (9 + 9) + 130) * 20e-12  # memory
        + 130 * 100e-9  # writes
        + 1.0 * device_time  # static
        + 1e6 * J_PER_FLOP  # digital
    )
    assert bill["energy_J"]["total"] == pytest.approx(energy, rel=1e-9)
    assert bill["time_s"]["total"] == pytest.approx(device_time + 1e6 / FLOP_PER_S, rel=1e-9)
    assert bill["writes_per_control"] == pytest.approx(130 / 26, rel=1e-12)
    assert bill["endurance_used"] == 0.0


def test_oscillators_doubling_the_duration_doubles_the_query_time():
    model = SUBSTRATES["oscillators"].cost.presets["default"]
    latency = {}
    for duration, steps in ((2.0, 20), (4.0, 40)):  # undamped: no ring-down
        w = workload("oscillators", tiny("oscillators", duration=duration, num_steps=steps))
        latency[duration] = inference_bill(w, model, A100)["latency_s"]
    assert latency[2.0] == pytest.approx(2.0 / (2 * math.pi * 1000), rel=1e-12)
    assert latency[4.0] == pytest.approx(2 * latency[2.0], rel=1e-12)


def test_reservoir_workload_by_hand():
    system = tiny("reservoir")  # 10 sin² virtual nodes, 2 snapshots, hold 1, θ = 0.5
    w = workload("reservoir", system, 64)
    assert counts(w) == (64 * 10, 64 * 10, 20, 3, 64 * 10 * 9)
    assert (w.query_steps, w.static_elements) == (64 * 10 * 0.5, 1)  # T N θ node times
    glass = tiny("reservoir", nonlinearity="mackey-glass", readout="window-power", hold=2)
    w = workload("reservoir", glass, 12)
    steps = 12 * 2
    assert counts(w) == (steps * 10, steps * 10, 20, 3, steps * 10 * (4 + 4 + 3 + 2))
    assert w.query_steps == steps * 10 * 0.5
    esn = tiny("reservoir", kind="esn", density=1.0)  # every recurrent weight non-zero
    w = workload("reservoir", esn, 64)
    flops = 64 * (10 * 8 + 2 * 10 * 10)
    assert counts(w) == (flops, 64, 20, 3, flops)  # the device is the digital processor
    assert w.query_steps == flops
    assert SUBSTRATES["reservoir"].cost.per_sample_values


def test_reservoir_inference_bill_by_hand():
    presets = SUBSTRATES["reservoir"].cost.presets
    assert presets["larger2012"].query_time == presets["default"].query_time == 100e-9
    larger = workload("reservoir", preset("reservoir", "larger2012"), 64)
    latency = inference_bill(larger, presets["larger2012"], A100)["latency_s"]
    assert latency == pytest.approx(64 * 400 * 0.5 * 100e-9, rel=1e-12)  # 1.28 ms
    default = workload("reservoir", preset("reservoir", "default"), 64)
    latency = inference_bill(default, presets["default"], A100)["latency_s"]
    assert latency == pytest.approx(64 * 50 * 0.5 * 100e-9, rel=1e-12)  # 160 µs
    w = workload("reservoir", preset("reservoir", "appeltant2011"), 64)  # 400 nodes, θ = 0.2
    query_time = 64 * 400 * 0.2 * 100e-6  # 0.512 s
    inputs, outputs = 64 * 400, 400 * 8  # a masked value per node and step; 8 snapshots
    energy = inputs * 100e-9 + outputs * 100e-9 + (inputs + outputs) * 20e-12 + 1.0 * query_time
    bill = inference_bill(w, presets["appeltant2011"], A100)
    assert bill["energy_J"] == pytest.approx(energy, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(query_time, rel=1e-9)


def test_reservoir_esn_is_priced_as_the_digital_processor():
    esn = SUBSTRATES["reservoir"].cost.presets["esn"]
    assert esn.operation_energy == pytest.approx(J_PER_FLOP, rel=1e-12)
    assert esn.query_time == pytest.approx(1 / FLOP_PER_S, rel=1e-12)
    w = workload("reservoir", tiny("reservoir", kind="esn", density=1.0), 64)
    flops = 64 * (10 * 8 + 2 * 10 * 10)
    bill = inference_bill(w, esn, A100)
    assert bill["energy_J"] == pytest.approx(flops * J_PER_FLOP + (64 + 20) * 20e-12, rel=1e-9)
    assert bill["latency_s"] == pytest.approx(flops / FLOP_PER_S, rel=1e-9)
    assert bill["digital_energy_J"] == pytest.approx(flops * J_PER_FLOP, rel=1e-9)


def test_reservoir_query_time_scales_with_the_sample_and_the_node_interval():
    model = SUBSTRATES["reservoir"].cost.presets["default"]

    def latency(values: int, **options) -> float:
        w = workload("reservoir", tiny("reservoir", **options), values)
        return inference_bill(w, model, A100)["latency_s"]

    assert latency(32) == pytest.approx(32 * 10 * 0.5 * 100e-9, rel=1e-12)
    assert latency(64) == pytest.approx(2 * latency(32), rel=1e-12)  # twice the sample
    assert latency(32, node_separation=1.0) == pytest.approx(2 * latency(32), rel=1e-12)  # 2θ
