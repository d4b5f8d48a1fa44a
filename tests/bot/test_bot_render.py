"""Unit tests for bot.render: Discord's limits, escaping, trimming around the quote. No model needed."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.render import (
    ELLIPSIS,
    escape,
    excerpt,
    render_answer,
    render_answer_sources,
    render_documents,
    render_not_found,
    render_passage,
    render_source,
    render_summary,
    truncate,
)
from bot.stats import render_stats
from fakediscord import message_problems
from retrieval.types import Answer, Citation, IndexSummary, Paragraph, Result, Skipped, SourceView

# what Discord parses as a ping: @everyone/@here, or <@id>, <@!id>, <@&id> written contiguously
MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>")
# other tokens Discord shows as something else than their text, when their "<" is not escaped:
# channels, slash commands, custom emoji, timestamps, guild navigation
TOKEN = re.compile(r"(?<!\\)(?:\\\\)*<(?:#\d+|/[^:>\n]+:\d+|a?:\w+:\d+|t:-?\d+(?::\w)?|id:\w+)>")


def payload(reply) -> dict:
    return {"content": reply.content, "embeds": [e.to_dict() for e in reply.embeds]}


def unmark(s: str) -> str:
    """Strip our markup and escapes to compare with raw text."""
    s = s.replace("\u200b", "").replace("**", "")
    s = re.sub(r"^> ?", "", s, flags=re.M)
    s = re.sub(r"\\(.)", r"\1", s)
    return s


def make_result(rank: int, text: str, quote_start: int, quote_len: int, *, title="Title", also=()) -> Result:
    quote = text[quote_start : quote_start + quote_len]
    cit = Citation(rank, f"doc{rank}", title, "Outlet", "Author", "2025-01-02", 3, f"doc{rank}.txt")
    also_c = [Citation(0, d, f"Other {d}", None, "Someone", None, 2, f"{d}.txt") for d in also]
    return Result(rank, f"doc{rank}", 3, text, quote, quote_start, 1.0, 0.9, cit, None, list(also), also_c)


def test_escape_neutralises_mentions_and_markdown():
    s = escape("@everyone @here <@123456789012345678> <@&123456789012345678> **b** __u__ ~~s~~ ||x|| `c` > q # h [l](http://e.com)")
    assert not MENTION.search(s)
    for raw in ("**b**", "__u__", "~~s~~", "||x||", "`c`"):
        assert raw not in s
    assert "\\[l\\](http" in s, "masked links are broken up"
    assert unmark(s).startswith("@everyone @here")


FORMS = ["<@{}>", "<@!{}>", "<@&{}>", "<#{}>", "</ask:{}>", "</corpus add:{}>", "<:emoji:{}>", "<a:anim:{}>", "<t:{}>",
         "<t:{}:R>"]


@pytest.mark.parametrize("digits", [1, 2, 5, 16, 17, 18, 19, 20, 21, 30])
@pytest.mark.parametrize("form", FORMS)
def test_mention_like_tokens_neutralised_whatever_the_id_length(form, digits):
    # discord.utils.escape_mentions only knows 17-20 digit ids: <@1> stayed a mention pill
    raw = form.format("1" * digits)
    for text in (raw, f"see {raw} now", f"{raw}{raw}"):
        s = escape(text)
        assert not MENTION.search(s) and not TOKEN.search(s), s
        assert unmark(s) == text, "shown as typed"


def test_question_with_mention_tokens_is_echoed_inert():
    q = "<@1> <@!22> <@&333> <#4> </ask:5> <t:1700000000:R> <:e:6> @everyone what did the mayor say?"
    reply = render_answer(Answer(q, True, [make_result(1, "The mayor said yes.", 0, 19)], 0.9, "v1"))
    title = reply.embeds[0].title
    assert not MENTION.search(title) and not TOKEN.search(title), title
    assert unmark(title) == q


def test_answer_shows_its_confidence_and_warns_when_more_likely_wrong():
    from bot.render import LOW_CONFIDENCE_TEXT

    sure = render_answer(Answer("q?", True, [make_result(1, "The mayor said yes.", 0, 19)], 0.83, "v1"))
    assert sure.content is None and "confidence 83%" in sure.embeds[0].footer.text
    unsure = render_answer(Answer("q?", True, [make_result(1, "The mayor said yes.", 0, 19)], 0.31, "v1"))
    assert unsure.content == LOW_CONFIDENCE_TEXT.format(0.31) and unsure.content.startswith("Low confidence (31%)")
    assert "confidence 31%" in unsure.embeds[0].footer.text
    assert unsure.embeds[0].description == sure.embeds[0].description  # the quotes are the same, only flagged


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["<", ">", "@", "#", "/", ":", "!", "&", "a", "t", "R", " ", "\\", "\n"]),
                          st.integers(0, 10**25).map(str)), max_size=40).map("".join))
def test_escape_leaves_no_live_token(text):
    s = escape(text)
    assert not MENTION.search(s) and not TOKEN.search(s), s
    assert unmark(s) == text


def test_escape_lone_markdown_characters():
    # escape_markdown leaves an unpaired * alone; we escape it so our own ** stays balanced
    assert escape("a * b") == "a \\* b"
    assert escape("snake_case") == "snake\\_case"
    assert escape("back\\slash") == "back\\\\slash"


def test_truncate():
    assert truncate("abc", 3) == "abc"
    assert truncate("abcdef", 4) == "abc" + ELLIPSIS
    assert len(truncate("x" * 5000, 2000)) == 2000


def test_excerpt_keeps_quote_and_both_sides():
    before = "word " * 200
    quote = "This is the quoted sentence."
    after = " more" * 200
    text = before + quote + after
    ex = excerpt(text, quote, len(before), 300)
    assert ex.quote == quote and ex.cut_before and ex.cut_after and not ex.quote_cut
    assert 0 < len(ex.before) and 0 < len(ex.after)
    assert len(ex.before) + len(ex.quote) + len(ex.after) <= 300
    assert text.find(ex.before + ex.quote + ex.after) >= 0, "the excerpt is a verbatim slice"


def test_passage_trimmed_around_quote_with_ellipses():
    before = "alpha " * 300
    quote = "The answer is forty-two."
    text = before + quote + " omega" * 300
    out = render_passage(text, quote, len(before), 400)
    assert len(out) <= 400
    assert f"**{quote}**" in out
    assert out.startswith("> " + ELLIPSIS) and out.endswith(ELLIPSIS)


def test_overlong_quote_is_cut_visibly():
    quote = "long sentence " * 200
    out = render_passage(quote, quote, 0, 300)
    assert len(out) <= 300
    assert out.rstrip().endswith(ELLIPSIS), "a quote cut short says so"
    assert out.startswith("> **long sentence")


def test_quote_start_mismatch_falls_back_to_search():
    text = "First sentence. Second one here. Third."
    out = render_passage(text, "Second one here.", 0, 1000)
    assert "**Second one here.**" in out


def test_answer_with_also_in():
    text = "The sky was blue on Monday. Officials confirmed it."
    r1 = make_result(1, text, 0, 27, also=("other-doc",))
    r2 = make_result(2, "Another passage. With a quote.", 17, 13)
    reply = render_answer(Answer("What colour was the sky?", True, [r1, r2], 0.8, "v1"))
    desc = reply.embeds[0].description
    assert "**[1]**" in desc and "**[2]**" in desc
    assert "**The sky was blue on Monday.**" in desc
    assert "↳ also in [3]" in desc
    sources = reply.embeds[0].fields[0].value
    assert "[1] Title · Outlet · 2025-01-02 · ¶ 3" in sources
    assert "[3] Other other-doc · Someone · ¶ 2" in sources
    assert not message_problems(payload(reply))


def test_not_answered_is_short_and_honest():
    reply = render_answer(Answer("banana bread?", False, [make_result(1, "x y z.", 0, 6)], 0.1, "v1"))
    assert reply.content == render_not_found().content
    assert "not in the corpus" in reply.content.lower() and not reply.embeds


# tokens, not characters: mentions must be generated whole to be tested
text_chars = st.lists(
    st.sampled_from(list("abc xyz*_~|`>#-[]()\\@<&!:\n.1") + ["@everyone", "@here", "<@123456789012345678>", "é", "😀", "word ",
                                                          "<@1>", "<@!1>", "<@&1>", "<#1>", "</ask:1>", "<t:1:R>", "- ", "1. "]),
    min_size=1,
    max_size=300,
).map("".join)


@st.composite
def results(draw):
    n = draw(st.integers(1, 10))
    out = []
    for i in range(n):
        reps = draw(st.integers(1, 40))
        text = draw(text_chars) * reps
        qs = draw(st.integers(0, len(text) - 1))
        ql = draw(st.integers(1, len(text) - qs))
        title = draw(st.one_of(st.none(), text_chars))
        also = draw(st.lists(st.sampled_from(["a", "b", "c" * 150]), max_size=3, unique=True))
        out.append(make_result(i + 1, text, qs, ql, title=title, also=also))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(results(), text_chars)
def test_answers_always_fit_and_never_ping(rs, question):
    reply = render_answer(Answer(question, True, rs, 0.9, "v-test"))
    assert not message_problems(payload(reply))
    flat = payload(reply)
    texts = [flat["content"] or ""] + [
        s for e in flat["embeds"] for s in [e.get("title", ""), e.get("description", "")] + [f["value"] for f in e.get("fields", [])]
    ]
    for t in texts:
        assert not MENTION.search(t), t[:200]
        assert not TOKEN.search(t), t[:200]
    desc = flat["embeds"][0]["description"]
    # every result is there with its number
    for i in range(1, len(rs) + 1):
        assert f"**[{i}]**" in desc


@settings(max_examples=60, deadline=None)
@given(text_chars, st.integers(0, 2000), st.integers(60, 1500))
def test_passage_respects_budget_and_marks_cuts(body, pos, budget):
    text = (body * 30)[:5000]
    pos = min(pos, len(text) - 1)
    quote = text[pos : pos + 80]
    out = render_passage(text, quote, pos, budget)
    assert len(out) <= budget
    if len(text) > budget * 3:
        assert ELLIPSIS in out, "a trimmed passage shows where it was cut"


def test_source_view_fits_and_marks_cited_paragraph():
    paras = [Paragraph(n, ("p%d @everyone **x** " % n) * 400, "Heading" if n == 5 else None) for n in (4, 5, 6)]
    view = SourceView({"doc_id": "d", "title": "T", "outlet": "O", "date": "2025-01-01", "source": "https://e.com/a b", "url": None},
                      5, paras, 9)
    reply = render_source(view, number=2, quote="p5 @everyone")
    p = payload(reply)
    assert not message_problems(p)
    desc = p["embeds"][0]["description"]
    assert "**▶ ¶ 5**" in desc and "**¶ 4**" in desc and "**¶ 6**" in desc
    assert not MENTION.search(desc)
    assert any(f["name"] == "Paragraph" and f["value"] == "¶ 5 of 9" for f in p["embeds"][0]["fields"])


def test_source_view_names_the_section_and_page_of_a_structured_document():
    paras = [Paragraph(1, "Intro.", "OPTIONS", ["git-stash", "OPTIONS"], 3),
             Paragraph(2, "All untracked files are also stashed.", "--include-untracked",
                       ["git-stash", "OPTIONS", "--include-untracked"], 4)]
    view = SourceView({"doc_id": "git-stash.pdf", "title": "git-stash", "source": "git-stash.pdf", "url": None}, 2, paras, 9)
    fields = {f["name"]: f["value"] for f in payload(render_source(view, number=1))["embeds"][0]["fields"]}
    assert fields["Page"] == "4"
    assert fields["Section"] == "git-stash › OPTIONS › --include-untracked"


def test_documents_pages_and_answer_sources_fit():
    docs = [{"doc_id": f"doc-{i}" + "x" * 200, "title": "@everyone " * 40, "outlet": "O", "date": "2025", "paragraphs": i}
            for i in range(95)]
    for page in (0, 5, 9, 99):
        p = payload(render_documents(docs, page))
        assert not message_problems(p)
        assert not MENTION.search(p["embeds"][0]["description"])
    assert "Page 10/10" in payload(render_documents(docs, 99))["embeds"][0]["footer"]["text"]
    recs = [{"number": i, "doc_id": "d" * 300, "paragraph": 1, "quote": "q " * 1000,
             "citation": {"title": "t" * 500, "source": "https://e.com/x"}} for i in range(1, 11)]
    assert not message_problems(payload(render_answer_sources("q" * 3000, recs)))


def test_summary_fits_with_many_skipped():
    s = IndexSummary(added=[f"a{i}" for i in range(50)], removed=["gone"],
                     skipped=[Skipped(f"dir/file{i}.pdf", "unsupported file type .pdf @everyone") for i in range(300)],
                     passages=10, embedded=4, seconds=1.5, version="v2")
    text = render_summary(s)
    assert len(text) <= 2000
    assert "added: a0, a1" in text and "and 40 more" in text and "removed: gone" in text
    assert "more skipped" in text and not MENTION.search(text)


def test_stats_embed():
    reply = render_stats({"documents": 5, "passages": 65, "built_at": "2026-01-01T00:00:00+0000", "version": "v1", "model": "m"},
                         answered=7, latencies=[0.1, 0.2, 0.3, 0.4], feedback={"up": 2, "down": 1})
    fields = {f.name: f.value for f in reply.embeds[0].fields}
    assert fields["Documents"] == "5" and fields["Passages"] == "65" and fields["Questions answered"] == "7"
    assert fields["Latency"].startswith("p50 200 ms · p95 400 ms")
    assert "d (built 2026-01-01" in fields["Index age"]


def test_every_citation_is_listed_even_with_long_titles():
    """Ten results with long titles: all ten are in the Sources list (titles are shortened), each
    with its file; before the fix the list stopped after ~1,500 characters and [5]…[10] vanished."""
    results = [make_result(i, f"Passage {i} says something. " * 10, 0, 20, title="A rather long headline about events " * 5)
               for i in range(1, 11)]
    reply = render_answer(Answer("q?", True, results, 0.8, "v1"))
    sources = "\n".join(f.value for f in reply.embeds[0].fields if f.name.startswith("Sources"))
    for i in range(1, 11):
        assert f"\n[{i}] " in "\n" + sources and f"¶ 3 · doc{i}.txt" in sources
    assert not message_problems(payload(reply))


def test_answer_sources_do_not_link_a_url_that_would_break_out_of_its_brackets():
    """A corpus URL is untrusted: one with ``>`` or markdown in it is shown escaped, not put in ``<…>``
    (where the ``>`` would end the link and leave the rest as live markdown)."""
    hostile = "https://x.org/a>**bold** <@&123>"
    reply = render_answer_sources("q?", [{"number": 1, "doc_id": "d", "paragraph": 2,
                                          "citation": {"title": "T", "source": hostile}}])
    desc = reply.embeds[0].description
    assert f"<{hostile}>" not in desc and "\\*\\*bold\\*\\*" in desc
    plain = render_answer_sources("q?", [{"number": 1, "doc_id": "d", "paragraph": 2,
                                          "citation": {"title": "T", "source": "https://x.org/a"}}])
    assert "<https://x.org/a>" in plain.embeds[0].description


def test_a_deep_section_path_is_cut_from_the_left_in_citations():
    from bot.render import NumberedCitation, citation_line

    path = [f"section {i} " + "x" * 40 for i in range(30)] + ["--include-untracked"]
    c = Citation(1, "git-stash", "git-stash", None, None, None, 3, "git-stash.html", path, None)
    line = citation_line(NumberedCitation(1, c), limit=300)
    assert len(line) <= 300 and "…" in line and "include" in line  # the nearest heading survives
    recs = [{"number": 1, "doc_id": "git-stash", "paragraph": 3, "quote": "q",
             "citation": {"title": "git-stash", "source": "git-stash.html", "heading_path": path, "page": 4}}]
    desc = payload(render_answer_sources("q", recs))["embeds"][0]["description"]
    assert "p. 4" in desc and "include" in desc


def test_reindex_progress_names_files_then_passages():
    from bot.render import render_progress

    assert render_progress(None, None) == "⏳ Reindexing the corpus…"
    assert render_progress(3, 12) == "⏳ Reindexing the corpus… 3/12 documents"
    assert render_progress(1024, 13007, "passages", rebuild=True) == "⏳ Rebuilding the corpus… embedding 1,024/13,007 passages"
    assert render_progress(5120, 18857, "training") == \
        "⏳ Reindexing the corpus… training the query adapter: 5,120/18,857 queries encoded"


def test_reindex_summary_carries_the_adapter_line_when_one_was_trained():
    from bot.render import render_summary
    from retrieval.types import IndexSummary

    plain = render_summary(IndexSummary(passages=10, embedded=10))
    assert "query adapter" not in plain
    trained = render_summary(IndexSummary(passages=10, embedded=10, adapter={"pairs": 1234, "seconds": 4.2}))
    assert "query adapter: trained on 1,234 structure pairs in 4.2s" in trained
    none = render_summary(IndexSummary(passages=3, adapter={"pairs": 12, "seconds": 0.0,
                                                             "skipped": "fewer than 200 structure pairs"}))
    assert "query adapter: not trained (fewer than 200 structure pairs)" in none


# ---------------------------------------------------------------- sources that disagree


def _differing(n: int, text: str, doc: str, date: str | None = None) -> Result:
    cit = Citation(n, doc, f"Title {doc}", "Outlet", None, date, 3, f"{doc}.txt")
    return Result(n, doc, 3, text, text, 0, 1.0, 0.9, cit)


def _answered(results: list[Result], answered: bool = True) -> Answer:
    from retrieval.query.conflicts import disagreements

    return Answer("How many were killed?", answered, results, 0.9, "v1", disagreements=disagreements(results))


def test_sources_differ_line_cites_the_reply_numbers_with_dates():
    rs = [_differing(1, "The strikes killed 21 people.", "a", "2025-09-27"),
          _differing(2, "Nothing else to see.", "b"),
          _differing(3, "At least 62 people were killed.", "c", "2025-11-20")]
    desc = render_answer(_answered(rs)).embeds[0].description
    assert desc.splitlines()[-1] == ("⚠ Sources differ: [1] killed 21 people (2025-09-27), "
                                     "[3] At least 62 people were killed (2025-11-20)")


def test_sources_differ_line_only_on_answered_replies_and_only_when_figures_differ():
    rs = [_differing(1, "The strikes killed 21 people.", "a"), _differing(2, "At least 62 people were killed.", "b")]
    assert "Sources differ" not in render_answer(_answered(rs, answered=False)).text()
    same = [rs[0], _differing(2, "Officials said 21 people were killed.", "b")]
    assert "Sources differ" not in render_answer(_answered(same)).text()


def test_sources_differ_line_is_escaped_and_fits():
    # the figure is corpus text, and so is a JSONL corpus's date: both escaped
    rs = [_differing(1, "In the raid 21 people *killed* were soldiers.", "a", "@everyone **x**"),
          _differing(2, "The raid killed 62 people.", "b")]
    line = render_answer(_answered(rs)).embeds[0].description.splitlines()[-1]
    assert line == "⚠ Sources differ: [1] 21 people \\*killed (@\u200beveryone \\*\\*x\\*\\*), [2] killed 62 people"
    assert not MENTION.search(line)
    # a long answer keeps the line and Discord's limits
    long = [_differing(i, ("word " * 400) + f"The raid killed {i} people.", f"d{i}") for i in range(1, 11)]
    reply = render_answer(_answered(long))
    assert not message_problems(payload(reply))
    assert "Sources differ: [1] killed 1 people" in reply.embeds[0].description
    assert len(reply.embeds[0].description.splitlines()[-1]) <= 400


def test_sources_differ_line_compares_only_the_results_shown():
    rs = [_differing(1, "The strikes killed 21 people.", "a"), _differing(2, "Officials said 21 people were killed.", "b"),
          _differing(3, "At least 62 people were killed.", "c")]
    assert "Sources differ" in render_answer(_answered(rs)).text()
    assert "Sources differ" not in render_answer(_answered(rs), max_results=2).text()


def test_the_first_quote_gets_room_for_its_neighbour_the_others_still_show():
    # a passage shown with its neighbour: the quote opens it, the answer ends it 1,300 characters later
    filler = " ".join(["The option applies to every request the server receives."] * 21)
    first = make_result(1, f"Defines the maximum payload the server accepts. {filler}\n- Default: 1048576 (1MiB)", 0, 47)
    rest = [make_result(n, " ".join([f"Passage {n} says something else about servers."] * 20), 0, 44)
            for n in range(2, 6)]
    reply = render_answer(Answer("default body size?", True, [first, *rest], 0.8, "v1"))
    desc = reply.embeds[0].description
    assert "1048576" in desc  # the neighbour's sentence reaches the reader
    assert all(f"**[{n}]**" in desc and f"Passage {n} says" in desc for n in range(2, 6))
    assert len(desc) <= 4096 and not message_problems(payload(reply))
    equal = render_answer(Answer("default body size?", True, [first, *rest[:1]], 0.8, "v1"))
    assert "1048576" in equal.embeds[0].description  # two results share the room equally: room enough
