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
# # Your first physical neural network
#
# A diffractive optical network (D2NN: phase masks in free space, Lin et al. 2018) classifies
# the 8×8 digits. The device it runs on hides a *reality gap* — misaligned layers, fabrication
# error, quantized phases, detector noise — that its digital twin does not know. We train it
# twice: **in silico** (on the twin alone, then deployed) and with **physics-aware training**
# (PAT: the device computes the forward pass, the twin the backward pass; Wright et al. 2022),
# and compare their accuracy *on the device*.

# %%
import tempfile

import matplotlib.pyplot as plt

from physnn.train import TrainConfig, train

runs = tempfile.mkdtemp(prefix="physnn-first-")
results = {}
for method in ("insilico", "pat"):
    config = TrainConfig(system="diffractive", method=method, gap="moderate", epochs=4, seed=0)
    results[method] = train(config, f"{runs}/{method}", progress=False)
    print(
        f"{method:>9}: device {results[method]['device_accuracy']:.3f}, "
        f"twin {results[method]['twin_accuracy']:.3f}, "
        f"{results[method]['device_queries']} device queries"
    )

# %% [markdown]
# The twin believes both networks work; only the device can say which does. Each run's history
# holds the validation accuracy on the device and on the twin after every epoch:

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for method, result in results.items():
    epochs = [row["epoch"] for row in result["history"]]
    ax.plot(
        epochs,
        [row["val_device_accuracy"] for row in result["history"]],
        "o-",
        label=f"{method} on the device",
    )
    ax.plot(
        epochs,
        [row["val_twin_accuracy"] for row in result["history"]],
        "--",
        label=f"{method} on the twin",
    )
ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1), title="D2NN, gap moderate")
ax.legend()
plt.show()

# %% [markdown]
# PAT pays for its accuracy with device queries. What that costs on real hardware — energy,
# time, wear — is in each result's `cost` (see the notebook *The cost of a run*):

# %%
for method, result in results.items():
    bill = result["cost"]["training"]
    print(
        f"{method:>9}: {bill['energy_J']['total']:.3g} J, {bill['time_s']['total']:.3g} s "
        "on the hardware"
    )
