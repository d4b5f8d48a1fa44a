"""Scored passages → an answer: diversity, near-duplicates folded, citations, and the evidence the
calibrated confidence reads to decide whether the corpus answers at all.

* Diversity: at most ``per_section`` passages of one section (document and heading path) and, when set,
  ``per_doc`` of one document (1 in ``unique_docs`` mode); a passage whose text is already shown is not
  shown again (another document's copy is listed as "also in").
* Neighbours: a passage that directly follows or precedes a shown one in the same section (the
  answer a lead-in announces, the default under an option's description) is shown with it as one
  quote, up to ``join_chars`` characters, instead of as a result of its own; a shown passage that
  announces what follows ("The following commands …", "… as follows:") gets its next passage even
  when that one did not rank; so does prose about a code example: the example before a passage that
  points back at it ("Here I created …"), and for a how or why question the example right after.
* Near-duplicates: a passage whose quote says what a higher-ranked quote from another document
  already says (sentence cosine ≥ ``dedup_threshold``) is folded into it as "also in".
* Abstention: :mod:`retrieval.query.confidence` turns the ranking's evidence into the probability that
  the corpus answers the question; below ``abstain_threshold`` the answer says the corpus does not
  cover it and why. The results are still returned for inspection.
"""

from __future__ import annotations

import re

import numpy as np

from retrieval.query import confidence as conf
from retrieval.index.loaded import Index
from retrieval.query.conflicts import disagreements
from retrieval.query.quote import asks_explanation, explains_nothing, only_points_elsewhere, trim
from retrieval.query.rescore import Scored
from retrieval.query.search import Candidate, Pool
from retrieval.types import Answer, Citation, Result, link


def compose(index: Index, question: str, scored: list[Scored], *, k: int = 3, per_section: int = 2,
            per_doc: int = 0, unique_docs: bool = False, dedup_threshold: float = 0.8,
            abstain_threshold: float = 0.4, pool: Pool | None = None, trace: dict | None = None,
            stats=None, join_chars: int = 0, carried: frozenset[str] = frozenset()) -> Answer:
    """Pick, fold and cite the results of one question, and judge whether the corpus answers it.

    Args:
        per_section: at most this many results from one section (document and heading path).
        per_doc: at most this many from one document (0: no limit; ``unique_docs`` makes it 1).
        abstain_threshold: answer only when the estimated probability that the corpus answers the
            question (:func:`retrieval.query.confidence.calibrated`) reaches this.
        pool: the candidate pool (its best dense and best BM25 passages are evidence).
        trace: filled with the evidence and ``p_answerable`` when given.
        stats: term statistics for the evidence (an asker's :class:`~retrieval.query.confidence.VisibleStats`).
        join_chars: a ranked passage adjacent to a shown one of the same section joins it while their
            text stays under this many characters (0: never).
        carried: rare question words the closest passages say in other words (not absent evidence).
    """
    per_doc = 1 if unique_docs else per_doc
    chosen: list[Scored] = []
    folded: dict[int, dict[str, int]] = {}  # result index -> {doc id: paragraph of its best duplicate}
    counts: dict = {}
    texts: dict[str, int] = {}  # passage text (spaces folded) -> result index: a repeated example shown once
    joined: dict[int, list[Scored]] = {}  # result index -> its neighbours shown with it
    scored = _pointers_behind(scored)
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
        j = _neighbour(chosen, joined, s, join_chars)
        if j is not None:
            joined.setdefault(j, []).append(s)
            texts[" ".join(s.row.text.split())] = j
            continue
        if counts.get(section, 0) >= per_section or (per_doc and counts.get(doc, 0) >= per_doc):
            continue
        counts[section] = counts.get(section, 0) + 1
        counts[doc] = counts.get(doc, 0) + 1
        texts[" ".join(s.row.text.split())] = len(chosen)
        chosen.append(s)
    _announced(index, chosen, joined, join_chars, asks_explanation(question))
    docs = {d: index.document(d) for d in {s.row.doc_id for s in chosen} | {d for v in folded.values() for d in v}}
    results: list[Result] = []
    for rank, s in enumerate(chosen, 1):
        text, offset, first, last = _joined_text(index, s, joined.get(rank - 1, []))
        a, b = trim(s.row.text, *s.quote)
        a, b = a + offset, b + offset
        also = folded.get(rank - 1, {})
        end = last.row.paragraph if last.row.paragraph != first.row.paragraph else None
        cite = _citation(rank, docs[s.row.doc_id], first.row.paragraph, s.row.heading_path, first.row.page,
                         s.row.anchor, end)
        results.append(Result(
            rank=rank, doc_id=s.row.doc_id, paragraph=first.row.paragraph, text=text, quote=text[a:b],
            quote_start=a, score=s.score, dense=s.cand.dense, heading=s.row.heading, paragraph_end=end,
            citation=cite,
            also_in=list(also), also_in_citations=[_citation(0, docs[d], p) for d, p in also.items()],
        ))
    ev = _evidence(index, question, scored, chosen, docs, pool, stats, carried)
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
    limits = {"k": k, "per_section": per_section, "per_doc": per_doc or None, "join_chars": join_chars or None}
    return Answer(question=question, answered=answered, results=results, confidence=confidence,
                  index_version=index.version, reason=why, disagreements=differ, limits=limits)


def _pointers_behind(scored: list[Scored]) -> list[Scored]:
    """The ranking with each passage that only points elsewhere ("See … in git(1) for the differences")
    moved behind the next one that does not: it names the topic, the next one may say it."""
    out: list[Scored] = []
    held: list[Scored] = []
    for s in scored:
        if only_points_elsewhere(s.row.text, s.row.spans):
            held.append(s)
        else:
            out.append(s)
            out += held
            held = []
    return out + held


def _neighbour(chosen: list[Scored], joined: dict[int, list[Scored]], s: Scored, limit: int) -> int | None:
    """The shown result that ``s`` directly follows or precedes in the same section, if their text stays
    under ``limit`` characters together; else None."""
    if limit <= 0:
        return None
    for j, c in enumerate(chosen):
        if c.row.doc_id != s.row.doc_id or (c.row.heading_path or []) != (s.row.heading_path or []):
            continue
        group = [c, *joined.get(j, [])]
        ids = [g.cand.id for g in group]
        if (s.cand.id == max(ids) + 1 or s.cand.id == min(ids) - 1) \
                and sum(len(g.row.text) for g in group) + len(s.row.text) <= limit:
            return j
    return None


# a passage that announces what comes next ("The following commands will …", "… as follows", "… below:")
_ANNOUNCES = re.compile(r"\bthe following\b|\bas follows\b|\b(?:shown|given|listed|see) below\b|\bbelow\s*:|:\s*$",
                        re.IGNORECASE)


def _unfinished(text: str) -> bool:
    """Whether a passage's last line is prose cut mid-sentence ("… you can invoke"): it goes on in the
    next passage (a page break, a split paragraph)."""
    line = text.rstrip().rsplit("\n", 1)[-1]
    return len(line.split()) >= 5 and bool(re.search(r"(?:\b[a-z]+|,)$", line))


# prose that points back at the code example just before it ("Here I created the state …", "This will
# give you …", "The above example …")
_REFERS_BACK = re.compile(r"^\W*(?:here\b|(?:the|this|these) (?:above )?(?:examples?|code|commands?|snippets?|scripts?)\b|"
                          r"the above\b|in (?:the|this) (?:above )?example\b|this (?:will|would|makes|creates|prints|"
                          r"returns|gives|shows|sets|adds|defines|tells)\b)", re.IGNORECASE)


_CODE_MARK = re.compile(r"[\[\]{}<>|=;\\`$]|^--?\w|\w\(|::|->")
_NUMBERS = re.compile(r"^[\s\d.,:;+-]+$")


def _code_line(line: str) -> bool:
    """A line of code or data: not a sentence (no closing period), and a code mark, only figures, or at
    most three tokens ("plot for [i=1:*] file", "5 4 3 1 0", "e")."""
    s = line.strip()
    if s.endswith((".", "!", "?")):
        return False
    return bool(_CODE_MARK.search(s)) or bool(_NUMBERS.match(s)) or len(s.split()) <= 3


def _code(row) -> bool:
    """Whether a passage is a code example (not a question, not prose): code marks in a quarter of its
    tokens with few plain words, or lines of which most read as code or data and none as prose
    ("Syntax:" then ``plot for [<variable> = <start> : <end>]``; a command and the data rows it reads)."""
    spans = row.spans or [(0, len(row.text))]
    if all(row.text[a:b].strip().endswith("?") for a, b in spans):
        return False
    if explains_nothing(row.text, spans):
        return True
    lines = [ln for ln in row.text.splitlines() if ln.strip()]
    body = [ln for ln in lines if not ln.rstrip().endswith(":")] if len(lines) > 1 else []
    code = [_code_line(ln) for ln in body]
    # a line of prose (eight words or more, no code mark) makes it prose with an example in it
    prose = any(not c and len(ln.split()) >= 8 for c, ln in zip(code, body))
    return len(body) >= 2 and not prose and sum(code) >= 0.75 * len(body)


def _announced(index: Index, chosen: list[Scored], joined: dict[int, list[Scored]], limit: int,
               how: bool = False) -> None:
    """Keep lead-ins with what they introduce, and code examples with the prose about them, ranked or
    not, while their text stays under ``limit`` characters: a shown passage that announces what
    follows ("The following commands …") gets the next passage of its section, one that a lead-in
    ending in ":" introduces gets that lead-in, and one that points back at the code example before
    it ("Here I created …") gets the example. For a how or why question (``how``), the code example
    right after a shown explanation comes with it too."""
    if limit <= 0:
        return
    shown = {g.cand.id for j, c in enumerate(chosen) for g in (c, *joined.get(j, []))}
    wanted: dict[int, list[int]] = {}  # result index -> neighbour ids worth a look
    for j, c in enumerate(chosen):
        group = [c, *joined.get(j, [])]
        ids = [g.cand.id for g in group]
        last = group[ids.index(max(ids))]
        if how or _ANNOUNCES.search(last.row.text[-300:]) or _unfinished(last.row.text):
            wanted.setdefault(j, []).append(max(ids) + 1)
        if min(ids) > 0:
            wanted.setdefault(j, []).append(min(ids) - 1)
    # one read for all: from the index, not the asker's pool — a neighbour of the same document is
    # visible to whoever sees the document (visibility is per document), and only such neighbours join
    rows = index.passages(sorted({p for ps in wanted.values() for p in ps} - shown)) if wanted else {}
    for j, pids in wanted.items():
        c = chosen[j]
        group = [c, *joined.get(j, [])]
        ids = [g.cand.id for g in group]
        first, size = min(ids), sum(len(g.row.text) for g in group)
        head, tail = group[ids.index(first)], group[ids.index(max(ids))]
        pids, chained = list(pids), set()
        for pid in pids:  # grows while a joined passage announces the next ("… in the following way." → "… is:")
            if pid in shown:
                continue
            # a chained passage is read when reached: it was not among the ids read above
            row = index.passages([pid]).get(pid) if pid in chained else rows.get(pid)
            if row is None or row.doc_id != c.row.doc_id \
                    or (row.heading_path or []) != (c.row.heading_path or []) or size + len(row.text) > limit:
                continue
            if pid < first and not (row.text.rstrip().endswith(":")
                                    or (_REFERS_BACK.match(head.row.text) and _code(row))):
                continue
            if pid > first and not (_ANNOUNCES.search(tail.row.text[-300:]) or _unfinished(tail.row.text)
                                    or (how and _code(row) and not _code(tail.row))):
                continue
            joined.setdefault(j, []).append(Scored(Candidate(pid, 0.0, 0.0, 0.0), row, (0, 0), None, 0.0, 0.0))
            shown.add(pid)
            size += len(row.text)
            # only an explicit announcement chains on: a table row or list line without a closing period
            # reads as unfinished, and a table would be shown whole
            if pid > first and _ANNOUNCES.search(row.text[-300:]):
                tail = joined[j][-1]
                pids.append(pid + 1)
                chained.add(pid + 1)


def _joined_text(index: Index, s: Scored, extra: list[Scored]) -> tuple[str, int, Scored, Scored]:
    """The text of ``s`` with its neighbours in reading order, the offset of ``s``'s text in it, and the
    first and last passages (the paragraphs the citation names). Parts of one split paragraph are
    joined as the paragraph has them; paragraphs by a line break."""
    if not extra:
        return s.row.text, 0, s, s
    group = sorted([s, *extra], key=lambda g: g.cand.id)
    text, offset = group[0].row.text, 0
    for prev, g in zip(group, group[1:]):
        glue = "\n"
        if g.row.paragraph == prev.row.paragraph:
            para = next(iter(index.paragraphs(g.row.doc_id, g.row.paragraph, g.row.paragraph)), None)
            at = para.text.find(prev.row.text) if para else -1
            nxt = para.text.find(g.row.text, at + len(prev.row.text)) if at >= 0 else -1
            if nxt >= 0:
                glue = para.text[at + len(prev.row.text):nxt]
        text += glue
        if g is s:
            offset = len(text)
        text += g.row.text
    return text, offset, group[0], group[-1]


def _evidence(index: Index, question: str, scored: list[Scored], chosen: list[Scored], docs: dict,
              pool: Pool | None, stats=None, carried: frozenset[str] = frozenset()) -> conf.Evidence:
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
                         [s.cand.dense for s in scored], cosine, (side[0], side[1]), stats, carried)


def _citation(number: int, doc: dict, paragraph: int | None, heading_path: list[str] | None = None,
              page: int | None = None, anchor: str | None = None, paragraph_end: int | None = None) -> Citation:
    return Citation(number=number, doc_id=doc["doc_id"], title=doc["title"], outlet=doc["outlet"],
                    author=doc["author"], date=doc["date"], paragraph=paragraph or 0,
                    source=doc["url"] or doc["source"], heading_path=list(heading_path or []), page=page,
                    url=link(doc["url"], anchor), paragraph_end=paragraph_end)
