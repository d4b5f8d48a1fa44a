#!/usr/bin/env bash
# Create .venv and install citebot with pinned dependencies (CPU-only torch), offline model included.
# pip runs only when something it depends on changed: a stamp in .venv records the hash of
# pyproject.toml, this script and the checkout's path (an editable install points at one checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.citebot-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)-$(pwd -P | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/citebot ]; then
  exit 0  # installed state matches: no pip run
fi
# torch first and pinned: an unpinned resolver pulls the CUDA build
.venv/bin/pip install --quiet --disable-pip-version-check "torch==2.13.0"
.venv/bin/pip install --quiet --disable-pip-version-check -e ".[test,bench]"
echo "$want" > "$stamp"
