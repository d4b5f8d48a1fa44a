"""Building versions: incremental reuse by passage hash, re-splitting, progress, resuming an
interrupted build from its checkpointed vectors, and what the summary reports."""

import numpy as np
import pytest

from retrieval.ingest import documents as docs_mod
from retrieval.index.build import Builder
from retrieval.index.checkpoint import EmbedCache
from retrieval.index.versions import EMBED_CACHE as CACHE_DIR
from retrieval.index.loaded import open_index
from retrieval.types import IndexSummary, Skipped


def test_incremental_reindex_reuses_unchanged_passages(own_engine, own_corpus):
    first = own_engine.version
    n = own_engine.manifest["passages"]
    s = own_engine.reindex()
    assert s.unchanged and not s.added and not s.changed and not s.removed and s.embedded == 0
    assert s.passages == n and own_engine.version != first
    # change one paragraph of one file, add one file, remove one file
    f = sorted(own_corpus.glob("*.txt"))[0]
    f.write_text(f.read_text() + "\n\nA brand new closing paragraph about lighthouses.\n")
    (own_corpus / "new.md").write_text("# New doc\n\nSomething about penguins in Antarctica.\n")
    gone = sorted(own_corpus.glob("*.txt"))[-1]
    gone.unlink()
    s = own_engine.reindex()
    assert s.changed == [f.stem] and s.added == ["new"] and s.removed == [gone.stem]
    assert len(s.unchanged) == 3
    assert s.embedded == 2  # only the two new paragraphs were embedded
    a = own_engine.ask("penguins in Antarctica")
    assert a.results[0].doc_id == "new"
    assert gone.stem not in {d["doc_id"] for d in own_engine.documents()}


def test_changed_passage_settings_resplit_unchanged_documents(own_engine):
    before = own_engine.manifest["passages"]
    # the title goes before every passage the encoder reads: every passage of a titled document is new
    own_engine.settings.embed_title = True
    s = own_engine.reindex()
    titled = {d["doc_id"] for d in own_engine.documents() if d["title"]}
    rows = own_engine.passages(range(s.passages)).values()
    assert 0 < len(titled) < 5 and s.passages == before and len(s.unchanged) == 5
    assert s.embedded == sum(r.doc_id in titled for r in rows)
    assert own_engine.manifest["passages_split"] == {"tokens": 254, "embed_title": True}
    # unchanged files, smaller passages: nothing may be reused as is
    own_engine.settings.embed_title, own_engine.settings.passage_tokens = False, 48
    s = own_engine.reindex()
    assert len(s.unchanged) == 5 and s.passages > before and s.embedded > 0
    rows = own_engine.passages(range(s.passages))
    assert max(own_engine.encoder.count_tokens([r.text for r in rows.values()])) <= 48
    # short paragraphs of untitled documents are the same passages: reused by hash, not re-embedded
    assert s.embedded < s.passages


def test_new_parser_resplits_every_document_but_reuses_unchanged_vectors(own_engine, monkeypatch):
    import retrieval.index.build as build_mod

    splits = []
    real = build_mod.split_document

    def counting(doc, *a, **kw):
        splits.append(doc.doc_id)
        return real(doc, *a, **kw)

    monkeypatch.setattr(build_mod, "split_document", counting)
    s = own_engine.reindex()
    assert splits == [] and s.embedded == 0  # same parser: unchanged documents come whole from the old version
    monkeypatch.setattr(docs_mod, "PARSER_VERSION", docs_mod.PARSER_VERSION + "-next")
    s = own_engine.reindex()
    assert len(splits) == 5  # every document split again from the new parse
    assert s.embedded == 0 and s.passages == own_engine.manifest["passages"]  # same passages: vectors kept
    assert own_engine.manifest["parser"].endswith("-next")


def test_rebuild_re_embeds_everything(own_engine):
    s = own_engine.reindex(rebuild=True)
    assert s.embedded == s.passages and s.resumed == 0


def test_progress_counts_files_read_then_passages_embedded(own_engine, own_corpus):
    reading, embedding = [], []
    s = own_engine.reindex(rebuild=True, progress=lambda d, t: reading.append((d, t)),
                           embedding=lambda d, t: embedding.append((d, t)))
    files = len(list(own_corpus.iterdir()))
    assert reading[0] == (0, files) and reading[-1] == (files, files)
    assert embedding[0] == (0, s.passages) and embedding[-1] == (s.passages, s.passages)
    done = [d for d, _ in embedding]
    assert done == sorted(done) and len(set(done)) == len(done)  # one step per checkpoint chunk


def _interrupt_after(n: int):
    """An ``embedding`` callback that stops the build like Ctrl-C once ``n`` passages are embedded."""
    seen = []

    def progress(done, total):
        seen.append(done)
        if done >= n:
            raise KeyboardInterrupt

    return progress, seen


def test_interrupted_build_resumes_with_the_vectors_it_computed(own_engine):
    root, corpus = own_engine.settings.index_dir, own_engine.settings.corpus
    clean = own_engine.index  # a clean build of the same corpus
    builder = Builder(own_engine.encoder, root, checkpoint_every=8)
    stop, seen = _interrupt_after(20)
    with pytest.raises(KeyboardInterrupt):
        builder.build(corpus, previous=clean, rebuild=True, embedding=stop)
    done = seen[-1]
    assert done == 24  # three chunks of 8 were embedded and checkpointed
    assert open_index(root).version == clean.version and not list(root.glob(".build-*"))  # the old one serves
    assert len(list((root / CACHE_DIR).glob("*.npz"))) == 3

    s = builder.build(corpus, previous=clean, rebuild=True)
    n = clean.manifest["passages"]
    assert (s.embedded, s.resumed, s.passages) == (n - done, done, n)
    assert "24 of them from an interrupted build" in s.lines()[1]
    assert not (root / CACHE_DIR).exists()  # consumed, then removed after the switch
    new = open_index(root)
    ids = np.arange(n)
    assert [p.hash for p in new.passages(ids).values()] == [p.hash for p in clean.passages(ids).values()]
    assert np.allclose(new.vectors(ids), clean.vectors(ids), atol=2e-3)
    assert np.allclose(np.asarray(new.sentences, np.float32), np.asarray(clean.sentences, np.float32), atol=2e-3)
    # the next build finds no checkpoint: a rebuild embeds everything again
    assert builder.build(corpus, previous=new, rebuild=True).embedded == n


def test_damaged_or_foreign_checkpoints_are_ignored(own_engine):
    root, corpus, enc = own_engine.settings.index_dir, own_engine.settings.corpus, own_engine.encoder
    builder = Builder(enc, root, checkpoint_every=8)
    stop, _ = _interrupt_after(16)
    with pytest.raises(KeyboardInterrupt):
        builder.build(corpus, rebuild=True, embedding=stop)
    chunks = sorted((root / CACHE_DIR).glob("*.npz"))
    assert len(chunks) == 2
    data = chunks[0].read_bytes()
    chunks[0].write_bytes(data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:])
    (root / CACHE_DIR / ".half-written.tmp").write_bytes(data[:100])  # a writer killed mid-chunk
    assert EmbedCache(root, "another model|384|fp32").load() == 0
    s = builder.build(corpus, rebuild=True)
    assert s.resumed == 8 and s.embedded == s.passages - 8


def test_summary_names_files_read_by_guessed_encoding(own_engine, own_corpus, monkeypatch):
    """documents.py sets ``Document.encoding`` when it decoded a file by guess; the summary lists them."""
    (own_corpus / "old.txt").write_bytes("Caf\xe9 cr\xe8me prices rose in the old harbour.\n".encode("cp1252"))
    real = docs_mod.load_file

    def load_file(f, **kw):
        for doc in real(f, **kw):
            if not isinstance(doc, Skipped) and doc.source == "old.txt" and doc.encoding is None:
                doc.encoding = "cp1252"  # what documents.decode guessed (set there by the formats work)
            yield doc

    monkeypatch.setattr(docs_mod, "load_file", load_file)
    s = own_engine.reindex()
    assert s.encodings == {"old.txt": "cp1252"} and s.added == ["old"]
    assert "read as cp1252: old.txt" in s.lines()
    assert "read as" not in "\n".join(IndexSummary(passages=1).lines())


def test_duplicate_document_ids_first_one_wins(own_engine, own_corpus):
    (own_corpus / "dup.txt").write_text("A file about herons.\n")
    (own_corpus / "records.jsonl").write_text('{"_id": "dup", "text": "A record about egrets."}\n')
    s = own_engine.reindex()
    assert any("duplicate document id 'dup'" in sk.reason for sk in s.skipped)
    assert own_engine.ask("herons").results[0].doc_id == "dup"
    assert all("egrets" not in p.text for p in own_engine.passages(range(s.passages)).values())


def test_a_passage_repeated_in_the_corpus_is_embedded_once(make_engine, tmp_path):
    corpus = tmp_path / "rep"
    corpus.mkdir()
    shared = "The --dry-run option shows what would be done without changing anything."
    (corpus / "a.txt").write_text(f"Alpha command\n\nAlpha rewrites history in place.\n\n{shared}\n")
    (corpus / "b.txt").write_text(f"Beta command\n\nBeta copies objects between repositories.\n\n{shared}\n")
    seen = []
    eng = make_engine(corpus)
    s = eng.reindex(rebuild=True, embedding=lambda d, t: seen.append((d, t)))
    rows = list(eng.passages(range(s.passages)).values())
    twins = [p for p in rows if p.text == shared]
    assert len(twins) == 2 and twins[0].hash == twins[1].hash
    assert s.embedded == s.passages - 1 and seen[-1] == (s.embedded, s.embedded)
    assert np.array_equal(eng.index.vectors([twins[0].id]), eng.index.vectors([twins[1].id]))
