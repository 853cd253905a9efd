#!/usr/bin/env bash
# Install physnn into the current Python environment (a virtual environment is best).
#   bash scripts/install.sh          # the package
#   bash scripts/install.sh test     # the package and the test tools, at the versions pinned in
#                                    # scripts/test-constraints.txt
#   bash scripts/install.sh tune     # the package and Optuna, for physnn tune
# An existing PyTorch is kept (CPU or CUDA build alike); without one, torch 2.13.0 is installed
# (the CPU build where pip finds it locally or on a CPU index the user configured).
# PHYSNN_NEWEST=1 installs the newest test tools instead of the pinned ones (scripts/check-newest.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "keeping torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
else
    "$PYTHON" -m pip install --quiet "torch==2.13.0"
fi
extras="${1:-}"
constraints=()
if [[ "$extras" == *test* && "${PHYSNN_NEWEST:-0}" != 1 ]]; then
    constraints=(--constraint scripts/test-constraints.txt)
fi
"$PYTHON" -m pip install --quiet "${constraints[@]}" --editable ".${extras:+[$extras]}"
