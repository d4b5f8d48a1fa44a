"""Sources that disagree, measured: the extractor against the hand-checked list of the seed articles'
real conflicts (tests/fixtures/seed_conflicts.json), over every seed paragraph and over the real
engine's answers to the dev questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import conflicts as bc

ROOT = Path(__file__).resolve().parents[2]


def test_the_hand_list_is_verbatim_from_the_seeds():
    hand = bc.hand_list()
    texts = {p.stem: p.read_text(encoding="utf-8") for p in (ROOT / "seeds").glob("*.txt")}
    for group in ("conflicts", "agreements", "different_things"):
        for c in hand[group]:
            for doc, (phrase, _) in c["figures"].items():
                assert phrase in texts[doc], (doc, phrase)
    assert len(hand["conflicts"]) == 3 and len(bc.hand_pairs(hand)) == 7


def test_over_the_seed_paragraphs_every_reported_pair_is_a_listed_conflict():
    s = bc.seeds()
    assert s["false"] == [] and s["precision"] == 1.0
    # recall: the strike count ("21 military strikes") is not compared with boat counts (strikes
    # and boats are different nouns); every other listed pair is found
    assert s["found"] == 5 and s["listed"] == 7
    assert all(("002_ee8507af099ba7d1", "21 military strikes") in m for m in s["missed"])


def test_dev_questions_get_a_line_exactly_when_their_quotes_hold_a_listed_conflict(seeds_engine):
    if not bc.DEV.is_file():
        pytest.skip(f"{bc.DEV} not found (shared data missing)")
    questions = [json.loads(line) for line in bc.DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    d = bc.dev(seeds_engine, questions)
    assert d["line_without_conflict"] == [] and d["false_pairs"] == []
    # a listed pair the quotes hold is reported, unless the extractor misses it over the seeds too
    missed_anyway = bc.seeds()["missed"]
    assert all(m in missed_anyway for m in d["missed_pairs"])
    assert d["with_line"] >= 1 or not d["expected_line"]
    # off-topic questions abstain and never get a line
    assert all(not r["line"] for r in d["rows"] if not r["answered"])
