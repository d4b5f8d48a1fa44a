"""Question sets with gold answer spans → R@k, MRR, quote-hit@1, abstention figures, and the misses.

A question file is JSONL: ``{"q": "...", "gold": ["span", ...]}``; an empty ``gold`` means the
corpus does not answer the question. A result *hits* when its passage text contains a gold span
(whitespace-normalized); the quote hits when the quote contains one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CitebotError
from .types import Answer

log = logging.getLogger("citebot.evaluate")


def norm(s: str) -> str:
    return " ".join(s.split())


def contains_gold(text: str, gold: list[str]) -> bool:
    t = norm(text)
    return any(norm(g) in t for g in gold if norm(g))


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
        out.append({"q": q, "gold": gold})
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
    misses: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "questions": self.questions, "answerable": self.answerable, "off_topic": self.off_topic,
            **{f"R@{k}": round(v, 4) for k, v in self.recall.items()},
            "MRR": round(self.mrr, 4), "quote_hit@1": round(self.quote_hit_at_1, 4),
            "off_topic_abstained": self.off_topic_abstained, "false_abstentions": self.false_abstentions,
            "misses": self.misses,
        }

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
        return out


def evaluate(questions: list[dict], answers: list[Answer], ks=(1, 3, 5)) -> Report:
    """Score ``answers`` (one per question, in order) against the gold spans."""
    rep = Report(questions=len(questions))
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
    return rep
