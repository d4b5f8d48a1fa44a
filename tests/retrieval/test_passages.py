"""Passage splitting: paragraph-aware, sentence boundaries, never over the model's token limit."""

from retrieval.index.passages import Passage, split_document, split_sentences
from retrieval.types import Document, Paragraph


def doc(*paras, heading=None):
    return Document("d", "d.txt", "Title", [Paragraph(i + 1, t, heading) for i, t in enumerate(paras)], "h")


def test_sentence_spans_cover_the_text_verbatim():
    text = "The U.S. Army moved. It said “we will see.” Then it left!  Trailing words without end"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "The U.S. Army moved.", "It said “we will see.”", "Then it left!", "Trailing words without end"]


def test_short_paragraphs_become_one_passage_each(encoder):
    d = doc("One sentence here.", "Two sentences. Right here.", heading="Sec")
    ps = split_document(d, encoder.count_tokens, encoder.limit)
    assert [(p.paragraph, p.part, p.text, p.heading) for p in ps] == [
        (1, 0, "One sentence here.", "Sec"), (2, 0, "Two sentences. Right here.", "Sec")]
    assert ps[1].sentences == [(0, 14), (15, 26)]
    assert ps[0].embed_text() == "Sec\nOne sentence here."
    assert "Title" in ps[0].lexical_text()


def test_long_paragraph_is_split_at_sentences_under_the_limit(encoder):
    sentences = [f"Sentence number {i} talks about topic {i} at some considerable length today." for i in range(80)]
    text = " ".join(sentences)
    ps = split_document(doc(text, heading="A heading"), encoder.count_tokens, encoder.limit)
    assert len(ps) > 1
    assert [p.part for p in ps] == list(range(len(ps)))
    assert all(p.paragraph == 1 for p in ps)
    # every passage fits the model with its heading, counted by the real tokenizer
    assert max(encoder.count_tokens([p.embed_text() for p in ps])) <= encoder.limit
    # nothing lost, nothing duplicated, cuts only between sentences
    assert " ".join(p.text for p in ps) == text
    for p in ps:
        assert p.text.startswith("Sentence number") and p.text.endswith("today.")


def test_a_sentence_longer_than_the_limit_is_cut_at_words(encoder):
    text = " ".join(f"word{i}" for i in range(2000))  # one giant "sentence"
    ps = split_document(doc(text), encoder.count_tokens, encoder.limit)
    assert len(ps) > 1
    assert max(encoder.count_tokens([p.embed_text() for p in ps])) <= encoder.limit
    assert " ".join(p.text for p in ps) == text


def test_passage_hash_changes_with_heading_context():
    a = Passage("d", 1, 0, "Same text.", heading="One")
    b = Passage("d", 1, 0, "Same text.", heading="Two")
    c = Passage("other", 5, 0, "Same text.", heading="One")
    assert a.hash != b.hash and a.hash == c.hash
