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
from retrieval.index.pages import doc_codes, doc_names
from retrieval.query import confidence as conf
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


def visible_passages(index: Index, visible) -> np.ndarray | None:
    """Per passage id, whether ``visible(doc_id)`` lets the asker see its document; None when all are."""
    names = doc_names(index)
    shown = np.fromiter((bool(visible(d)) for d in names), bool, len(names))
    return None if shown.all() else shown[doc_codes(index)]


def _pool_subset(pool: Pool, allowed: np.ndarray) -> Pool:
    keep = allowed[pool.ids]
    return Pool(pool.ids[keep], pool.dense[keep], pool.bm25[keep])


def rank(index: Index, question: str, qvec: np.ndarray, s, *, mode: str = "hybrid", pool: Pool | None = None,
         deep: bool = False, allowed: np.ndarray | None = None) -> Ranking:
    """The ranking ``answer`` composes, and the one bench/ measures.

    Args:
        index: the loaded index.
        question: the cleaned question.
        qvec: its normalized vector.
        s: the :class:`~retrieval.config.Settings` (ranking fields).
        mode: ``hybrid``, ``dense`` or ``bm25`` (the last two for measurement).
        pool: the question's candidate pool when already computed (sweeps reuse it).
        deep: keep the fused pool beyond the quoted passages in :attr:`Ranking.rest`.
        allowed: per passage id, whether the asker may see it (None: all; see :func:`visible_passages`).
    """
    if allowed is not None and pool is not None:
        pool = _pool_subset(pool, allowed)
    if pool is None:
        pool = candidate_pool(index, qvec, question, candidates=s.candidates, mode=mode, allowed=allowed)
    cands = rank_pool(pool, method=s.fusion, dense_weight=s.dense_weight, rrf_k=s.rrf_k, mode=mode,
                      limit=None if deep else QUOTE_POOL, **page_evidence(index, question, pool, s, qvec))
    scored = score_candidates(index, qvec, question, cands[:QUOTE_POOL], sentence_weight=s.sentence_weight,
                              quote_lexical=s.quote_lexical, type_weight=s.type_weight,
                              title_weight=s.title_weight, doc_weight=s.doc_weight,
                              quote_pick_lexical=s.quote_pick_lexical, explain_weight=s.explain_weight)
    return Ranking(pool, scored, cands[QUOTE_POOL:])


def answer(index: Index, question: str, qvec: np.ndarray, s, *, k: int | None = None, unique_docs: bool = False,
           mode: str = "hybrid", pool: Pool | None = None, trace: dict | None = None, visible=None,
           encode=None) -> Answer:
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
        visible: ``visible(doc_id) -> bool``, whether the asker may see a document (None: all). A
            hidden passage is as if it did not exist: it never enters the pool, and the confidence,
            the reason, "also in" and the disagreements are computed without it.
        encode: ``encode(text) -> vector``, the question encoder: with it, a rare word no passage has
            is tested against the closest passages (:func:`~retrieval.query.confidence.carried_words`)
            before it counts against the answer.
    """
    allowed = visible_passages(index, visible) if visible is not None else None
    r = rank(index, question, qvec, s, mode=mode, pool=pool, allowed=allowed)
    if trace is None:
        trace = {}
    trace["ranking"] = r
    stats = conf.VisibleStats(index.lexical, allowed) if allowed is not None else None

    def composed(into: dict, carried=frozenset()):
        return compose(index, question, r.scored, k=k or s.k, per_section=s.per_section, per_doc=s.per_doc,
                       unique_docs=unique_docs, join_chars=s.join_chars, dedup_threshold=s.dedup_threshold,
                       abstain_threshold=s.abstain_threshold, pool=r.pool, trace=into, stats=stats,
                       carried=carried)

    a = composed(trace)
    if encode is None or a.answered or s.carried_gain <= -1 or not r.scored:
        return a
    # an abstention that rests on rare English words: tested only when without them it would answer
    # (the test costs one more encoding)
    words = [w for w in trace["evidence"].rare_words if conf.english_word(w)]
    if words:
        trial: dict = {}
        b = composed(trial, frozenset(words))
        if b.answered:
            near = index.vectors([x.cand.id for x in r.scored[:CARRY_PASSAGES]])
            if conf.carried_words(question, qvec, words, near, encode, s.carried_gain):
                trace.update(trial)
                return b
    return a


#: how many of the best passages a rare absent word is tested against
CARRY_PASSAGES = 5
