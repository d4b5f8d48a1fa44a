"""Pages (documents) and sections of a loaded index: each passage's document number, the pages' centroid
vectors, and each passage's section (document and heading path) with the section's heading words.

The build writes the centroids with the version (``pages.npy``); the query side reads them for page-level
evidence. Per loaded version, the tables are computed once and cached.
"""

from __future__ import annotations

import json
import weakref
from typing import NamedTuple

import numpy as np

from retrieval.index.lexical import analyze
from retrieval.index.loaded import Index

_codes: "weakref.WeakKeyDictionary[Index, tuple[list[str], np.ndarray]]" = weakref.WeakKeyDictionary()


def doc_numbering(doc_ids: list[str]) -> tuple[list[str], np.ndarray]:
    """``(names, codes)``: the sorted distinct document ids, and each passage's number among them.

    Args:
        doc_ids: each passage's document id, in passage-id order.
    """
    if not doc_ids:
        return [], np.zeros(0, np.int64)
    names, codes = np.unique(np.array(doc_ids, dtype=object), return_inverse=True)
    return [str(n) for n in names], codes.astype(np.int64)


def _doc_table(index: Index) -> tuple[list[str], np.ndarray]:
    got = _codes.get(index)
    if got is None:
        got = _codes[index] = doc_numbering(index.store.passage_documents())
    return got


def doc_codes(index: Index) -> np.ndarray:
    """A document number per passage id (cached per loaded index: one read of the store)."""
    return _doc_table(index)[1]


def doc_names(index: Index) -> list[str]:
    """The document id of each document number of :func:`doc_codes`."""
    return _doc_table(index)[0]


def page_centroids_of(read, codes: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, centroids)`` of the pages with more than one passage: ``rows[d]`` is the centroid row
    of document number ``d`` (as :func:`doc_codes` numbers them), -1 for a one-passage page (its
    centroid is its passage: nothing to store); ``centroids`` are normalized mean vectors.

    Args:
        read: passage ids → their vectors (float rows); called on slices, so a large index is never
            copied whole.
        codes: each passage's document number, in passage-id order.
        dim: the vectors' dimension.
    """
    codes = np.asarray(codes, np.int64)
    counts = np.bincount(codes) if codes.size else np.zeros(0, np.int64)
    rows = np.full(counts.size, -1, np.int32)
    multi = counts > 1
    rows[multi] = np.arange(int(multi.sum()), dtype=np.int32)
    sums = np.zeros((int(multi.sum()), dim), np.float32)
    for a in range(0, codes.size, 65_536):
        ids = np.arange(a, min(a + 65_536, codes.size))
        ids = ids[multi[codes[ids]]]
        if ids.size == 0:
            continue
        c = rows[codes[ids]]
        starts = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
        # each run of one page's passages summed, then added to its row (a page may have several runs)
        np.add.at(sums, c[starts], np.add.reduceat(np.asarray(read(ids), np.float32), starts, axis=0))
    return rows, sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-9)


_pages: "weakref.WeakKeyDictionary[Index, tuple[np.ndarray, np.ndarray]]" = weakref.WeakKeyDictionary()


def page_centroids(index: Index) -> tuple[np.ndarray, np.ndarray]:
    """The version's ``(rows, centroids)`` (see :func:`page_centroids_of`).

    Read from ``page_rows.npy`` / ``pages.npy`` (written by the build, memory-mapped); a version written
    before them computes them once from the stored passage vectors and caches them.
    """
    if index.pages is not None and len(index.page_rows) == len(doc_names(index)):
        return index.page_rows, index.pages
    got = _pages.get(index)
    if got is None:
        got = _pages[index] = page_centroids_of(index.vectors, doc_codes(index), index.dense.d)
    return got


class Sections(NamedTuple):
    """The sections of an index: each passage's section number, per analyzed heading term the sorted
    numbers of the sections whose headings have it, and each section's heading path."""

    codes: np.ndarray
    holders: dict[str, np.ndarray]
    paths: list[list[str]]


_sections: "weakref.WeakKeyDictionary[Index, Sections]" = weakref.WeakKeyDictionary()


def section_numbering(rows: list[tuple[str, str]]) -> Sections:
    """Number the sections of ``rows`` (each passage's ``(doc_id, heading_path JSON)``, in passage-id order)."""
    numbers: dict[tuple[str, str], int] = {}
    holders: dict[str, list[int]] = {}
    paths: list[list[str]] = []
    codes = np.zeros(len(rows), np.int32)
    for i, key in enumerate(rows):
        n = numbers.get(key)
        if n is None:
            n = numbers[key] = len(numbers)
            paths.append(json.loads(key[1] or "[]"))
            for t in set(analyze(" ".join(paths[-1]))):
                holders.setdefault(t, []).append(n)
        codes[i] = n
    return Sections(codes, {t: np.asarray(v, np.int32) for t, v in holders.items()}, paths)


def sections(index: Index) -> Sections:
    """The index's :class:`Sections` (cached per loaded index: one read of the store, as for
    :func:`doc_codes`)."""
    got = _sections.get(index)
    if got is None:
        got = _sections[index] = section_numbering(index.store.passage_sections())
    return got
