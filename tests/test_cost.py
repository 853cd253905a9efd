"""The cost model's core: quantities with units, the bill's arithmetic, the digital meter (device
physics excluded), a run's bill in result.json, repricing, the projection and the headlines."""

from __future__ import annotations

import json
import math

import pytest
import torch

import physnn.substrates.builtin  # noqa: F401  (the substrates' cost records)
from physnn.cli import main
from physnn.cost import A100, CostModel, RunCounts, Workload, inference_bill, training_bill
from physnn.cost.flops import counting, physical
from physnn.cost.headlines import check_headlines
from physnn.cost.runs import cost_model
from physnn.cost.runs import workload as workload_of
from physnn.cost.sweep import crossover, loglog_slope, size_sweep
from physnn.cost.units import format_quantity, parse_quantity, photon_energy
from physnn.errors import ConfigError
from physnn.substrates import SUBSTRATES
from physnn.train import TrainConfig, build_experiment, train
from physnn.train.costing import projected_cost

SOURCES = {
    name: "test"
    for name in (
        "operation_energy", "detection_energy", "dac_energy", "adc_energy", "memory_energy",
        "query_time", "write_energy", "write_time", "value_write_time", "endurance",
        "static_power",
    )
}  # fmt: skip
TOY = CostModel(
    name="toy", reference="a test", sources=SOURCES, operation_energy=2e-15,
    detection_energy=3e-15, dac_energy=5e-12, adc_energy=7e-12, memory_energy=11e-12,
    query_time=1e-6, write_energy=13e-12, write_time=1e-3, value_write_time=2e-6,
    endurance=1e6, static_power=0.5,
)  # fmt: skip
LOAD = Workload(operations=1000, inputs=10, outputs=4, controls=100, digital_flops=2000)


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [("7 fJ", "J", 7e-15), ("133 ns", "s", 133e-9), ("2.5 mW", "W", 2.5e-3), ("1e8", "", 1e8),
     ("3 µs", "s", 3e-6), ("3 us", "s", 3e-6), (4.5e-12, "J", 4.5e-12), ("inf", "", math.inf),
     ("12 J", "J", 12.0)],
)  # fmt: skip
def test_quantities_are_read_in_si_units(text, unit, value):
    assert parse_quantity("x", text, unit) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(("text", "unit"), [("7 fs", "J"), ("7 pJ", "s"), ("fast", "s"),
                                            (True, "J"), ("7 kilojoule", "J")])  # fmt: skip
def test_a_quantity_in_the_wrong_unit_is_refused_in_one_sentence(text, unit):
    with pytest.raises(ConfigError, match="must be a quantity in"):
        parse_quantity("x", text, unit)


def test_quantities_print_with_engineering_prefixes():
    assert format_quantity(7e-15, "J") == "7 fJ"
    assert format_quantity(133e-9, "s") == "133 ns"
    assert format_quantity(2.5e-3, "W") == "2.5 mW"
    assert photon_energy(532e-9) == pytest.approx(3.734e-19, rel=1e-3)  # hc/λ


def test_a_cost_model_needs_a_source_for_every_parameter():
    with pytest.raises(ValueError, match="no source for detection_energy"):
        CostModel(name="x", reference="y", sources={"operation_energy": "z"})


def test_options_replace_parameters_and_say_so():
    changed = TOY.with_options({"adc_energy": "1 nJ"}, origin="a test file")
    assert changed.adc_energy == pytest.approx(1e-9)
    assert changed.sources["adc_energy"] == "set by a test file"
    assert changed.dac_energy == TOY.dac_energy
    with pytest.raises(ConfigError, match="unknown cost parameter"):
        TOY.with_options({"adc_power": 1})
    with pytest.raises(ConfigError, match="≥ 0"):
        TOY.with_options({"adc_energy": -1.0})


def test_the_training_bill_by_hand():
    counts = RunCounts(queries=50, writes=3, values_written=120, digital_flops=1e6)
    bill = training_bill(counts, LOAD, TOY, A100)
    energy, time = bill["energy_J"], bill["time_s"]
    assert energy["queries"] == pytest.approx(50 * (1000 * 2e-15 + 4 * 3e-15))
    assert energy["conversions"] == pytest.approx(50 * (10 * 5e-12 + 4 * 7e-12))
    assert energy["memory"] == pytest.approx((50 * 14 + 120) * 11e-12)
    assert energy["writes"] == pytest.approx(120 * 13e-12)
    device_seconds = 50 * 1e-6 + 3 * 1e-3 + 120 * 2e-6
    assert energy["static"] == pytest.approx(0.5 * device_seconds)
    assert energy["digital"] == pytest.approx(1e6 * 400 / 156e12)
    assert energy["total"] == pytest.approx(sum(v for k, v in energy.items() if k != "total"))
    assert time["writes"] == pytest.approx(3 * 1e-3 + 120 * 2e-6)
    assert time["digital"] == pytest.approx(1e6 / 156e12)
    assert bill["writes_per_control"] == pytest.approx(1.2)
    assert bill["endurance_used"] == pytest.approx(1.2e-6)


def test_the_inference_bill_by_hand():
    bill = inference_bill(LOAD, TOY, A100, readout_flops=40)
    device = 1000 * 2e-15 + 4 * 3e-15 + 10 * 5e-12 + 4 * 7e-12 + 14 * 11e-12 + 0.5 * 1e-6
    assert bill["energy_J"] == pytest.approx(device + 40 * 400 / 156e12)
    assert bill["latency_s"] == pytest.approx(1e-6 + 40 / 156e12)
    assert bill["digital_energy_J"] == pytest.approx(2040 * 400 / 156e12)
    assert bill["advantage"] == pytest.approx(bill["digital_energy_J"] / bill["energy_J"])


def test_every_substrate_states_a_cost_model():
    missing = [name for name, record in SUBSTRATES.items(builtin_only=True) if record.cost is None]
    assert missing == []


def test_the_meter_counts_digital_work_and_leaves_the_device_out():
    exp = build_experiment(TrainConfig(system="crossbar", method="pat", gap="none"))
    x = exp.dataset.x_train[:16]
    block = exp.model.physical_blocks()[0]
    with counting() as count, physical():
        exp.device.query(x)  # the device's own matrix product: physics
    assert count.flops == 0
    with counting() as count:
        block.twin(x, block.realized_controls())  # the twin's: digital, 2 n m per sample
    n, m = block.system.config.num_inputs, block.system.config.num_outputs
    assert count.flops == 2 * 16 * n * m


def test_fft_and_solve_are_counted():
    x = torch.randn(4, 32, 32, dtype=torch.complex64)
    with counting() as count:
        torch.fft.ifft2(torch.fft.fft2(x))
    assert count.flops == 2 * 5 * 4 * 32 * 32 * math.log2(32 * 32)
    a, b = torch.eye(6).expand(3, 6, 6), torch.ones(3, 6, 2)
    with counting() as count:
        torch.linalg.solve(a, b)
    assert count.flops == pytest.approx(3 * (2 * 6**3 / 3 + 2 * 6**2 * 2), abs=3)


@pytest.fixture(scope="module")
def crossbar_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = TrainConfig(system="crossbar", method="pat", gap="mild", epochs=1, limit_train=128)
    return out, train(config, out, progress=False)


def test_a_run_records_its_bill(crossbar_run):
    _, result = crossbar_run
    cost = result["cost"]
    assert cost["counts"]["queries"] == result["device_queries"] + result["calibration_queries"]
    assert cost["counts"]["values_written"] == result["values_written"]
    assert cost["digital_work"]["training_steps"] == 4  # 128 samples in batches of 32
    twin_step = 2 * 32 * 64 * 32  # the twin's forward matmul of a batch (n 64, m 32)
    assert cost["counts"]["digital_flops"] >= 4 * twin_step
    assert cost["model"]["name"] == "default"
    assert cost["training"]["energy_J"]["total"] > 0


def test_changing_one_parameter_in_a_toml_config_changes_the_bill_by_that_term(
    crossbar_run, tmp_path, capsys
):
    out, result = crossbar_run
    toml = tmp_path / "cost.toml"
    toml.write_text('[cost_options]\noperation_energy = "1 pJ"\n')
    assert main(["cost", str(out), "--config", str(toml), "--json"]) == 0
    repriced = json.loads(capsys.readouterr().out)["training"]["energy_J"]
    before = result["cost"]["training"]["energy_J"]
    queries = result["cost"]["counts"]["queries"]
    macs = result["cost"]["workload"]["operations"]
    assert repriced["queries"] == pytest.approx(queries * macs * 1e-12)
    assert repriced["writes"] == pytest.approx(before["writes"])
    assert repriced["digital"] == pytest.approx(before["digital"])


def test_a_projection_counts_what_the_run_makes(crossbar_run):
    _, result = crossbar_run
    config = TrainConfig(system="crossbar", method="pat", gap="mild", epochs=1, limit_train=128)
    projected = projected_cost(config)
    assert projected["counts"]["queries"] == result["cost"]["counts"]["queries"]
    assert projected["counts"]["writes"] == result["cost"]["counts"]["writes"]
    assert projected["projected"]["training_steps"] == 4


def test_an_unknown_cost_preset_is_refused_before_the_run():
    with pytest.raises(ConfigError, match="unknown cost preset"):
        build_experiment(TrainConfig(system="crossbar", method="pat", cost="nope"))


def test_the_system_preset_picks_its_cost_preset():
    assert cost_model("crossbar", "legallo2023").name == "legallo2023"
    assert cost_model("crossbar", "default").name == "default"
    assert cost_model("crossbar", "default", "legallo2023-fourphase").name.endswith("fourphase")


def test_le_gallo_four_phase_figures_are_predicted_within_tolerance():
    rows = {(h.figure, h.kind): h for h in check_headlines(["legallo2023"])}
    predicted = [h for (_, kind), h in rows.items() if kind == "prediction"]
    assert len(predicted) == 2 and all(h.within for h in predicted)
    assert rows["efficiency, four-phase", "prediction"].ours == pytest.approx(9.76 / 4)


def test_a_size_sweep_and_its_crossover():
    rows = size_sweep("crossbar", "num_inputs", [64, 256, 1024], system_options={"num_outputs": 8})
    assert [r["operations"] for r in rows] == [64 * 8, 256 * 8, 1024 * 8]
    assert loglog_slope([r["num_inputs"] for r in rows], [r["energy_J"] for r in rows]) == (
        pytest.approx(1.0, abs=0.01)
    )
    fake = [{"d": 10, "advantage": 0.1}, {"d": 1000, "advantage": 10.0}]
    assert crossover(fake, "d") == pytest.approx(100.0)
    assert crossover(fake[:1], "d") is None


def test_the_digital_processor_is_configurable_too():
    from physnn.cost.runs import digital_cost

    slower = digital_cost({"digital_energy_per_flop": "10 pJ", "adc_energy": "1 pJ"})
    assert slower.energy_per_flop == pytest.approx(1e-11)
    assert slower.flops_per_second == A100.flops_per_second
    assert cost_model("crossbar", "default", options={"digital_flops_per_second": 1e12})
    with pytest.raises(ConfigError, match="must be positive"):
        digital_cost({"digital_flops_per_second": 0})


def test_the_generated_blocks_of_the_cost_docs_are_current():
    from pathlib import Path

    from physnn.cost.docs import regenerate

    path = Path(__file__).resolve().parents[1] / "docs" / "costs.md"
    text = path.read_text(encoding="utf-8")
    assert text.count("<!-- generated by: physnn cost") == 2
    assert regenerate(text) == text, "run: physnn cost --docs docs/costs.md"


def test_crossbar_workload_and_inference_by_hand():
    from physnn.systems import SYSTEMS

    tile = SYSTEMS["crossbar"].from_preset("default", num_inputs=300, num_outputs=20)
    load = workload_of("crossbar", tile)
    assert (load.operations, load.inputs, load.outputs) == (300 * 20, 300, 20 * 2)  # 2 row tiles
    assert load.digital_flops == 2 * 300 * 20
    bill = inference_bill(load, cost_model("crossbar", "legallo2023"), A100)
    assert bill["energy_J"] == pytest.approx(300 * 20 * 2 / 9.76e12)  # J: chip-level, all in
    assert bill["latency_s"] == pytest.approx(2 * 256**2 / (63.1e12 / 64))  # s: one core's MVM


def test_diffractive_workload_and_inference_by_hand():
    from physnn.systems import SYSTEMS

    d2nn = SYSTEMS["diffractive"].from_preset("default")  # grid 32, 3 layers, padded 64
    load = workload_of("diffractive", d2nn)
    assert (load.operations, load.inputs, load.outputs, load.controls) == (
        3 * 32**4,
        16**2,
        10,
        3 * 32**2,
    )
    fft = 2 * 5 * 64**2 * math.log2(64**2) + 6 * 64**2  # two FFTs and a product per gap
    assert load.digital_flops == pytest.approx(4 * fft + 3 * 6 * 32**2 + 3 * 32**2)
    bill = inference_bill(load, cost_model("diffractive", "default"), A100)
    light = 10 * 1e4 * 6.62607015e-34 * 299792458 / 532e-9  # 1e4 photons per detector
    by_hand = light + 256 * 1e-9 + 10 * 1e-9 + (256 + 10) * 20e-12 + 5.0 * 1e-3  # J
    assert bill["energy_J"] == pytest.approx(by_hand)
    assert bill["latency_s"] == pytest.approx(1e-3)
