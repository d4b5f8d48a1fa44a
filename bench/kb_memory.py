"""Memory per knowledge base: the RSS an index adds to the bot process, at 10k and 100k passages.

For each size it synthesizes a corpus from BEIR SciFact (records repeated with new ids until the
size is reached; read in place, never copied into the repo), builds the index, then in a fresh
process per size measures the resident set size (``VmRSS``):

* ``base``: Python, torch and the loaded encoder, after questions to a small warm-up index (the
  query path's one-time allocations are shared by every knowledge base, not part of one);
* ``open``: after ``Engine.open`` (FAISS, BM25 and the store connection loaded);
* ``asked``: after 50 SciFact questions (memory-mapped sentence vectors and SQLite pages touched);

and compares the delta with ``retrieval.serve.pool.estimate_bytes`` (what the pool budgets before opening).

Building embeds with *synthetic* unit vectors (``--real-vectors`` embeds for real): the index's
size and memory depend on the number of passages and sentences, not on the vectors' values, and
100k real embeddings take most of an hour on 2 shared cores. Tokenizing, splitting, BM25, FAISS
(IVF above 50k passages) and the store are the real ones.

    CITEBOT_SHARED=/work/shared python bench/kb_memory.py --sizes 10000 100000 --work /tmp/kbs/kbmem
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SCIFACT = Path(os.environ.get("CITEBOT_SHARED", ROOT.parent / "shared")) / "bench" / "scifact"  # CC BY-NC: read in place


def rss_bytes() -> int:
    """This process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class SyntheticVectors:
    """The real encoder for everything but passage embeddings, which are random unit vectors."""

    def __init__(self, real, seed: int = 0):
        self._real, self._rng = real, np.random.default_rng(seed)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def _unit(self, n: int) -> np.ndarray:
        v = self._rng.standard_normal((n, self._real.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def encode_passages(self, texts, spans=None, progress=None, _threads=None):
        vecs = self._unit(len(texts))
        if progress:
            progress(len(texts))
        return vecs, ([self._unit(len(s)) for s in spans] if spans is not None else None)


def synthesize(path: Path, target_passages: int, passages_per_record: float) -> int:
    """A JSONL corpus of SciFact records, repeated under new ids, of about ``target_passages``."""
    records = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").read_text("utf-8").splitlines() if line.strip()]
    want = int(target_passages / passages_per_record) + 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for i in range(want):
            r = records[i % len(records)]
            copy = i // len(records)
            out.write(json.dumps({"id": f"{r['_id']}-{copy}", "title": r.get("title") or "",
                                  "text": r.get("text") or ""}, ensure_ascii=False) + "\n")
    return want


def build(corpus: Path, index_dir: Path, real_vectors: bool) -> dict:
    from retrieval.config import Settings
    from retrieval.model.embeddings import Encoder
    from retrieval.engine import Engine

    enc = Encoder.shared("bundled", "auto", 64)
    settings = Settings.from_mapping({"corpus": corpus, "index_dir": index_dir})
    t = time.perf_counter()
    eng = Engine(settings, encoder=enc if real_vectors else SyntheticVectors(enc))
    eng.reindex(rebuild=True)
    stats = eng.stats()
    return {"passages": stats["passages"], "documents": stats["documents"], "build_s": round(time.perf_counter() - t, 1)}


def measure(index_dir: Path, warm_dir: Path, questions: int) -> dict:
    """RSS before and after opening the index and asking (run in a fresh process)."""
    from retrieval.config import Settings
    from retrieval.model.embeddings import Encoder
    from retrieval.engine import Engine
    from retrieval.serve.pool import estimate_bytes

    enc = Encoder.shared("bundled", "auto", 64)
    qs = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").read_text("utf-8").splitlines()[:questions]]
    warm = Engine.open(Settings.from_mapping({"corpus": warm_dir / "unused", "index_dir": warm_dir}),
                       build_if_missing=False, encoder=enc)
    for q in qs:
        warm.ask(q)
    base = rss_bytes()
    settings = Settings.from_mapping({"corpus": index_dir / "unused", "index_dir": index_dir})
    t = time.perf_counter()
    eng = Engine.open(settings, build_if_missing=False, encoder=enc)
    open_s = time.perf_counter() - t
    opened = rss_bytes()
    for q in qs:
        eng.ask(q)
    asked = rss_bytes()
    st = eng.stats()
    files = sum(p.stat().st_size for p in (Path(st["index_dir"]) / st["version"]).rglob("*") if p.is_file())
    return {"base_mb": base / 2**20, "open_delta_mb": (opened - base) / 2**20, "asked_delta_mb": (asked - base) / 2**20,
            "estimate_mb": estimate_bytes(index_dir) / 2**20, "files_mb": files / 2**20, "open_s": round(open_s, 2),
            "passages": st["passages"], "questions": len(qs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="passages per index")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "kb_memory", help="corpora and indexes")
    ap.add_argument("--questions", type=int, default=50)
    ap.add_argument("--real-vectors", action="store_true", help="embed with the model (slow) instead of random vectors")
    ap.add_argument("--measure", type=Path, nargs=2, help=argparse.SUPPRESS)  # internal: INDEX WARM in a fresh process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure, args.questions)))
        return 0
    rows = []
    ratio = 1.78  # SciFact passages per record at 254 tokens (measured), corrected after each build
    warm_dir = args.work / "index-warm"
    if not (warm_dir / "CURRENT").exists():
        synthesize(args.work / "corpus-warm.jsonl", 300, ratio)
        build(args.work / "corpus-warm.jsonl", warm_dir, args.real_vectors)
    for size in args.sizes:
        corpus, index_dir = args.work / f"corpus-{size}.jsonl", args.work / f"index-{size}"
        synthesize(corpus, size, ratio)
        built = build(corpus, index_dir, args.real_vectors)
        ratio = built["passages"] / max(1, built["documents"])
        out = subprocess.run([sys.executable, __file__, "--measure", str(index_dir), str(warm_dir),
                              "--questions", str(args.questions)],
                             check=True, capture_output=True, text=True)
        row = {"target": size, **built, **json.loads(out.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    (args.work / "results.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
