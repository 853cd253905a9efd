#!/usr/bin/env bash
# Install physnn into the current Python environment.
#   bash scripts/install.sh          # the package
#   bash scripts/install.sh test     # the package and the test tools
# An existing PyTorch is kept (CPU or CUDA build alike); without one, torch 2.13.0 is installed
# (the CPU build where pip finds it locally or on a CPU index the user configured).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
else
    "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
extras="${1:-}"
"$PYTHON" -m pip install --quiet --editable ".${extras:+[$extras]}"
