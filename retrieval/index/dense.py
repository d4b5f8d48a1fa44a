"""The dense side of an index: passage vectors in FAISS, fp16, exact (flat) or IVF above a threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# IVF above the ANN threshold: ~4·sqrt(n) lists, trained on at most 64 vectors per list, and by
# default max(32, lists/16) of them scanned per question: recall@10 0.96-0.98 of exact search at
# 100k and 1M passages (bench/RESULTS.md, ANN section).
DEFAULT_NPROBE = 32


def auto_nprobe(nlist: int) -> int:
    """Lists scanned per question when the ``nprobe`` setting is 0 (auto)."""
    return int(min(nlist, max(DEFAULT_NPROBE, nlist // 16)))


def ivf_lists(n: int) -> int:
    """Number of IVF lists for ``n`` vectors."""
    return int(max(1, min(65536, n, max(64, 4 * np.sqrt(max(n, 1))))))


def ivf_of(index):
    """The IVF part of a FAISS index, or None when it has none."""
    if index is None:
        return None
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


def dense_index(vecs: np.ndarray, kind: str, previous=None, seed: int = 0):
    """A FAISS inner-product index over ``vecs`` (normalized float32 rows), vectors stored in fp16.

    Args:
        vecs: the passage vectors, in passage-id order.
        kind: ``flat`` (exact search) or ``ivf`` (inverted lists: approximate, for large corpora).
        previous: the previous version's FAISS index; an IVF one with a similar number of lists lends
            its trained centroids, so an incremental build skips k-means.
        seed: sampling seed for k-means training.
    """
    import faiss

    n, d = vecs.shape
    fp16 = faiss.ScalarQuantizer.QT_fp16  # half the memory traffic of fp32, cosine error ~1e-4
    if kind == "flat":
        index = faiss.IndexScalarQuantizer(d, fp16, faiss.METRIC_INNER_PRODUCT)
    elif kind == "ivf":
        nlist = ivf_lists(n)
        old = ivf_of(previous)
        if old is not None and old.d == d and nlist / 2 <= old.nlist <= nlist * 2:
            nlist = old.nlist
            quantizer = faiss.IndexFlatIP(d)
            quantizer.add(old.quantizer.reconstruct_n(0, old.nlist))
        else:
            quantizer, old = faiss.IndexFlatIP(d), None
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, fp16, faiss.METRIC_INNER_PRODUCT, False)
        index.own_fields = True
        quantizer.this.disown()
        index.cp.min_points_per_centroid = 1  # we sample ourselves; no "too few points" warning
        if old is None:
            rng = np.random.default_rng(seed)
            sample = vecs if n <= 64 * nlist else vecs[np.sort(rng.choice(n, 64 * nlist, replace=False))]
            index.train(np.ascontiguousarray(sample))
        else:
            index.is_trained = True  # centroids reused; fp16 coding learns nothing
        index.nprobe = auto_nprobe(nlist)
    else:
        raise ValueError(f"unknown dense index kind {kind!r}")
    if n:
        index.add(np.ascontiguousarray(vecs))
    return index


def _fp16_rows(index) -> np.ndarray | None:
    """A zero-copy ``(n, d)`` float16 view of a flat fp16 index's codes (reading rows back through
    FAISS decodes one vector per call), or None for other index types."""
    import faiss

    if not isinstance(index, faiss.IndexScalarQuantizer) or index.ntotal == 0 \
            or index.sq.qtype != faiss.ScalarQuantizer.QT_fp16 or index.code_size != 2 * index.d:
        return None
    buf = faiss.rev_swig_ptr(index.codes.data(), index.ntotal * index.code_size)
    return np.asarray(buf).view(np.float16).reshape(index.ntotal, index.d)


class Dense:
    """Passage vectors of one version: search, vectors by id, IVF probing. Thread-safe for reads.

    Args:
        index: a FAISS index (as built by :func:`dense_index` or read from ``dense.faiss``).
        ef_search: HNSW search depth, for indexes built before IVF replaced HNSW.
    """

    def __init__(self, index, ef_search: int = 128):
        self.faiss = index
        if hasattr(index, "hnsw"):  # indexes built before IVF replaced HNSW
            index.hnsw.efSearch = int(ef_search)
        self.ivf = ivf_of(index)
        if self.ivf is not None:
            self.ivf.make_direct_map()  # passage vectors are read back by id for fusion and reuse
        self._fp16 = _fp16_rows(index)

    @classmethod
    def build(cls, vecs: np.ndarray, kind: str, previous: "Dense | None" = None, seed: int = 0) -> "Dense":
        """See :func:`dense_index`."""
        return cls(dense_index(vecs, kind, previous.faiss if previous is not None else None, seed))

    @classmethod
    def load(cls, path: Path, ef_search: int = 128) -> "Dense":
        import faiss

        return cls(faiss.read_index(str(path)), ef_search)

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.faiss, str(path))

    @property
    def ntotal(self) -> int:
        return int(self.faiss.ntotal)

    @property
    def d(self) -> int:
        return int(self.faiss.d)

    def vectors(self, ids) -> np.ndarray:
        """Stored passage vectors as float32 rows (for reuse and for near-duplicate checks)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros((0, self.d), np.float32)
        if self._fp16 is not None:
            return self._fp16[ids].astype(np.float32)
        return self.faiss.reconstruct_batch(ids)

    def set_nprobe(self, nprobe: int) -> None:
        """Lists an IVF index scans per question (more: slower, closer to exact; 0: automatic);
        no-op when the index is exact."""
        if self.ivf is not None:
            self.ivf.nprobe = auto_nprobe(self.ivf.nlist) if nprobe <= 0 else max(1, min(int(nprobe), self.ivf.nlist))

    def search(self, qvec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, scores)`` of the ``n`` nearest passages by inner product, best first."""
        n = min(n, self.ntotal)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.faiss.search(qvec.reshape(1, -1).astype(np.float32), n)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]
