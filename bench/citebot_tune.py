"""Experiments with citebot's own engine on a BEIR train split: index-side and query-side settings.

    .venv/bin/python -m bench.citebot_tune                       # SciFact train, the default grid
    .venv/bin/python -m bench.citebot_tune --builds '[{"passage_tokens":128,"embed_title":true}]' \\
        --queries '[{"fusion":"zscore"},{"fusion":"linear","dense_weight":0.5}]'
    .venv/bin/python -m bench.citebot_tune --smoke

Each *build* (``passage_tokens``, ``embed_title``, ``bm25_k1``/``bm25_b``) is a citebot index under
``bench/out/citebot-tune/`` (kept, and reused by hash across builds: only new passages are embedded);
each *query* setting (fusion, weights, pool, sentence weight) is evaluated on it without rebuilding,
through the same ``bench.beir.CitebotPipeline`` that ``bench.beir --pipeline citebot`` runs (a
document's score is the max over its passages). Tune on train only: the test split is held out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

from bench import common
from bench.beir import CitebotPipeline, load_beir, paired_delta, run_pipeline, subset
from bench.metrics import evaluate

BUILD_KNOBS = ("passage_tokens", "embed_title", "bm25_k1", "bm25_b")

DEFAULT_BUILDS = [{}, {"passage_tokens": 128}, {"passage_tokens": 128, "embed_title": True}]
DEFAULT_QUERIES = [
    {},
    {"fusion": "zscore"},
    {"fusion": "zscore", "dense_weight": 0.5},
    {"fusion": "linear", "dense_weight": 0.5},
    {"fusion": "linear", "dense_weight": 0.7},
    {"sentence_weight": 0.5},
    {"sentence_weight": 0.0},
    {"sentence_weight": 3.0},
]


def build_key(build: dict) -> str:
    return hashlib.sha1(json.dumps(build, sort_keys=True).encode()).hexdigest()[:10] if build else "defaults"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    ap.add_argument("--split", default="train")
    ap.add_argument("--builds", default=json.dumps(DEFAULT_BUILDS), help="JSON list of index-side settings")
    ap.add_argument("--queries", default=json.dumps(DEFAULT_QUERIES), help="JSON list of query-side settings")
    ap.add_argument("--smoke", action="store_true", help="~200 docs / 30 queries")
    ap.add_argument("--out", type=Path, default=common.OUT / "citebot-tune")
    ap.add_argument("--tag", default="")
    ap.add_argument("--aggregate", default="sides", choices=("sides", "fused"),
                    help="passage scores → document score (see bench.beir.CitebotPipeline)")
    args = ap.parse_args(argv)
    builds, queries = json.loads(args.builds), json.loads(args.queries)
    if args.smoke:
        builds, queries = builds[:2], queries[:2]
    for b in builds:
        bad = set(b) - set(BUILD_KNOBS)
        if bad:
            raise SystemExit(f"not index-side settings: {sorted(bad)} (put them in --queries)")

    data = load_beir(args.data, args.split)
    if args.smoke:
        data = subset(data)
    tag = f"{args.data.name}-{args.split}" + ("-smoke" if args.smoke else "") + (f"-{args.tag}" if args.tag else "")
    work_tag = f"{args.data.name}-{args.split}" + ("-smoke" if args.smoke else "")  # indexes shared across tags
    rows: list[dict] = []
    base_per_query = None
    for build in builds:
        pipe = CitebotPipeline(dict(build), name="citebot", aggregate=args.aggregate)
        work = args.out / f"{work_tag}-{build_key(build)}"
        t0 = time.perf_counter()
        first = run_pipeline(pipe, data, work)  # dense, bm25 and hybrid with the build's query defaults
        info = first["index"]
        print(f"build {build or 'defaults'}: {info['passages']} passages, {time.perf_counter() - t0:.0f}s "
              f"(dense {first['modes']['dense']['nDCG@10']:.4f}, bm25 {first['modes']['bm25']['nDCG@10']:.4f})",
              flush=True)
        defaults = {k: getattr(pipe.settings, k) for q in queries for k in q}
        for q in queries:
            for k, v in {**defaults, **q}.items():
                setattr(pipe.settings, k, type(getattr(pipe.settings, k))(v))
            top10 = pipe.search(data.queries, "hybrid", 10)
            ev = evaluate(top10, data.qrels, ks_ndcg=(10,), ks_recall=(10,))
            per_query = {qid: v["nDCG@10"] for qid, v in ev["per_query"].items()}
            base_per_query = base_per_query or per_query
            row = {"build": build, "query": q, "passages": info["passages"], "hybrid nDCG@10": round(ev["nDCG@10"], 4),
                   "dense nDCG@10": first["modes"]["dense"]["nDCG@10"], "bm25 nDCG@10": first["modes"]["bm25"]["nDCG@10"],
                   "vs first row": paired_delta(base_per_query, per_query)}
            rows.append(row)
            d = row["vs first row"]
            print(f"  {json.dumps(q):60s} hybrid {row['hybrid nDCG@10']:.4f}  Δ {d['delta']:+.4f} "
                  f"({d['ci95'][0]:+.4f} .. {d['ci95'][1]:+.4f})", flush=True)
    lines = [f"citebot on BEIR {tag}: {len(data.corpus)} docs, {len(data.queries)} queries", "",
             "| build | query settings | passages | dense | BM25 | hybrid nDCG@10 | Δ vs first row (95% CI) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["vs first row"]
        lines.append(f"| `{json.dumps(r['build'])}` | `{json.dumps(r['query'])}` | {r['passages']} | {r['dense nDCG@10']:.4f} | "
                     f"{r['bm25 nDCG@10']:.4f} | {r['hybrid nDCG@10']:.4f} | {d['delta']:+.4f} ({d['ci95'][0]:+.4f} .. {d['ci95'][1]:+.4f}) |")
    common.write_json(args.out / f"{tag}.json", {"rows": rows, "machine": common.machine_info()})
    (args.out / f"{tag}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
