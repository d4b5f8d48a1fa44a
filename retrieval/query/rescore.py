"""The quoted pool rescored: each of the best fused candidates is quoted (its best sentence, see
:mod:`retrieval.query.quote`) and its score gains that sentence's value, its title and section path's
cover of the question (``title_weight``) and its document's other strong passages (``doc_weight``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from retrieval.index.loaded import Index
from retrieval.index.lexical import analyze
from retrieval.query.pages import field_cover
from retrieval.query.quote import answer_type, pick_quote, quotable, quotable_spans
from retrieval.query.search import Candidate


#: how many fused candidates are quoted and rescored per question
QUOTE_POOL = 30


@dataclass
class Scored:
    cand: Candidate
    row: dict
    quote: tuple[int, int]
    quote_vec: np.ndarray | None
    quote_sim: float
    score: float


def score_candidates(index: Index, qvec: np.ndarray, question: str, cands: list[Candidate],
                     *, sentence_weight: float = 0.0, quote_lexical: float = 0.1, type_weight: float = 0.0,
                     pool: int = QUOTE_POOL, title_weight: float = 0.0, doc_weight: float = 0.0,
                     quote_pick_lexical: float | None = None) -> list[Scored]:
    """Quote each of the top ``pool`` candidates and rescore with the best sentence's similarity.

    Args:
        sentence_weight: weight of the best sentence's value (cosine + bonuses).
        quote_lexical: weight of question-term coverage when choosing the quote.
        type_weight: bonus for a sentence of the expected answer type.
        title_weight: weight of the IDF share of question terms named by the passage's document
            title and section path.
        doc_weight: weight of the document's best *other* passage score in the pool (a page with
            several good passages is more likely the right page).
        quote_pick_lexical: when set, the quote shown for the best ``REPICK`` passages is chosen again
            with this weight of question-term coverage; the passage scores keep ``quote_lexical``.
    """
    cands = cands[:pool]
    rows = index.passages([c.id for c in cands])
    q_terms = set(analyze(question))
    expect = answer_type(question)
    fields = field_cover(index, question, rows) if title_weight else {}
    out: list[Scored] = []
    for c in cands:
        row = rows.get(c.id)
        if row is None:
            continue
        spans = row["spans"] or [(0, len(row["text"]))]
        svecs = index.sentence_vectors(row) if row["spans"] else np.zeros((0, qvec.size), np.float32)
        sims = svecs @ qvec if len(svecs) else np.full(len(spans), c.dense, np.float32)
        i, sim, val = pick_quote(row["text"], spans, sims, q_terms, quote_lexical, expect, type_weight)
        rank_val = val
        if len(spans) > 1 and not quotable(row["text"], spans[i], row["heading"]):
            # the passage keeps the value of its best sentence; the quote shown is its best answering one
            i, sim, _ = pick_quote(row["text"], spans, sims, q_terms, quote_lexical, expect, type_weight,
                                   quotable_spans(row, spans))
        qv = svecs[i] if len(svecs) else None
        bonus = title_weight * fields.get(c.id, 0.0)
        out.append(Scored(c, row, spans[i], qv, sim, c.score + sentence_weight * rank_val + bonus))
    if doc_weight and out:
        # each passage gains from the best *other* passage of its document (scores read before any update)
        by_doc: dict[str, list[int]] = {}
        for j, s in enumerate(out):
            by_doc.setdefault(s.row["doc_id"], []).append(j)
        base = [s.score for s in out]
        for members in by_doc.values():
            if len(members) > 1:
                for j in members:
                    out[j].score += doc_weight * max(base[m] for m in members if m != j)
    out.sort(key=lambda s: -s.score)
    if quote_pick_lexical is not None and quote_pick_lexical != quote_lexical:
        for s in out[:REPICK]:
            _repick(index, qvec, s, q_terms, quote_pick_lexical, expect, type_weight)
    return out


#: how many of the best passages get their shown quote chosen again (``quote_pick_lexical``): enough for
#: ``k`` results after per-document limits and folded duplicates
REPICK = 10


def _repick(index: Index, qvec: np.ndarray, s: Scored, q_terms: set[str], lexical: float,
            expect: re.Pattern | None, type_weight: float) -> None:
    """Choose ``s``'s shown quote again with another weight of question-term coverage (in place)."""
    row = s.row
    if not row["spans"]:
        return
    svecs = index.sentence_vectors(row)
    i, sim, _ = pick_quote(row["text"], row["spans"], svecs @ qvec, q_terms, lexical, expect, type_weight,
                           quotable_spans(row, row["spans"]))
    s.quote, s.quote_vec, s.quote_sim = row["spans"][i], svecs[i], sim
