"""Pieces of bench/beir.py that need no model run: loading, fusion, BM25 matrix, passage splitting."""

import json

import numpy as np
import pytest

from bench.beir import NaiveConfig, NaivePipeline, fuse, load_beir, split_passages


def test_load_beir(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": f"t{i}", "text": f"x{i}"}) for i in ("1", "2")) + "\n")
    (tmp_path / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "a"}) + "\n" + json.dumps({"_id": "q2", "text": "b"}) + "\n")
    (tmp_path / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t2\t1\n")
    d = load_beir(tmp_path, "test")
    assert list(d.corpus) == ["1", "2"] and d.queries == {"q1": "a"} and d.qrels == {"q1": {"2": 1}}


def test_rrf_fusion_hand_computed():
    dense = np.array([[0.9, 0.5, 0.1]])
    bm25 = np.array([[1.0, 3.0, 2.0]])
    cfg = NaiveConfig(fusion="rrf", rrf_k=60, candidates=2, dense_weight=0.5)
    f = fuse(dense, bm25, cfg)
    # dense ranks: doc0=1, doc1=2 ; bm25 ranks: doc1=1, doc2=2 (top-2 candidates each)
    # score = 0.5*2/(60+r_d) + 0.5*2/(60+r_b): doc0 = 1/61, doc1 = 1/62 + 1/61, doc2 = 1/62
    assert f[0] == pytest.approx([1 / 61, 1 / 62 + 1 / 61, 1 / 62])


def test_minmax_fusion_missing_side_gets_lowest():
    dense = np.array([[0.9, 0.5, 0.1, 0.0]])
    bm25 = np.array([[1.0, 3.0, 2.0, 0.0]])
    cfg = NaiveConfig(fusion="minmax", candidates=2, dense_weight=0.5)
    f = fuse(dense, bm25, cfg)
    # dense top2 {0: 1.0, 1: 0.0}; bm25 top2 {1: 1.0, 2: 0.0}; missing -> 0; doc3 in neither -> -inf
    assert f[0][:3] == pytest.approx([0.5, 0.5, 0.0]) and np.isneginf(f[0][3])


def test_bm25_matrix_matches_bm25s_get_scores():
    import bm25s
    import Stemmer

    corpus = {str(i): {"title": t, "text": x} for i, (t, x) in enumerate([
        ("Cats", "Cats purr and sleep a lot."), ("Dogs", "Dogs bark; dogs run."),
        ("Birds", "Birds sing, fly and sleep in trees."), ("Fish", "Fish swim.")])}

    class D:  # minimal BeirData stand-in
        pass

    d = D()
    d.corpus = corpus
    p = NaivePipeline(NaiveConfig(), cache=object())
    p.data, p.doc_ids = d, list(corpus)
    p._build_bm25()
    q = ["sleeping dogs bark"]
    mine = p.bm25_scores(p._query_weights(q))[0]
    toks = bm25s.tokenize(q, stopwords="english", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                          show_progress=False)[0]
    assert mine == pytest.approx(p.bm25.get_scores(toks), rel=1e-6)


class WordTok:
    """A whitespace 'tokenizer' with the two calls split_passages uses (1 word = 1 piece)."""

    def tokenize(self, s):
        return s.split()

    def __call__(self, sents, add_special_tokens=False):
        return {"input_ids": [s.split() for s in sents]}


def test_split_passages_budget_and_sentences():
    text = "One two three. Four five six seven. Eight nine. " + " ".join(f"w{i}" for i in range(45)) + "."
    # budget 24 -> 22 pieces after CLS/SEP, 20 after the 2-word title
    ps = split_passages("Title here", text, WordTok(), budget=24, with_title=True)
    assert len(ps) == 4
    # "Eight nine. w0 ..." is one sentence (lower-case after the period), cut into word windows
    assert ps[0] == "Title here One two three. Four five six seven."
    assert ps[1].startswith("Title here Eight nine. w0 ")
    for p in ps:
        assert p.startswith("Title here ")
        assert len(p.split()) <= 24 - 2
    body = " ".join(p[len("Title here "):] for p in ps)
    assert body.split() == text.split()  # nothing lost or duplicated, order kept


def test_short_doc_is_one_passage():
    assert split_passages("T", "Short text.", WordTok(), 256, True) == ["T Short text."]
