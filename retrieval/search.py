"""Question → ranked candidate passages: dense (FAISS) and BM25, fused.

``linear`` fusion (the default) min-max normalizes each side over the candidate pool and mixes them
with ``dense_weight``; ``rrf`` is reciprocal rank fusion. Both were compared on the shared dev set and
the SciFact train split (see ``docs/RANKING.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import Index


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
                   mode: str = "hybrid") -> Pool:
    """The union of each side's ``candidates`` best passages, every one scored on both sides.

    Args:
        index: the loaded index.
        qvec: normalized question vector.
        question: the question text (for BM25).
        candidates: how many passages each side contributes.
        mode: ``hybrid``, ``dense`` or ``bm25`` (the last two for measurement).
    """
    d_ids, d_scores = index.search_dense(qvec, candidates) if mode != "bm25" else (np.zeros(0, np.int64), None)
    all_bm25 = index.lexical.scores(question)
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


def rank_pool(pool: Pool, *, method: str = "linear", dense_weight: float = 0.5, rrf_k: int = 60,
              mode: str = "hybrid", limit: int | None = None) -> list[Candidate]:
    """The pool fused (see :func:`fuse`), best first; ``limit`` keeps only the best."""
    if pool.ids.size == 0:
        return []
    if mode == "dense":
        fused = pool.dense.astype(np.float64)
    elif mode == "bm25":
        fused = pool.bm25.astype(np.float64)
    else:
        fused = fuse(pool.dense, pool.bm25, method=method, dense_weight=dense_weight, rrf_k=rrf_k)
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
