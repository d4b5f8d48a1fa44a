"""Question → ranked candidate passages: dense (FAISS) and BM25, fused.

``linear`` fusion (the default) min-max normalizes each side over the candidate pool and mixes them
with ``dense_weight``; ``rrf`` is reciprocal rank fusion. Both were compared on the shared dev set and
the SciFact train split (see ``docs/RANKING.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval.model.adapt import apply as apply_adapter
from retrieval.index.loaded import Index
from retrieval.index.pages import page_centroids


@dataclass
class Candidate:
    """A passage in the candidate pool.

    Args:
        id: passage id (row in the index).
        dense: cosine similarity of question and passage.
        bm25: raw BM25 score (0 when no term matched).
        score: fused score, higher is better.
    """

    id: int
    dense: float
    bm25: float
    score: float = 0.0


def _minmax(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _zscore(x: np.ndarray) -> np.ndarray:
    if x.size == 0:
        return x
    sd = float(x.std())
    return (x - float(x.mean())) / sd if sd > 0 else np.zeros_like(x)


def fuse(dense: np.ndarray, bm25: np.ndarray, *, method: str = "linear", dense_weight: float = 0.5,
         rrf_k: int = 60) -> np.ndarray:
    """Fused scores for a pool given each side's scores (aligned arrays).

    Args:
        dense: cosine similarities.
        bm25: BM25 scores (0 = no match).
        method: ``linear`` (min-max normalized, weighted sum), ``zscore`` (standardized, weighted
            sum) or ``rrf``.
        dense_weight: weight of the dense side; BM25 gets ``1 - dense_weight``.
        rrf_k: the RRF constant.
    """
    if method == "rrf":
        def ranks(x):
            order = np.argsort(-x, kind="stable")
            r = np.empty(len(x), np.float64)
            r[order] = np.arange(1, len(x) + 1)
            return r

        d = dense_weight / (rrf_k + ranks(dense))
        b = np.where(bm25 > 0, (1 - dense_weight) / (rrf_k + ranks(bm25)), 0.0)
        return (d + b) * (rrf_k + 1)  # scaled so a double first place scores 1
    if method == "zscore":
        return dense_weight * _zscore(dense) + (1 - dense_weight) * _zscore(bm25)
    return dense_weight * _minmax(dense) + (1 - dense_weight) * _minmax(bm25)


@dataclass
class Pool:
    """Every candidate of one question with both sides' scores (aligned arrays, ids ascending).

    Fusion settings do not change the pool, so a sweep can score it many times (``bench/generalize.py``).
    """

    ids: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray


def candidate_pool(index: Index, qvec: np.ndarray, question: str, *, candidates: int = 50,
                   mode: str = "hybrid", allowed: np.ndarray | None = None) -> Pool:
    """The union of each side's ``candidates`` best passages, every one scored on both sides.

    Args:
        index: the loaded index.
        qvec: normalized question vector.
        question: the question text (for BM25).
        candidates: how many passages each side contributes.
        mode: ``hybrid``, ``dense`` or ``bm25`` (the last two for measurement).
        allowed: per passage id, whether the asker may see it (None: all); the others never enter
            the pool, so each side's ``candidates`` best are the best visible ones.
    """
    # only the dense side reads the adapted question; quotes, pages and confidence keep the encoder's
    qvec = apply_adapter(index.adapter, qvec)
    if mode == "bm25":
        d_ids, d_scores = np.zeros(0, np.int64), None
    elif allowed is None:
        d_ids, d_scores = index.search_dense(qvec, candidates)
    else:
        d_ids, d_scores = _visible_dense(index, qvec, candidates, allowed)
    all_bm25 = index.lexical.scores(question)
    if allowed is not None and all_bm25.size:
        all_bm25 = np.where(allowed[:all_bm25.size], all_bm25, 0.0).astype(np.float32)
    if mode != "dense" and all_bm25.size:
        n = min(candidates, all_bm25.size)
        top = np.argpartition(-all_bm25, n - 1)[:n]
        b_ids = top[all_bm25[top] > 0].astype(np.int64)
    else:
        b_ids = np.zeros(0, np.int64)
    ids = np.unique(np.concatenate([d_ids, b_ids]))
    if ids.size == 0:
        return Pool(ids, np.zeros(0, np.float32), np.zeros(0, np.float32))
    # FAISS already scored its own hits; only BM25-only candidates need their vectors read back
    dense = np.empty(ids.size, np.float32)
    have = np.zeros(ids.size, bool)
    if d_ids.size:
        at = np.searchsorted(ids, d_ids)
        dense[at] = d_scores
        have[at] = True
    if not have.all():
        dense[~have] = index.vectors(ids[~have]) @ qvec.astype(np.float32)
    bm25 = all_bm25[ids] if all_bm25.size else np.zeros(ids.size, np.float32)
    return Pool(ids, dense, bm25)


def _visible_dense(index: Index, qvec: np.ndarray, n: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best dense hits among the ``allowed`` passages: FAISS asked for as many more as the
    hidden share calls for (at most 20×), hidden hits dropped."""
    total, shown = allowed.size, int(allowed.sum())
    if shown == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    fetch = min(total, n * min(20, -(-total // shown)))
    ids, scores = index.search_dense(qvec, fetch)
    ids, scores = np.asarray(ids, np.int64), np.asarray(scores, np.float32)
    keep = (ids >= 0) & (ids < total)
    keep[keep] = allowed[ids[keep]]
    return ids[keep][:n], scores[keep][:n]


def page_cosines(index: Index, codes: np.ndarray, dense: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    """Per pool entry: the question's cosine to its page's centroid.

    Args:
        codes: the pool's document numbers (:func:`doc_codes`).
        dense: the pool's passage cosines (a one-passage page's centroid is its passage).
        qvec: the normalized question vector.
    """
    rows_of, cents = page_centroids(index)
    rows = rows_of[codes]
    out = dense.astype(np.float64)
    multi = rows >= 0
    if multi.any():  # a pool has far fewer pages than passages
        u, at = np.unique(rows[multi], return_inverse=True)
        out[multi] = (np.asarray(cents[u], np.float32) @ qvec.astype(np.float32))[at]
    return out


def page_support(codes: np.ndarray, fused: np.ndarray, top: int = 3) -> np.ndarray:
    """Per pool entry: the mean of its page's ``top`` best fused scores in the pool (absent ones count 0).

    A page with several passages close to the question is more likely the page that answers it than a
    page with one passage that mentions its words in passing; the passage order inside a page is kept.
    """
    order = np.lexsort((-fused, codes))
    c = codes[order]
    first = np.r_[0, np.flatnonzero(c[1:] != c[:-1]) + 1]
    rank = np.arange(c.size) - np.repeat(first, np.diff(np.r_[first, c.size]))
    keep = order[rank < top]
    total = np.bincount(codes[keep], weights=np.maximum(fused[keep], 0.0), minlength=int(codes.max()) + 1)
    return total[codes] / top


def rank_pool(pool: Pool, *, method: str = "linear", dense_weight: float = 0.5, rrf_k: int = 60,
              mode: str = "hybrid", limit: int | None = None, page_weight: float = 0.0,
              codes: np.ndarray | None = None, bonus: np.ndarray | None = None) -> list[Candidate]:
    """The pool fused (see :func:`fuse`), best first; ``limit`` keeps only the best.

    Args:
        page_weight: weight of :func:`page_support` added to each fused score (needs ``codes``).
        codes: the document number of each pool entry (``doc_codes(index)[pool.ids]``).
        bonus: added to each pool entry's score after fusion (page-level evidence, aligned with the pool).
    """
    if pool.ids.size == 0:
        return []
    if mode == "dense":
        fused = pool.dense.astype(np.float64)
    elif mode == "bm25":
        fused = pool.bm25.astype(np.float64)
    else:
        fused = fuse(pool.dense, pool.bm25, method=method, dense_weight=dense_weight, rrf_k=rrf_k)
    if page_weight and codes is not None:
        fused = fused + page_weight * page_support(codes, fused)
    if bonus is not None:
        fused = fused + bonus
    order = np.argsort(-fused, kind="stable")[:limit]
    return [Candidate(int(pool.ids[i]), float(pool.dense[i]), float(pool.bm25[i]), float(fused[i])) for i in order]


def hybrid(index: Index, qvec: np.ndarray, question: str, *, candidates: int = 50, method: str = "linear",
           dense_weight: float = 0.5, rrf_k: int = 60, mode: str = "hybrid",
           limit: int | None = None) -> list[Candidate]:
    """Candidates from both sides, each scored on both, fused, best first.

    Args:
        index: the loaded index.
        qvec: normalized question vector.
        question: the question text (for BM25).
        candidates: how many passages each side contributes.
        mode: ``hybrid``, ``dense`` or ``bm25`` (the last two for measurement).
        limit: return only the best ``limit`` (the whole pool is still scored and fused).
    """
    pool = candidate_pool(index, qvec, question, candidates=candidates, mode=mode)
    return rank_pool(pool, method=method, dense_weight=dense_weight, rrf_k=rrf_k, mode=mode, limit=limit)
