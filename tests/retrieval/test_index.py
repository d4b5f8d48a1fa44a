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
    # every data file is checksummed, bm25s's own files included
    files = {f.relative_to(idx.path).as_posix() for f in idx.path.rglob("*") if f.is_file()} - {"manifest.json"}
    assert set(m["checksums"]) == files and set(index_mod.FILES) <= files
    assert {"bm25/params.index.json", "bm25/vocab.index.json"} <= files
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


def test_changed_passage_settings_resplit_unchanged_documents(engine):
    before = engine.index.manifest["passages"]
    # the title goes before every passage the encoder reads: every passage of a titled document is new
    engine.settings.embed_title = True
    s = engine.reindex()
    titled = {d["doc_id"] for d in engine.documents() if d["title"]}
    rows = engine.index.passages(range(s.passages)).values()
    assert 0 < len(titled) < 5 and s.passages == before and len(s.unchanged) == 5
    assert s.embedded == sum(r["doc_id"] in titled for r in rows)
    assert engine.index.manifest["passages_split"] == {"tokens": 254, "embed_title": True}
    # unchanged files, smaller passages: nothing may be reused as is
    engine.settings.embed_title, engine.settings.passage_tokens = False, 48
    s = engine.reindex()
    assert len(s.unchanged) == 5 and s.passages > before and s.embedded > 0
    rows = engine.index.passages(range(s.passages))
    assert max(engine.encoder.count_tokens([r["text"] for r in rows.values()])) <= 48
    # short paragraphs of untitled documents are the same passages: reused by hash, not re-embedded
    assert s.embedded < s.passages


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


@pytest.mark.parametrize("target", ["dense.faiss", "store.sqlite", "sentences.npy", "manifest.json", "CURRENT",
                                    "bm25/params.index.json", "bm25/vocab.index.json",
                                    "bm25/indices.csc.index.npy", "bm25/data.csc.index.npy"])
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


def test_valid_but_wrong_bm25_parameters_are_caught_at_load(engine):
    """bm25s's files are checksummed too: a well-formed but wrong params file used to load and then
    fail with a traceback at the first question."""
    root = engine.settings.index_dir
    (current_version(root) / "bm25" / "params.index.json").write_text("{}")
    with pytest.raises(IndexCorrupt, match="params.index.json.*citebot index --rebuild"):
        open_index(root)


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
    eng = Engine.open(Settings(corpus=corpus, index_dir=tmp_path / "ann", ann_threshold=10, nprobe=1000),
                      encoder=encoder)
    assert eng.index.manifest["dense"] == "ivf"
    a = eng.ask("What bounty has the US put on Maduro?")
    assert "50" in a.results[0].text
    # all lists probed = exact: the IVF ranking equals a brute-force one over the stored vectors
    ivf = index_mod._ivf_of(eng.index.dense)
    assert ivf.nprobe == ivf.nlist
    q = encoder.encode_query("Venezuela oil exports")
    ids, scores = eng.index.search_dense(q, 10)
    allv = eng.index.vectors(np.arange(eng.index.dense.ntotal))
    ref = np.argsort(-(allv @ q), kind="stable")[:10]
    assert np.allclose(scores, (allv @ q)[ref], atol=1e-5)
    assert set(ids) == set(ref)


def _unit(rng, n, d=32, centres=None):
    """``n`` unit vectors around random centres (clustered like real embeddings)."""
    centres = rng.standard_normal((20, d)) if centres is None else centres
    x = centres[rng.integers(0, len(centres), n)] + 0.4 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), centres


def test_flat_dense_index_is_exact_within_fp16():
    rng = np.random.default_rng(0)
    x, c = _unit(rng, 3000)
    q, _ = _unit(rng, 20, centres=c)
    idx = index_mod.dense_index(x, "flat")
    scores, ids = idx.search(q, 10)
    ref = np.sort(q @ x.T, axis=1)[:, ::-1][:, :10]
    assert np.abs(scores - ref).max() < 2e-3  # fp16 storage
    assert np.abs(idx.reconstruct_batch(np.arange(5)) - x[:5]).max() < 1e-3


def test_ivf_recall_and_centroid_reuse():
    rng = np.random.default_rng(1)
    x, c = _unit(rng, 20_000)
    q, _ = _unit(rng, 50, centres=c)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    idx = index_mod.dense_index(x, "ivf")
    assert idx.nlist == index_mod.ivf_lists(len(x))
    idx.nprobe = 16
    _, got = idx.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])
    assert recall >= 0.9
    # an incremental build with a similar size keeps the trained centroids (no k-means rerun)
    again = index_mod.dense_index(x[:15_000], "ivf", previous=idx)
    assert again.nlist == idx.nlist and again.ntotal == 15_000
    assert np.array_equal(again.quantizer.reconstruct_n(0, again.nlist), idx.quantizer.reconstruct_n(0, idx.nlist))
    # a much larger corpus gets its own lists
    assert index_mod.dense_index(x[:2_000], "ivf", previous=idx).nlist == index_mod.ivf_lists(2_000)
