"""Retrieval metrics with the BEIR / trec_eval definitions.

A *run* maps query id -> {doc id: score}; *qrels* map query id -> {doc id: graded relevance}.

- nDCG@k (trec_eval ``ndcg_cut``, which BEIR reports): gain = the relevance grade itself (not
  2^rel - 1), discount = log2(rank + 1) with ranks from 1, ideal DCG from the qrels' grades sorted
  high to low and cut at k.
- Recall@k (trec_eval ``recall``): relevant documents (grade >= 1) in the top k / all relevant ones.

Ranking follows trec_eval: score descending, ties broken by doc id descending, so results do not
depend on dict order. Queries without qrels, or whose qrels hold no relevant document, are skipped
(their ideal DCG is 0). A query that has qrels but no results counts as 0 (pytrec_eval would drop it;
counting it is the stricter choice and never happens when every query is answered).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(scores: Mapping[str, float], k: int | None = None) -> list[str]:
    """Doc ids by score descending, ties by doc id descending (trec_eval order), cut at k."""
    order = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    ids = [d for d, _ in order]
    return ids if k is None else ids[:k]


def ndcg_at_k(scores: Mapping[str, float], rels: Mapping[str, int], k: int) -> float:
    """nDCG@k of one query; ``rels`` maps doc id -> grade (grades <= 0 give no gain)."""
    gains = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    if ideal == 0:
        raise ValueError("query has no relevant document")
    dcg = sum(max(rels.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked(scores, k)))
    return dcg / ideal


def recall_at_k(scores: Mapping[str, float], rels: Mapping[str, int], k: int) -> float:
    """Recall@k of one query: relevant (grade >= 1) docs in the top k over all relevant docs."""
    relevant = {d for d, g in rels.items() if g >= 1}
    if not relevant:
        raise ValueError("query has no relevant document")
    return len(relevant.intersection(ranked(scores, k))) / len(relevant)


def evaluate(run: Run, qrels: Qrels, ks_ndcg=(10,), ks_recall=(100,)) -> dict:
    """Mean metrics over the queries that have at least one relevant document.

    Returns ``{"nDCG@10": .., "R@100": .., "queries": n, "per_query": {qid: {...}}}``.
    """
    per_query: dict[str, dict[str, float]] = {}
    for qid, rels in qrels.items():
        if not any(g >= 1 for g in rels.values()):
            continue  # no relevant doc: ideal DCG is 0, the query is undefined
        scores = run.get(qid, {})
        row = {f"nDCG@{k}": ndcg_at_k(scores, rels, k) for k in ks_ndcg}
        row.update({f"R@{k}": recall_at_k(scores, rels, k) for k in ks_recall})
        per_query[qid] = row
    n = len(per_query)
    names = [f"nDCG@{k}" for k in ks_ndcg] + [f"R@{k}" for k in ks_recall]
    out = {name: (sum(r[name] for r in per_query.values()) / n if n else 0.0) for name in names}
    out["queries"] = n
    out["per_query"] = per_query
    return out
