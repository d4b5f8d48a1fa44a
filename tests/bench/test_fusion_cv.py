"""bench.fusion_cv: its vectorised nDCG@10 against the reference in bench.metrics, and its z-scores."""

import numpy as np

from bench.fusion_cv import Scorer, grid, zscores
from bench.metrics import evaluate


def test_vectorised_ndcg_matches_the_reference():
    rng = np.random.default_rng(3)
    n_q, n_d = 40, 60
    docs = [f"d{i}" for i in range(n_d)]
    feats = {"a": rng.normal(size=(n_q, n_d)), "b": rng.normal(size=(n_q, n_d))}
    qrels = []
    for _ in range(n_q):
        judged = rng.choice(n_d, size=int(rng.integers(1, 14)), replace=False)
        rels = {docs[j]: int(rng.integers(0, 3)) for j in judged}
        rels[docs[int(judged[0])]] = 2  # at least one relevant document
        if rng.random() < 0.3:
            rels["not-in-corpus"] = 1  # judged but never retrievable: lowers the ideal-normalised score
        qrels.append(rels)
    scorer = Scorer(feats, docs, qrels)
    rows = np.arange(n_q)
    for w in ({"a": 1.0}, {"a": 0.3, "b": 0.7}, {"b": 1.0}):
        fused = sum(wt * scorer.z[k] for k, wt in w.items())
        run = {str(q): {docs[j]: float(fused[q, j]) for j in range(n_d)} for q in rows}
        ref = evaluate(run, {str(q): qrels[q] for q in rows}, ks_ndcg=(10,), ks_recall=(10,))["nDCG@10"]
        assert abs(scorer.ndcg(w, rows) - ref) < 1e-9
    # a subset of the rows is scored on its own
    sub = rows[::3]
    fused = scorer.z["a"]
    run = {str(q): {docs[j]: float(fused[q, j]) for j in range(n_d)} for q in sub}
    ref = evaluate(run, {str(q): qrels[q] for q in sub}, ks_ndcg=(10,), ks_recall=(10,))["nDCG@10"]
    assert abs(scorer.ndcg({"a": 1.0}, sub) - ref) < 1e-9


def test_zscores_per_row_and_unscored_documents_last():
    m = np.array([[1.0, 2.0, 3.0, -np.inf], [10.0, 10.0, 40.0, 0.0]])
    z = zscores(m)
    assert np.allclose(z[0, :3], [-1.2247449, 0.0, 1.2247449], atol=1e-6) and z[0, 3] == -10.0
    assert abs(z[1].mean()) < 1e-9 and abs(z[1].std() - 1) < 1e-6


def test_grid_fixes_the_bm25_weight():
    combos = grid({"x": (0.0, 0.5), "y": (1.0,)})
    assert combos == [{"x": 0.0, "y": 1.0, "bm25": 0.4}, {"x": 0.5, "y": 1.0, "bm25": 0.4}]
