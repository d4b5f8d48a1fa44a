#!/usr/bin/env bash
# Build the "cvs" dev corpus: CVS's plain-text manual (the Cederqvist) and its plain-text FAQ,
# as Debian 12 ships them in the cvs package. Usage: build.sh OUT_DIR
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
pkg=cvs
version=${CVS_DEB_VERSION:-2:1.12.13+real-28+deb12u1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get download "$pkg=$version" >/dev/null 2>&1 || apt-get download "$pkg" )
dpkg-deb -x "$work"/${pkg}_*.deb "$work/x"
doc="$work/x/usr/share/doc/cvs"
mkdir -p "$out"
zcat "$doc/cvs.txt.gz" > "$out/cvs-manual.txt"
zcat "$doc/FAQ.gz" > "$out/cvs-faq.txt"
ls -l "$out"
