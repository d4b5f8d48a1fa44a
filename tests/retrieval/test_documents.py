"""Corpus loading: every file kind, and every kind of bad file skipped with a reason."""

import json
from pathlib import Path

import pytest

from retrieval.ingest import documents
from retrieval.errors import CorpusError
from retrieval.types import Document, Skipped

ARTICLE = "A Title Here\n\nFirst paragraph of real text.\n\nSecond paragraph, also real.\n"


def load(path, **kw):
    out = list(documents.load(Path(path), **kw))
    return [d for d in out if isinstance(d, Document)], {s.path: s.reason for s in out if isinstance(s, Skipped)}


def test_folder_is_walked_recursively_with_stable_ids(tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "b.md").write_text("# MD Title\n\nBody text here.\n")
    (tmp_path / ".hidden.txt").write_text(ARTICLE)
    docs, skipped = load(tmp_path)
    assert sorted(d.doc_id for d in docs) == ["a", "sub/deeper/b"]
    assert skipped == {}
    again, _ = load(tmp_path)
    assert [(d.doc_id, d.content_hash) for d in docs] == [(d.doc_id, d.content_hash) for d in again]
    by_id = {d.doc_id: d for d in docs}
    assert by_id["a"].title == "A Title Here" and by_id["a"].source == "a.txt"
    assert by_id["sub/deeper/b"].title == "MD Title"


def test_same_stem_different_suffix_keeps_both(tmp_path):
    (tmp_path / "x.txt").write_text(ARTICLE)
    (tmp_path / "x.md").write_text("# Other\n\nOther text.\n")
    docs, _ = load(tmp_path)
    assert sorted((d.doc_id, d.source) for d in docs) == [("x", "x.txt"), ("x.md", "x.md")]


def test_ids_survive_a_same_stem_file_coming_and_going(tmp_path):
    """``x.txt`` is cited as ``x`` before an ``x.md`` appears beside it, while it is there, and after
    it is gone (giving both files their suffix used to rename ``x`` to ``x.txt`` and back)."""
    (tmp_path / "x.txt").write_text(ARTICLE)
    (tmp_path / "y.md").write_text("# Y\n\nY text.\n")
    ids = lambda: {d.source: d.doc_id for d in load(tmp_path)[0]}  # noqa: E731
    assert ids() == {"x.txt": "x", "y.md": "y"}
    (tmp_path / "x.md").write_text("# Other\n\nOther text.\n")
    (tmp_path / "y.html").write_text("<html><head><title>Y</title></head><body><p>Y page.</p></body></html>")
    assert ids() == {"x.txt": "x", "x.md": "x.md", "y.md": "y", "y.html": "y.html"}
    (tmp_path / "x.md").unlink()
    (tmp_path / "y.html").unlink()
    assert ids() == {"x.txt": "x", "y.md": "y"}


def test_bad_files_are_skipped_with_reasons(tmp_path, monkeypatch):
    (tmp_path / "good.txt").write_text(ARTICLE)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("\n \n\t\n")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02" * 1000)
    (tmp_path / "huge.txt").write_text("word " * 300_000)
    (tmp_path / "only-junk.txt").write_text("Leave a Reply\n\n2 mins read\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG....")
    (tmp_path / "broken-link.txt").symlink_to(tmp_path / "does-not-exist.txt")
    outside = tmp_path.parent / f"outside-{tmp_path.name}.txt"
    outside.write_text(ARTICLE)
    (tmp_path / "escape.txt").symlink_to(outside)
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "locked.txt").write_text(ARTICLE)
    real_open = open

    def guarded_open(path, *a, **kw):
        if str(path).endswith("locked.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **kw)

    monkeypatch.setattr(documents, "open", guarded_open, raising=False)
    docs, skipped = load(tmp_path, max_file_mb=1.0)
    assert [d.doc_id for d in docs] == ["good"]
    assert "empty" in skipped["empty.txt"] and "empty" in skipped["blank.txt"]
    assert "binary" in skipped["binary.txt"]
    assert "size limit" in skipped["huge.txt"]
    assert "no text left" in skipped["only-junk.txt"]
    assert "unsupported" in skipped["image.png"]
    assert "broken" in skipped["broken-link.txt"]
    assert "outside" in skipped["escape.txt"]
    assert "not followed" in skipped["loop"]
    assert "Permission denied" in skipped["locked.txt"]


def test_legacy_encoding_is_detected(tmp_path):
    text = "Café crème à la française. Les élèves étaient très contents de leur journée à Genève, " * 5
    (tmp_path / "latin1.txt").write_bytes(text.encode("latin-1"))
    docs, skipped = load(tmp_path)
    assert skipped == {}
    assert "Café crème" in docs[0].paragraphs[0].text


def test_ascii_text_with_one_stray_byte_is_western_not_japanese(tmp_path):
    # an English FAQ with one Latin-1 acute accent (0xB4): a detector guessing from one byte named
    # cp932 and turned it into a katakana character
    text = ("Q: How do I tag a release? A: Use the tag command on the checked-out files. " * 400
            ).encode("ascii") + b"See Per Cederqvist\xb4s manual.\n"
    (tmp_path / "faq.txt").write_bytes(text)
    docs, skipped = load(tmp_path)
    assert skipped == {}
    assert "Cederqvist\u00b4s" in "\n".join(p.text for p in docs[0].paragraphs)


def test_html_uses_metadata_and_main_text(tmp_path):
    html = """<html><head><title>Page title</title>
      <meta property="og:title" content="Real Title">
      <meta property="og:site_name" content="Daily Planet">
      <meta name="author" content="Lois Lane">
      <meta property="article:published_time" content="2024-05-06T10:00:00Z">
      <link rel="canonical" href="https://example.org/story"></head>
      <body><nav><a>Home</a> <a>World</a></nav>
      <article><h1>Real Title</h1><p>First <b>bold</b> paragraph.</p>
      <h2>Section</h2><p>Second paragraph.</p><script>var x = 1;</script>
      <ul><li>Point one</li></ul><p>Leave a Reply</p></article>
      <footer>Copyright 2024 All rights reserved</footer></body></html>"""
    (tmp_path / "story.html").write_text(html)
    docs, _ = load(tmp_path)
    d = docs[0]
    assert (d.title, d.outlet, d.author, d.date, d.url) == (
        "Real Title", "Daily Planet", "Lois Lane", "2024-05-06", "https://example.org/story")
    assert [p.text for p in d.paragraphs] == ["First bold paragraph.", "Second paragraph.", "- Point one"]
    assert d.paragraphs[1].heading == "Section"


def test_jsonl_records_beir_style(tmp_path):
    lines = [
        json.dumps({"_id": "d1", "title": "T1", "text": "Alpha text.", "metadata": {}}),
        "not json",
        json.dumps({"id": "d2", "title": "T2", "text": "Beta text.", "date": "2023-01-02", "url": "https://x.org/2",
                    "outlet": "X", "author": "Y"}),
        json.dumps({"_id": "d1", "title": "dup", "text": "dup"}),
        json.dumps({"_id": "d3", "title": "no text"}),
        json.dumps(["a", "list"]),
    ]
    f = tmp_path / "corpus.jsonl"
    f.write_text("\n".join(lines) + "\n")
    docs, skipped = load(f)
    assert [d.doc_id for d in docs] == ["d1", "d2"]
    d2 = docs[1]
    assert (d2.title, d2.date, d2.url, d2.outlet, d2.author, d2.source) == (
        "T2", "2023-01-02", "https://x.org/2", "X", "Y", "https://x.org/2")
    assert "invalid JSON" in skipped["corpus.jsonl:2"]
    assert "duplicate" in skipped["corpus.jsonl:4"]
    assert "no text" in skipped["corpus.jsonl:5"]
    assert "not a JSON object" in skipped["corpus.jsonl:6"]


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        list(documents.load(tmp_path / "nope"))


def test_seeds_load_cleanly():
    seeds = Path(__file__).resolve().parents[2] / "seeds"
    docs, skipped = load(seeds)
    assert len(docs) == 5 and skipped == {}
    assert all(d.paragraphs for d in docs)
