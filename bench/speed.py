"""Warm query latency, peak memory and ANN recall at 10k / 100k / 1M passages.

    .venv/bin/python -m bench.speed                          # naive pipeline, 10k,100k,1M
    .venv/bin/python -m bench.speed --sizes 10000,100000 --pipeline naive,citebot
    .venv/bin/python -m bench.speed --smoke                  # 2,000 passages, seconds

How the large corpora are made (embedding 1M real passages takes hours on 2 cores):

- Vectors: ``v = normalise(x + n)`` where ``x`` is a real SciFact document vector (all-MiniLM-L6-v2,
  fp32, title + text, from the embedding cache) picked at random and ``n`` is Gaussian noise with the covariance of the
  real vectors (so the noise follows the embedding space's own shape; cos(v, x) is ~0.7, which blurs
  the real topical clusters instead of making tight near-duplicate clumps that flatter ANN search).
- BM25 text: real SciFact passages (title + sentence-packed chunks) replicated cyclically to the size;
  term statistics match the real corpus, posting lists grow with the size.
- Queries: real SciFact train claims, embedded by the model inside the timed path.

Timed path (naive): encode the question (sentence-transformers, precision as given) -> flat FAISS
inner product top 100 (or the ANN index at and above ``--ann-from``) -> bm25s top 100 -> RRF
fusion -> top 10. Each run is one process per size so peak RSS (psutil, includes the model) is per size.
ANN (naive): IVF-Flat and HNSW (``--ann``) are built at the largest size and their recall@10 against exact
flat search is measured on held-out query vectors, with build time, at the chosen efSearch / nprobe.
citebot's own index (fp16 flat up to ``ann_threshold``, IVF with fp16 codes above it) is measured the
same way in ``run_citebot``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench import common

SIZES = (10_000, 100_000, 1_000_000)


# ---------------------------------------------------------------- synthetic corpus

def real_passages(data_dir: Path, max_docs: int | None = None, limit_tokens: int = 128) -> tuple[list[str], np.ndarray]:
    """Real SciFact passage texts (title + sentence-packed chunks of <= ``limit_tokens``) and the
    fp32 vectors of the real documents (title + text; cached in bench/out/emb-cache)."""
    from bench.beir import load_beir, split_passages

    data = load_beir(data_dir, "train")
    docs = list(data.corpus.values())[:max_docs]
    cache = common.EmbeddingCache("fp32")
    tok = cache.model.tokenizer
    texts = [p for d in docs for p in split_passages(d["title"], d["text"], tok, limit_tokens, True)]
    return texts, cache.embed([f"{d['title']} {d['text']}".strip() for d in docs])


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    """``n`` unit vectors: random real vector + Gaussian noise with the real covariance * scale."""
    rng = np.random.default_rng(seed)
    cov = np.cov(real, rowvar=False)
    L = np.linalg.cholesky(cov + 1e-6 * np.eye(cov.shape[0]))
    out = np.empty((n, real.shape[1]), np.float32)
    step = 100_000
    for a in range(0, n, step):
        b = min(n, a + step)
        v = real[rng.integers(0, len(real), b - a)] + scale * (rng.standard_normal((b - a, real.shape[1])) @ L.T)
        out[a:b] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


# ---------------------------------------------------------------- naive pipeline at scale

class NaiveOnline:
    """The peer's online path: ST encode -> FAISS (flat or ANN) -> bm25s -> RRF."""

    def __init__(self, model, precision: str, vectors: np.ndarray, texts: list[str], ann=None, candidates: int = 100):
        import bm25s
        import faiss
        import Stemmer

        self.model, self.precision, self.candidates = model, precision, candidates
        self.stemmer = Stemmer.Stemmer("english")
        t0 = time.perf_counter()
        if ann is None:
            self.index = faiss.IndexFlatIP(vectors.shape[1])
            self.index.add(vectors)
        else:
            self.index = ann
        self.dense_build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.bm25 = bm25s.BM25(k1=1.5, b=0.75)
        n = len(vectors)
        base = bm25s.tokenize(texts, stopwords="english", stemmer=self.stemmer, show_progress=False)
        ids = [base.ids[i % len(texts)] for i in range(n)]  # replicate real passages to n (shared lists)
        self.bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=base.vocab), show_progress=False)
        self.bm25_build_s = time.perf_counter() - t0

    def ask(self, question: str, k: int = 10) -> list[int]:
        """Top-k passage ids for one question."""
        import bm25s

        qv = common.encode(self.model, [question], self.precision, 1)
        D, I = self.index.search(qv, self.candidates)
        qt = bm25s.tokenize([question], stopwords="english", stemmer=self.stemmer, show_progress=False,
                            return_ids=False)
        b_ids, _ = self.bm25.retrieve(qt, k=self.candidates, show_progress=False, n_threads=0)
        fused: dict[int, float] = {}
        for ranks in (I[0], b_ids[0]):
            for r, pid in enumerate(ranks):
                if pid >= 0:
                    fused[int(pid)] = fused.get(int(pid), 0.0) + 1.0 / (60 + r + 1)
        return sorted(fused, key=lambda p: -fused[p])[:k]


def build_ann(kind: str, vectors: np.ndarray, train_sample: int = 100_000):
    """``hnswM-EFC`` (e.g. ``hnsw32-80``, citebot's setting; ``hnsw16-40``) or ``ivf`` (IVF-Flat,
    nlist ~ 4*sqrt(n), k-means on a 100k sample), inner product."""
    import faiss

    d = vectors.shape[1]
    if kind.startswith("hnsw"):
        m, efc = (int(x) for x in kind[4:].split("-"))
        idx = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = efc
        idx.add(vectors)
        return idx
    nlist = int(4 * np.sqrt(len(vectors)) // 256 * 256) or 256
    q = faiss.IndexFlatIP(d)
    idx = faiss.IndexIVFFlat(q, d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(1)
    idx.train(vectors[rng.choice(len(vectors), min(train_sample, len(vectors)), replace=False)])
    idx.add(vectors)
    return idx


def ann_recall(idx, exact_ids: np.ndarray, queries: np.ndarray, k: int = 10) -> tuple[float, float]:
    """Mean recall@k of ``idx`` against exact top-k ids, and its mean search ms per query."""
    lat = []
    got = np.empty((len(queries), k), np.int64)
    for i, q in enumerate(queries):
        t = time.perf_counter()
        _, I = idx.search(q[None, :], k)
        lat.append(time.perf_counter() - t)
        got[i] = I[0]
    rec = np.mean([len(set(a) & set(b)) / k for a, b in zip(got, exact_ids)])
    return float(rec), common.percentile_ms(lat, 50)


class SyntheticEncoder:
    """citebot's Encoder for questions, synthetic vectors for passages (so 100k passages index in
    minutes): each passage gets ``normalise(real[r] + noise)``, ``r`` and the noise seeded by its text
    hash and its position in the build (replicated texts get distinct vectors), and each of its
    sentences the passage vector (sentence vectors only pick the quote)."""

    def __init__(self, real_encoder, real: np.ndarray):
        self.real, self.base = real_encoder, real
        self.count = 0
        self.cov_l = np.linalg.cholesky(np.cov(real, rowvar=False) + 1e-6 * np.eye(real.shape[1]))

    def __getattr__(self, name):  # everything but passage encoding is citebot's own encoder
        return getattr(self.real, name)

    def encode_passages(self, texts, spans=None, progress=None):
        import zlib

        out = np.empty((len(texts), self.base.shape[1]), np.float32)
        for i, t in enumerate(texts):
            # seeded by text *and* call order: the replicated texts must not get identical vectors,
            # or exact top-10s are ties and recall by id measures nothing
            self.count += 1
            rng = np.random.default_rng((zlib.crc32(t.encode("utf-8")), self.count))
            v = self.base[rng.integers(len(self.base))] + self.cov_l @ rng.standard_normal(self.base.shape[1])
            out[i] = v / np.linalg.norm(v)
        if progress:
            progress(len(texts))
        sv = None if spans is None else [np.repeat(out[i:i + 1], max(len(sp), 1), 0)[: len(sp)] for i, sp in enumerate(spans)]
        return out, sv


def run_citebot(n: int, args, texts: list[str], real: np.ndarray, warm, timed) -> dict:
    """citebot's Engine over ``n`` one-passage documents (real SciFact passage texts, replicated
    with unique ids; synthetic passage vectors); times ``Engine.ask`` end to end (embed, dense +
    BM25, fusion, quotes, citations). Above the ANN threshold the dense index is IVF: its recall@10
    against exact search over the same stored vectors is measured for several ``nprobe`` with the
    real questions' vectors, and ``ask`` is timed at ``--nprobe``."""
    import faiss

    from retrieval.config import Settings
    from retrieval.model.embeddings import Encoder
    from retrieval.engine import Engine, clean_question

    work = args.out / f"citebot-{n}"
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.jsonl"  # derived from SciFact: stays in gitignored bench/out
    with open(corpus, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"_id": f"p{i}", "text": texts[i % len(texts)]}) + "\n")
    import shutil

    if not args.reuse_index:
        shutil.rmtree(work / "index", ignore_errors=True)  # time a full build, not a reopen
    settings = Settings.from_mapping({"corpus": corpus, "index_dir": work / "index", "precision": args.precision,
                                      "nprobe": args.nprobe, "ann_threshold": args.ann_threshold,
                                      "adapt": args.adapt})
    enc = SyntheticEncoder(Encoder(settings.model, settings.precision, settings.batch_size), real)
    faiss.omp_set_num_threads(2)
    t0 = time.perf_counter()
    eng = Engine.open(settings, encoder=enc)
    build_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(args.threads)
    out = {"index_build_s": None if args.reuse_index else round(build_s, 1)}
    dense = eng.dense
    ivf = dense.ivf
    if ivf is not None:  # recall of the ANN index against exact search over the same vectors
        qv = enc.encode_queries([clean_question(q, 1000) for q in timed])
        allv = dense.vectors(np.arange(dense.ntotal))
        exact = np.argsort(-(qv @ allv.T), axis=1)[:, :10]
        del allv
        sweep = {}
        dense.set_nprobe(args.nprobe)
        chosen = int(ivf.nprobe)  # the setting's value (0 = citebot's automatic choice)
        for p in sorted({8, 16, 32, 64, 128, chosen}):
            dense.set_nprobe(p)
            rec, ms = ann_recall(dense.faiss, exact, qv)
            sweep[p] = {"recall@10": round(rec, 4), "search_ms_p50": round(ms, 3)}
        dense.set_nprobe(args.nprobe)
        out["ann"] = {"kind": "ivf", "nlist": int(ivf.nlist), "sweep": sweep, "nprobe": chosen}
        print(f"  citebot ivf nlist {ivf.nlist}: {sweep}", flush=True)
    for q in warm:
        eng.ask(q)
    lat, enc_lat = [], []
    for q in timed:
        t = time.perf_counter()
        eng.ask(q)
        lat.append(time.perf_counter() - t)
    for q in timed[:100]:
        t = time.perf_counter()
        enc.encode_query(clean_question(q, 1000))
        enc_lat.append(time.perf_counter() - t)
    st = eng.stats()
    eng.close()
    t0 = time.perf_counter()
    reopened = Engine.open(settings, encoder=enc, build_if_missing=False)
    reopened.ask(timed[0])
    out.update({"p50_ms": round(common.percentile_ms(lat, 50), 2), "p99_ms": round(common.percentile_ms(lat, 99), 2),
                "encode_p50_ms": round(common.percentile_ms(enc_lat, 50), 2),
                "reopen_and_first_answer_s": round(time.perf_counter() - t0, 2),
                "passages": st["passages"], "dense": st.get("dense"), "precision": st.get("precision"),
                "queries": len(timed)})
    return out


def run_size(n: int, args) -> dict:
    """One size in this process: build, warm up, time ``args.queries`` questions."""
    import faiss
    import psutil
    import torch

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(2)  # builds use both cores; the timed path uses --threads (below)
    proc = psutil.Process()
    texts, real = real_passages(args.data, 100 if args.smoke else None)
    from bench.beir import load_beir

    data = load_beir(args.data, "train")
    questions = list(data.queries.values())
    rng = np.random.default_rng(0)
    rng.shuffle(questions)
    warm, timed = questions[:10], questions[10:10 + args.queries]
    if args.pipe == "citebot":
        r = run_citebot(n, args, texts, real, warm, timed)
        print(f"  citebot {n}: {r}", flush=True)
        return {"size": n, "threads": args.threads, "systems": {"citebot": r},
                "peak_rss_gib": round(peak_rss_gib(), 2), "load1_end": round(os.getloadavg()[0], 2)}
    t0 = time.perf_counter()
    vecs = synthetic_vectors(real, n, seed=n)
    gen_s = time.perf_counter() - t0
    precision = common.resolve_precision(args.precision)
    model = common.load_model(precision)
    out = {"size": n, "precision": precision, "threads": args.threads, "vector_gen_s": round(gen_s, 1),
           "load1_start": round(os.getloadavg()[0], 2)}

    ann = None
    if n >= args.ann_from:
        qvecs = common.EmbeddingCache("fp32").embed(questions[: args.recall_queries])
        exact = faiss.IndexFlatIP(vecs.shape[1])
        exact.add(vecs)
        _, exact_ids = exact.search(qvecs, 10)
        del exact
        out["ann"] = {}
        for kind in args.ann.split(","):
            t0 = time.perf_counter()
            idx = build_ann(kind, vecs)
            build_s = time.perf_counter() - t0
            sweep = {}
            for p in ((16, 32, 64, 128, 256) if kind.startswith("hnsw") else (8, 16, 32, 64, 128)):
                if kind.startswith("hnsw"):
                    idx.hnsw.efSearch = p
                else:
                    idx.nprobe = p
                rec, ms = ann_recall(idx, exact_ids, qvecs)
                sweep[p] = {"recall@10": round(rec, 4), "search_ms_p50": round(ms, 3)}
            chosen = next((p for p, v in sweep.items() if v["recall@10"] >= 0.95), max(sweep))
            if kind.startswith("hnsw"):
                idx.hnsw.efSearch = chosen
            else:
                idx.nprobe = chosen
            out["ann"][kind] = {"build_s": round(build_s, 1), "sweep": sweep, "chosen": chosen,
                                "param": "efSearch" if kind.startswith("hnsw") else "nprobe",
                                "rss_gib_after": round(proc.memory_info().rss / 2**30, 2)}
            print(f"  {kind} build {build_s:.0f}s sweep {sweep} chosen {chosen}", flush=True)
            if kind == args.ann.split(",")[0]:
                ann = idx
            else:
                del idx
            gc.collect()

    faiss.omp_set_num_threads(args.threads)
    systems = {}
    for mode in (["exact"] if ann is None else ["exact", "ann"]):
        sysm = NaiveOnline(model, precision, vecs, texts, ann=ann if mode == "ann" else None)
        for q in warm:
            sysm.ask(q)
        lat = []
        for q in timed:
            t = time.perf_counter()
            sysm.ask(q)
            lat.append(time.perf_counter() - t)
        # where the time goes: encode alone
        enc = []
        for q in timed[:50]:
            t = time.perf_counter()
            common.encode(model, [q], precision, 1)
            enc.append(time.perf_counter() - t)
        systems[f"naive-{mode}"] = {"p50_ms": round(common.percentile_ms(lat, 50), 2),
                                    "p99_ms": round(common.percentile_ms(lat, 99), 2),
                                    "encode_p50_ms": round(common.percentile_ms(enc, 50), 2),
                                    "bm25_build_s": round(sysm.bm25_build_s, 1), "queries": len(timed)}
        print(f"  naive-{mode} {n}: {systems[f'naive-{mode}']}", flush=True)
        del sysm
        gc.collect()
    out["systems"] = systems
    out["peak_rss_gib"] = round(peak_rss_gib(), 2)
    out["load1_end"] = round(os.getloadavg()[0], 2)  # shared machine: other jobs inflate latency
    return out


def peak_rss_gib() -> float:
    """Peak resident set size of this process (ru_maxrss), GiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=common.DEFAULT_DATA)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--queries", type=int, default=200, help="timed questions per size")
    ap.add_argument("--recall-queries", type=int, default=300)
    ap.add_argument("--ann", default="ivf,hnsw16-40",
                    help="ANN kinds to build at sizes >= --ann-from (first one is timed): ivf, hnswM-EFC")
    ap.add_argument("--ann-from", type=int, default=1_000_000)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nprobe", type=int, default=0, help="citebot: IVF lists scanned per question (0: auto)")
    ap.add_argument("--ann-threshold", type=int, default=50_000, help="citebot: IVF above this many passages")
    ap.add_argument("--reuse-index", action="store_true",
                    help="citebot: open the index a previous run left in --out instead of rebuilding it")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--pipeline", default="naive", help="comma list: naive, citebot")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # child process: one size
    ap.add_argument("--pipe", default="naive", help=argparse.SUPPRESS)  # child process: one pipeline
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    ap.add_argument("--adapt", action="store_true",
                    help="citebot: build with adapt = true (the query adapter's training is in the build time)")
    ap.add_argument("--out", type=Path, default=common.OUT / "speed")
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.queries, args.recall_queries, args.ann_from = "2000", 10, 20, 2000
        args.ann_threshold = 1000  # exercise citebot's IVF path too
        if "citebot" not in args.pipeline:
            args.pipeline += ",citebot"
    if args.one:
        print("RESULT " + json.dumps(run_size(args.one, args)), flush=True)
        return 0
    results = []
    jobs = [(n, p) for n in map(int, args.sizes.split(",")) for p in args.pipeline.split(",")]
    for n, pipe in jobs:
        print(f"size {n} {pipe}", flush=True)
        cmd = [sys.executable, "-m", "bench.speed", "--one", str(n), "--pipe", pipe] + [a for a in (argv or sys.argv[1:])]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=common.ROOT)
        line = next((l for l in p.stdout.splitlines() if l.startswith("RESULT ")), None)
        sys.stdout.write("".join(l + "\n" for l in p.stdout.splitlines() if not l.startswith("RESULT ")))
        if line is None:
            print(p.stderr[-3000:], file=sys.stderr)
            return 1
        results.append(json.loads(line[7:]))
    payload = {"machine": common.machine_info(), "command": "python -m bench.speed " + " ".join(argv or sys.argv[1:]),
               "results": results}
    tag = ("smoke" if args.smoke else "speed") + (f"-{args.tag}" if args.tag else "")
    common.write_json(args.out / f"{tag}.json", payload)
    (args.out / f"{tag}.md").write_text(markdown(payload), encoding="utf-8")
    print(markdown(payload))
    return 0


def markdown(p: dict) -> str:
    """Latency / memory / ANN tables."""
    lines = ["| system | passages | p50 ms | p99 ms | encode p50 ms | peak RSS GiB | load avg |", "|---|---|---|---|---|---|---|"]
    for r in p["results"]:
        for name, s in r["systems"].items():
            lines.append(f"| {name} | {r['size']:,} | {s['p50_ms']} | {s['p99_ms']} | {s.get('encode_p50_ms', '')} | "
                         f"{r['peak_rss_gib']} | {r.get('load1_start')}→{r.get('load1_end')} |")
    for r in p["results"]:
        a = r["systems"].get("citebot", {}).get("ann")
        if a:
            lines += ["", f"citebot IVF at {r['size']:,}: {a['nlist']} lists (fp16 codes), timed at nprobe={a['nprobe']}",
                      "", "| nprobe | recall@10 vs exact | search p50 ms |", "|---|---|---|"]
            lines += [f"| {k} | {v['recall@10']} | {v['search_ms_p50']} |" for k, v in a["sweep"].items()]
        for kind, a in r.get("ann", {}).items():
            lines += ["", f"{kind} at {r['size']:,}: build {a['build_s']} s, chosen {a['param']}={a['chosen']}",
                      "", f"| {a['param']} | recall@10 vs exact | search p50 ms |", "|---|---|---|"]
            lines += [f"| {k} | {v['recall@10']} | {v['search_ms_p50']} |" for k, v in a["sweep"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
