"""The files of a knowledge base's sources (:mod:`retrieval.sources`) as the build reads them: each
source's folder scanned, its document ids prefixed when there are several, and each document given
its link (a site page's URL, a file's page on its forge, ``base_url`` + path for a mirrored folder)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.ingest.documents import CorpusFile, clashing_ids, scan
from retrieval.types import Document, Skipped

if TYPE_CHECKING:  # the fetching modules load the HTTP client: only a build with sources needs them
    from retrieval.sources.resolve import Resolved

Entry = tuple[CorpusFile, "Resolved | None", bool]  # a file, its source (None: a plain corpus), keep its suffix


def scan_all(corpus: Path | list[Resolved]) -> tuple[list[Entry], list[Skipped]]:
    """The files to read, in order, and the ones refused up front (with the pages a crawl skipped)."""
    if not isinstance(corpus, list):
        files, skipped = scan(Path(corpus))
        clash = clashing_ids(files)
        return [(f, None, f in clash) for f in files], skipped
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    for src in corpus:
        if src.fetched is not None:
            skipped += [Skipped(url, why) for url, why in src.fetched.skipped]
            skipped += [Skipped(url, f"fetch failed: {why}") for url, why in src.fetched.failed]
        if not src.root.exists() and src.spec.kind != "folder":
            continue  # a site that gave no page yet
        files, refused = scan(src.root)
        skipped += [Skipped(src.prefix + s.path, s.reason) for s in refused]
        clash = clashing_ids(files)
        entries += [(f, src, f in clash) for f in files]
    return entries, skipped


def finish(doc: Document | Skipped, f: CorpusFile, src: Resolved | None) -> Document | Skipped:
    """A document read from ``src``: id prefixed, link and shown source set."""
    if src is None:
        return doc
    if isinstance(doc, Skipped):
        return Skipped(src.prefix + doc.path, doc.reason)
    doc.doc_id = src.prefix + doc.doc_id
    if f.kind == "jsonl":  # records carry their own URLs
        return doc
    url = src.url(f.rel)
    if url is not None or src.spec.remote:  # a page's own og:url may point anywhere: the fetched address wins
        doc.url = url
    doc.source = src.source(f.rel)
    return doc
