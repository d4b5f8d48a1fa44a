#!/usr/bin/env bash
# Set up (if needed), then chat with seeds/ in the terminal — or run the bot when DISCORD_TOKEN is set.
# One process, one model load: `chat --update` builds the index or brings it up to date with the
# corpus first; `run` builds a missing index at start.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -n "${DISCORD_TOKEN:-}" ]; then
  exec .venv/bin/citebot run --corpus seeds
fi
exec .venv/bin/citebot chat --update --corpus seeds
