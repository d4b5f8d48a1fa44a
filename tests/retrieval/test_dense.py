"""The FAISS side: exact fp16 search, IVF recall and centroid reuse, vectors read back by id."""

import numpy as np

from retrieval.config import Settings
from retrieval.index.dense import Dense, dense_index, ivf_lists
from retrieval.engine import Engine


def _unit(rng, n, d=32, centres=None):
    """``n`` unit vectors around random centres (clustered like real embeddings)."""
    centres = rng.standard_normal((20, d)) if centres is None else centres
    x = centres[rng.integers(0, len(centres), n)] + 0.4 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), centres


def test_flat_dense_index_is_exact_within_fp16():
    rng = np.random.default_rng(0)
    x, c = _unit(rng, 3000)
    q, _ = _unit(rng, 20, centres=c)
    idx = dense_index(x, "flat")
    scores, ids = idx.search(q, 10)
    ref = np.sort(q @ x.T, axis=1)[:, ::-1][:, :10]
    assert np.abs(scores - ref).max() < 2e-3  # fp16 storage
    assert np.abs(idx.reconstruct_batch(np.arange(5)) - x[:5]).max() < 1e-3
    # the zero-copy fp16 view reads the same rows as FAISS does
    dense = Dense(idx)
    assert np.array_equal(dense.vectors([4, 0, 7]), idx.reconstruct_batch(np.array([4, 0, 7])))
    ids1, s1 = dense.search(q[0], 10)
    assert np.array_equal(ids1, ids[0]) and np.allclose(s1, scores[0])


def test_ivf_recall_and_centroid_reuse():
    rng = np.random.default_rng(1)
    x, c = _unit(rng, 20_000)
    q, _ = _unit(rng, 50, centres=c)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    idx = dense_index(x, "ivf")
    assert idx.nlist == ivf_lists(len(x))
    idx.nprobe = 16
    _, got = idx.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)])
    assert recall >= 0.9
    # an incremental build with a similar size keeps the trained centroids (no k-means rerun)
    again = dense_index(x[:15_000], "ivf", previous=idx)
    assert again.nlist == idx.nlist and again.ntotal == 15_000
    assert np.array_equal(again.quantizer.reconstruct_n(0, again.nlist), idx.quantizer.reconstruct_n(0, idx.nlist))
    # a much larger corpus gets its own lists
    assert dense_index(x[:2_000], "ivf", previous=idx).nlist == ivf_lists(2_000)


def test_ann_index_above_threshold(encoder, own_corpus, tmp_path):
    eng = Engine.open(Settings(corpus=own_corpus, index_dir=tmp_path / "ann", ann_threshold=10, nprobe=1000),
                      encoder=encoder)
    assert eng.manifest["dense"] == "ivf"
    a = eng.ask("What bounty has the US put on Maduro?")
    assert "50" in a.results[0].text
    # all lists probed = exact: the IVF ranking equals a brute-force one over the stored vectors
    dense = eng.dense
    assert dense.ivf.nprobe == dense.ivf.nlist
    q = encoder.encode_query("Venezuela oil exports")
    ids, scores = dense.search(q, 10)
    allv = dense.vectors(np.arange(dense.ntotal))
    ref = np.argsort(-(allv @ q), kind="stable")[:10]
    assert np.allclose(scores, (allv @ q)[ref], atol=1e-5)
    assert set(ids) == set(ref)
    dense.set_nprobe(0)  # automatic: every list when there are fewer than 32
    assert dense.ivf.nprobe == min(dense.ivf.nlist, 32)
