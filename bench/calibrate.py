"""Calibrate the abstention threshold on answerable vs. unanswerable questions from the shared data.

Answerable: the dev questions with gold spans (over seeds/) and the SciFact train claims (over SciFact).
Unanswerable: the dev off-topic questions (over seeds/), every SciFact claim asked of seeds/, and every
dev question asked of SciFact — questions whose corpus cannot answer them. Prints the confidence
distributions and, for each candidate threshold, the share of each group kept/abstained.

Usage:
    python bench/calibrate.py --seeds-index DIR --scifact-index DIR [--scifact ../shared/bench/scifact]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval.config import Settings  # noqa: E402
from retrieval.engine import Engine  # noqa: E402
from retrieval.evaluate import load_questions  # noqa: E402


def confidences(engine: Engine, questions: list[str]) -> np.ndarray:
    return np.array([a.confidence for a in engine.ask_many(questions, k=1)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=Path("../shared/eval/dev-questions.jsonl"))
    ap.add_argument("--scifact", type=Path, default=Path("../shared/bench/scifact"))
    ap.add_argument("--seeds-index", type=Path, required=True)
    ap.add_argument("--scifact-index", type=Path, required=True)
    ap.add_argument("--json", type=Path, help="write the distributions here")
    args = ap.parse_args()
    seeds = Engine.open(Settings.load(corpus=Path("seeds"), index_dir=args.seeds_index))
    sci = Engine.open(Settings.load(corpus=args.scifact / "corpus.jsonl", index_dir=args.scifact_index),
                      encoder=seeds.encoder)
    dev = load_questions(args.dev)
    claims = [json.loads(x)["text"] for x in (args.scifact / "queries.jsonl").read_text().splitlines() if x.strip()]
    groups = {
        "answerable: dev over seeds": (seeds, [q["q"] for q in dev if q["gold"]]),
        "answerable: scifact over scifact": (sci, claims),
        "off-topic: dev off-topic over seeds": (seeds, [q["q"] for q in dev if not q["gold"]]),
        "off-topic: scifact over seeds": (seeds, claims),
        "off-topic: dev over scifact": (sci, [q["q"] for q in dev]),
    }
    conf = {name: confidences(eng, qs) for name, (eng, qs) in groups.items()}
    for name, c in conf.items():
        print(f"{name:40s} n={len(c):4d} min={c.min():.3f} p5={np.percentile(c, 5):.3f} "
              f"median={np.median(c):.3f} p95={np.percentile(c, 95):.3f} max={c.max():.3f}")
    print("\nthreshold  answered(answerable groups)  abstained(off-topic groups)")
    for t in np.arange(0.20, 0.56, 0.025):
        ans = [f"{(c >= t).mean():.3f}" for n, c in conf.items() if n.startswith("answerable")]
        off = [f"{(c < t).mean():.3f}" for n, c in conf.items() if n.startswith("off-topic")]
        print(f"  {t:.3f}    {' '.join(ans):28s} {' '.join(off)}")
    if args.json:
        args.json.write_text(json.dumps({k: v.round(4).tolist() for k, v in conf.items()}))


if __name__ == "__main__":
    main()
