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
# # The cost of a run
#
# Which method can a lab afford? physnn prices every run on the hardware it simulates: the
# energy and time of training (device queries, conversions, writes, the static power while the
# device runs, and the GPU work of the method's credit path), the wear of the controls, and one
# inference against the same network on a GPU. Every value comes from a cited preset or is
# marked as an assumption (docs/costs.md). Here: three methods on an analog PCM crossbar,
# projected without training from a few measured steps.

# %%
import matplotlib.pyplot as plt

import physnn.substrates.builtin  # noqa: F401  (the substrates' cost models)
from physnn.cost.runs import cost_model
from physnn.cost.sweep import crossover, size_sweep
from physnn.train import TrainConfig
from physnn.train.costing import projected_cost

for row in cost_model("crossbar", "legallo2023").rows()[:4]:
    print(*row, sep="  |  ")

# %%
bills = {}
for method in ("insilico", "pat", "spsa"):
    config = TrainConfig(system="crossbar", method=method, gap="moderate", epochs=15, seed=0)
    bills[method] = projected_cost(config)["training"]
    energy = bills[method]["energy_J"]
    print(
        f"{method:>9}: {energy['total']:.3g} J (digital {energy['digital']:.3g} J), "
        f"{bills[method]['time_s']['total']:.3g} s, "
        f"{bills[method]['writes_per_control']:.0f} writes per weight"
    )

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
parts = ("queries", "conversions", "memory", "writes", "static", "digital")
bottom = [0.0] * len(bills)
for part in parts:
    values = [bills[m]["energy_J"][part] for m in bills]
    ax.bar(list(bills), values, bottom=bottom, label=part)
    bottom = [b + v for b, v in zip(bottom, values, strict=True)]
ax.set(ylabel="projected training energy (J)", title="PCM crossbar, 15 epochs of digits")
ax.legend()
plt.show()

# %% [markdown]
# Where does a substrate beat the GPU? A D2NN pays a camera frame per query, whatever its size,
# while simulating it on a GPU grows with the grid: the sweep finds the crossover.

# %%
rows = size_sweep("diffractive", "grid", [32, 64, 128, 256, 512, 1024])
sizes = [r["grid"] for r in rows]
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.loglog(sizes, [r["energy_J"] for r in rows], "o-", label="D2NN")
ax.loglog(sizes, [r["digital_energy_J"] for r in rows], "s--", label="GPU")
ax.set(xlabel="grid N", ylabel="energy per inference (J)")
ax.legend()
plt.show()
print(f"crossover at N ≈ {crossover(rows, 'grid'):.0f}")
