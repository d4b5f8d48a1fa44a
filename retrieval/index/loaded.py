"""A loaded, read-only index version: the store, the dense vectors, BM25 and the manifest together.

The parts live in their own modules: :mod:`retrieval.index.store` (SQLite), :mod:`retrieval.index.dense`
(FAISS), :mod:`retrieval.index.lexical` (BM25), :mod:`retrieval.index.versions` (pointer, lock, manifest,
checksums); :mod:`retrieval.index.build` writes new versions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.index.dense import Dense
from retrieval.errors import IndexCorrupt
from retrieval.index.lexical import Lexical
from retrieval.index.store import StoredPassage, Store
from retrieval.types import Paragraph
from retrieval.index import versions as layout
from retrieval.index.versions import FILES, REBUILD_HINT, current_version, file_digest, read_manifest, verify

__all__ = ["FILES", "REBUILD_HINT", "Index", "current_version", "file_digest", "open_index"]


class Index:
    """A loaded, read-only index version. Thread-safe for queries.

    Args:
        path: the version folder.
        verify: check the manifest's checksums while loading.
    """

    def __init__(self, path: Path, verify: bool = True):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if verify:
            self.verify(full=False)
        self.version = self.path.name
        m = self.manifest
        try:
            self.dense = Dense.load(self.path / layout.DENSE, int(m.get("ef_search", 128)))
            self.sentences = np.load(self.path / layout.SENTENCES, mmap_mode="r")
            # page centroids; versions written before them have none (computed on first use)
            have = (self.path / layout.PAGES).is_file() and (self.path / layout.PAGE_ROWS).is_file()
            self.pages = np.load(self.path / layout.PAGES, mmap_mode="r") if have else None
            self.page_rows = np.load(self.path / layout.PAGE_ROWS) if have else None
            # the query adapter (retrieval/model/adapt.py) when this version was built with adapt = true
            adapter = self.path / layout.ADAPTER
            self.adapter = np.load(adapter) if adapter.is_file() else None
            self.lexical = Lexical.load(self.path / layout.BM25)
            self.store = Store(self.path / layout.STORE)
        except Exception as e:  # faiss raises RuntimeError, sqlite DatabaseError, numpy ValueError, …
            raise IndexCorrupt(f"index at {self.path} is damaged ({type(e).__name__}); {REBUILD_HINT}") from None
        if not (self.store.passage_count == self.dense.ntotal == self.lexical.n == m["passages"]) \
                or self.sentences.ndim != 2 or len(self.sentences) != m.get("sentences", len(self.sentences)) \
                or self.dense.d != m.get("dim", self.dense.d) or self.sentences.shape[1] != self.dense.d \
                or (self.pages is not None and (self.pages.ndim != 2 or self.pages.shape[1] != self.dense.d
                                                or self.page_rows.ndim != 1
                                                or int(self.page_rows.max(initial=-1)) >= len(self.pages))) \
                or (self.adapter is not None and self.adapter.shape != (self.dense.d, self.dense.d)):
            raise IndexCorrupt(f"index at {self.path} has inconsistent parts; {REBUILD_HINT}")

    @property
    def structured(self) -> bool:
        """The store has heading paths and pages (stores written before them still load)."""
        return self.store.structured

    def verify(self, full: bool = False) -> None:
        """Raise :class:`IndexCorrupt` when a file is missing or its checksum differs.

        Args:
            full: hash large files completely (by default they are checked by size and samples).
        """
        verify(self.path, self.manifest, full)

    # -- reads --------------------------------------------------------------------------------
    def passages(self, ids) -> dict[int, StoredPassage]:
        """Passages by id."""
        return self.store.passages(ids)

    def document(self, doc_id: str) -> dict | None:
        return self.store.document(doc_id)

    def documents(self) -> list[dict]:
        return self.store.documents()

    def paragraphs(self, doc_id: str, first: int, last: int) -> list[Paragraph]:
        return self.store.paragraphs(doc_id, first, last)

    def sentence_vectors(self, row: StoredPassage) -> np.ndarray:
        """The vectors of a passage's sentences, one row per span."""
        a = row.sent_start
        return np.asarray(self.sentences[a:a + len(row.spans)], dtype=np.float32)

    def vectors(self, ids) -> np.ndarray:
        """Stored passage vectors (for reuse and for near-duplicate checks)."""
        return self.dense.vectors(ids)

    def set_nprobe(self, nprobe: int) -> None:
        """See :meth:`Dense.set_nprobe`."""
        self.dense.set_nprobe(nprobe)

    def search_dense(self, qvec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return self.dense.search(qvec, n)

    def close(self) -> None:
        self.store.close()


def open_index(index_dir: Path, verify: bool = True) -> Index:
    """The version ``CURRENT`` points at, loaded (:class:`IndexMissing` / :class:`IndexCorrupt`)."""
    return Index(current_version(index_dir), verify=verify)

