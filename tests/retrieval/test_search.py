"""Fusion against a plain-Python reference, and the hybrid candidate pool."""

import numpy as np
import pytest

from retrieval.query.search import fuse, hybrid


def reference_rrf(dense, bm25, w, k):
    d_rank = {i: r for r, i in enumerate(sorted(range(len(dense)), key=lambda i: -dense[i]), 1)}
    b_rank = {i: r for r, i in enumerate(sorted(range(len(bm25)), key=lambda i: -bm25[i]), 1)}
    return [(w / (k + d_rank[i]) + ((1 - w) / (k + b_rank[i]) if bm25[i] > 0 else 0)) * (k + 1)
            for i in range(len(dense))]


def reference_linear(dense, bm25, w):
    def mm(x):
        lo, hi = min(x), max(x)
        return [(v - lo) / (hi - lo) if hi > lo else 0.0 for v in x]
    return [w * a + (1 - w) * b for a, b in zip(mm(dense), mm(bm25))]


def reference_zscore(dense, bm25, w):
    def z(x):
        m = sum(x) / len(x)
        sd = (sum((v - m) ** 2 for v in x) / len(x)) ** 0.5
        return [(v - m) / sd if sd else 0.0 for v in x]
    return [w * a + (1 - w) * b for a, b in zip(z(dense), z(bm25))]


@pytest.mark.parametrize("seed", range(5))
def test_fusion_matches_reference(seed):
    rng = np.random.default_rng(seed)
    dense = rng.uniform(-0.2, 0.9, 40).astype(np.float32)
    bm25 = np.where(rng.uniform(size=40) < 0.3, 0, rng.uniform(0, 12, 40)).astype(np.float32)
    assert np.allclose(fuse(dense, bm25, method="rrf", dense_weight=0.4, rrf_k=60),
                       reference_rrf(dense.tolist(), bm25.tolist(), 0.4, 60))
    assert np.allclose(fuse(dense, bm25, method="linear", dense_weight=0.7),
                       reference_linear(dense.tolist(), bm25.tolist(), 0.7), atol=1e-6)
    assert np.allclose(fuse(dense, bm25, method="zscore", dense_weight=0.6),
                       reference_zscore(dense.tolist(), bm25.tolist(), 0.6), atol=1e-5)


def test_hybrid_pool_scores_every_candidate_on_both_sides(seeds_engine):
    idx = seeds_engine.index
    q = "bounty on Maduro"
    qv = seeds_engine.encoder.encode_queries([q])[0]
    cands = hybrid(idx, qv, q, candidates=5)
    ids = [c.id for c in cands]
    assert len(ids) == len(set(ids)) >= 5
    allb = idx.lexical.scores(q)
    for c in cands:
        assert c.bm25 == pytest.approx(float(allb[c.id]))
        assert c.dense == pytest.approx(float(idx.vectors(np.array([c.id]))[0] @ qv), abs=1e-5)
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert "bounty" in (idx.passages([ids[0]])[ids[0]].text)


def test_single_sided_modes(seeds_engine):
    idx = seeds_engine.index
    q = "zzzz qqqq"  # no known term: BM25 contributes nothing
    qv = seeds_engine.encoder.encode_queries([q])[0]
    assert hybrid(idx, qv, q, mode="bm25") == []
    dense = hybrid(idx, qv, q, mode="dense", candidates=3)
    assert len(dense) == 3 and all(c.bm25 == 0 for c in dense)


@pytest.mark.parametrize("seed", range(5))
def test_page_support_is_the_mean_of_the_pages_best_three(seed):
    from retrieval.query.search import page_support

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 6, 40)
    fused = rng.random(40)
    got = page_support(codes, fused, top=3)
    for i in range(40):
        mine = sorted(fused[codes == codes[i]], reverse=True)[:3]
        assert got[i] == pytest.approx(sum(mine) / 3)


def test_page_support_lifts_a_page_with_several_close_passages_keeping_order_inside_pages():
    from retrieval.query.search import Pool, rank_pool

    # page 0: one strong passage; page 1: three good ones
    pool = Pool(np.arange(4), np.array([0.9, 0.8, 0.79, 0.78], np.float32), np.zeros(4, np.float32))
    codes = np.array([0, 1, 1, 1])
    assert rank_pool(pool, mode="dense")[0].id == 0
    ranked = [c.id for c in rank_pool(pool, mode="dense", page_weight=1.0, codes=codes)]
    assert ranked[0] == 1 and ranked.index(1) < ranked.index(2) < ranked.index(3)


def test_page_title_cover_names_the_page_the_question_names(seeds_engine):
    from retrieval.query.pages import page_title_cover
    from retrieval.index.pages import doc_codes, doc_names

    idx = seeds_engine.index
    codes = doc_codes(idx)
    names = doc_names(idx)
    assert len(codes) == idx.manifest["passages"] and len(names) == len(idx.documents())
    d = next(i for i, n in enumerate(names) if idx.document(n)["title"] == "Washington’s Bold Move")
    cover = page_title_cover(idx, "what was Washington's bold move?", codes)
    assert cover[codes == d].min() > 0.5  # the named page's passages
    assert cover[codes != d].max() < cover[codes == d].min()
    assert not page_title_cover(idx, "zzzz qqqq", codes).any()
