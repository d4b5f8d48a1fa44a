"""Cleaning rules on synthetic cases and on the shipped seeds."""

from pathlib import Path

import pytest

from retrieval.ingest.clean import clean_text, is_boilerplate, looks_like_heading, parse_dateline, text_units
from retrieval.ingest.dates import find_date
from retrieval.ingest.documents import parse

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.mark.parametrize("line", [
    "2 mins read", "5 min read", "Leave a Reply", "Leave a Comment", "Your email address will not be published.",
    "Required fields are marked *", "You may also like", "Latest from Blog", "Home » News » Some Title",
    "[Photo Credit: By Someone, CC BY 2.0, https://example.org/x?curid=1]", "[READ MORE: Another story here]",
    "Photo: Reuters", "Share this article", "Advertisement", "Tags: politics, world", "Related Posts",
    "This site uses Akismet to reduce spam. Learn how your comment data is processed.", "Home > World > Europe",
    # documentation sites
    "Edit this page", "Edit on GitHub", "View page source", "Was this page helpful?",
    "Last updated on Dec 1, 2026 by Ann Lee", "Last updated 2024-05-31 00:35:55 UTC",
])
def test_boilerplate_lines_are_recognised(line):
    assert is_boilerplate(line)


@pytest.mark.parametrize("line", [
    "Read the statement carefully before you sign, the lawyer said, because it matters.",
    "The photo was taken in 2019 by a local reporter who later won an award for it.",
    "Home prices rose by 5% in the third quarter, the report said.",
    "Comments from the minister were published on Monday, and critics answered within hours.",
    "Share prices fell sharply after the announcement.",
    "Edit this page to add your name to the list.", "The last updated value is stored in the index.",
    "Source code: Lib/idlelib/", "Source",  # a glossary's or a config reference's heading
])
def test_prose_is_not_boilerplate(line):
    assert not is_boilerplate(line)


def test_headings_and_prose_are_told_apart():
    assert looks_like_heading("Targeting the Cartel’s Core")
    assert looks_like_heading("U.S. Military and CIA Operations")  # initials are not sentence ends
    assert looks_like_heading("Maduro’s Time “Running Out”")
    assert not looks_like_heading("The strikes could occur at any moment.")
    assert not looks_like_heading("One official summarized the posture simply:")
    assert not looks_like_heading("He left. Then she spoke")


def test_dates_in_several_forms():
    assert find_date("date 2025-09-27 Published by X") == "2025-09-27"
    assert find_date("Published 3 March 2024") == "2024-03-03"
    assert find_date("Updated Sept. 5, 2023 at noon") == "2023-09-05"
    assert find_date("no date here, just 2025") is None


def test_dateline_gives_date_and_author():
    assert parse_dateline(" date 2025-09-27 Published by Emmanuel Alejandro Rondón 26 de septiembre, 2025") == (
        "2025-09-27", "Emmanuel Alejandro Rondón")
    assert parse_dateline("By Jane Q. Doe") == (None, "Jane Q. Doe")
    assert parse_dateline("The meeting on 2025-01-02 was long and, by all accounts, tense and unproductive "
                          "for everyone who took part in it, officials said later that week.") is None


def test_hard_wrapped_text_is_joined_but_headings_are_not():
    text = ("Introduction\n\n"
            "This paragraph was wrapped at a fixed width by an old\n"
            "editor, so its lines break in the middle of a sentence\n"
            "and must be joined back.\n\n"
            "Short line.\nAnother short line.\n")
    units = [u.text for u in text_units(text)]
    assert units[0] == "Introduction"
    assert units[1].startswith("This paragraph was wrapped") and units[1].endswith("must be joined back.")
    assert "Short line." in units and "Another short line." in units


def test_title_heading_and_boilerplate_on_a_synthetic_article():
    text = ("Home » World » Big News Today\n\nBig News Today\n\n3 min read\n\nBy Ann Lee\n\n"
            "The first paragraph says something.\n\nA Section\n\nThe second paragraph is under a section.\n\n"
            "Another Section\n\nThird.\n\nLeave a Reply\n\nYour email address will not be published.\n")
    c = clean_text(text)
    assert c.title == "Big News Today"
    assert c.author == "Ann Lee"
    assert [p.text for p in c.paragraphs] == ["The first paragraph says something.",
                                              "The second paragraph is under a section.", "Third."]
    assert [p.heading for p in c.paragraphs] == [None, "A Section", "Another Section"]
    assert [p.number for p in c.paragraphs] == [1, 2, 3]


def test_markdown_headings_lists_and_soft_breaks():
    md = "# Title\n\nFirst line\nsame paragraph.\n\n## Part\n\n- item one\n- item two\n\n```\ncode # not heading\n```\n"
    c = parse(md, "markdown", doc_id="t", source="t.md", content_hash="")
    assert c.title == "Title"
    texts = [p.text for p in c.paragraphs]
    assert texts[0] == "First line same paragraph."
    assert "- item one\n- item two" in texts  # a list is one paragraph
    assert c.paragraphs[1].heading == "Part"
    assert any("code # not heading" in t for t in texts)


def test_lone_heading_shaped_fragment_is_kept_as_text():
    paras = [f"Paragraph number {i} has a full sentence in it." for i in range(5)]
    text = "\n\n".join(paras[:4] + ["A caption without a period"] + paras[4:])
    c = clean_text(text)
    assert "A caption without a period" in [p.text for p in c.paragraphs]
    assert all(p.heading is None for p in c.paragraphs)


def test_seeds_lose_their_boilerplate_and_keep_their_text():
    texts = {f.name: clean_text(f.read_text("utf-8")) for f in sorted(SEEDS.glob("*.txt"))}
    everything = "\n".join(p.text for c in texts.values() for p in c.paragraphs)
    for junk in ("Leave a Reply", "2 mins read", "Photo Credit", "READ MORE", "You may also like",
                 "Home » News", "Akismet", "Your email address"):
        assert junk not in everything
    # every seed keeps real paragraphs, and the one with a dateline has its date and author
    assert all(len(c.paragraphs) >= 5 for c in texts.values())
    dated = [c for c in texts.values() if c.date]
    assert dated and all(c.author for c in dated)
    # section headings of the seed that has them are attached to the paragraphs below
    assert any(p.heading for c in texts.values() for p in c.paragraphs)


def test_split_long_cuts_at_sentences_then_spaces_then_anywhere():
    from retrieval.ingest.clean import split_long

    prose = "A short sentence ends here. " * 200
    parts = split_long(prose.strip(), 800)
    assert all(p.endswith(".") for p in parts) and all(len(p) <= 1200 for p in parts)
    assert " ".join(parts) == prose.strip()
    words = "word " * 2000  # no sentence end: cut between words
    parts = split_long(words.strip(), 800)
    assert len(parts) > 5 and all(not p.startswith(" ") and "wor d" not in p for p in parts)
    assert " ".join(parts) == words.strip()
    blob = "x" * 10_000  # no space at all (minified, base64): cut anywhere, nothing lost
    parts = split_long(blob, 800)
    assert "".join(parts) == blob and max(map(len, parts)) <= 1200


def test_structured_units_give_heading_paths_and_terms():
    from retrieval.ingest.clean import Unit, clean_units

    units = [Unit("Guide", "heading", level=1), Unit("Options", "heading", level=2),
             Unit("--all", "term", level=7), Unit("Stash everything.", "para"),
             Unit("Also ignored files.", "para"), Unit("", "end", level=7),
             Unit("After the list.", "para"), Unit("Limits", "heading", level=3), Unit("Small.", "para")]
    c = clean_units(units)
    assert c.title == "Guide"
    assert [(p.text, p.heading_path) for p in c.paragraphs] == [
        ("--all: Stash everything.\nAlso ignored files.", ["Options", "--all"]),  # a short definition is whole
        ("After the list.", ["Options"]),
        ("Small.", ["Options", "Limits"]),
    ]
