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
# # Your own data
#
# Any array of samples and labels is a dataset: `Dataset.from_arrays` splits it (seeded) into
# training, validation and test sets, with a fingerprint that the run records. Here: two
# interleaved half-moons, classified by an analog PCM crossbar (Le Gallo et al. 2023) with a
# digital readout, trained with physics-aware training against a crossbar with programming
# noise and drift.

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from physnn.data import Dataset
from physnn.train import TrainConfig, train

rng = np.random.default_rng(0)
n = 600
angle = rng.uniform(0, np.pi, n)
label = rng.integers(0, 2, n)
x = np.stack([np.cos(angle) + label * 1.0, np.sin(angle) * (1 - 2 * label) + label * 0.4], 1)
x = (x + rng.normal(0, 0.1, x.shape)) / 2.5  # inside the crossbar's ±1 input range
moons = Dataset.from_arrays("moons", x.astype(np.float32), label, class_names=["upper", "lower"])
print(moons.summary())

# %%
config = TrainConfig(
    system="crossbar",
    method="pat",
    dataset=moons,
    gap="mild",
    epochs=20,
    system_options={"num_inputs": 2, "num_outputs": 16},
    seed=0,
)
result = train(config, tempfile.mkdtemp(prefix="physnn-moons-"), progress=False)
print(f"device accuracy {result['device_accuracy']:.3f} (twin {result['twin_accuracy']:.3f})")

# %%
fig, ax = plt.subplots(figsize=(4, 4))
ax.scatter(x[:, 0], x[:, 1], c=label, cmap="coolwarm", s=8)
ax.set(title="the moons", xlabel="x₁", ylabel="x₂")
plt.show()
