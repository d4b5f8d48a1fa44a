#!/usr/bin/env bash
# Build the celerydocs dev corpus: Celery 5.2.6's documentation as the Sphinx-built HTML site that
# Debian's python-celery-doc package ships in /usr/share/doc/python-celery-doc/html (user guide, FAQ,
# API reference with signatures, tutorials, changelogs), the folder a user would point citebot at.
# Usage: build.sh OUT_DIR   (needs apt-get update done once; no root needed for apt-get download)
set -euo pipefail
OUT=$(realpath -m "${1:?usage: build.sh OUT_DIR}")
VERSION=5.2.6-5
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"  # so that apt's _apt user can write the download
(cd "$WORK" && apt-get download -q "python-celery-doc=$VERSION" >/dev/null)
dpkg-deb -x "$WORK"/python-celery-doc_"$VERSION"_all.deb "$WORK/x"
rm -rf "$OUT"
mkdir -p "$OUT"
# every page of the site as built; Sphinx's own machinery is not documentation: the reST sources
# (_sources/), static assets (_static/), the highlighted module sources (_modules/, Sphinx's viewcode),
# the search page and the generated indexes (genindex, py-modindex) are left out
(cd "$WORK"/x/usr/share/doc/python-celery-doc/html &&
    find . -name '*.html' ! -path './_sources/*' ! -path './_static/*' ! -path './_modules/*' \
        ! -name search.html ! -name genindex.html ! -name 'genindex-*.html' ! -name py-modindex.html \
        -exec cp --parents {} "$OUT" \;)
echo "celerydocs: $(find "$OUT" -name '*.html' | wc -l) HTML pages in $OUT"
