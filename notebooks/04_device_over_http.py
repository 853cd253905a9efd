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
# # Training a device over HTTP
#
# In a lab the device sits on another computer. `physnn serve` puts a device — a simulated one
# here, a lab instrument with `--adapter module:Class` — behind an HTTP API with a token, one
# writer at a time, server-side bounds and slew limits and a write log; `physnn train
# --device-url` (or `TrainConfig(device_url=...)`) trains it as if it were local. Here both run on
# this machine: the server in a subprocess.

# %%
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from physnn.train import TrainConfig, train

token = secrets.token_hex(16)
work = Path(tempfile.mkdtemp(prefix="physnn-serve-"))
system = ["--system", "diffractive", "--gap", "moderate", "--seed", "0"]
server = subprocess.Popen(
    [
        sys.executable,
        "-m",
        "physnn.cli",
        "serve",
        *system,
        "--port",
        "0",
        "--write-log",
        str(work / "writes.jsonl"),
    ],
    stdout=subprocess.PIPE,
    stderr=subprocess.DEVNULL,
    text=True,
    env={**os.environ, "PHYSNN_TOKEN": token},
)
url = server.stdout.readline().split()[-1]  # "serving on http://127.0.0.1:PORT"
print("device at", url)

# %% [markdown]
# The client reads the token from `$PHYSNN_TOKEN`. The run is the same as an in-process one:
# the server draws the same hidden device from the same seed.

# %%
os.environ["PHYSNN_TOKEN"] = token
try:
    config = TrainConfig(
        system="diffractive", method="pat", gap="moderate", epochs=2, seed=0, device_url=url
    )
    remote = train(config, work / "remote", progress=False)
finally:
    server.terminate()  # a graceful stop: the device goes to its safe state
    server.wait(30)
print(
    f"device accuracy {remote['device_accuracy']:.3f} after {remote['device_queries']} queries "
    f"and {remote['param_writes']} writes over HTTP"
)

# %% [markdown]
# The server kept a log of every write it accepted (who, when, which controls):

# %%
log = (work / "writes.jsonl").read_text().splitlines()
print(len(log), "writes logged; the first:", log[0][:160])
