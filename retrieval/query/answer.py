"""Candidates → an answer: quotes, diversity, near-duplicates folded, citations, abstention.

* Quote: the passage sentence closest to the question (cosine of the stored sentence vector, plus a
  small bonus for shared terms); verbatim, a substring of the passage.
* Diversity: at most ``per_doc`` passages of one document (1 in ``unique_docs`` mode).
* Near-duplicates: a passage whose quote says what a higher-ranked quote from another document
  already says (sentence cosine ≥ ``dedup_threshold``) is folded into it as "also in".
* Document evidence: a passage whose document title or section path names the question's terms
  (``title_weight``) and a passage whose document has other strong passages in the pool
  (``doc_weight``) rank higher; both chosen across corpora (``docs/RANKING.md``).
* Abstention: :mod:`retrieval.query.confidence` turns the ranking's evidence into the probability that the
  corpus answers the question; below ``abstain_threshold`` the answer says the corpus does not cover
  it and why. The results are still returned for inspection.
"""

from __future__ import annotations

from dataclasses import dataclass

import re
import weakref

import numpy as np

from retrieval.query import confidence as conf
from retrieval.index.loaded import Index
from retrieval.query.conflicts import disagreements
from retrieval.index.lexical import analyze
from retrieval.query.search import Candidate, Pool, candidate_pool, page_cosines, rank_pool
from retrieval.index.pages import doc_codes, doc_names
from retrieval.types import Answer, Citation, Result


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


# Classic factoid-QA answer types: a "how many" question is answered by a sentence with a number,
# a "when" question by one with a time expression. Only a small tie-breaking bonus.
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
                     r"hundreds?|thousands?|millions?|billions?)\b", re.IGNORECASE)
_TIME = re.compile(r"\b(?:1[5-9]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|"
                   r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   r"today|yesterday|tomorrow|week|weeks|month|months|year|years|day|days|soon|moment|"
                   r"ago|later|earlier|since|until)\b", re.IGNORECASE)
_ASKS_NUMBER = re.compile(r"^\W*how (?:many|much|long|far|old|often|big|large)\b", re.IGNORECASE)
_ASKS_TIME = re.compile(r"^\W*(?:when\b|what (?:year|date|day|month|time)\b|how soon\b)", re.IGNORECASE)


# questions asking what something is, or what it is called: "What is X?", "What did they call X?",
# "What term is used for X?"
_ASKS_DEFINITION = [
    re.compile(p, re.IGNORECASE) for p in (
        r"^\W*(?:what|who)\s+(?:is|are|was|were)\s+(?:an?\s+|the\s+)?([^?]{2,60}?)\W*$",
        r"^\W*what\s+(?:do|does|did)\s+[^?]{1,60}?\s+call\s+(?:an?\s+|the\s+)?([^?]{2,60}?)\W*$",
        r"^\W*what\s+(?:term|word|name|label|title)\b[^?]{0,60}?\s+(?:for|of|to describe)\s+"
        r"(?:an?\s+|the\s+)?([^?]{2,60}?)\W*$",
    )
]


def answer_type(question: str) -> re.Pattern | None:
    """The pattern a sentence answering ``question`` is expected to contain, if the question says.

    "How many …" expects a number, "When …" a time expression, and "What is X?", "Who is X?", "What
    do they call X?" or "What term is used for X?" a definition of X: an apposition ("X, a …") or a
    copula ("X is a …", "X is not the …").
    """
    if _ASKS_NUMBER.search(question):
        return _NUMBER
    if _ASKS_TIME.search(question):
        return _TIME
    for form in _ASKS_DEFINITION:
        m = form.match(question.strip())
        if m and len(m.group(1).split()) <= 6:
            term = r"\s+".join(re.escape(w) for w in m.group(1).split())
            return re.compile(rf"\b{term}\W{{0,3}}(?:,|\(|(?:is|are|was|were)(?:\s+not)?\b)\s*(?:an?|the)\b",
                              re.IGNORECASE)
    return None


def quotable(text: str, span: tuple[int, int], heading: str | None = None) -> bool:
    """Whether a sentence can stand as the quote that answers: not a question ("How do I …?"), not the
    passage's own term or heading (a glossary term, an FAQ entry's title), not a bare pointer of one or
    two words ("See git-pull(1).").

    These sentences still count when ranking (an FAQ entry whose question matches is the right
    passage); they are only not *shown* as the answer while the passage has another sentence.
    """
    s = text[span[0]:span[1]].strip()
    if len(s.split()) < 3 or s.endswith("?"):
        return False
    h = (heading or "").strip().rstrip(":").strip()
    return not h or s.rstrip(":").strip() != h


def _quotable_spans(row, spans: list[tuple[int, int]]) -> list[bool]:
    return [quotable(row["text"], sp, row["heading"]) for sp in spans]


def pick_quote(text: str, spans: list[tuple[int, int]], sims: np.ndarray, q_terms: set[str],
               lexical_weight: float = 0.1, expect: re.Pattern | None = None,
               type_weight: float = 0.05, allowed: list[bool] | None = None) -> tuple[int, float, float]:
    """Index of the best sentence, its cosine to the question, and its combined value.

    Args:
        text: the passage.
        spans: sentence spans in ``text``.
        sims: cosine of each sentence to the question.
        q_terms: analyzed question terms.
        lexical_weight: bonus per unit of question-term coverage.
        expect: the answer type's pattern (see :func:`answer_type`).
        type_weight: bonus for a sentence matching ``expect``.
        allowed: per span, whether it may be chosen (all when None; ignored when none is).
    """
    if not spans:
        return -1, 0.0, 0.0
    if allowed is not None and not any(allowed[:len(spans)]):
        allowed = None
    # a sentence whose cosine plus every possible bonus stays below the best cosine cannot win:
    # skip analyzing it (term analysis is most of the quoting time on long passages)
    bound = max(lexical_weight, 0.0) * bool(q_terms) + (max(type_weight, 0.0) if expect is not None else 0.0)
    top = sims[:len(spans)] if allowed is None else sims[:len(spans)][np.asarray(allowed[:len(spans)], bool)]
    floor = float(np.max(top)) - bound - 1e-9
    best, best_val = 0 if allowed is None else allowed.index(True), -np.inf
    for i, (a, b) in enumerate(spans):
        if float(sims[i]) < floor or (allowed is not None and not allowed[i]):
            continue
        cover = len(q_terms.intersection(analyze(text[a:b]))) / len(q_terms) if q_terms else 0.0
        val = float(sims[i]) + lexical_weight * cover
        if expect is not None and expect.search(text[a:b]):
            val += type_weight
        if val > best_val:
            best, best_val = i, val
    return best, float(sims[best]), float(best_val)


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
    fields = _field_cover(index, question, rows) if title_weight else {}
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
                                   _quotable_spans(row, spans))
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
                           _quotable_spans(row, row["spans"]))
    s.quote, s.quote_vec, s.quote_sim = row["spans"][i], svecs[i], sim


def _field_cover(index: Index, question: str, rows: dict[int, dict]) -> dict[int, float]:
    """Per passage: IDF-weighted share of the question's terms in its document title and section path."""
    st = conf.term_stats(index)
    terms = {t: st.idf(t) for t in analyze(question) if st.has(t)}
    total = sum(terms.values())
    if total <= 0:
        return {}
    titles = {d: _doc_title(index, d) for d in {r["doc_id"] for r in rows.values()}}
    out = {}
    for pid, r in rows.items():
        have = set(analyze(" ".join([titles[r["doc_id"]], *(r.get("heading_path") or []), r.get("heading") or ""])))
        out[pid] = sum(w for t, w in terms.items() if t in have) / total
    return out


_page_terms: "weakref.WeakKeyDictionary[Index, list[frozenset]]" = weakref.WeakKeyDictionary()


def page_title_cover(index: Index, question: str, codes: np.ndarray) -> np.ndarray:
    """Per pool entry: IDF-weighted share of the question's terms named by its page's title and id.

    Computed over the whole pool, before the quoted pool is cut, so the passages of a page the question
    names ("what does git fetch do", "turn on rerere") can be quoted at all.
    """
    terms_of = _page_terms.get(index)
    if terms_of is None:
        # one read of every title, not a query per document (a 1M-document index's first question)
        titles = {d["doc_id"]: f"{d.get('title') or ''} {d['doc_id']}" for d in index.documents()}
        _titles[index] = titles
        terms_of = _page_terms[index] = [frozenset(analyze(titles.get(d, d))) for d in doc_names(index)]
    st = conf.term_stats(index)
    terms = {t: st.idf(t) for t in set(analyze(question)) if st.has(t)}
    total = sum(terms.values())
    if total <= 0 or codes.size == 0:
        return np.zeros(codes.size)
    docs = np.unique(codes)
    cover = np.zeros(int(docs.max()) + 1)
    for d in docs:
        have = terms_of[d]
        cover[d] = sum(w for t, w in terms.items() if t in have) / total
    return cover[codes]


def page_evidence(index: Index, question: str, pool: Pool, s, qvec: np.ndarray) -> dict:
    """``rank_pool``'s page arguments for the settings ``s`` (nothing computed when every weight is 0)."""
    if not (s.page_weight or s.page_title_weight or s.page_dense_weight) or pool.ids.size == 0:
        return {}
    codes = doc_codes(index)[pool.ids]
    bonus = s.page_title_weight * page_title_cover(index, question, codes) if s.page_title_weight else None
    if s.page_dense_weight:
        near = s.page_dense_weight * page_cosines(index, codes, pool.dense, qvec)
        bonus = near if bonus is None else bonus + near
    return {"page_weight": s.page_weight, "codes": codes, "bonus": bonus}


_titles: "weakref.WeakKeyDictionary[Index, dict[str, str]]" = weakref.WeakKeyDictionary()


def _doc_title(index: Index, doc_id: str) -> str:
    """The document's title and id as text (cached per loaded index: titles never change in a version)."""
    cache = _titles.setdefault(index, {})
    if doc_id not in cache:
        doc = index.document(doc_id) or {}
        cache[doc_id] = f"{doc.get('title') or ''} {doc_id}"
    return cache[doc_id]


def visible_passages(index: Index, visible) -> np.ndarray | None:
    """Per passage id, whether ``visible(doc_id)`` lets the asker see its document; None when all are."""
    names = doc_names(index)
    shown = np.fromiter((bool(visible(d)) for d in names), bool, len(names))
    return None if shown.all() else shown[doc_codes(index)]


def answer(index: Index, question: str, qvec: np.ndarray, s, *, k: int | None = None, unique_docs: bool = False,
           mode: str = "hybrid", pool: Pool | None = None, trace: dict | None = None, visible=None) -> Answer:
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
        trace: filled with the evidence and ``p_answerable`` when given (for measurement).
        visible: ``visible(doc_id) -> bool``, whether the asker may see a document (None: all). A
            hidden passage is as if it did not exist: it never enters the pool, and the confidence,
            the reason, "also in" and the disagreements are computed without it.
    """
    allowed = visible_passages(index, visible) if visible is not None else None
    if allowed is not None and pool is not None:
        pool = _pool_subset(pool, allowed)
    if pool is None:
        pool = candidate_pool(index, qvec, question, candidates=s.candidates, mode=mode, allowed=allowed)
    cands = rank_pool(pool, method=s.fusion, dense_weight=s.dense_weight, rrf_k=s.rrf_k, mode=mode, limit=QUOTE_POOL,
                      **page_evidence(index, question, pool, s, qvec))
    scored = score_candidates(index, qvec, question, cands, sentence_weight=s.sentence_weight,
                              quote_lexical=s.quote_lexical, type_weight=s.type_weight,
                              title_weight=s.title_weight, doc_weight=s.doc_weight,
                              quote_pick_lexical=s.quote_pick_lexical)
    return compose(index, question, scored, k=k or s.k, per_doc=s.per_doc, unique_docs=unique_docs,
                   dedup_threshold=s.dedup_threshold, abstain_threshold=s.abstain_threshold, pool=pool, trace=trace,
                   stats=conf.VisibleStats(index.lexical, allowed) if allowed is not None else None)


def _pool_subset(pool: Pool, allowed: np.ndarray) -> Pool:
    keep = allowed[pool.ids]
    return Pool(pool.ids[keep], pool.dense[keep], pool.bm25[keep])


def compose(index: Index, question: str, scored: list[Scored], *, k: int = 3, per_doc: int = 2,
            unique_docs: bool = False, dedup_threshold: float = 0.8, abstain_threshold: float = 0.5,
            pool: Pool | None = None, trace: dict | None = None, stats=None) -> Answer:
    """Pick, fold and cite the results of one question, and judge whether the corpus answers it.

    Args:
        abstain_threshold: answer only when the estimated probability that the corpus answers the
            question (:func:`retrieval.query.confidence.calibrated`) reaches this.
        pool: the candidate pool (its best dense and best BM25 passages are evidence).
        trace: filled with the evidence and ``p_answerable`` when given.
        stats: term statistics for the evidence (an asker's :class:`~retrieval.query.confidence.VisibleStats`).
    """
    per_doc = 1 if unique_docs else per_doc
    chosen: list[Scored] = []
    folded: dict[int, dict[str, int]] = {}  # result index -> {doc id: paragraph of its best duplicate}
    counts: dict[str, int] = {}
    for s in scored:
        if len(chosen) >= k:
            break
        doc = s.row["doc_id"]
        dup = None
        for j, c in enumerate(chosen):
            if c.row["doc_id"] != doc and s.quote_vec is not None and c.quote_vec is not None \
                    and float(s.quote_vec @ c.quote_vec) >= dedup_threshold:
                dup = j
                break
        if dup is not None:
            folded.setdefault(dup, {}).setdefault(doc, s.row["paragraph"])
            continue
        if counts.get(doc, 0) >= per_doc:
            continue
        counts[doc] = counts.get(doc, 0) + 1
        chosen.append(s)
    docs = {d: index.document(d) for d in {s.row["doc_id"] for s in chosen} | {d for v in folded.values() for d in v}}
    results: list[Result] = []
    for rank, s in enumerate(chosen, 1):
        text = s.row["text"]
        a, b = _trim(text, *s.quote)
        also = folded.get(rank - 1, {})
        results.append(Result(
            rank=rank, doc_id=s.row["doc_id"], paragraph=s.row["paragraph"], text=text, quote=text[a:b],
            quote_start=a, score=s.score, dense=s.cand.dense, heading=s.row["heading"],
            citation=_citation(rank, docs[s.row["doc_id"]], s.row["paragraph"], s.row.get("heading_path"),
                               s.row.get("page")),
            also_in=list(also), also_in_citations=[_citation(0, docs[d], p) for d, p in also.items()],
        ))
    ev = _evidence(index, question, scored, chosen, docs, pool, stats)
    p_answerable, confidence = conf.calibrated(ev)
    answered = bool(results) and p_answerable >= abstain_threshold
    why = None
    if not answered:
        topics = [(" › ".join(r.citation.heading_path) or r.citation.title or "") for r in results]
        why = conf.reason(ev, topics) if results else "the corpus has no passage to compare with"
    if trace is not None:
        trace.update(evidence=ev, p_answerable=p_answerable)
    # figures the quoted documents give differently, said in one line (abstentions quote nothing)
    differ = disagreements(results) if answered else []
    return Answer(question=question, answered=answered, results=results, confidence=confidence,
                  index_version=index.version, reason=why, disagreements=differ)


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """The quote span without the punctuation a sentence split can leave in front (``: A fetch …``)."""
    start = a
    while a < b and (text[a].isspace() or text[a] in ":;,.)]}"):
        a += 1
    return (a, b) if a < b else (start, b)


def _evidence(index: Index, question: str, scored: list[Scored], chosen: list[Scored], docs: dict,
              pool: Pool | None, stats=None) -> conf.Evidence:
    """The calibrated models' inputs for this answer (see :mod:`retrieval.query.confidence`)."""
    if not chosen:
        return conf.evidence(index, question, "", "", None, [], 0.0, (None, None), stats)
    top = chosen[0]
    doc = docs.get(top.row["doc_id"]) or {}
    fields = " ".join([doc.get("title") or "", *(top.row.get("heading_path") or []), top.row.get("heading") or ""])
    side: list[str | None] = [None, None]
    if pool is not None and pool.ids.size:
        known = {s.cand.id: s.row["doc_id"] for s in scored}
        picks = [int(pool.ids[int(np.argmax(pool.dense))])]
        picks.append(int(pool.ids[int(np.argmax(pool.bm25))]) if float(pool.bm25.max()) > 0 else -1)
        need = [p for p in picks if p >= 0 and p not in known]
        if need:
            known.update({i: r["doc_id"] for i, r in index.passages(need).items()})
        side = [known.get(p) for p in picks]
    cosine = max(top.quote_sim, top.cand.dense)
    return conf.evidence(index, question, top.row["text"], fields, top.row["doc_id"],
                         [s.cand.dense for s in scored], cosine, (side[0], side[1]), stats)


def _citation(number: int, doc: dict, paragraph: int | None, heading_path: list[str] | None = None,
              page: int | None = None) -> Citation:
    return Citation(number=number, doc_id=doc["doc_id"], title=doc["title"], outlet=doc["outlet"],
                    author=doc["author"], date=doc["date"], paragraph=paragraph or 0,
                    source=doc["url"] or doc["source"], heading_path=list(heading_path or []), page=page)
