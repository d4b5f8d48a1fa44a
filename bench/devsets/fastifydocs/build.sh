#!/usr/bin/env bash
# Build the fastifydocs dev corpus: Fastify 5.12.8's Markdown docs/ tree (Guides/, Reference/,
# index.md) as the npm package ships it. MIT licensed. Usage: build.sh OUT_DIR
set -euo pipefail
OUT=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
VERSION=5.12.8
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "fastify@$VERSION" >/dev/null)
tar -xzf "$WORK/fastify-$VERSION.tgz" -C "$WORK"
rm -rf "$OUT"
mkdir -p "$OUT"
(cd "$WORK/package/docs" && find . -name '*.md' -print0 | while IFS= read -r -d '' f; do
    mkdir -p "$OUT/$(dirname "$f")"; cp "$f" "$OUT/$f"; done)
echo "fastifydocs: $(find "$OUT" -name '*.md' | wc -l) Markdown files in $OUT"
