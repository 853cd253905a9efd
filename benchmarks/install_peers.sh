#!/usr/bin/env bash
# Install the peer simulators that `physnn perf` compares against, in a venv of their own.
#
# The peers are never physnn dependencies. The venv sees the main environment's packages
# (--system-site-packages), so torch, numpy and scipy come from there, and each peer is installed
# with --no-deps so that it cannot replace them; the few pure-python packages a peer imports on
# top of those are listed explicitly below. A peer that fails to install is reported and skipped:
# `physnn perf` then notes it as missing.
#
# Usage: bash benchmarks/install_peers.sh [DIR]      (default DIR: .peers)
#        physnn perf --peers DIR ...                 (or PHYSNN_PEERS=DIR, or .peers if present)
set -uo pipefail

dir="${1:-.peers}"
python="${PYTHON:-python}"

"$python" -m venv --system-site-packages "$dir" || exit 1
pip=("$dir/bin/python" -m pip install --no-deps --quiet)

# peer package  and the pure-python packages it imports that the main environment may lack
peers=(
  "torchoptics"       # diffractive networks (torchoptics.Field, elements.PhaseModulator)
  "lightridge"        # diffractive networks (lightridge.layers.DiffractLayer)
  "wavetorch==0.2.1"  # wave RNN (WaveCell, WaveRNN; physnn imports its modules, not its __init__)
  "reservoirpy==0.4.2"  # reservoirs (Reservoir >> Ridge)
)
extras=(
  "psutil"        # peak RSS for `physnn perf` on CPU (optional; resource.getrusage otherwise)
  "scikit-image"  # imported by wavetorch's source module
  "lazy_loader"   # imported by scikit-image
  "scikit-learn" "joblib" "threadpoolctl"  # wavetorch's utils import sklearn.metrics
)

status=0
for pkg in "${peers[@]}" "${extras[@]}"; do
  if "${pip[@]}" "$pkg"; then
    echo "installed $pkg"
  else
    echo "could not install $pkg (physnn perf will skip it)" >&2
    status=1
  fi
done
# aihwkit: only its pure-torch tile (no wheel for every Python; its C++ extension is not built)
if "$dir/bin/python" "$(dirname "$0")/aihwkit_torch_tile.py"; then
  echo "installed aihwkit (pure-torch tile)"
else
  echo "could not install aihwkit (physnn perf will skip it)" >&2
  status=1
fi
# the Physics-Aware-Training oscillator example's integrator (not on PyPI): a clone
if [ -d "$dir/Physics-Aware-Training" ] || git clone --quiet --depth 1 \
    https://github.com/mcmahon-lab/Physics-Aware-Training "$dir/Physics-Aware-Training"; then
  echo "installed Physics-Aware-Training (ode_utils.make_ode_map)"
else
  echo "could not clone Physics-Aware-Training (physnn perf will skip it)" >&2
  status=1
fi
echo "peers in $dir; run: physnn perf --peers $dir"
exit $status
