#!/usr/bin/env bash
# Set up (if needed) and run the test suite: the whole suite (what CI runs), or with --quick the
# edit-test tier (-m "not heavy": no real citebot processes, benchmark runs or kill trials).
# Other arguments go to pytest (e.g. a test file, -k NAME, --run-slow for the long variants).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
args=()
for a in "$@"; do
  if [ "$a" = "--quick" ]; then args+=(-m "not heavy"); else args+=("$a"); fi
done
exec .venv/bin/python -m pytest -q ${args[@]+"${args[@]}"}
