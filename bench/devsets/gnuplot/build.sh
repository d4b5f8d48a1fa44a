#!/usr/bin/env bash
# Build the "gnuplot" dev corpus: gnuplot 5.4's reference manual as the one PDF (311 pages)
# Debian 12's gnuplot-doc package ships. Usage: build.sh OUT_DIR
set -euo pipefail
out=${1:?usage: build.sh OUT_DIR}
pkg=gnuplot-doc
version=${GNUPLOT_DOC_DEB_VERSION:-5.4.4+dfsg1-2}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get download "$pkg=$version" >/dev/null 2>&1 || apt-get download "$pkg" )
dpkg-deb -x "$work"/${pkg}_*.deb "$work/x"
mkdir -p "$out"
cp "$work/x/usr/share/doc/gnuplot/gnuplot.pdf" "$out/gnuplot.pdf"
ls -l "$out"
