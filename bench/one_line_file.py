"""A file without paragraph breaks: load + split time and ¶ numbering of a generated one-line file.

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python -m bench.one_line_file [--mb 5] [--dir /tmp/x]

Prints the paragraphs, the passages (and how many distinct ¶ they cite) and the seconds spent
loading (decode, clean, cut) and splitting (sentences, token counts) — no embedding.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=5.0, help="size of the generated file")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/citebot-one-line"), help="where to write it")
    args = ap.parse_args()
    from retrieval.ingest import documents
    from retrieval.model.embeddings import BUNDLED, resolve_model
    from retrieval.index.passages import split_document
    from transformers import AutoTokenizer

    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / "one-line.txt"
    rnd = random.Random(1)
    words = "relay packet storage node order waits client server the a of to and in is for on with".split()
    out, n = [], 0
    while n < args.mb * 1e6:
        s = " ".join(rnd.choice(words) for _ in range(rnd.randint(8, 25))).capitalize() + ". "
        out.append(s)
        n += len(s)
    path.write_text("".join(out).strip())
    tok = AutoTokenizer.from_pretrained(resolve_model(BUNDLED))

    def count(texts: list[str]) -> list[int]:
        return [len(x) for x in tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]] if texts else []

    t0 = time.perf_counter()
    (doc,) = [d for d in documents.load(args.dir, max_file_mb=args.mb * 2) if d.doc_id == "one-line"]
    t1 = time.perf_counter()
    passages = split_document(doc, count, 254)
    t2 = time.perf_counter()
    print(f"{path.stat().st_size / 1e6:.1f} MB on one line: {len(doc.paragraphs)} paragraphs, {len(passages)} passages "
          f"citing {len({p.paragraph for p in passages})} distinct ¶; load {t1 - t0:.1f} s, split {t2 - t1:.1f} s")


if __name__ == "__main__":
    main()
