#!/usr/bin/env bash
# Build the debianfaq dev corpus: the Debian GNU/Linux FAQ 11.1 as HTML pages (one page a chapter,
# each question a heading), as Debian's debian-faq package ships them in /usr/share/doc/debian/FAQ.
# Usage: build.sh OUT_DIR   (needs apt-get update done once; no root needed for apt-get download)
set -euo pipefail
OUT=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
VERSION=11.1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"  # so that apt's _apt user can write the download
(cd "$WORK" && apt-get download -q "debian-faq=$VERSION" >/dev/null)
dpkg-deb -x "$WORK"/debian-faq_"$VERSION"_all.deb "$WORK/x"
rm -rf "$OUT"
mkdir -p "$OUT"
# the chapter pages and the title page with its table of contents; the .en suffix is dropped so
# that the document ids read basic-defs, pkgtools, ... (the PDF and text renderings, the CSS and
# the navigation icons are not part of this corpus)
for f in "$WORK"/x/usr/share/doc/debian/FAQ/*.en.html; do
    b=$(basename "$f" .en.html)
    cp "$f" "$OUT/$b.html"
done
echo "debianfaq: $(ls "$OUT" | wc -l) HTML pages in $OUT"
