#!/usr/bin/env bash
# Set up (if needed), index seeds/, then chat in the terminal — or run the bot when DISCORD_TOKEN is set.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/citebot index --corpus seeds
if [ -n "${DISCORD_TOKEN:-}" ]; then
  exec .venv/bin/citebot run
fi
exec .venv/bin/citebot chat --corpus seeds
