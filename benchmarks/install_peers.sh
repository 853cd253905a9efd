#!/usr/bin/env bash
# Install the peer simulators that `physnn perf` compares against, in a venv of their own.
#
# The peers are never physnn dependencies. The venv sees the main environment's packages
# (--system-site-packages), so torch, numpy and scipy come from there, and each peer is installed
# with --no-deps so that it cannot replace them; the few pure-python packages a peer imports on
# top of those are listed explicitly below. A peer that fails to install is reported and skipped:
# `physnn perf` then notes it as missing.
#
# When the main environment is itself a venv, --system-site-packages only reaches the base
# interpreter's packages, not the venv's (torch among them); a .pth file in the peer venv adds the
# main environment's site-packages after its own, so that the peer venv's Python (which runs the
# aihwkit install and check below) imports the same torch. `physnn perf` appends the peer
# site-packages to sys.path without reading .pth files, so this changes nothing there.
#
# The Physics-Aware-Training clone (not on PyPI) is optional and needs the network: with
# PHYSNN_NO_CLONE=1, or when the clone fails, it is skipped with a message. It goes to
# DIR/Physics-Aware-Training; `physnn perf` looks for it in $PHYSNN_PAT_DIR, else in
# .peers/Physics-Aware-Training (relative to the working directory) -- not under --peers DIR --
# so for another DIR the script prints the PHYSNN_PAT_DIR to set.
#
# Usage: bash benchmarks/install_peers.sh [DIR]      (default DIR: .peers)
#        physnn perf --peers DIR ...                 (or PHYSNN_PEERS=DIR, or .peers if present)
set -uo pipefail

dir="${1:-.peers}"
python="${PYTHON:-python}"

"$python" -m venv --system-site-packages "$dir" || exit 1
site_of() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
peer_site="$(site_of "$dir/bin/python")" || exit 1
"$python" -c 'import site, sys
print("\n".join(p for p in [*site.getsitepackages(), site.getusersitepackages()]
                 if p not in sys.argv[1:]))' "$peer_site" >"$peer_site/physnn_main_env.pth"
if ! "$dir/bin/python" -c 'import torch' 2>/dev/null; then
  echo "the peer venv's Python cannot import torch: peers needing it will be skipped" >&2
fi
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
# the Physics-Aware-Training oscillator example's integrator (not on PyPI): an optional clone
pat="$dir/Physics-Aware-Training"
pat_found=1
if [ -f "$pat/ode_utils.py" ]; then
  echo "Physics-Aware-Training already in $pat"
elif [ "${PHYSNN_NO_CLONE:-0}" = 1 ]; then
  echo "PHYSNN_NO_CLONE=1: Physics-Aware-Training not cloned (physnn perf skips the pat peer)"
  pat_found=0
elif GIT_TERMINAL_PROMPT=0 timeout 120 git clone --quiet --depth 1 \
    https://github.com/mcmahon-lab/Physics-Aware-Training "$pat"; then
  echo "installed Physics-Aware-Training (ode_utils.make_ode_map) in $pat"
else
  echo "could not clone Physics-Aware-Training (no network?); skipped, physnn perf skips the" \
    "pat peer (clone it into $pat later to add it)" >&2
  pat_found=0
fi
echo "peers in $dir; run: physnn perf --peers $dir"
if [ "$pat_found" = 1 ] && [ "$(cd "$dir" && pwd -P)" != "$(pwd -P)/.peers" ]; then
  echo "for the oscillators case also set: export PHYSNN_PAT_DIR=$(cd "$pat" && pwd -P)"
fi
exit $status
