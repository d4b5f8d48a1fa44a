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
from retrieval.query.quote import (answer_type, asks_explanation, explains_nothing, explanatory, pick_quote,
                                   other_part, question_parts, quotable, quotable_spans, with_lead_in)
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
                     quote_pick_lexical: float | None = None, explain_weight: float = 0.0) -> list[Scored]:
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
        explain_weight: for a how/why question, the bonus of a prose sentence over a code or synopsis
            line when the shown quote is chosen (:func:`~retrieval.query.quote.prose_share`).
    """
    cands = cands[:pool]
    rows = index.passages([c.id for c in cands])
    q_terms = set(analyze(question))
    expect = answer_type(question)
    prose = explain_weight if asks_explanation(question) else 0.0
    fields = field_cover(index, question, rows) if title_weight else {}
    out: list[Scored] = []
    for c in cands:
        row = rows.get(c.id)
        if row is None:
            continue
        spans = row.spans or [(0, len(row.text))]
        svecs = index.sentence_vectors(row) if row.spans else np.zeros((0, qvec.size), np.float32)
        sims = svecs @ qvec if len(svecs) else np.full(len(spans), c.dense, np.float32)
        i, sim, val = pick_quote(row.text, spans, sims, q_terms, quote_lexical, expect, type_weight)
        rank_val = val
        if len(spans) > 1 and not quotable(row.text, spans[i], row.heading):
            # the passage keeps the value of its best sentence; the quote shown is its best answering one
            i, sim, _ = pick_quote(row.text, spans, sims, q_terms, quote_lexical, expect, type_weight,
                                   quotable_spans(row, spans), prose)
        qv = svecs[i] if len(svecs) else None
        bonus = title_weight * fields.get(c.id, 0.0)
        out.append(Scored(c, row, with_lead_in(row.text, spans, i), qv, sim,
                          c.score + sentence_weight * rank_val + bonus))
    if doc_weight and out:
        # each passage gains from the best *other* passage of its document (scores read before any update)
        by_doc: dict[str, list[int]] = {}
        for j, s in enumerate(out):
            by_doc.setdefault(s.row.doc_id, []).append(j)
        base = [s.score for s in out]
        for members in by_doc.values():
            if len(members) > 1:
                for j in members:
                    out[j].score += doc_weight * max(base[m] for m in members if m != j)
    out.sort(key=lambda s: -s.score)
    for s in out[:REPICK]:
        nxt = _explanation(index, s)
        if nxt is not None:
            s.row = nxt
        if nxt is not None or prose or (quote_pick_lexical is not None and quote_pick_lexical != quote_lexical):
            lexical = quote_lexical if quote_pick_lexical is None else quote_pick_lexical
            _repick(index, qvec, s, q_terms, lexical, expect, type_weight, prose)
    parts = question_parts(question)
    if parts:
        for s in out[:REPICK]:
            _both_parts(s, parts)
    return out


def _both_parts(s: Scored, parts: list[frozenset[str]]) -> None:
    """Widen ``s``'s shown quote to the nearby sentence answering the other part of a two-part question."""
    spans = s.row.spans
    if not spans:
        return
    i = next((n for n, (a, b) in enumerate(spans) if a <= s.quote[0] < b), None)
    if i is None:
        return
    j = other_part(s.row.text, spans, s.quote, i, parts, quotable_spans(s.row, spans))
    if j is not None:
        s.quote = (min(s.quote[0], spans[j][0]), max(s.quote[1], spans[j][1]))


def _explanation(index: Index, s: Scored):
    """The passage right after ``s`` in its section when ``s`` explains nothing (a code example, a
    synopsis, a question) and that one does: the reply shows the explanation (None otherwise)."""
    row = s.row
    if not explains_nothing(row.text, row.spans):
        return None
    nxt = index.passages([s.cand.id + 1]).get(s.cand.id + 1)
    if nxt is None or nxt.doc_id != row.doc_id:
        return None
    here = list(row.heading_path or [])
    if list(nxt.heading_path or [])[:len(here)] != here:
        return None
    return nxt if explanatory(nxt.text, nxt.spans, nxt.heading) else None


#: how many of the best passages get their shown quote chosen again (``quote_pick_lexical``): enough for
#: ``k`` results after per-document limits and folded duplicates
REPICK = 10


def _repick(index: Index, qvec: np.ndarray, s: Scored, q_terms: set[str], lexical: float,
            expect: re.Pattern | None, type_weight: float, prose: float = 0.0) -> None:
    """Choose ``s``'s shown quote again with another weight of question-term coverage (in place)."""
    row = s.row
    if not row.spans:
        s.quote = (0, len(row.text))
        return
    svecs = index.sentence_vectors(row)
    i, sim, _ = pick_quote(row.text, row.spans, svecs @ qvec, q_terms, lexical, expect, type_weight,
                           quotable_spans(row, row.spans), prose)
    s.quote, s.quote_vec, s.quote_sim = with_lead_in(row.text, row.spans, i), svecs[i], sim
