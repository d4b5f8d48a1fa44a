"""Question sets with gold answer spans → R@k, MRR, quote-hit@1, abstention figures, and the misses.

A question file is JSONL: ``{"q": "...", "gold": ["span", ...]}``; an empty ``gold`` means the
corpus does not answer the question. A result *hits* when its passage text contains a gold span
(whitespace-normalized); the quote hits when the quote contains one. Optional fields: ``kind`` (the
figures are also given per kind) and ``file`` (the document that answers: a doc-level R@1 is given).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.errors import CitebotError
from retrieval.types import Answer

log = logging.getLogger("citebot.evaluate")


def norm(s: str) -> str:
    return " ".join(s.split())


def contains_gold(text: str, gold: list[str]) -> bool:
    """Whether ``text`` holds a gold span, whitespace-normalized and case-insensitive (as the dev sets
    define a hit: a span written "A binary file" matches the manual's "a binary file")."""
    t = norm(text).casefold()
    return any(norm(g).casefold() in t for g in gold if norm(g))


def doc_matches(result, file: str) -> bool:
    """Whether ``result`` comes from the document ``file`` (its id or source, with or without suffix)."""
    f = str(file).strip().replace("\\", "/")
    if not f:
        return False
    stem = f.rsplit(".", 1)[0] if "." in f.rsplit("/", 1)[-1] else f
    source = (result.citation.source if getattr(result, "citation", None) else "") or ""
    return result.doc_id in (f, stem) or source == f or source.endswith("/" + f)


def load_questions(path: Path) -> list[dict]:
    """Questions of a JSONL file: ``q`` (or ``question``/``text``) and ``gold``, a list of text spans.

    ``[]`` marks an off-topic question. A record without ``gold`` counts as off-topic too, with a
    warning naming its lines (a forgotten field would otherwise silently turn an answerable question
    into an off-topic one); a ``gold`` that is not a list of text is an error.
    """
    out, no_gold = [], []
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CitebotError(f"cannot read question file {path}: {e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            q = rec.get("q", rec.get("question", rec.get("text")))
            gold = rec.get("gold")
            if gold is None and "gold" not in rec:
                gold = []
                no_gold.append(n)
        except (json.JSONDecodeError, AttributeError):
            raise CitebotError(f"{path}:{n}: not a JSON object with a question") from None
        if not isinstance(q, str) or not isinstance(gold, list) or not all(isinstance(g, str) for g in gold):
            raise CitebotError(f"{path}:{n}: needs a text field 'q' and a list 'gold' of text spans "
                               "([] for an off-topic question)")
        item = {"q": q, "gold": gold}
        for extra in ("kind", "file"):  # optional; anything else in the record is ignored
            if isinstance(rec.get(extra), str) and rec[extra].strip():
                item[extra] = rec[extra].strip()
        out.append(item)
    if not out:
        raise CitebotError(f"no questions in {path}")
    if no_gold:
        shown = ", ".join(map(str, no_gold[:10])) + (", …" if len(no_gold) > 10 else "")
        log.warning("%s: %d question(s) without a 'gold' field counted as off-topic (line %s)", path, len(no_gold), shown)
    return out


@dataclass
class Report:
    """Figures of one evaluation run (fractions in 0..1)."""

    questions: int = 0
    answerable: int = 0
    off_topic: int = 0
    recall: dict = field(default_factory=dict)  # k -> R@k over answerable questions
    mrr: float = 0.0
    quote_hit_at_1: float = 0.0
    off_topic_abstained: int = 0
    false_abstentions: int = 0
    doc_recall_at_1: float | None = None  # over answerable questions with a ``file``
    doc_questions: int = 0
    by_kind: dict = field(default_factory=dict)  # kind -> Report of those questions
    misses: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "questions": self.questions, "answerable": self.answerable, "off_topic": self.off_topic,
            **{f"R@{k}": round(v, 4) for k, v in self.recall.items()},
            "MRR": round(self.mrr, 4), "quote_hit@1": round(self.quote_hit_at_1, 4),
            "off_topic_abstained": self.off_topic_abstained, "false_abstentions": self.false_abstentions,
            **({"doc_R@1": round(self.doc_recall_at_1, 4), "doc_questions": self.doc_questions}
               if self.doc_recall_at_1 is not None else {}),
            **({"by_kind": {k: {n: v for n, v in r.to_dict().items() if n != "misses"} for k, r in self.by_kind.items()}}
               if self.by_kind else {}),
            "misses": self.misses,
        }

    def summary(self) -> str:
        """One line of figures (no misses)."""
        rk = "  ".join(f"R@{k} {v:.3f}" for k, v in self.recall.items())
        parts = [f"{rk}  MRR {self.mrr:.3f}  quote-hit@1 {self.quote_hit_at_1:.3f}"] if self.answerable else []
        if self.doc_recall_at_1 is not None:
            parts.append(f"doc R@1 {self.doc_recall_at_1:.3f} ({self.doc_questions})")
        if self.off_topic:
            parts.append(f"abstained {self.off_topic_abstained}/{self.off_topic}")
        if self.answerable:
            parts.append(f"false abstentions {self.false_abstentions}/{self.answerable}")
        return "  ".join(parts)

    def lines(self) -> list[str]:
        out = []
        for m in self.misses:
            out.append(f"MISS [{m['kind']}] {m['q']}")
            out.append(f"     gold: {' | '.join(m['gold']) or '(none: off-topic)'}")
            for r in m["returned"]:
                out.append(f"     got {r['rank']}: {r['doc_id']} ¶{r['paragraph']} «{r['quote'][:110]}»")
        rk = "  ".join(f"R@{k} {v:.3f}" for k, v in self.recall.items())
        out += [
            f"questions: {self.questions} ({self.answerable} answerable, {self.off_topic} off-topic)",
            f"{rk}  MRR {self.mrr:.3f}  quote-hit@1 {self.quote_hit_at_1:.3f}",
            f"off-topic abstained: {self.off_topic_abstained}/{self.off_topic}  "
            f"false abstentions: {self.false_abstentions}/{self.answerable}",
        ]
        if self.doc_recall_at_1 is not None:
            out.append(f"doc-level R@1: {self.doc_recall_at_1:.3f} ({self.doc_questions} questions with a file)")
        for kind, r in self.by_kind.items():
            out.append(f"  [{kind}] {r.answerable + r.off_topic} questions: {r.summary()}")
        return out


def evaluate(questions: list[dict], answers: list[Answer], ks=(1, 3, 5), by_kind: bool = True) -> Report:
    """Score ``answers`` (one per question, in order) against the gold spans.

    Args:
        by_kind: also score each ``kind`` of question separately (when the records have one).
    """
    rep = Report(questions=len(questions))
    doc_hits = []
    hits = {k: 0 for k in ks}
    rr = qhit = 0.0
    for q, a in zip(questions, answers):
        gold = q["gold"]
        returned = [{"rank": r.rank, "doc_id": r.doc_id, "paragraph": r.paragraph, "quote": r.quote}
                    for r in a.results[:3]]
        if not gold:
            rep.off_topic += 1
            if not a.answered:
                rep.off_topic_abstained += 1
            else:
                rep.misses.append({"kind": "answered off-topic", "q": q["q"], "gold": [], "returned": returned,
                                   "confidence": round(a.confidence, 4)})
            continue
        rep.answerable += 1
        if q.get("file"):
            doc_hits.append(bool(a.results) and doc_matches(a.results[0], q["file"]))
        first = next((r.rank for r in a.results if contains_gold(r.text, gold)), None)
        for k in ks:
            hits[k] += first is not None and first <= k
        rr += 1.0 / first if first else 0.0
        quote_ok = bool(a.results) and contains_gold(a.results[0].quote, gold)
        qhit += quote_ok
        if not a.answered:
            rep.false_abstentions += 1
        kind = None if first == 1 and quote_ok and a.answered else (
            "abstained" if not a.answered else "rank" if first != 1 else "quote")
        if kind:
            rep.misses.append({"kind": kind, "q": q["q"], "gold": gold, "first_hit": first,
                               "returned": returned, "confidence": round(a.confidence, 4)})
    n = max(rep.answerable, 1)
    rep.recall = {k: hits[k] / n for k in ks}
    rep.mrr = rr / n
    rep.quote_hit_at_1 = qhit / n
    if doc_hits:
        rep.doc_recall_at_1, rep.doc_questions = sum(doc_hits) / len(doc_hits), len(doc_hits)
    kinds = list(dict.fromkeys(q.get("kind") for q in questions if q.get("kind")))
    if by_kind and kinds:
        for kind in kinds + (["(none)"] if any(not q.get("kind") for q in questions) else []):
            pick = [i for i, q in enumerate(questions) if (q.get("kind") or "(none)") == kind]
            rep.by_kind[kind] = evaluate([questions[i] for i in pick], [answers[i] for i in pick], ks, by_kind=False)
    return rep
