"""One question → an answer: the one ranking path every caller takes (``citebot ask``, the bot,
``citebot eval`` and bench/).

:func:`rank` builds the candidate pool, fuses it with the page evidence (:mod:`retrieval.query.pages`)
and rescores the best passages with their quotes (:mod:`retrieval.query.rescore`); :func:`answer`
composes what :func:`rank` returns (:mod:`retrieval.query.compose`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from retrieval.index.loaded import Index
from retrieval.query.compose import compose
from retrieval.query.pages import page_evidence
from retrieval.query.rescore import QUOTE_POOL, Scored, score_candidates
from retrieval.query.search import Candidate, Pool, candidate_pool, rank_pool
from retrieval.types import Answer


@dataclass
class Ranking:
    """One question ranked: its candidate pool, the quoted passages rescored (best first) and, when
    asked for, the rest of the fused pool in order (deeper measurements: R@100)."""

    pool: Pool
    scored: list[Scored]
    rest: list[Candidate] = field(default_factory=list)


def rank(index: Index, question: str, qvec: np.ndarray, s, *, mode: str = "hybrid", pool: Pool | None = None,
         deep: bool = False) -> Ranking:
    """The ranking ``answer`` composes, and the one bench/ measures.

    Args:
        index: the loaded index.
        question: the cleaned question.
        qvec: its normalized vector.
        s: the :class:`~retrieval.config.Settings` (ranking fields).
        mode: ``hybrid``, ``dense`` or ``bm25`` (the last two for measurement).
        pool: the question's candidate pool when already computed (sweeps reuse it).
        deep: keep the fused pool beyond the quoted passages in :attr:`Ranking.rest`.
    """
    if pool is None:
        pool = candidate_pool(index, qvec, question, candidates=s.candidates, mode=mode)
    cands = rank_pool(pool, method=s.fusion, dense_weight=s.dense_weight, rrf_k=s.rrf_k, mode=mode,
                      limit=None if deep else QUOTE_POOL, **page_evidence(index, question, pool, s, qvec))
    scored = score_candidates(index, qvec, question, cands[:QUOTE_POOL], sentence_weight=s.sentence_weight,
                              quote_lexical=s.quote_lexical, type_weight=s.type_weight,
                              title_weight=s.title_weight, doc_weight=s.doc_weight,
                              quote_pick_lexical=s.quote_pick_lexical, explain_weight=s.explain_weight)
    return Ranking(pool, scored, cands[QUOTE_POOL:])


def answer(index: Index, question: str, qvec: np.ndarray, s, *, k: int | None = None, unique_docs: bool = False,
           mode: str = "hybrid", pool: Pool | None = None, trace: dict | None = None) -> Answer:
    """Rank, quote, cite and judge one question (what ``Engine.ask`` runs).

    Args:
        index: the loaded index.
        question: the cleaned question.
        qvec: its normalized vector.
        s: the :class:`~retrieval.config.Settings` (ranking fields).
        k: results (default ``s.k``).
        unique_docs: one result per document.
        mode: ``hybrid``, ``dense`` or ``bm25`` (the last two for measurement).
        pool: the question's candidate pool when already computed (sweeps reuse it).
        trace: filled with the evidence, ``p_answerable`` and the ranking when given (for measurement).
    """
    r = rank(index, question, qvec, s, mode=mode, pool=pool)
    if trace is not None:
        trace["ranking"] = r
    return compose(index, question, r.scored, k=k or s.k, per_section=s.per_section, per_doc=s.per_doc,
                   unique_docs=unique_docs,
                   dedup_threshold=s.dedup_threshold, abstain_threshold=s.abstain_threshold, pool=r.pool, trace=trace)
