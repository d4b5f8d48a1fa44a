"""Any answer → Discord messages within every limit, no unescaped mention or markdown from corpus text,
and the quote shown verbatim. Then hostile questions through ``Engine.ask`` + the renderer, and through
the whole bot on the fake Discord (where the fake also checks limits and AllowedMentions on the wire).
"""

from __future__ import annotations

import os
import re

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import fuzz_questions, hostile
from bot.render import ELLIPSIS, render_answer
from retrieval.types import Answer, Citation, Result

SCALE = int(os.environ.get("CITEBOT_HYPOTHESIS_SCALE", "1"))

nasty = st.sampled_from(["**", "*", "__", "_", "~~", "||", "`", "```", "\\", "> ", "# ", "- ", "[x](https://e.x)",
                         "@everyone", "@here", "<@123456789012345678>", "<@&234567890123456789>",
                         "<@!123456789012345678>", "\u200b", "\u202e", "https://a.example/x_y*z", "…", "\n", "  "])
piece = st.one_of(nasty, st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12),
                  st.sampled_from(["the", "ferry", "harbour", "said", "mayor", "."]))
corpus_text = st.lists(piece, min_size=1, max_size=400).map(" ".join).filter(lambda t: t.strip())


@st.composite
def answers(draw):
    n = draw(st.integers(1, 6))
    results = []
    for i in range(n):
        text = draw(corpus_text)
        a = draw(st.integers(0, len(text) - 1))
        b = draw(st.integers(a + 1, len(text)))
        if not text[a:b].strip():
            a, b = 0, len(text)
        title = draw(st.one_of(st.none(), corpus_text.map(lambda t: t[:300])))
        also = draw(st.lists(st.text(min_size=1, max_size=20), max_size=3))
        cit = Citation(i + 1, f"doc{i}", title, draw(st.one_of(st.none(), st.sampled_from(["@everyone", "**Times**"]))),
                       None, "2024-01-01", i + 1, draw(st.sampled_from(["a.txt", "https://x.example/a_b", "<@1>"])))
        results.append(Result(rank=i + 1, doc_id=f"doc{i}", paragraph=i + 1, text=text, quote=text[a:b],
                              quote_start=a, score=1.0, dense=0.5, citation=cit, also_in=also,
                              also_in_citations=[Citation(0, d, d, None, None, None, 0, d) for d in also]))
    question = draw(corpus_text.map(lambda t: t[:1000]))
    return Answer(question=question, answered=True, results=results, confidence=0.9, index_version="v-x")


# Known render bugs (reported; each has a strict xfail test below). Until they are fixed the property
# tests tolerate exactly these two shapes and nothing else:
# 1. discord.utils.escape_markdown escapes a list marker at the start of a piece as "\\ -": the
#    backslash lands before the space and shows as a stray "\\" (text no longer verbatim).
# 2. masked links are not reliably escaped: a link split by the quote's bold markers
#    ("[a. **b](https://x)**") is escaped in neither piece, and escape_markdown's greedy link pattern
#    escapes only the first "[" of "[ ] [x](https://x)", leaving "[x](https://x)" live.
KNOWN_BACKSLASH_SPACE = re.compile(r"\\(?=\s)")


def _known_split_link(finding: str) -> bool:
    return finding.startswith("masked link")


def _unescape(s: str) -> str:
    s = KNOWN_BACKSLASH_SPACE.sub("", s)
    s = re.sub(r"\\([^A-Za-z0-9\s])", r"\1", s)
    return s.replace("@\u200b", "@")


def shown_pieces(block: str) -> tuple[list[str], str | None]:
    """The corpus text a rendered block shows (renderer markup removed), and the emphasised part."""
    lines = block.split("\n")
    body = [ln[2:] if ln.startswith("> ") else ln[1:] if ln.startswith(">") else None for ln in lines[1:]]
    body = "\n".join(b for b in body if b is not None)
    # the renderer's own emphasis: unescaped ** pairs (escapes are read left to right)
    out, bold_parts, inside, i = [], [], False, 0
    while i < len(body):
        if body[i] == "\\":
            out.append(body[i:i + 2])
            if inside:
                bold_parts.append(body[i:i + 2])
            i += 2
        elif body.startswith("**", i):
            inside = not inside
            if inside:
                bold_parts.append(" ")  # each emphasised line is its own segment
            i += 2
        else:
            out.append(body[i])
            if inside:
                bold_parts.append(body[i])
            i += 1
    bold = _unescape("".join(bold_parts)) if bold_parts else None
    text = _unescape("".join(out))
    return [p for p in text.split(ELLIPSIS) if p.strip()], bold


def squash(s: str) -> str:
    """Whitespace folded, and "@" + zero-width space read as "@" (the renderer's mention escape)."""
    return " ".join(s.replace("@\u200b", "@").split())


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_any_answer_renders_within_limits_verbatim_and_inert(answer):
    reply = render_answer(answer)
    assert not hostile.limit_violations(reply)
    for where, text in hostile.reply_texts(reply):
        assert not hostile.pings(text), (where, hostile.pings(text))
        if where.endswith(("description", "title")) or ".field" in where:
            bad = [f for f in hostile.unescaped_markdown(text) if not _known_split_link(f)]
            assert not bad, (where, bad[:3])
    blocks = reply.embeds[0].description.split("\n\n**[")
    blocks = [blocks[0]] + ["**[" + b for b in blocks[1:]]
    for r, block in zip(answer.results, blocks):
        if not block.startswith(f"**[{r.rank}]**"):
            continue  # a block cut by the 6,000-character budget
        pieces, bold = shown_pieces(block.split("\n↳ also in")[0])
        src = squash(r.text)
        for p in pieces:
            assert squash(p) in src, (p[:80], r.text[:80])
        if bold is not None and bold.strip():
            parts = [squash(x) for x in bold.split(ELLIPSIS) if x.strip()]
            assert all(x in squash(r.quote) for x in parts), (bold[:80], r.quote[:80])


def test_hostile_questions_through_ask_and_renderer(hostile_engine, fuzz_outcomes):
    """The session's 300 fuzz answers (see conftest) rendered for Discord."""
    s = hostile_engine.settings
    stats = fuzz_questions.tally(fuzz_outcomes, s.k, hostile_engine.index.version, render=True)
    assert stats["crashes"] == 0 and stats["contract"] == 0, stats["examples"]
    assert stats["pings"] == 0 and stats["limit_violations"] == 0 and stats["markdown_unescaped"] == 0, \
        stats["examples"]
    assert stats["rendered"] > 100


async def test_hostile_questions_through_the_bot(fake, run_bot, hostile_engine):
    """Mentions to the real bot; the fake checks every reply's limits and AllowedMentions (fixture)."""
    await run_bot(hostile_engine, cooldown_rate=10_000)
    import random

    rng = random.Random(99)
    qs = [hostile.question(rng)[:1500] for _ in range(40)] + [
        "@everyone what did the harbour master say?", "**ferry** `code` <@&234567890123456789> @here",
        "```\nferry\n```", "||spoiler|| ferry timetable"]
    for q in qs:
        m = await fake.mention(q)
        r = await fake.wait_reply(m, timeout=60)
        assert r.status == 200, r.response
        body = r.body()
        assert body.get("allowed_mentions", {}).get("parse") == []
        text = r.text()
        assert not hostile.pings(text), (q[:60], hostile.pings(text))


def _render_one(text: str, quote_start: int, quote_end: int) -> str:
    c = Citation(1, "doc0", None, None, None, None, 1, "a.txt")
    r = Result(1, "doc0", 1, text, text[quote_start:quote_end], quote_start, 1.0, 0.5, c)
    return render_answer(Answer("q", True, [r], 0.9, "v-x")).embeds[0].description


@pytest.mark.xfail(strict=True, reason="bot/render.py escape(): escape_markdown turns a piece starting "
                   "with ' -' into '\\ -'; Discord shows the backslash (found by the property test)")
def test_known_bug_list_marker_after_quote_shows_a_backslash():
    desc = _render_one("Ferries run daily - said the mayor.", 0, 17)  # after = " - said the mayor."
    assert "\\ " not in desc


def test_masked_link_split_by_quote_stays_escaped():
    # found by the property test: pieces escaped apart left a link cut by the quote live; every
    # bracket is now escaped
    text = "See [the harbour. Official notice](https://evil.example/phish) for details."
    start = text.index("Official")
    desc = _render_one(text, start, text.index(" for details"))
    assert not [f for f in hostile.unescaped_markdown(desc) if f.startswith("masked link")], desc


def test_second_masked_link_stays_escaped():
    # escape_markdown's greedy link pattern escaped only the first '[' of '[ ] [x](url)' 
    text = "Tick [ ] then see [the notice](https://evil.example/phish) today."
    desc = _render_one(text, text.index("today"), len(text))
    assert not [f for f in hostile.unescaped_markdown(desc) if f.startswith("masked link")], desc
