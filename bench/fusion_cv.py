"""Learned linear fusion over every score component measured on a BEIR train split, cross-validated.

    .venv/bin/python -m bench.fusion_cv                 # SciFact train, 5 folds
    .venv/bin/python -m bench.fusion_cv --smoke

The question it answers: with all the signals of the bench pipelines at hand (dense max over ≤128-token
titled passages, a text-only whole-document vector, the best single sentence, a title+text vector
truncated at 256 tokens, BM25, and BM25 after RM3 feedback from the tuned pipeline's hybrid first pass), how far does
the best linear combination of their per-query z-scores go *out of sample*? The weights are chosen
on k−1 folds by a grid search and scored on the held-out fold; the cross-validated nDCG@10 is the
fair estimate, the all-data best is optimistic. Embeddings come from ``bench.common.EmbeddingCache``
(shared with ``bench.beir``), so a second run encodes nothing.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench import common
from bench.beir import TUNED, NaiveConfig, NaivePipeline, load_beir, subset

#: weight grid per component (BM25's weight is fixed at 0.4: only ratios matter)
GRID = {
    "pass128t": (0.2, 0.3, 0.4, 0.5, 0.6),
    "doctext": (0.0, 0.1, 0.2, 0.3),
    "sent": (0.0, 0.1, 0.2, 0.3, 0.4),
    "doc256t": (0.0, 0.1, 0.2),
    "bm25rm3": (0.0, 0.1, 0.2, 0.3),
}
BM25_WEIGHT = 0.4
SMOKE_GRID = {"pass128t": (0.4, 0.6), "doctext": (0.0, 0.3), "sent": (0.0, 0.4), "doc256t": (0.0,), "bm25rm3": (0.0, 0.2)}


def components(data, precision: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """Queries × documents score matrices of every component (rows in ``data.queries`` order, columns
    in the returned document order)."""
    cache = common.EmbeddingCache(precision)
    base = replace(TUNED, precision=precision, sent_weight=0.0, dense_mix="")
    passages = NaivePipeline(base, cache=cache)
    passages.index(data)
    first = passages.all_scores(data.queries)
    qv = cache.embed(list(data.queries.values()))
    doc_text = cache.embed([data.corpus[d]["text"] for d in passages.doc_ids])
    sents = NaivePipeline(replace(base, sent_weight=0.5), cache=cache)
    sents.index(data)
    whole = NaivePipeline(NaiveConfig(precision=precision), cache=cache)
    whole.index(data)
    # feedback from the tuned pipeline's hybrid first pass (its best PRF setting, bench/RESULTS.md)
    rm3 = NaivePipeline(replace(TUNED, precision=precision, rm3_docs=3, rm3_terms=10, rm3_orig_weight=0.5,
                                prf_source="hybrid"), cache=cache)
    rm3.index(data)
    return {
        "pass128t": first["dense"],
        "bm25": first["bm25"],
        "doctext": qv @ doc_text.T,
        "sent": np.maximum.reduceat(qv @ sents.sent_vecs.T, sents.sent_starts, axis=1),
        "doc256t": whole.all_scores(data.queries)["dense"],
        "bm25rm3": rm3.all_scores(data.queries)["bm25"],
    }, passages.doc_ids


def zscores(m: np.ndarray) -> np.ndarray:
    """Per-query (row) z-scores; documents a component did not score get −10."""
    m = np.where(np.isfinite(m), m, np.nan).astype(np.float64)
    z = (m - np.nanmean(m, 1, keepdims=True)) / (np.nanstd(m, 1, keepdims=True) + 1e-9)
    return np.nan_to_num(z, nan=-10.0)


class Scorer:
    """nDCG@10 of weighted sums of z-scored components, for any subset of the queries (vectorised;
    the same definition as ``bench.metrics.ndcg_at_k``, which the tests check it against).

    Args:
        feats: component name -> queries × documents scores.
        doc_ids: the documents of the columns.
        qrels: per query (rows, in order) its judged documents -> grade.
    """

    def __init__(self, feats: dict[str, np.ndarray], doc_ids: list[str], qrels: list[dict[str, int]]):
        self.z = {k: zscores(v) for k, v in feats.items()}
        col = {d: i for i, d in enumerate(doc_ids)}
        self.rel = np.zeros((len(qrels), len(doc_ids)), np.float32)
        for qi, rels in enumerate(qrels):
            for d, g in rels.items():
                if d in col and g > 0:
                    self.rel[qi, col[d]] = g
        self.disc = 1.0 / np.log2(np.arange(2, 12))
        # ideal DCG from all judged grades, as bench.metrics does (a judged doc missing from the corpus counts)
        self.idcg = np.array([sum(g * self.disc[i] for i, g in enumerate(sorted((g for g in r.values() if g > 0), reverse=True)[:10]))
                              for r in qrels])

    def ndcg(self, weights: dict[str, float], rows: np.ndarray) -> float:
        s = np.zeros((len(rows), self.rel.shape[1]))
        for k, w in weights.items():
            if w:
                s += w * self.z[k][rows]
        k = min(10, s.shape[1] - 1)
        top = np.argpartition(-s, k, axis=1)[:, :10]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(s, top, 1), 1), 1)
        gains = np.take_along_axis(self.rel[rows], top, 1)
        return float(((gains * self.disc[: top.shape[1]]).sum(1) / self.idcg[rows]).mean())


def grid(space: dict[str, tuple]) -> list[dict[str, float]]:
    keys = list(space)
    return [{**dict(zip(keys, vals)), "bm25": BM25_WEIGHT} for vals in itertools.product(*(space[k] for k in keys))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    ap.add_argument("--split", default="train")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--precision", default="bf16-autocast", help="encoder precision (the embedding cache is per precision)")
    ap.add_argument("--smoke", action="store_true", help="~200 docs / 30 queries, a small grid")
    ap.add_argument("--out", type=Path, default=common.OUT / "fusion-cv")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    data = load_beir(args.data, args.split)
    if args.smoke:
        data = subset(data)
    feats, doc_ids = components(data, common.resolve_precision(args.precision))
    qids = list(data.queries)
    scorer = Scorer(feats, doc_ids, [data.qrels[q] for q in qids])
    everyone = np.arange(len(qids))
    single = {k: round(scorer.ndcg({k: 1.0}, everyone), 4) for k in feats}
    print("each component alone:", single, flush=True)

    combos = grid(SMOKE_GRID if args.smoke else GRID)
    in_sample = [scorer.ndcg(w, everyone) for w in combos]
    best = combos[int(np.argmax(in_sample))]
    print(f"best of {len(combos)} on all queries (optimistic): {max(in_sample):.4f} {best}", flush=True)

    folds = np.array_split(np.random.default_rng(0).permutation(len(qids)), args.folds)
    per_fold = []
    for f, test in enumerate(folds):
        train = np.concatenate([g for i, g in enumerate(folds) if i != f])
        w = combos[int(np.argmax([scorer.ndcg(c, train) for c in combos]))]
        per_fold.append({"fold": f, "weights": w, "queries": len(test), "nDCG@10": round(scorer.ndcg(w, test), 4)})
        print(f"fold {f}: {per_fold[-1]['nDCG@10']:.4f} with {w}", flush=True)
    cv = sum(p["nDCG@10"] * p["queries"] for p in per_fold) / len(qids)
    print(f"{args.folds}-fold cross-validated nDCG@10: {cv:.4f} ({time.perf_counter() - t0:.0f} s)")
    tag = f"{args.data.name}-{args.split}" + ("-smoke" if args.smoke else "")
    common.write_json(args.out / f"{tag}.json", {
        "dataset": f"{args.data.name} {args.split}: {len(data.corpus)} docs, {len(qids)} queries",
        "single": single, "grid_size": len(combos), "best_in_sample": {"weights": best, "nDCG@10": round(max(in_sample), 4)},
        "folds": per_fold, "cv_nDCG@10": round(cv, 4), "machine": common.machine_info()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
