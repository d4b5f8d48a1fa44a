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

import fuzz_questions  # tests/tools
import hostile
from bot.render import ELLIPSIS, render_answer
from retrieval.types import Answer, Citation, Result

SCALE = int(os.environ.get("CITEBOT_HYPOTHESIS_SCALE", "1"))

nasty = st.sampled_from(["**", "*", "__", "_", "~~", "||", "`", "```", "\\", "> ", "# ", "- ", " - ", "-# ", "+ ",
                         "1. ", ">>> ", "[x](https://e.x)", "@everyone", "@here", "<@123456789012345678>",
                         "<@&234567890123456789>", "<@!123456789012345678>", "<@1>", "<@!1>", "<@&1>", "<#1>",
                         "<#345678901234567890>", "</ask:1>", "<t:1700000000:R>", "<:e:1>", "<a:e:2>", "<id:browse>",
                         "@\u200beveryone", "<https://a.example/>", "\u200b", "\u202e", "https://a.example/x_y*z",
                         "…", "\n", "\r\n", "\r", "  "])
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


# Discord's client reads a backslash before any character that is not a letter, digit or space as
# an escape (that character shown as is); a backslash before anything else is shown.
DISCORD_ESCAPE = re.compile(r"\\([^A-Za-z0-9\s])")
# the renderer's promise about mentions: a zero-width space after the "@" of @everyone, @here and
# <@id>-like tokens, nothing else added
ZWSP = "\u200b"
MENTION_AT = re.compile(r"@(?=everyone|here|[!&]?\d)")
# unescaped tokens Discord renders as something else than their text (mention pills of any id length,
# channels, slash commands, custom emoji, timestamps, guild navigation)
LIVE_TOKEN = re.compile(r"<(?:@[!&]?\d+|#\d+|/[^:>\n]+:\d+|a?:\w+:\d+|t:-?\d+(?::\w)?|id:\w+)>")
LIST_MARKER = re.compile(r"^[ \t]*(?:[-+*]|\d+\.)(?:\s|$)")


def _unescape(s: str) -> str:
    return DISCORD_ESCAPE.sub(r"\1", s)


def as_shown(s: str) -> str:
    """What Discord shows for raw corpus text in a block quote: mention "@"s followed by a zero-width
    space, "\\r\\n"/"\\r" as line breaks, whitespace-only lines empty (the block quote keeps none)."""
    s = re.sub(r"\r\n?", "\n", MENTION_AT.sub("@\u200b", s))
    return "\n".join("" if not ln.strip() else ln for ln in s.split("\n"))


def live_tokens(text: str) -> list[str]:
    """Discord tokens (mentions, channels, commands, emoji, timestamps) whose "<" is not escaped."""
    return [m.group() for m in LIVE_TOKEN.finditer(text) if hostile.unescaped(text, m.start())]


def live_list_markers(text: str) -> list[str]:
    """Lines of a block quote that Discord would show as list items."""
    out = []
    for ln in text.split("\n"):
        body = re.sub(r"^> ?", "", ln)
        if LIST_MARKER.match(body):
            out.append(ln[:60])
    return out


def shown_pieces(block: str) -> tuple[list[str], list[str]]:
    """The corpus text a rendered block shows (renderer markup removed, escapes read as Discord reads
    them), split at ellipses, and the emphasised segments (one per bold pair)."""
    lines = block.split("\n")
    body = [ln[2:] if ln.startswith("> ") else ln[1:] if ln.startswith(">") else None for ln in lines[1:]]
    body = "\n".join(b for b in body if b is not None)
    # the renderer's own emphasis: unescaped ** pairs (escapes are read left to right)
    out, bold, inside, i = [], [], False, 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and DISCORD_ESCAPE.match(body, i):
            out.append(body[i + 1])
            if inside:
                bold[-1] += body[i + 1]
            i += 2
        elif body.startswith("**", i):
            inside = not inside
            if inside:
                bold.append("")
            i += 2
        else:
            out.append(body[i])
            if inside:
                bold[-1] += body[i]
            i += 1
    assert not inside, "an unclosed bold pair"
    text = "".join(out)
    return [p for p in text.split(ELLIPSIS) if p.strip()], bold


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_any_answer_renders_within_limits_verbatim_and_inert(answer):
    reply = render_answer(answer)
    assert not hostile.limit_violations(reply)
    for where, text in hostile.reply_texts(reply):
        assert not hostile.pings(text), (where, hostile.pings(text))
        assert not hostile.inert_mentions(text), (where, hostile.inert_mentions(text))
        assert not live_tokens(text), (where, live_tokens(text))
        if where.endswith(("description", "title")) or ".field" in where:
            assert not hostile.unescaped_markdown(text), (where, hostile.unescaped_markdown(text)[:3])
    embed = reply.embeds[0]
    assert not live_list_markers(embed.description), live_list_markers(embed.description)
    # the echoed question: escaped, then at most cut (with an ellipsis), never altered
    title = _unescape(embed.title)
    question = as_shown(" ".join(answer.question.split()))
    assert title == question or (title.endswith(ELLIPSIS) and question.startswith(title[:-1])), (title, question)
    blocks = embed.description.split("\n\n**[")
    blocks = [blocks[0]] + ["**[" + b for b in blocks[1:]]
    for r, block in zip(answer.results, blocks):
        if not block.startswith(f"**[{r.rank}]**"):
            continue  # a block cut by the 6,000-character budget
        body = block.split("\n↳ also in")[0]
        pieces, bold = shown_pieces(body)
        src = as_shown(r.text)
        # verbatim, exactly: every piece between ellipses is a slice of the passage as Discord shows it
        for p in pieces:
            assert p in src, (p[:80], r.text[:80])
        if ELLIPSIS not in body and ELLIPSIS not in r.text:
            assert "".join(pieces) == src, "an uncut passage is shown whole"
        # a mention's zero-width space may fall on either side of a bold edge cutting it
        quote = as_shown(r.quote).replace(ZWSP, "")
        for b in bold:
            parts = [x.replace(ZWSP, "") for x in b.split(ELLIPSIS) if x]
            assert all(x in quote for x in parts), (b[:80], r.quote[:80])


def test_hostile_questions_through_ask_and_renderer(hostile_engine, fuzz_outcomes):
    """The session's 300 fuzz answers (see conftest) rendered for Discord."""
    s = hostile_engine.settings
    stats = fuzz_questions.tally(fuzz_outcomes, s.k, hostile_engine.version, render=True)
    assert stats["crashes"] == 0 and stats["contract"] == 0, stats["examples"]
    assert stats["pings"] == 0 and stats["limit_violations"] == 0 and stats["markdown_unescaped"] == 0, \
        stats["examples"]
    # mention syntax with an id too short to exist (<@1>) used to stay a mention pill
    assert stats["inert_mentions"] == 0, stats["examples"]
    assert stats["rendered"] > 100


async def test_hostile_questions_through_the_bot(fake, run_bot, hostile_engine):
    """Mentions to the real bot; the fake checks every reply's limits and AllowedMentions (fixture)."""
    await run_bot(hostile_engine, cooldown_rate=10_000)
    import random

    rng = random.Random(99)
    qs = [hostile.question(rng)[:1500] for _ in range(40)] + [
        "@everyone what did the harbour master say?", "**ferry** `code` <@&234567890123456789> @here",
        "```\nferry\n```", "||spoiler|| ferry timetable",
        "<@1> <@!2> <@&3> <#4> </ask:5> <t:1700000000:R> what did the harbour master say?"]
    for q in qs:
        m = await fake.mention(q)
        r = await fake.wait_reply(m, timeout=60)
        assert r.status == 200, r.response
        body = r.body()
        assert body.get("allowed_mentions", {}).get("parse") == []
        text = r.text()
        assert not hostile.pings(text), (q[:60], hostile.pings(text))
        assert not hostile.inert_mentions(text) and not live_tokens(text), (q[:60], live_tokens(text))


def _render_one(text: str, quote_start: int, quote_end: int) -> str:
    c = Citation(1, "doc0", None, None, None, None, 1, "a.txt")
    r = Result(1, "doc0", 1, text, text[quote_start:quote_end], quote_start, 1.0, 0.5, c)
    return render_answer(Answer("q", True, [r], 0.9, "v-x")).embeds[0].description


@pytest.mark.parametrize("text,start,end", [
    ("Ferries run daily - said the mayor.", 0, 17),  # after the quote: " - said the mayor."
    ("Ferries run daily\n - said the mayor.", 18, 35),  # the quote itself starts a line with " -"
    ("Ferries run daily # 3 > 2 + 1 said the mayor.", 0, 17),
])
def test_list_marker_after_quote_shows_no_backslash(text, start, end):
    # found by the property test: the pieces around the quote were escaped apart, so " - said" looked
    # like a line start and got "\\ -", which Discord shows as a stray backslash
    desc = _render_one(text, start, end)
    assert "\\ " not in desc
    pieces, bold = shown_pieces("**[1]**\n" + desc.split("\n", 1)[1])
    assert "".join(pieces) == text and "".join(bold) == text[start:end].strip()
    assert not live_list_markers(desc)


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
