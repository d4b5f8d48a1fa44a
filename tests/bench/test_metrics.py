"""bench.metrics against a hand-computed fixture (trec_eval definitions, see bench/metrics.py)."""

import math

import pytest

from bench.metrics import evaluate, ndcg_at_k, ranked, recall_at_k

# q1: graded qrels; relevant docs at ranks 2 (grade 2) and 4 (grade 1); d3 (grade 1) not retrieved.
Q1_RELS = {"d1": 2, "d2": 1, "d3": 1}
Q1_RUN = {"d4": 0.9, "d1": 0.8, "d5": 0.7, "d2": 0.6, "d6": 0.5, "d3": 0.1}
# DCG@5  = 0/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5) + 0/log2(6)
#        = 2/1.5849625 + 1/2.3219281 = 1.2618595 + 0.4306766 = 1.6925361
# IDCG@5 = grades sorted [2, 1, 1]: 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.6309298 + 0.5 = 3.1309298
# nDCG@5 = 1.6925361 / 3.1309298 = 0.5405858
Q1_NDCG5 = 0.5405858
# Recall@3 = |{d1}| / 3 = 1/3 ; Recall@5 = |{d1, d2}| / 3 = 2/3 ; Recall@6 = 3/3


def test_ndcg_graded_hand_computed():
    assert ndcg_at_k(Q1_RUN, Q1_RELS, 5) == pytest.approx(Q1_NDCG5, abs=1e-7)


def test_recall_hand_computed():
    assert recall_at_k(Q1_RUN, Q1_RELS, 3) == pytest.approx(1 / 3)
    assert recall_at_k(Q1_RUN, Q1_RELS, 5) == pytest.approx(2 / 3)
    assert recall_at_k(Q1_RUN, Q1_RELS, 6) == 1.0


def test_ties_broken_by_doc_id_descending():
    # trec_eval order: equal scores -> larger doc id first, so d8 is rank 1 and d7 rank 2.
    assert ranked({"d7": 0.5, "d8": 0.5}) == ["d8", "d7"]
    # nDCG@10 = (1/log2(3)) / (1/log2(2)) = 0.6309298
    assert ndcg_at_k({"d7": 0.5, "d8": 0.5}, {"d7": 1}, 10) == pytest.approx(0.6309298, abs=1e-7)


def test_ideal_dcg_cut_at_k():
    # three relevant docs, k=2: IDCG@2 = 1 + 1/log2(3) = 1.6309298; one hit at rank 1 -> DCG = 1
    # nDCG@2 = 1 / 1.6309298 = 0.6131472
    assert ndcg_at_k({"a": 3.0, "x": 2.0}, {"a": 1, "b": 1, "c": 1}, 2) == pytest.approx(0.6131472, abs=1e-7)


def test_perfect_ranking_is_one():
    assert ndcg_at_k({"d1": 3, "d2": 2, "d3": 1}, Q1_RELS, 10) == pytest.approx(1.0)


def test_evaluate_skips_queries_without_relevant_docs():
    qrels = {
        "q1": Q1_RELS,
        "q2": {"d7": 1},  # tie case above: 0.6309298
        "q3": {"d9": 0},  # no relevant doc: skipped
        "q4": {"d10": 1},  # no results: counts as 0
    }
    run = {"q1": Q1_RUN, "q2": {"d7": 0.5, "d8": 0.5}, "q3": {"d9": 1.0}, "qX": {"d1": 1.0}}
    out = evaluate(run, qrels, ks_ndcg=(5,), ks_recall=(1,))
    assert out["queries"] == 3
    # mean nDCG@5 = (0.5405858 + 0.6309298 + 0) / 3 = 0.3905052
    assert out["nDCG@5"] == pytest.approx(0.3905052, abs=1e-7)
    # Recall@1: q1 top-1 is d4 (0), q2 top-1 is d8 (0), q4 nothing (0)
    assert out["R@1"] == 0.0
    assert set(out["per_query"]) == {"q1", "q2", "q4"}


def test_query_without_relevant_doc_raises():
    with pytest.raises(ValueError):
        ndcg_at_k({"a": 1.0}, {"a": 0}, 10)
    assert not math.isnan(recall_at_k({}, {"a": 1}, 10))
