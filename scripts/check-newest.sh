#!/usr/bin/env bash
# The scheduled check of new releases (run it weekly, e.g. from cron or a scheduled CI job):
# the README's test command in a brand-new virtual environment with the newest release of every
# test tool instead of the pinned ones. When it passes, raise the pins in
# scripts/test-constraints.txt; when it fails, a new release broke something: fix it first.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)/venv"
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
export PHYSNN_NEWEST=1
bash scripts/install.sh test && ruff check . && python3 -m pytest -q
pip list --format=freeze | grep -iE "^($(grep -oE '^[a-z0-9_-]+' scripts/test-constraints.txt | paste -sd'|'))=="
