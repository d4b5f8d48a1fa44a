"""Experiments on a BEIR train split: which settings raise hybrid nDCG@10.

    .venv/bin/python -m bench.beir_tune                     # all experiment groups, SciFact train
    .venv/bin/python -m bench.beir_tune --groups fusion,bm25
    .venv/bin/python -m bench.beir_tune --smoke

Each row changes a few knobs of ``bench.beir.NaiveConfig`` and reports dense / BM25 / hybrid
nDCG@10 and R@100. Index-side knobs (text, passages, BM25 parameters) build a new index;
first-pass scores are reused across fusion and feedback settings. Embeddings are cached.
Tune on the train split only: the test split is held out.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from pathlib import Path

from bench import common
from bench.beir import MODES, NaiveConfig, NaivePipeline, load_beir, subset
from bench.metrics import evaluate

INDEX_KNOBS = ("precision", "dense_title", "passage_tokens", "passage_title", "dense_agg",
               "sent_weight", "dense_mix", "dense_mix_weight", "bm25_title", "k1", "b", "stem", "stopwords")


class Tuner:
    """Evaluates configs, sharing indexes between configs that differ only in query-time knobs."""

    def __init__(self, data, precision: str):
        self.data = data
        self.cache = common.EmbeddingCache(precision)
        self.pipes: dict[tuple, NaivePipeline] = {}
        self.rows: list[dict] = []

    def run(self, group: str, label: str, cfg: NaiveConfig) -> dict:
        """Evaluate one config and record a row."""
        key = tuple(getattr(cfg, k) for k in INDEX_KNOBS)
        if key not in self.pipes:
            if len(self.pipes) > 6:  # keep memory bounded: indexes are cheap to rebuild from the cache
                self.pipes.pop(next(iter(self.pipes)))
            p = NaivePipeline(cfg, cache=self.cache)
            p.index(self.data)
            self.pipes[key] = p
        p = self.pipes[key]
        p.cfg = cfg
        t0 = time.perf_counter()
        row = {"group": group, "label": label}
        for mode in MODES:
            ev = evaluate(p.search(self.data.queries, mode, 100), self.data.qrels)
            row[mode] = {"nDCG@10": round(ev["nDCG@10"], 4), "R@100": round(ev["R@100"], 4)}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        row["config"] = diff(cfg)
        self.rows.append(row)
        print(f"{group:10s} {label:46s} dense {row['dense']['nDCG@10']:.4f}  bm25 {row['bm25']['nDCG@10']:.4f}  "
              f"hybrid {row['hybrid']['nDCG@10']:.4f}  R@100 {row['hybrid']['R@100']:.4f}", flush=True)
        return row


def diff(cfg: NaiveConfig) -> dict:
    """The knobs of ``cfg`` that differ from the naive defaults."""
    base = NaiveConfig()
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}


def best(rows, group=None) -> dict:
    """The row with the highest hybrid nDCG@10 (optionally within one group)."""
    rows = [r for r in rows if group is None or r["group"] == group]
    return max(rows, key=lambda r: r["hybrid"]["nDCG@10"])


def experiments(t: Tuner, groups: list[str], precision: str, start: NaiveConfig | None = None) -> None:
    """The experiment plan; each group varies one family of knobs around the best so far."""
    base = NaiveConfig(precision=precision)
    t.run("baseline", "naive (RRF60, bm25s k1=1.5 b=.75, title+text)", base)
    cur = start or base
    if start is not None:
        t.run("start", "starting point", cur)

    def adopt(group):  # carry the group's winner into the next group when it beats everything so far
        nonlocal cur
        r = best(t.rows, group)
        if r["hybrid"]["nDCG@10"] >= best(t.rows)["hybrid"]["nDCG@10"] - 1e-9:
            cur = replace(NaiveConfig(precision=precision), **r["config"])
        return cur

    if "fusion" in groups:
        for k in (5, 10, 20, 60, 100):
            t.run("fusion", f"rrf k={k}", replace(cur, fusion="rrf", rrf_k=k))
        for f in ("minmax", "zscore"):
            for w in (0.3, 0.4, 0.5, 0.6, 0.7):
                t.run("fusion", f"{f} w_dense={w}", replace(cur, fusion=f, dense_weight=w))
        r = best(t.rows, "fusion")
        for c in (20, 50, 1000):
            t.run("fusion", f"best fusion, candidates={c}", replace(NaiveConfig(precision=precision), **{**r["config"], "candidates": c}))
        adopt("fusion")
    if "bm25" in groups:
        for k1, b in ((0.9, 0.4), (1.2, 0.75), (1.2, 0.5), (0.9, 0.75), (1.5, 0.5), (2.0, 0.75), (1.2, 1.0)):
            t.run("bm25", f"k1={k1} b={b}", replace(cur, k1=k1, b=b))
        adopt("bm25")
        for n in (0, 2, 3):
            t.run("bm25", f"title x{n} in BM25 text", replace(cur, bm25_title=n))
        t.run("bm25", "no stemming", replace(cur, stem=False))
        t.run("bm25", "no stopwords", replace(cur, stopwords=False))
        adopt("bm25")
    if "dense" in groups:
        t.run("dense", "text only (no title)", replace(cur, dense_title="none"))
        for n in (128, 256):
            for agg in ("max", "sum", "mean2"):
                t.run("dense", f"passages {n} tok + title, {agg}", replace(cur, passage_tokens=n, dense_agg=agg))
            t.run("dense", f"passages {n} tok, no title, max", replace(cur, passage_tokens=n, passage_title=False))
        for w in (0.25, 0.5, 1.0):
            t.run("dense", f"+ {w} x best single-sentence cosine", replace(cur, sent_weight=w))
        adopt("dense")
    if "mix" in groups:  # a second, whole-document vector blended into the dense score
        for mix in ("doc-text", "doc-title"):
            for w in (0.3, 0.5):
                t.run("mix", f"dense + {w} x {mix} vector", replace(cur, dense_mix=mix, dense_mix_weight=w))
        adopt("mix")
    if "prf" in groups:
        for src in ("self", "hybrid"):
            for m, beta in ((3, 0.5), (5, 0.5), (5, 1.0), (10, 0.5), (10, 1.0), (5, 2.0)):
                t.run("prf", f"rocchio m={m} beta={beta} src={src}", replace(cur, rocchio_docs=m, rocchio_beta=beta, prf_source=src))
            for m, terms, ow in ((5, 10, 0.5), (10, 20, 0.5), (5, 20, 0.7), (10, 10, 0.7), (3, 10, 0.5)):
                t.run("prf", f"rm3 m={m} terms={terms} orig={ow} src={src}",
                      replace(cur, rm3_docs=m, rm3_terms=terms, rm3_orig_weight=ow, prf_source=src))
        for src in ("self", "hybrid"):
            rr = best([r for r in t.rows if r["label"].startswith("rocchio") and r["label"].endswith(src)])
            rm = best([r for r in t.rows if r["label"].startswith("rm3") and r["label"].endswith(src)])
            t.run("prf", f"best rocchio + best rm3, src={src}", replace(NaiveConfig(precision=precision), **{**rr["config"], **rm["config"]}))
        adopt("prf")
    if "combo" in groups:  # combinations of the single-family winners
        variants = [
            ("passages 128 + title, max", dict(passage_tokens=128)),
            ("passages 128 + title, max, no sentences", dict(passage_tokens=128, sent_weight=0.0)),
            ("passages 128, sentences x1.0", dict(passage_tokens=128, sent_weight=1.0)),
            ("+ 0.3 x doc-text vector", dict(dense_mix="doc-text", dense_mix_weight=0.3)),
            ("passages 128 + 0.3 x doc-text vector", dict(passage_tokens=128, dense_mix="doc-text", dense_mix_weight=0.3)),
            ("rm3 m=3 terms=10 orig=0.5 src=hybrid", dict(rm3_docs=3, rm3_terms=10, rm3_orig_weight=0.5, prf_source="hybrid")),
            ("rocchio m=5 beta=0.5 src=self", dict(rocchio_docs=5, rocchio_beta=0.5)),
            ("title x3 in BM25", dict(bm25_title=3)),
            ("zscore w_dense=0.55", dict(dense_weight=0.55)),
            ("zscore w_dense=0.65", dict(dense_weight=0.65)),
            ("candidates 200", dict(candidates=200)),
        ]
        for lab, kw in variants:
            t.run("combo", lab, replace(cur, **kw))
        adopt("combo")
    if "refine" in groups:  # re-tune the fusion weight on top of everything else
        for f in ("minmax", "zscore"):
            for w in (0.3, 0.4, 0.5, 0.6, 0.7):
                t.run("refine", f"{f} w_dense={w}", replace(cur, fusion=f, dense_weight=w))
        for k in (10, 60):
            t.run("refine", f"rrf k={k}", replace(cur, fusion="rrf", rrf_k=k, dense_weight=0.5))
        adopt("refine")
    t.final = cur


def markdown(rows: list[dict], desc: str) -> str:
    """Experiment rows as a markdown table, best row named at the end."""
    lines = [f"Experiments on {desc} (nDCG@10 / R@100)", "",
             "| group | change | dense | BM25 | hybrid nDCG@10 | hybrid R@100 |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['group']} | {r['label']} | {r['dense']['nDCG@10']:.4f} | {r['bm25']['nDCG@10']:.4f} | "
                     f"**{r['hybrid']['nDCG@10']:.4f}** | {r['hybrid']['R@100']:.4f} |")
    b = best(rows)
    lines += ["", f"Best: {b['label']} ({b['group']}), hybrid nDCG@10 {b['hybrid']['nDCG@10']:.4f}, config {b['config']}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    ap.add_argument("--split", default="train")
    ap.add_argument("--groups", default="fusion,bm25,dense,mix,prf,refine")
    ap.add_argument("--start", default=None, help="JSON of NaiveConfig knobs to start from (default: naive)")
    ap.add_argument("--precision", default="auto", help="encoder precision for the experiments (auto: bf16 where native)")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", type=Path, default=common.OUT / "tune")
    args = ap.parse_args(argv)
    if args.split == "test":
        raise SystemExit("tune on train only: the test split is held out")
    data = load_beir(args.data, args.split)
    if args.smoke:
        data = subset(data)
    precision = common.resolve_precision(args.precision)
    desc = f"{args.data.name} {args.split} ({len(data.queries)} queries, {len(data.corpus)} docs, encoder {precision})"
    t = Tuner(data, precision)
    start = replace(NaiveConfig(precision=precision), **json.loads(args.start)) if args.start else None
    experiments(t, args.groups.split(","), precision, start)
    tag = f"{args.data.name}-{args.split}" + ("-smoke" if args.smoke else "") + (f"-{args.tag}" if args.tag else "")
    common.write_json(args.out / f"{tag}.json", {"dataset": desc, "rows": t.rows, "best": best(t.rows),
                                                 "final": diff(t.final)})
    (args.out / f"{tag}.md").write_text(markdown(t.rows, desc), encoding="utf-8")
    print(markdown([best(t.rows)], desc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
