"""CI variant of ``tests/tools/fuzz_questions.py`` (retrieval side, no discord): 300 hostile questions through
``Engine.ask`` over a corpus full of mentions and markdown. Crash = anything but a clean QuestionError,
or an answer breaking its contract (quote not verbatim at ``quote_start``, too many results, …)."""

from __future__ import annotations

import fuzz_questions  # tests/tools
from retrieval.errors import QuestionError


def test_hostile_questions_never_crash(hostile_engine, fuzz_outcomes):
    s = hostile_engine.settings
    stats = fuzz_questions.tally(fuzz_outcomes, s.k, hostile_engine.version, render=False)
    assert stats["questions"] == 300
    assert stats["crashes"] == 0 and stats["contract"] == 0, stats["examples"]
    # the mix really exercised every path: refusals, answers and abstentions, huge inputs
    assert stats["refused"] > 10 and stats["answered"] > 10 and stats["not_covered"] > 10, stats
    assert stats["chars_max"] > 10_000


def test_question_errors_are_one_line_and_do_not_echo_the_question(hostile_engine):
    for q in ["", "\u200b\u202e\x00", "@everyone " * 20_000, "<@123456789012345678>" * 300]:
        try:
            hostile_engine.ask(q)
        except QuestionError as e:
            msg = str(e)
            assert "\n" not in msg and len(msg) < 200
            assert "@everyone" not in msg and "<@" not in msg
        else:
            raise AssertionError(f"{q[:40]!r} should be refused")
