"""Property tests: any text → cleaning and passage splitting never crash, keep every sentence in
exactly one passage, and never exceed the model's token limit (real tokenizer of the bundled model).

Definitions used below
----------------------
* A *kept paragraph* is one of ``Document.paragraphs`` after cleaning (boilerplate, the title and
  the dateline are not paragraphs).
* A *sentence* of a kept paragraph is a span of :func:`retrieval.index.passages.split_sentences`.
* **Coverage** — for each kept paragraph, its passages are substrings of the paragraph at strictly
  increasing, non-overlapping offsets, and the text between and around them is whitespace only: every
  non-space character of the paragraph is in exactly one passage.
* **Sentence integrity** — a sentence whose token count fits the passage budget lies inside exactly
  one passage; only a sentence that alone exceeds the budget is cut (at word boundaries, or by
  characters for a single over-long "word"), and each of its pieces is in exactly one passage.
* **Oracle** — for generated documents (plain text hard-wrapped, Markdown, HTML) made of known
  prose sentences, known boilerplate lines and headings, every prose sentence is a substring of
  exactly one passage and no boilerplate line is in any passage.
* **Limit** — ``count_tokens([p.embed_text()])[0] <= Encoder.limit`` for every passage, heading
  context included.
"""

from __future__ import annotations

import html
import os
import textwrap
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from retrieval.ingest.clean import is_boilerplate, normalize
from retrieval.ingest.documents import parse
from retrieval.index.passages import split_document, split_sentences
from retrieval.types import Document, Paragraph

# CITEBOT_HYPOTHESIS_SCALE=20 multiplies every example count (the long run in docs/RELIABILITY.md)
SCALE = int(os.environ.get("CITEBOT_HYPOTHESIS_SCALE", "1"))
SETTINGS = settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ strategies

any_char = st.characters(codec=None)  # every code point, lone surrogates included (JSONL can carry them)
word = st.text(st.characters(categories=("Lu", "Ll", "Lo", "Nd", "Mn", "So", "Po", "Pd", "Sc")), min_size=1,
               max_size=25)
line = st.lists(st.one_of(word, st.sampled_from(["**", "_", "@everyone", "<@123456789012345678>", "#", ">", "-",
                                                  "https://x.example/a_b", "Mr.", "U.S.", "e.g.", "...", "?!",
                                                  "\u200b", "\u202e", "\t"])),
                max_size=40).map(" ".join)
structured = st.lists(st.one_of(line, st.just(""), st.sampled_from(["Advertisement", "Share this article",
                                                                   "Home » News » World", "5 min read"])),
                      max_size=30).map("\n".join)
hostile_text = st.one_of(st.text(any_char, max_size=3000), structured,
                         st.builds(lambda w, n: (w + " ") * n, word, st.integers(1, 600)),
                         st.builds(lambda w, n: w * n, word, st.integers(1, 400)))


def _passages_ok(doc: Document, enc) -> None:
    """Assert coverage, sentence integrity and the token limit for one cleaned document."""
    limit = enc.limit
    passages = split_document(doc, enc.count_tokens, limit)
    by_para: dict[int, list] = {}
    sizes = enc.count_tokens([p.embed_text() for p in passages])
    for p, n in zip(passages, sizes):
        assert p.text.strip() == p.text and p.text, f"passage with edge whitespace or empty: {p.text[:60]!r}"
        assert n <= limit, f"passage of {n} tokens > {limit}: {p.text[:80]!r}"
        prev_end = 0
        for a, b in p.sentences:
            assert prev_end <= a < b <= len(p.text), (a, b, len(p.text))
            assert p.text[a:b].strip() == p.text[a:b]
            prev_end = b
        by_para.setdefault(p.paragraph, []).append(p)
    for para in doc.paragraphs:
        ps = sorted(by_para.get(para.number, []), key=lambda p: p.part)
        assert [p.part for p in ps] == list(range(len(ps)))
        text = para.text
        if not text.strip():
            continue
        assert ps, f"paragraph {para.number} has no passage: {text[:80]!r}"
        # coverage: passages at increasing offsets, only whitespace outside them
        pos, offsets = 0, []
        for p in ps:
            at = text.find(p.text, pos)
            assert at >= 0, f"passage is not a substring of its paragraph after {pos}: {p.text[:60]!r}"
            assert not text[pos:at].strip(), f"text lost between passages: {text[pos:at][:60]!r}"
            offsets.append((at, at + len(p.text)))
            pos = at + len(p.text)
        assert not text[pos:].strip(), f"text lost after the last passage: {text[pos:][:60]!r}"
        # sentence integrity
        budget = limit - (enc.count_tokens([para.heading])[0] + 1 if para.heading else 0)
        if budget < limit // 2:
            budget = limit
        for a, b in split_sentences(text):
            inside = [i for i, (x, y) in enumerate(offsets) if x <= a and b <= y]
            touching = [i for i, (x, y) in enumerate(offsets) if x < b and a < y]
            if len(inside) == 1:
                continue
            fits = enc.count_tokens([text[a:b]])[0] <= budget  # rare: only sentences that were cut
            assert not fits, f"a sentence that fits ({text[a:b][:80]!r}) was split over passages {touching}"
            assert touching, "an over-long sentence is in no passage"


@SETTINGS
@given(text=hostile_text, kind=st.sampled_from(["text", "markdown", "html"]))
@example(text="a, " * 3000, kind="text")
@example(text=("x" * 5000 + " ") * 3, kind="text")
@example(text="\ud800 lone surrogate. Another\udfff one.", kind="markdown")
@example(text="漢字" * 3000, kind="text")
@example(text="e\u0301" * 2000, kind="text")  # combining marks: NFC and the tokenizer's own normalization
@example(text="<h2>" + "H " * 300 + "</h2><p>" + "word " * 400 + "</p>", kind="html")
def test_any_text_cleans_and_splits_within_limits(encoder, text, kind):
    doc = parse(text, kind, doc_id="d", source="d.txt", content_hash="h")
    for p in doc.paragraphs:
        assert p.text.strip(), "empty paragraph kept"
        assert not is_boilerplate(p.text), f"boilerplate kept as a paragraph: {p.text[:80]!r}"
    _passages_ok(doc, encoder)


@SETTINGS
@given(text=hostile_text, heading=st.one_of(st.none(), line, st.text(any_char, max_size=2000)))
def test_split_document_any_paragraph(encoder, text, heading):
    """split_document on barely cleaned paragraphs (as JSONL records give them), headings of any size.

    Every path into a Document goes through ``clean.normalize`` (lone surrogates replaced, NFC) and
    strips paragraphs; anything else about the text is arbitrary here.
    """
    heading = normalize(heading) if heading else heading
    paras = [Paragraph(i + 1, t.strip(), heading)
             for i, t in enumerate(x for x in normalize(text).split("\n") if x.strip())]
    _passages_ok(Document("d", "d", None, paras, "h"), encoder)


# ------------------------------------------------------------------ the oracle: known sentences in, same out

BOILER = ["Advertisement", "Share this article", "Skip to content", "5 min read", "Leave a comment",
          "Home » News » World", "Related Posts", "Follow us on Twitter", "Tags: harbour, ferry",
          "© 2024 Example Media. All rights reserved.", "Photo: Getty Images", "Sign up for our newsletter updates"]
letters = st.characters(categories=("Ll", "Lu", "Lo"), exclude_characters="ǀǁǂǃ")
plain_word = st.text(letters, min_size=1, max_size=12).filter(lambda w: w.lower() not in ("by", "mr", "dr", "no"))


@st.composite
def sentence(draw, i: int) -> str:
    words = draw(st.lists(plain_word, min_size=3, max_size=24))
    marker = "qz" + "".join(chr(97 + (i // 26 ** k) % 26) for k in range(3))  # unique, fixed width
    words.insert(draw(st.integers(0, len(words))), marker)
    commas = draw(st.lists(st.integers(0, len(words) - 2), max_size=3))
    for c in commas:
        words[c] += ","
    s = " ".join(words)
    # not "…": sentencex does not end a sentence there, so a long run of "…" sentences is one
    # segment, cut at words when it exceeds the budget (sentence integrity is about segments)
    return s[0].upper() + s[1:] + draw(st.sampled_from([".", ".", "!"]))


@st.composite
def document(draw):
    n_paras = draw(st.integers(1, 6))
    counter = iter(range(10_000))
    paras = []
    for _ in range(n_paras):
        k = draw(st.integers(1, 14))
        paras.append([draw(sentence(next(counter))) for _ in range(k)])
    boiler = draw(st.lists(st.sampled_from(BOILER), max_size=6))
    headings = draw(st.lists(st.text(letters, min_size=3, max_size=10).map(lambda w: "Part " + w), max_size=3))
    # the reading order: paragraphs with boilerplate and headings between them
    blocks: list[tuple[str, object]] = [("title", "The harbour report")]
    for i, p in enumerate(paras):
        if i < len(headings):
            blocks.append(("heading", headings[i]))
        blocks.append(("para", p))
        if i < len(boiler):
            blocks.append(("boiler", boiler[i]))
    fmt = draw(st.sampled_from(["text", "markdown", "html"]))
    width = draw(st.integers(50, 110))
    return fmt, width, blocks


def render_doc(fmt: str, width: int, blocks) -> str:
    out = []
    for kind, value in blocks:
        if fmt == "html":
            tag = {"title": "h1", "heading": "h2", "para": "p", "boiler": "p"}[kind]
            text = " ".join(value) if kind == "para" else value
            out.append(f"<{tag}>{html.escape(text)}</{tag}>")
        elif fmt == "markdown":
            if kind in ("title", "heading"):
                out.append(("# " if kind == "title" else "## ") + value)
            elif kind == "para":
                out.append(textwrap.fill(" ".join(value), width=width, break_long_words=False))
            else:
                out.append(value)
        else:
            out.append(textwrap.fill(" ".join(value), width=width, break_long_words=False) if kind == "para" else value)
    if fmt == "html":
        return "<html><body><article>" + "".join(out) + "</article></body></html>"
    return "\n\n".join(out) + "\n"


@pytest.mark.heavy  # 150 documents through the real tokenizer: the suite's, not the quick tier's
@settings(max_examples=150 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document())
def test_every_sentence_in_exactly_one_passage(encoder, spec):
    fmt, width, blocks = spec
    raw = render_doc(fmt, width, blocks)
    doc = parse(raw, fmt, doc_id="d", source="d", content_hash="h")
    passages = split_document(doc, encoder.count_tokens, encoder.limit)
    texts = [p.text for p in passages]
    for kind, value in blocks:
        if kind == "para":
            for s in value:
                s = unicodedata.normalize("NFC", s)  # documented: text is NFC-normalized on the way in
                hits = [i for i, t in enumerate(texts) if s in t]
                assert len(hits) == 1, f"sentence in {len(hits)} passages ({fmt}, width {width}): {s!r}"
        elif kind == "boiler":
            assert not any(value in t for t in texts), f"boilerplate kept: {value!r}"
            assert not any(p.text == value for p in doc.paragraphs)
        elif kind == "heading":
            value = unicodedata.normalize("NFC", value)
            assert any(p.heading == value for p in passages), f"heading lost: {value!r}"
    assert doc.title == "The harbour report"
    _passages_ok(doc, encoder)


def test_wrapped_line_ending_in_comma_stays_one_paragraph(encoder):
    """Hard-wrapped prose whose line ends in a comma is one paragraph, not two (a fixed bug)."""
    text = ("Title\n\nThe committee heard from the harbour master, the ferry captain and the mayor,\n"
            "who all agreed that the new timetable had been a success for the town.\n")
    doc = parse(text, "text", doc_id="d", source="d", content_hash="h")
    assert [p.text for p in doc.paragraphs] == [
        "The committee heard from the harbour master, the ferry captain and the mayor, "
        "who all agreed that the new timetable had been a success for the town."]
