"""Scored passages → an answer: diversity, near-duplicates folded, citations, and the evidence the
calibrated confidence reads to decide whether the corpus answers at all.

* Diversity: at most ``per_section`` passages of one section (document and heading path) and, when set,
  ``per_doc`` of one document (1 in ``unique_docs`` mode); a passage whose text is already shown is not
  shown again (another document's copy is listed as "also in").
* Near-duplicates: a passage whose quote says what a higher-ranked quote from another document
  already says (sentence cosine ≥ ``dedup_threshold``) is folded into it as "also in".
* Abstention: :mod:`retrieval.query.confidence` turns the ranking's evidence into the probability that
  the corpus answers the question; below ``abstain_threshold`` the answer says the corpus does not
  cover it and why. The results are still returned for inspection.
"""

from __future__ import annotations

import numpy as np

from retrieval.query import confidence as conf
from retrieval.index.loaded import Index
from retrieval.query.conflicts import disagreements
from retrieval.query.quote import trim
from retrieval.query.rescore import Scored
from retrieval.query.search import Pool
from retrieval.types import Answer, Citation, Result, link


def compose(index: Index, question: str, scored: list[Scored], *, k: int = 3, per_section: int = 2,
            per_doc: int = 0, unique_docs: bool = False, dedup_threshold: float = 0.8,
            abstain_threshold: float = 0.5, pool: Pool | None = None, trace: dict | None = None,
            stats=None) -> Answer:
    """Pick, fold and cite the results of one question, and judge whether the corpus answers it.

    Args:
        per_section: at most this many results from one section (document and heading path).
        per_doc: at most this many from one document (0: no limit; ``unique_docs`` makes it 1).
        abstain_threshold: answer only when the estimated probability that the corpus answers the
            question (:func:`retrieval.query.confidence.calibrated`) reaches this.
        pool: the candidate pool (its best dense and best BM25 passages are evidence).
        trace: filled with the evidence and ``p_answerable`` when given.
        stats: term statistics for the evidence (an asker's :class:`~retrieval.query.confidence.VisibleStats`).
    """
    per_doc = 1 if unique_docs else per_doc
    chosen: list[Scored] = []
    folded: dict[int, dict[str, int]] = {}  # result index -> {doc id: paragraph of its best duplicate}
    counts: dict = {}
    texts: dict[str, int] = {}  # passage text (spaces folded) -> result index: a repeated example shown once
    for s in scored:
        if len(chosen) >= k:
            break
        doc = s.row.doc_id
        same = texts.get(" ".join(s.row.text.split()))
        if same is not None:
            if chosen[same].row.doc_id != doc:
                folded.setdefault(same, {}).setdefault(doc, s.row.paragraph)
            continue
        dup = None
        for j, c in enumerate(chosen):
            if c.row.doc_id != doc and s.quote_vec is not None and c.quote_vec is not None \
                    and float(s.quote_vec @ c.quote_vec) >= dedup_threshold:
                dup = j
                break
        if dup is not None:
            folded.setdefault(dup, {}).setdefault(doc, s.row.paragraph)
            continue
        section = (doc, tuple(s.row.heading_path or ()))
        if counts.get(section, 0) >= per_section or (per_doc and counts.get(doc, 0) >= per_doc):
            continue
        counts[section] = counts.get(section, 0) + 1
        counts[doc] = counts.get(doc, 0) + 1
        texts[" ".join(s.row.text.split())] = len(chosen)
        chosen.append(s)
    docs = {d: index.document(d) for d in {s.row.doc_id for s in chosen} | {d for v in folded.values() for d in v}}
    results: list[Result] = []
    for rank, s in enumerate(chosen, 1):
        text = s.row.text
        a, b = trim(text, *s.quote)
        also = folded.get(rank - 1, {})
        results.append(Result(
            rank=rank, doc_id=s.row.doc_id, paragraph=s.row.paragraph, text=text, quote=text[a:b],
            quote_start=a, score=s.score, dense=s.cand.dense, heading=s.row.heading,
            citation=_citation(rank, docs[s.row.doc_id], s.row.paragraph, s.row.heading_path,
                               s.row.page, s.row.anchor),
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
    limits = {"k": k, "per_section": per_section, "per_doc": per_doc or None}
    return Answer(question=question, answered=answered, results=results, confidence=confidence,
                  index_version=index.version, reason=why, disagreements=differ, limits=limits)


def _evidence(index: Index, question: str, scored: list[Scored], chosen: list[Scored], docs: dict,
              pool: Pool | None, stats=None) -> conf.Evidence:
    """The calibrated models' inputs for this answer (see :mod:`retrieval.query.confidence`)."""
    if not chosen:
        return conf.evidence(index, question, "", "", None, [], 0.0, (None, None), stats)
    top = chosen[0]
    doc = docs.get(top.row.doc_id) or {}
    fields = " ".join([doc.get("title") or "", *(top.row.heading_path or []), top.row.heading or ""])
    side: list[str | None] = [None, None]
    if pool is not None and pool.ids.size:
        known = {s.cand.id: s.row.doc_id for s in scored}
        picks = [int(pool.ids[int(np.argmax(pool.dense))])]
        picks.append(int(pool.ids[int(np.argmax(pool.bm25))]) if float(pool.bm25.max()) > 0 else -1)
        need = [p for p in picks if p >= 0 and p not in known]
        if need:
            known.update({i: r.doc_id for i, r in index.passages(need).items()})
        side = [known.get(p) for p in picks]
    cosine = max(top.quote_sim, top.cand.dense)
    return conf.evidence(index, question, top.row.text, fields, top.row.doc_id,
                         [s.cand.dense for s in scored], cosine, (side[0], side[1]), stats)


def _citation(number: int, doc: dict, paragraph: int | None, heading_path: list[str] | None = None,
              page: int | None = None, anchor: str | None = None) -> Citation:
    return Citation(number=number, doc_id=doc["doc_id"], title=doc["title"], outlet=doc["outlet"],
                    author=doc["author"], date=doc["date"], paragraph=paragraph or 0,
                    source=doc["url"] or doc["source"], heading_path=list(heading_path or []), page=page,
                    url=link(doc["url"], anchor))
