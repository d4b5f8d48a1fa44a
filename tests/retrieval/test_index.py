"""The persistent index: incremental reindex, atomic swap, validation of damaged files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import index as index_mod
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.errors import IndexBuildError, IndexCorrupt, IndexMissing, ReindexInProgress
from retrieval.index import Builder, current_version, open_index

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture
def corpus(tmp_path):
    dst = tmp_path / "corpus"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture(scope="module")
def built(encoder, tmp_path_factory):
    """One index over seeds, built once; each test gets its own copy of it."""
    root = tmp_path_factory.mktemp("built")
    Engine.open(Settings(corpus=SEEDS, index_dir=root / "idx"), encoder=encoder)
    return root / "idx"


@pytest.fixture
def engine(encoder, corpus, tmp_path, built):
    shutil.copytree(built, tmp_path / "idx")
    return Engine.open(Settings(corpus=corpus, index_dir=tmp_path / "idx"), encoder=encoder)


def test_fresh_build_contents(engine, corpus):
    idx = engine.index
    m = idx.manifest
    assert m["documents"] == 5 and m["passages"] == idx.dense.ntotal == idx.lexical.n > 5
    assert m["model"] == "sentence-transformers/all-MiniLM-L6-v2" and m["dim"] == 384 and m["dense"] == "flat"
    assert set(m["checksums"]) == set(index_mod.FILES)
    # stored vectors are the encoder's vectors of the stored passages
    row = idx.passages([0])[0]
    text = f"{row['heading']}\n{row['text']}" if row["heading"] else row["text"]
    v = engine.encoder.encode_passages([text])[0][0]
    assert float(v @ idx.vectors(np.array([0]))[0]) > 0.999
    assert idx.sentence_vectors(row).shape == (len(row["spans"]), 384)


def test_incremental_reindex_reuses_unchanged_passages(engine, corpus):
    first = engine.index.version
    n = engine.index.manifest["passages"]
    s = engine.reindex()
    assert s.unchanged and not s.added and not s.changed and not s.removed and s.embedded == 0
    assert s.passages == n and engine.index.version != first
    # change one paragraph of one file, add one file, remove one file
    f = sorted(corpus.glob("*.txt"))[0]
    f.write_text(f.read_text() + "\n\nA brand new closing paragraph about lighthouses.\n")
    (corpus / "new.md").write_text("# New doc\n\nSomething about penguins in Antarctica.\n")
    gone = sorted(corpus.glob("*.txt"))[-1]
    gone.unlink()
    s = engine.reindex()
    assert s.changed == [f.stem] and s.added == ["new"] and s.removed == [gone.stem]
    assert len(s.unchanged) == 3
    assert s.embedded == 2  # only the two new paragraphs were embedded
    a = engine.ask("penguins in Antarctica")
    assert a.results[0].doc_id == "new"
    assert gone.stem not in {d["doc_id"] for d in engine.documents()}


def test_rebuild_re_embeds_everything(engine):
    s = engine.reindex(rebuild=True)
    assert s.embedded == s.passages


def test_failed_build_keeps_the_previous_version(engine, monkeypatch):
    before = engine.index.version
    answer = engine.ask("What bounty has the US put on Maduro?").to_dict()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_mod.np, "save", disk_full)
    with pytest.raises(IndexBuildError, match="No space left on device"):  # one line for the user
        engine.reindex(rebuild=True)
    monkeypatch.undo()
    root = engine.settings.index_dir
    assert current_version(root).name == before
    assert not list(root.glob(".build-*"))
    assert engine.index.version == before
    assert engine.ask("What bounty has the US put on Maduro?").to_dict() == answer
    assert open_index(root).version == before


def test_old_version_folder_stays_until_the_next_swap(engine):
    v1 = engine.index.version
    engine.reindex()
    v2 = engine.index.version
    root = engine.settings.index_dir
    assert {p.name for p in root.glob("v-*")} == {v1, v2}
    engine.reindex()
    assert v1 not in {p.name for p in root.glob("v-*")}


def test_concurrent_builds_are_refused(engine):
    with index_mod.build_lock(engine.settings.index_dir):
        with pytest.raises(ReindexInProgress):
            engine.reindex()


def test_missing_index(tmp_path):
    with pytest.raises(IndexMissing, match="citebot index"):
        open_index(tmp_path / "none")


@pytest.mark.parametrize("target", ["dense.faiss", "store.sqlite", "sentences.npy", "manifest.json", "CURRENT"])
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_files_give_one_line_errors(engine, target, damage):
    root = engine.settings.index_dir
    path = root / "CURRENT" if target == "CURRENT" else current_version(root) / target
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        mid = len(data) // 2
        path.write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:])
    with pytest.raises((IndexCorrupt, IndexMissing)) as e:
        open_index(root)
    msg = str(e.value)
    assert "\n" not in msg and "citebot index" in msg


def test_rebuild_recovers_from_a_damaged_index(engine):
    root = engine.settings.index_dir
    (current_version(root) / "dense.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt):
        open_index(root)
    builder = Builder(engine.encoder, root)
    s = builder.build(engine.settings.corpus, previous=None)
    assert s.embedded == s.passages > 0
    assert open_index(root).manifest["passages"] == s.passages


def test_large_files_are_checked_by_samples(tmp_path):
    f = tmp_path / "big.bin"
    f.write_bytes(b"\0" * ((64 << 20) + 10))
    assert index_mod.file_digest(f).startswith("sampled:")
    assert not index_mod.file_digest(f, full=True).startswith("sampled:")


def test_ann_index_above_threshold(encoder, corpus, tmp_path):
    eng = Engine.open(Settings(corpus=corpus, index_dir=tmp_path / "ann", ann_threshold=10), encoder=encoder)
    assert eng.index.manifest["dense"] == "hnsw"
    a = eng.ask("What bounty has the US put on Maduro?")
    assert "50" in a.results[0].text
