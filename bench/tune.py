"""Sweep ranking settings on a question set (dev questions with gold spans).

Embeds the questions once and re-ranks in process for every combination, so a sweep takes seconds.
Usage: python bench/tune.py ../shared/eval/dev-questions.jsonl --index-dir DIR [--corpus seeds]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval.config import Settings  # noqa: E402
from retrieval.engine import Engine  # noqa: E402
from retrieval.evaluate import evaluate, load_questions  # noqa: E402

GRID = {
    "fusion": ["linear", "rrf"],
    "dense_weight": [0.3, 0.4, 0.5, 0.6, 0.7],
    "sentence_weight": [0.0, 0.25, 0.5, 1.0],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=Path("seeds"))
    ap.add_argument("--grid", type=json.loads, default=None, help="JSON object overriding GRID")
    args = ap.parse_args()
    grid = args.grid or GRID
    base = Settings.load(corpus=args.corpus, index_dir=args.index_dir)
    eng = Engine.open(base)
    qs = load_questions(args.file)
    vecs = eng.encoder.encode_queries([q["q"] for q in qs])
    rows = []
    for combo in itertools.product(*grid.values()):
        for k, v in zip(grid, combo):
            setattr(eng.settings, k, v)
        answers = [eng.ask_vector(q["q"], v, k=5) for q, v in zip(qs, vecs)]
        rep = evaluate(qs, answers)
        d = rep.to_dict()
        d.pop("misses")
        rows.append({**dict(zip(grid, combo)), **d})
        print(json.dumps(rows[-1]))


if __name__ == "__main__":
    main()
