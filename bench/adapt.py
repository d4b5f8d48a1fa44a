"""The query adapter (``adapt = true``, retrieval/model/adapt.py) on every dev corpus, beside the naive peer.

    python -m bench.adapt                          # reg 1.0 (the setting's), per corpus
    python -m bench.adapt --reg 1,0.1,0.01         # the curve: weaker pulls to the identity
    python -m bench.adapt --corpora gitdocs --pdf  # + the 8 questions whose answer is in a PDF

Each corpus's index is the one ``bench.generalize`` builds (same ``--work``). The adapter is trained
on that index's passages exactly as a build with ``adapt = true`` trains it (``adapt.train``: the
pairs, their query vectors, the fit); the first run per corpus encodes the pairs' queries and is the
training time reported per 10k passages (later runs read them from ``--work``'s cache). Every row
asks the same questions of the same index; only the question vector the dense search reads differs.
No row sees the questions it is measured on: the adapter learns from the corpus's own structure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import OUT
from bench.generalize import NAIVE, OLD_THRESHOLD, Bench, fmt, metrics
from retrieval.model import adapt
from retrieval.config import Settings
from retrieval.cli.evaluate import contains_gold
from retrieval.query.search import candidate_pool
from retrieval.index.pages import doc_codes


def corpus_passages(index):
    """Every passage of ``index`` in id order, and each document's title."""
    docs = index.documents()
    titles = {d["doc_id"]: d.get("title") for d in docs}
    rows = [p for d in docs for p in index.store.document_passages(d["doc_id"])]
    rows.sort(key=lambda p: p.id)
    return rows, titles


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/citebot-generalize"))
    ap.add_argument("--corpora", default="seeds,gitdocs,scifact")
    ap.add_argument("--scifact-queries", type=int, default=200)
    ap.add_argument("--reg", default="1.0", help="comma list of the fit's pull to the identity")
    ap.add_argument("--pdf", action="store_true", help="gitdocs: also R@5 of the questions answered in a PDF")
    ap.add_argument("--out", type=Path, default=OUT / "adapt.json")
    args = ap.parse_args(argv)
    b = Bench(args.work, args.scifact_queries, only=args.corpora.split(","))
    regs = [float(x) for x in args.reg.split(",")]
    now = Settings()
    report: dict = {}

    def pools(name):
        eng = b.engines[name]
        b.pools[name] = [candidate_pool(eng.index, v, q.q, candidates=b.candidates)
                         for q, v in zip(b.asked[name], b.vectors[name])]

    def row(label, name, settings):
        recs = b.run(name, settings)
        # the naive peer abstains by a fixed cosine, as bench.generalize judges it
        m = metrics(recs, (lambda r: r["ev"].cosine < OLD_THRESHOLD) if label == "naive" else None)
        if args.pdf and name == "gitdocs":
            pdf = [r for r in recs if r["q"].file and r["q"].file.endswith(".pdf")]
            hits = [any(x.rank <= 5 and contains_gold(x.text, r["q"].gold) for x in r["answer"].results) for r in pdf]
            m["pdf_R@5"] = f"{sum(hits)}/{len(pdf)}"
        print(f"{label:18s} {name:8s} {fmt(m)}" + (f"  pdf R@5 {m['pdf_R@5']}" if "pdf_R@5" in m else ""), flush=True)
        report.setdefault(name, {})[label] = {k: (float(v) if hasattr(v, "__float__") and not isinstance(v, str) else v)
                                              for k, v in m.items()}

    for name in b.corpora:
        index = b.engines[name].index
        index.adapter = None
        pools(name)
        row("naive", name, Settings.from_mapping(NAIVE))
        row("now", name, now)
        passages, titles = corpus_passages(index)
        vecs = index.vectors(list(range(len(passages))))
        cache = args.work / f".adapt-cache-{name}"
        for reg in regs:
            t0 = time.perf_counter()
            W, info = adapt.train(b.encoder, passages, titles, vecs, doc_codes(index), cache=cache, reg=reg)
            info["seconds_total"] = round(time.perf_counter() - t0, 1)
            info["per_10k_passages_s"] = round(info["seconds_total"] * 10_000 / max(1, len(passages)), 1)
            report.setdefault(name, {})[f"training reg={reg}"] = info
            print(f"  trained ({name}, reg {reg}): {json.dumps(info)}", flush=True)
            if W is None:
                continue
            index.adapter = W
            pools(name)
            row(f"now + adapter {reg}", name, now)
            index.adapter = None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
