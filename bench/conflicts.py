"""Sources that disagree (issue 21): ``retrieval.query.conflicts`` measured against the hand-checked list of
the real conflicts between the seed articles (``tests/fixtures/seed_conflicts.json``).

    python -m bench.conflicts              # over the seeds' paragraphs, then the dev and unanswerable questions
    python -m bench.conflicts --no-dev     # the seeds' paragraphs only (no model, no index)

Seeds: every paragraph of every article is one item; a reported pair (two figures from different
documents with different values) is right when the hand list has it. Recall is over the hand list's
pairs. Dev: each dev question is asked of a fresh seeds index; the questions *expected* to get a
"Sources differ" line are those whose quotes hold two figures of one listed conflict, from different
documents, with different values (the hand list applied to the quotes, not the engine's output).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from bench.common import ROOT, SHARED
from retrieval.query.conflicts import conflicts
from retrieval.types import Disagreement

FIXTURE = ROOT / "tests" / "fixtures" / "seed_conflicts.json"
DEV = SHARED / "eval" / "dev-questions.jsonl"
UNANSWERABLE = SHARED / "eval" / "news-unanswerable.jsonl"

Side = tuple[str, str]  # (doc id, the figure's verbatim phrase)


def hand_list(path: Path = FIXTURE) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _pairs(figures: dict[str, list]) -> set[frozenset[Side]]:
    return {frozenset([(a, pa), (b, pb)]) for (a, (pa, va)), (b, (pb, vb))
            in itertools.combinations(figures.items(), 2) if va != vb}


def hand_pairs(hand: dict) -> set[frozenset[Side]]:
    """Every pair of documents of a listed conflict whose values differ."""
    return set().union(*(_pairs(c["figures"]) for c in hand["conflicts"]))


def _side(doc_id: str, text: str, hand: dict) -> Side | None:
    """The hand list's figure (any section) that a reported figure is: same document, phrase in its text."""
    for group in ("conflicts", "agreements", "different_things"):
        for c in hand[group]:
            phrase = (c["figures"].get(doc_id) or [None])[0]
            if phrase and phrase in text:
                return doc_id, phrase
    return None


def reported(found: list[Disagreement], hand: dict) -> tuple[set[frozenset[Side]], list[tuple]]:
    """The pairs the extractor reports that the hand list has, and the ones it does not (false)."""
    right, wrong = set(), []
    listed = hand_pairs(hand)
    for d in found:
        for a, b in itertools.combinations(d.figures, 2):
            if a.doc_id == b.doc_id or a.value == b.value:
                continue
            pair = frozenset([_side(a.doc_id, a.text, hand) or (a.doc_id, a.text),
                              _side(b.doc_id, b.text, hand) or (b.doc_id, b.text)])
            if pair in listed:
                right.add(pair)
            else:
                wrong.append((d.thing, a.doc_id, a.text, b.doc_id, b.text))
    return right, wrong


def seeds(corpus: Path = ROOT / "seeds", hand: dict | None = None) -> dict:
    """Precision and recall of the extractor over every paragraph of the seed articles."""
    from retrieval.ingest.documents import load
    from retrieval.types import Document

    hand = hand or hand_list()
    items = []
    for doc in load(corpus):
        if isinstance(doc, Document):
            items += [(len(items) + 1, doc.doc_id, doc.date, p.text) for p in doc.paragraphs]
    right, wrong = reported(conflicts(items), hand)
    listed = hand_pairs(hand)
    return {"listed": len(listed), "found": len(right), "false": wrong, "missed": sorted(map(sorted, listed - right)),
            "precision": len(right) / max(1, len(right) + len(wrong)), "recall": len(right) / max(1, len(listed))}


def expected(results, hand: dict) -> set[frozenset[Side]]:
    """The listed conflict pairs that an answer's quotes hold (both figures quoted)."""
    quoted = [(r.doc_id, r.quote) for r in results]
    out = set()
    for c in hand["conflicts"]:
        present = {d: f for d, f in c["figures"].items() if any(d == q_doc and f[0] in q for q_doc, q in quoted)}
        out |= _pairs(present)
    return out


def dev(engine, questions: list[dict], hand: dict | None = None) -> dict:
    """Each dev question asked: whether its reply has a "Sources differ" line, and whether it should."""
    from retrieval.types import differ_line

    hand = hand or hand_list()
    rows = []
    for q in questions:
        a = engine.ask(q["q"])
        want = expected(a.results, hand) if a.answered else set()
        right, wrong = reported(a.disagreements, hand)
        rows.append({"q": q["q"], "answered": a.answered, "line": differ_line(a.disagreements),
                     "expected": len(want), "found": len(right & want), "false": wrong,
                     "missed": [sorted(p) for p in want - right]})
    return {"questions": len(rows), "answered": sum(r["answered"] for r in rows),
            "with_line": sum(bool(r["line"]) for r in rows), "expected_line": sum(bool(r["expected"]) for r in rows),
            "line_without_conflict": [r["q"] for r in rows if r["line"] and not r["expected"]],
            "conflict_without_line": [r["q"] for r in rows if r["expected"] and not r["line"]],
            "pairs_expected": sum(r["expected"] for r in rows), "pairs_found": sum(r["found"] for r in rows),
            "false_pairs": [f for r in rows for f in r["false"]],
            "missed_pairs": [m for r in rows for m in r["missed"]], "rows": rows}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-dev", action="store_true", help="only the seeds' paragraphs")
    args = ap.parse_args(argv)
    s = seeds()
    print(f"seeds: {s['found']}/{s['listed']} listed pairs found (recall {s['recall']:.2f}), "
          f"{len(s['false'])} false (precision {s['precision']:.2f})")
    for m in s["missed"]:
        print("  missed:", m)
    for f in s["false"]:
        print("  false:", f)
    if args.no_dev:
        return
    from retrieval.config import Settings
    from retrieval.engine import Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.open(Settings(corpus=ROOT / "seeds", index_dir=Path(tmp)))
        engine.reindex()
        for path in (DEV, UNANSWERABLE):
            questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            d = dev(engine, questions)
            print(f"{path.name}: {d['questions']} questions, {d['answered']} answered; a line on {d['with_line']}, "
                  f"expected on {d['expected_line']}; listed pairs quoted {d['pairs_expected']}, "
                  f"reported {d['pairs_found']}; {len(d['false_pairs'])} false pairs")
            for r in d["rows"]:
                if r["line"] or r["expected"]:
                    print(f"  {r['q']} (expected {r['expected']} pairs, found {r['found']})\n    {r['line']}")
            for q in d["line_without_conflict"]:
                print("  line without a listed conflict:", q)


if __name__ == "__main__":
    main()
