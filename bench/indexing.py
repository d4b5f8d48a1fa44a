"""Indexing throughput against raw ``SentenceTransformer.encode``, incremental reindex, cold start.

1. Throughput: ``citebot index`` (``Builder.build`` with ``--rebuild``: parse, split, embed, write
   FAISS/BM25/SQLite) over the first N SciFact documents, then raw ``SentenceTransformer.encode`` of
   exactly the passages it embedded, in the same process, twice: as sentence-transformers runs by
   default (a separate fp32 model, batch 32) and with citebot's own model object at its precision and
   batch size (bf16 weights where the CPU has bf16 units). Ratio = citebot passages/s ÷ raw passages/s.
2. Incremental: a folder corpus of D small documents (one SciFact abstract's first sentences each),
   indexed once; then one document is changed and ``reindex`` is timed.
3. Cold start: ``citebot ask`` as a new process over an existing index, process start → answer printed.

Usage: python -m bench.indexing [--docs 1000] [--incremental-docs 10000] [--smoke] [--out FILE]
       python -m bench.indexing --corpus FOLDER [--files N]   (throughput only, on a folder corpus)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]


def scifact_records(folder: Path, n: int) -> list[dict]:
    out = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


def throughput(encoder, records: list[dict], work: Path, folder: Path | None = None, files: int = 0) -> dict:
    """``folder``: measure on the first ``files`` files of a folder corpus (HTML, PDF, …) instead of
    SciFact records: the parsers' cost is then part of citebot's time."""
    from retrieval.index.build import Builder
    from retrieval.index.loaded import open_index

    if folder is not None:
        corpus = work / "corpus"
        corpus.mkdir()
        for f in sorted(p for p in folder.iterdir() if p.is_file())[:files or None]:
            shutil.copy(f, corpus / f.name)
        warm = ["a warm-up sentence about nothing in particular"] * 64
    else:
        corpus = work / "corpus.jsonl"
        corpus.write_text("\n".join(json.dumps({"_id": r["_id"], "title": r["title"], "text": r["text"]})
                                    for r in records) + "\n")
        warm = [r["text"] for r in records[:64]]
    from sentence_transformers import SentenceTransformer

    from retrieval.model.embeddings import resolve_model

    builder = Builder(encoder, work / "idx")
    st32 = SentenceTransformer(resolve_model(encoder.model_ref), device="cpu", local_files_only=True)
    # first passes build kernels; time neither path with them
    encoder.encode_passages(warm)
    encoder.st.encode(warm, batch_size=32, show_progress_bar=False)
    st32.encode(warm, batch_size=32, show_progress_bar=False)
    t0 = time.perf_counter()
    summary = builder.build(corpus, rebuild=True)
    t_citebot = time.perf_counter() - t0
    idx = open_index(work / "idx")
    rows = idx.passages(range(summary.passages)).values()
    texts = [f"{p.heading}\n{p.text}" if p.heading else p.text for p in rows]
    t0 = time.perf_counter()
    st32.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    t_raw = time.perf_counter() - t0
    with encoder.autocast():  # a no-op where citebot runs bf16 weights; the fallback's precision elsewhere
        t0 = time.perf_counter()
        encoder.st.encode(texts, batch_size=encoder.batch_size, normalize_embeddings=True, show_progress_bar=False)
        t_raw_same = time.perf_counter() - t0
    n = summary.passages
    return {
        "documents": len(records) if folder is None else len(list(corpus.iterdir())), "passages": n,
        "embedded": summary.embedded, "precision": encoder.precision,
        "citebot_s": round(t_citebot, 2), "citebot_passages_per_s": round(n / t_citebot, 1),
        "raw_fp32_bs32_s": round(t_raw, 2), "raw_fp32_passages_per_s": round(n / t_raw, 1),
        "raw_same_precision_s": round(t_raw_same, 2), "raw_same_precision_passages_per_s": round(n / t_raw_same, 1),
        "ratio_vs_raw_default": round(t_raw / t_citebot, 3),
        "ratio_vs_raw_same_precision": round(t_raw_same / t_citebot, 3),
    }


def incremental(encoder, records: list[dict], n_docs: int, work: Path) -> dict:
    from retrieval.index.build import Builder
    from retrieval.index.loaded import open_index

    corpus = work / "folder"
    corpus.mkdir()
    for i in range(n_docs):
        r = records[i % len(records)]
        first = r["text"].split(". ")[0][:300]
        (corpus / f"d{i:05d}.txt").write_text(f"Document {i}: {first}.\n")
    builder = Builder(encoder, work / "inc")
    t0 = time.perf_counter()
    s = builder.build(corpus)
    t_full = time.perf_counter() - t0
    (corpus / "d00042.txt").write_text("Document 42 was edited: a new sentence about lighthouses.\n")
    prev = open_index(work / "inc")
    t0 = time.perf_counter()
    s2 = builder.build(corpus, previous=prev)
    t_inc = time.perf_counter() - t0
    return {"documents": n_docs, "passages": s.passages, "full_build_s": round(t_full, 2),
            "reindex_one_changed_s": round(t_inc, 3), "changed": s2.changed, "embedded": s2.embedded}


def cold_start(index_dir: Path, corpus: Path, runs: int = 3) -> dict:
    exe = str(Path(sys.executable).parent / "citebot")
    env = dict(os.environ, CITEBOT_INDEX_DIR=str(index_dir), CITEBOT_CORPUS=str(corpus))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run([exe, "ask", "--json", "What does the study find about cancer?"], env=env,
                           capture_output=True, text=True, timeout=300)
        times.append(time.perf_counter() - t0)
        assert r.returncode == 0, r.stderr
    return {"cold_start_s": [round(t, 2) for t in times], "cold_start_median_s": round(sorted(times)[len(times) // 2], 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scifact", type=Path,
                    default=Path(os.environ.get("CITEBOT_SHARED", ROOT.parent / "shared")) / "bench" / "scifact")
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--incremental-docs", type=int, default=10_000)
    ap.add_argument("--smoke", action="store_true", help="seconds-long run on a few documents")
    ap.add_argument("--corpus", type=Path, help="throughput only, on a folder corpus (e.g. gitdocs' HTML and PDF)")
    ap.add_argument("--files", type=int, default=0, help="with --corpus: its first N files (0 = all)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.smoke:
        args.docs, args.incremental_docs = 40, 200
    from retrieval.model.embeddings import Encoder

    enc = Encoder("bundled", "auto", 64)
    records = scifact_records(args.scifact, max(args.docs, 2000 if not args.smoke else 40))
    work = Path(tempfile.mkdtemp(prefix="citebot-indexing-"))
    try:
        if args.corpus is not None:  # a folder corpus: throughput only
            result = {"throughput": throughput(enc, [], work, folder=args.corpus, files=args.files)}
            print(json.dumps(result["throughput"]))
            return _save(result, args.out)
        result = {"throughput": throughput(enc, records[:args.docs], work)}
        print(json.dumps(result["throughput"]))
        result["incremental"] = incremental(enc, records, args.incremental_docs, work)
        print(json.dumps(result["incremental"]))
        result["cold_start"] = cold_start(work / "idx", work / "corpus.jsonl", runs=1 if args.smoke else 3)
        print(json.dumps(result["cold_start"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _save(result, args.out)


def _save(result: dict, out: Path | None) -> int:
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
