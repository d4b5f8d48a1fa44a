"""The query adapter (retrieval/model/adapt.py): pairs from structure, the fit, the query cache, and a
build with ``adapt = true`` end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval.model import adapt
from retrieval.errors import IndexCorrupt
from retrieval.query.search import candidate_pool
from retrieval.index.store import StoredPassage
from retrieval.index.versions import ADAPTER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "structured"


def _p(i, doc, text, path=(), spans=None):
    return StoredPassage(id=i, doc_id=doc, paragraph=i + 1, part=0, text=text, heading=path[-1] if path else None,
                         heading_path=list(path), spans=spans if spans is not None else [(0, len(text))])


def _pages(n=10):
    """``n`` pages, each with an OPTIONS section (generic: on every page) and a section of its own."""
    out, i = [], 0
    for d in range(n):
        for path, text in ((("OPTIONS",), f"--flag-{d}: turns on feature number {d} for every run of the tool."),
                           ((f"Recovering lost work {d}",), f"First sentence about recovery {d}. Second sentence "
                                                             f"about the reflog {d} and how long entries stay.")):
            spans = [(0, text.index(".") + 1), (text.index(".") + 2, len(text))] if "First" in text else None
            out.append(_p(i, f"page{d}", text, path, spans))
            i += 1
    out.append(_p(i, "page0", "too short", ("Tiny",)))
    return out, {f"page{d}": f"tool-{d}" for d in range(n)}


def test_generic_headings_get_the_page_title_and_short_passages_make_no_pair():
    passages, titles = _pages()
    pairs = adapt.structure_pairs(passages, titles)
    heads = {(p.query, p.passage) for p in pairs if p.kind == "heading"}
    assert ("tool-3 OPTIONS", 6) in heads  # "OPTIONS" is on every page: it names nothing alone
    assert ("Recovering lost work 3", 7) in heads  # a heading of its own stands alone
    assert all(p.passage != len(passages) - 1 for p in pairs)  # "too short"
    sentences = [p for p in pairs if p.kind == "sentence"]
    assert sentences and all(p.query in passages[p.passage].text for p in sentences)
    assert all(len(passages[p.passage].spans) >= 2 for p in sentences)


def test_pairs_are_a_seeded_sample_under_the_limit():
    passages, titles = _pages(30)
    every = adapt.structure_pairs(passages, titles, limit=None)
    some = adapt.structure_pairs(passages, titles, limit=25)
    assert len(every) > 25 and len(some) == 25
    assert some == adapt.structure_pairs(passages, titles, limit=25)  # the same build twice, the same pairs
    assert all(p in every for p in some)


def _rotated_problem(n=400, d=32, seed=0):
    """Passages in groups of 4; each query is its passage turned by a fixed rotation, plus noise:
    the identity ranks them badly, a linear map can undo the turn."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, d)).astype(np.float32)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    R, _ = np.linalg.qr(rng.normal(size=(d, d)))
    Q = P @ R.T.astype(np.float32) + 0.1 * rng.normal(size=(n, d)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    return Q, np.arange(n), P, np.arange(n) // 4


def _top1(Q, W, P, pos):
    V = np.stack([adapt.apply(W, q) for q in Q])
    return float(np.mean(np.argmax(V @ P.T, axis=1) == pos))


def test_fit_learns_the_map_that_ranks_each_query_s_passage_first():
    Q, pos, P, groups = _rotated_problem()
    before = _top1(Q, None, P, pos)
    W = adapt.fit(Q, pos, P, groups, reg=0.0, epochs=40, lr=1e-2)
    assert W.shape == (32, 32) and W.dtype == np.float32
    assert before < 0.2 and _top1(Q, W, P, pos) > 0.9


def test_the_pull_towards_the_identity_keeps_the_encoder_s_geometry():
    Q, pos, P, groups = _rotated_problem()
    free = adapt.fit(Q, pos, P, groups, reg=0.0, epochs=5)
    held = adapt.fit(Q, pos, P, groups, reg=100.0, epochs=5)
    eye = np.eye(32)
    assert np.linalg.norm(held - eye) < 0.1 * np.linalg.norm(free - eye)


def test_apply_without_an_adapter_is_the_question_itself_and_with_one_a_unit_vector():
    q = np.ones(4, np.float32) / 2
    assert adapt.apply(None, q) is q
    v = adapt.apply(np.diag([1, 2, 3, 4]).astype(np.float32), q)
    assert np.isclose(np.linalg.norm(v), 1.0) and np.argmax(v) == 3


class Counting:
    """The real encoder, counting the queries it is asked to encode."""

    def __init__(self, encoder):
        self.inner, self.name, self.dim, self.asked = encoder, encoder.name, encoder.dim, 0

    def encode_queries(self, texts):
        self.asked += len(texts)
        return self.inner.encode_queries(texts)


def test_encoded_queries_are_reused_by_the_next_training_and_after_a_kill(encoder, tmp_path, monkeypatch):
    monkeypatch.setattr(adapt, "CHUNK", 4)
    texts = [f"how do I undo change number {i}" for i in range(10)]
    enc = Counting(encoder)
    seen = []
    first = adapt.encode_queries(enc, texts, tmp_path, progress=lambda d, t: seen.append((d, t)))
    assert enc.asked == 10 and seen[0] == (0, 10) and seen[-1] == (10, 10)
    assert np.allclose(first, encoder.encode_queries(texts), atol=2e-2)
    again = adapt.encode_queries(enc, texts + ["a brand new question"], tmp_path)
    assert enc.asked == 11  # only the new one
    assert np.array_equal(again[:10], first)
    files = sorted(tmp_path.glob("*.npz"))
    adapt.encode_queries(enc, texts, tmp_path)  # nothing new: nothing encoded, nothing rewritten
    assert enc.asked == 11 and sorted(tmp_path.glob("*.npz")) == files
    # a kill mid-write leaves a cut file; it is ignored, not fatal
    (tmp_path / "part-cut.npz").write_bytes(b"PK\x03\x04 cut short")
    adapt.encode_queries(enc, texts, tmp_path)
    assert enc.asked == 11
    assert len(list(tmp_path.glob("*.npz"))) == 1  # the cache holds this training's queries, once
    assert np.allclose(adapt.encode_queries(enc, texts[:2]), first[:2], atol=2e-2)  # no cache: encoded again
    assert enc.asked == 13


@pytest.fixture
def structured_corpus(tmp_path):
    dst = tmp_path / "corpus"
    dst.mkdir()
    for name in ("glossary.html", "guide.md", "site.md", "sphinx.rst", "backups.rst", "manual.pdf"):
        shutil.copy(FIXTURES / name, dst / name)
    return dst


def test_a_build_with_adapt_stores_a_checksummed_adapter_that_the_dense_search_reads(
        make_engine, structured_corpus, monkeypatch):
    monkeypatch.setattr(adapt, "MIN_PAIRS", 20)
    trained = []
    eng = make_engine(structured_corpus, adapt=True)
    version = eng.index.path
    assert (version / ADAPTER).is_file() and eng.index.adapter is not None
    m = json.loads((version / "manifest.json").read_text())
    assert m["adapter"]["pairs"] >= 20 and ADAPTER in m["checksums"]
    q = "how do I restore a backup?"
    v = eng.encoder.encode_query(q)
    with_adapter = candidate_pool(eng.index, v, q, candidates=20)
    W, eng.index.adapter = eng.index.adapter, None
    without = candidate_pool(eng.index, v, q, candidates=20)
    eng.index.adapter = W
    assert not np.allclose(with_adapter.dense[np.isin(with_adapter.ids, without.ids)],
                           without.dense[np.isin(without.ids, with_adapter.ids)])
    assert eng.ask(q).results  # answers as before
    # an incremental build trains again from the cached queries, with progress
    (structured_corpus / "extra.md").write_text("# Extra\n\nA new page about pruning old backups safely.\n")
    s = eng.reindex(training=lambda d, t: trained.append((d, t)))
    assert s.adapter["pairs"] >= 20 and any("query adapter: trained" in ln for ln in s.lines())
    assert trained and trained[-1][0] == trained[-1][1]
    # a damaged adapter is a damaged index, named as such
    path = eng.index.path / ADAPTER
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(IndexCorrupt):
        eng.load()


def test_too_little_structure_trains_nothing_and_says_so(make_engine, tmp_path):
    corpus = tmp_path / "tiny"
    corpus.mkdir()
    (corpus / "a.txt").write_text("A short note about the weather today. It rained twice.\n")
    eng = make_engine(corpus, adapt=True)
    assert eng.index.adapter is None and not (eng.index.path / ADAPTER).exists()
    s = eng.reindex(rebuild=True)
    assert any("query adapter: not trained" in ln for ln in s.lines())
