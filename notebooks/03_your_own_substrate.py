# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Your own substrate
#
# A lab's own hardware enters physnn as a *substrate*: a `System` (its differentiable physics,
# controls and presets), a `GapFamily` (what its real devices get wrong) and a `Substrate` record
# that physnn registers. A package ships them through the entry-point group
# `physnn.substrates` (see `examples/toy_substrate`, installable with `pip install
# ./examples/toy_substrate`); here we load that example module by path and register its
# substrate — a bank of saturable amplifiers — ourselves, adding a cost model so that its runs
# are priced like physnn's own.

# %%
import importlib.util
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from physnn.cost import CostModel, SubstrateCost, Workload
from physnn.substrates import SUBSTRATES, register
from physnn.train import TrainConfig, train

root = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "examples").is_dir())
spec = importlib.util.spec_from_file_location(
    "toy_substrate", root / "examples" / "toy_substrate" / "toy_substrate.py"
)
toy = importlib.util.module_from_spec(spec)
sys.modules["toy_substrate"] = toy  # what an installed package would be
spec.loader.exec_module(toy)
print(toy.__doc__.splitlines()[0])

# %% [markdown]
# Its cost model: one query is n × m multiply-accumulates in a resistor array; the values below
# are assumptions, and say so.

# %%
ASSUMED = "assumed: a notebook example"
amplifiers = CostModel(
    name="default",
    reference="a toy amplifier bank",
    sources={
        name: ASSUMED
        for name in (
            "operation_energy",
            "detection_energy",
            "dac_energy",
            "adc_energy",
            "memory_energy",
            "query_time",
            "write_energy",
            "write_time",
            "value_write_time",
            "endurance",
            "static_power",
        )
    },
    operation_energy=1e-12,
    dac_energy=1e-12,
    adc_energy=2e-12,
    query_time=1e-6,
    write_energy=1e-11,
    write_time=1e-5,
    static_power=0.01,
)


def workload(system) -> Workload:
    n, m = system.config.num_inputs, system.config.num_outputs
    return Workload(
        operations=n * m, inputs=n, outputs=m, controls=n * m + m, digital_flops=2 * n * m
    )


if "toy" not in SUBSTRATES:
    register(replace(toy.SUBSTRATE, cost=SubstrateCost(workload, {"default": amplifiers})))
print("toy" in SUBSTRATES, SUBSTRATES["toy"].cost.presets["default"].reference)

# %% [markdown]
# Now every method whose requirements the system meets trains it: here physics-aware training and
# SPSA, a model-free method that only queries the device.

# %%
runs = tempfile.mkdtemp(prefix="physnn-toy-")
for method in ("pat", "spsa"):
    config = TrainConfig(system="toy", method=method, gap="moderate", epochs=3, seed=0)
    result = train(config, f"{runs}/{method}", progress=False)
    bill = result["cost"]["training"]["energy_J"]["total"]
    print(
        f"{method:>5}: device accuracy {result['device_accuracy']:.3f}, "
        f"{result['device_queries']} queries, training bill {bill:.3g} J"
    )
