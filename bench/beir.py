"""BEIR benchmark: nDCG@10 and R@100 of dense-only, BM25-only and hybrid retrieval.

    .venv/bin/python -m bench.beir                          # SciFact train split, naive pipeline
    .venv/bin/python -m bench.beir --pipeline naive,tuned,citebot
    .venv/bin/python -m bench.beir --smoke                  # 100 docs / 15 queries, seconds

Pipelines
---------
``naive`` is the peer everyone would write first: sentence-transformers all-MiniLM-L6-v2 on
``title + " " + text`` (truncated at the model's 256 word pieces), a flat FAISS inner-product index,
bm25s (Lucene BM25, k1=1.5, b=0.75 — bm25s defaults) over title+text with the PyStemmer English
stemmer and English stopwords, and reciprocal rank fusion (k=60) of each side's top 100.

``tuned`` is the same code with the settings found best on the SciFact *train* split (see
``TUNED`` and bench/RESULTS.md for the experiments). ``citebot`` runs the project's own engine
through ``CitebotPipeline`` once ``retrieval/engine.py`` exists.

Passages: with ``passage_tokens > 0`` a document longer than that many word pieces is split into
passages at sentence boundaries (greedy packing; a sentence longer than the budget is cut into
word windows); each passage may carry the title. A document's dense score is an aggregate of its
passages' cosines: ``max`` (default) or ``sum``/``mean2`` (mean of the best two).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from bench import common
from bench.metrics import evaluate

MODES = ("dense", "bm25", "hybrid")


# ---------------------------------------------------------------- data

@dataclass
class BeirData:
    """A BEIR dataset split: corpus ``{id: {"title", "text"}}``, queries ``{id: text}``, qrels."""

    corpus: dict[str, dict]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    folder: Path
    split: str

    @property
    def doc_ids(self) -> list[str]:
        return list(self.corpus)


def load_beir(folder: Path, split: str = "train") -> BeirData:
    """Load ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``; keep only judged queries."""
    folder = Path(folder)
    corpus: dict[str, dict] = {}
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                corpus[str(d["_id"])] = {"title": d.get("title") or "", "text": d.get("text") or ""}
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header "query-id corpus-id score"
            qid, did, score = parts[0], parts[1], int(parts[-1])
            qrels.setdefault(qid, {})[did] = score
    queries: dict[str, str] = {}
    with open(folder / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                if str(q["_id"]) in qrels:
                    queries[str(q["_id"])] = q["text"]
    qrels = {q: r for q, r in qrels.items() if q in queries}
    return BeirData(corpus, queries, qrels, folder, split)


def subset(data: BeirData, n_docs: int = 200, n_queries: int = 30, seed: int = 0) -> BeirData:
    """A small, still meaningful slice: the first ``n_queries`` judged queries, their relevant docs,
    and random other docs up to ``n_docs``."""
    rng = np.random.default_rng(seed)
    qids = sorted(data.queries, key=lambda q: (len(q), q))[:n_queries]
    keep = {d for q in qids for d in data.qrels[q] if d in data.corpus}
    others = [d for d in data.corpus if d not in keep]
    rng.shuffle(others)
    keep |= set(others[: max(0, n_docs - len(keep))])
    corpus = {d: data.corpus[d] for d in data.corpus if d in keep}
    return BeirData(corpus, {q: data.queries[q] for q in qids}, {q: data.qrels[q] for q in qids},
                    data.folder, data.split)


# ---------------------------------------------------------------- pipeline protocol

class Pipeline(Protocol):
    """What the harness needs from a system under test."""

    name: str

    def index(self, data: BeirData, workdir: Path) -> dict:
        """Index ``data.corpus``; return facts to report (e.g. seconds, passages)."""

    def search(self, queries: dict[str, str], mode: str, n: int) -> dict[str, dict[str, float]]:
        """Top ``n`` doc ids with scores for each query; ``mode`` is dense, bm25 or hybrid."""


# ---------------------------------------------------------------- naive / tunable pipeline

@dataclass
class NaiveConfig:
    """Every knob the experiments turn. Defaults = the naive peer pipeline."""

    precision: str = "fp32"
    # dense side
    dense_title: str = "prefix"  # prefix: title + " " + text | none: text only
    passage_tokens: int = 0  # 0: one vector per doc (truncated at 256); else passage budget
    passage_title: bool = True  # prepend the title to every passage
    dense_agg: str = "max"  # max | sum | mean2
    sent_weight: float = 0.0  # dense doc score += w * max cosine of its sentences (each encoded alone)
    dense_mix: str = ""  # "", "doc-text" or "doc-title": blend in a second, whole-doc vector (truncated)
    dense_mix_weight: float = 0.5  # dense = (1 - w) * primary + w * cos(q, second vector)
    # BM25 side
    bm25_title: int = 1  # copies of the title in the BM25 text (0 = text only)
    k1: float = 1.5
    b: float = 0.75
    stem: bool = True
    stopwords: bool = True
    # fusion
    fusion: str = "rrf"  # rrf | minmax | zscore
    rrf_k: int = 60
    dense_weight: float = 0.5
    candidates: int = 100
    # pseudo-relevance feedback (0 docs = off); source: own side's first pass or the hybrid's
    rocchio_docs: int = 0
    rocchio_beta: float = 0.5
    rm3_docs: int = 0
    rm3_terms: int = 10
    rm3_orig_weight: float = 0.5
    prf_source: str = "self"  # self | hybrid


#: best settings found on the SciFact train split (bench/beir_tune.py at tag experiments-2026-12; bench/RESULTS.md, "Experiments"):
#: dense on <=128-token passages with the title, max over passages, plus 0.5 x the best single
#: sentence's cosine and 0.3 x a text-only whole-doc vector; BM25 k1=0.9 b=0.4 on title+text,
#: stemmed, stopwords kept; z-score fusion of each side's top 1000 with dense weight 0.6.
TUNED = NaiveConfig(passage_tokens=128, sent_weight=0.5, dense_mix="doc-text", dense_mix_weight=0.3,
                    k1=0.9, b=0.4, stopwords=False, fusion="zscore", dense_weight=0.6, candidates=1000)

_SENT = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Sentence split good enough for abstracts (a period followed by a capital or digit)."""
    return [s for s in _SENT.split(text.strip()) if s]


def split_passages(title: str, text: str, tokenizer, budget: int, with_title: bool) -> list[str]:
    """Split a document into passages of at most ``budget`` word pieces (CLS/SEP included).

    Sentences are packed greedily; a sentence longer than the budget is cut into word windows.
    The title, when ``with_title``, is prepended to every passage and counts against the budget.
    """
    head = f"{title} " if (with_title and title) else ""
    room = budget - 2 - (len(tokenizer.tokenize(head)) if head else 0)
    room = max(room, 16)
    sents = split_sentences(text) or [text]
    lens = [len(t) for t in tokenizer(sents, add_special_tokens=False)["input_ids"]]
    if sum(lens) <= room:
        return [head + text.strip()]
    pieces: list[tuple[str, int]] = []
    for s, n in zip(sents, lens):
        if n <= room:
            pieces.append((s, n))
            continue
        words, cur, cur_n = s.split(), [], 0
        for w in words:  # cut an over-long sentence into word windows
            wn = len(tokenizer.tokenize(w))
            if cur and cur_n + wn > room:
                pieces.append((" ".join(cur), cur_n))
                cur, cur_n = [], 0
            cur.append(w)
            cur_n += wn
        if cur:
            pieces.append((" ".join(cur), cur_n))
    out, cur, cur_n = [], [], 0
    for s, n in pieces:
        if cur and cur_n + n > room:
            out.append(head + " ".join(cur))
            cur, cur_n = [], 0
        cur.append(s)
        cur_n += n
    if cur:
        out.append(head + " ".join(cur))
    return out


def _topk_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest entries of each row, best first."""
    k = min(k, scores.shape[1])
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, idx, 1), axis=1, kind="stable")
    return np.take_along_axis(idx, order, 1)


def fuse(dense: np.ndarray, bm25: np.ndarray, cfg: NaiveConfig) -> np.ndarray:
    """Fused (queries x docs) scores from each side's top ``cfg.candidates``; -inf outside the union.

    rrf: w_d * 2/(k + rank_d) + w_b * 2/(k + rank_b) (w = 0.5 is plain RRF up to a factor).
    minmax / zscore: each side's candidate scores are normalised over that candidate list
    (min-max to [0, 1], or to zero mean / unit std); a doc missing on one side gets that side's
    lowest normalised candidate score; then w_d * dense + w_b * bm25.
    """
    nq, nd = dense.shape
    wd, wb = cfg.dense_weight, 1.0 - cfg.dense_weight
    out = np.zeros((nq, nd), np.float64)
    member = np.zeros((nq, nd), bool)
    rows = np.arange(nq)[:, None]
    for side, w in ((dense, wd), (bm25, wb)):
        top = _topk_rows(side, cfg.candidates)
        member[rows, top] = True
        vals = np.take_along_axis(side, top, 1).astype(np.float64)
        if cfg.fusion == "rrf":
            contrib = np.zeros((nq, nd))
            contrib[rows, top] = 2.0 / (cfg.rrf_k + np.arange(1, top.shape[1] + 1))[None, :]
        else:
            if cfg.fusion == "minmax":
                lo, hi = vals.min(1, keepdims=True), vals.max(1, keepdims=True)
                norm = (vals - lo) / np.maximum(hi - lo, 1e-9)
            elif cfg.fusion == "zscore":
                mu, sd = vals.mean(1, keepdims=True), vals.std(1, keepdims=True)
                norm = (vals - mu) / np.maximum(sd, 1e-9)
            else:
                raise ValueError(f"unknown fusion {cfg.fusion!r}")
            contrib = np.repeat(norm.min(1, keepdims=True), nd, axis=1)
            contrib[rows, top] = norm
        out += w * contrib
    out[~member] = -np.inf
    return out


class NaivePipeline:
    """The peer pipeline (ST + flat FAISS + bm25s), with every experiment knob in ``cfg``.

    It scores all documents for every query (exact, queries x docs matrices), which is fine for
    BEIR-sized corpora up to ~100k documents; the speed benchmark measures the online path.
    """

    def __init__(self, cfg: NaiveConfig | None = None, name: str = "naive", cache: common.EmbeddingCache | None = None):
        self.cfg = cfg or NaiveConfig()
        self.name = name
        self.cache = cache or common.EmbeddingCache(self.cfg.precision)
        self._memo: dict = {}

    # -- indexing
    def index(self, data: BeirData, workdir: Path | None = None) -> dict:
        """Embed passages (cached), build the FAISS flat index and the bm25s index."""
        import faiss

        t0 = time.perf_counter()
        self.data = data
        self.doc_ids = data.doc_ids
        cfg = self.cfg
        texts, owner = self._dense_texts()
        self.pass_owner = np.asarray(owner, np.int64)
        vecs = self.cache.embed(texts)
        self.pass_vecs = vecs
        self.faiss = faiss.IndexFlatIP(vecs.shape[1])
        self.faiss.add(vecs)
        # doc vectors for Rocchio: normalised mean of a doc's passages
        dv = np.zeros((len(self.doc_ids), vecs.shape[1]), np.float64)
        np.add.at(dv, self.pass_owner, vecs)
        self.doc_vecs = (dv / np.linalg.norm(dv, axis=1, keepdims=True)).astype(np.float32)
        if cfg.dense_mix:
            c = self.data.corpus
            self.mix_vecs = self.cache.embed([c[d]["text"] if cfg.dense_mix == "doc-text" else f"{c[d]['title']} {c[d]['text']}".strip()
                                              for d in self.doc_ids])
        if cfg.sent_weight:
            sents, sowner = [], []
            for i, d in enumerate(self.doc_ids):
                ss = split_sentences(self.data.corpus[d]["text"]) or [self.data.corpus[d]["text"]]
                sents += ss
                sowner += [i] * len(ss)
            self.sent_vecs = self.cache.embed(sents)
            # sentences of a doc are contiguous: per-doc max via reduceat over these offsets
            self.sent_starts = np.searchsorted(np.asarray(sowner), np.arange(len(self.doc_ids)))
        self._build_bm25()
        return {"passages": len(texts), "docs": len(self.doc_ids), "index_seconds": time.perf_counter() - t0,
                "encoded_now": self.cache.encoded}

    def _dense_texts(self) -> tuple[list[str], list[int]]:
        cfg = self.cfg
        texts, owner = [], []
        tok = self.cache.model.tokenizer if cfg.passage_tokens else None
        for i, d in enumerate(self.doc_ids):
            doc = self.data.corpus[d]
            title = doc["title"] if cfg.dense_title == "prefix" else ""
            if cfg.passage_tokens:
                ps = split_passages(title, doc["text"], tok, cfg.passage_tokens, cfg.passage_title)
            else:
                ps = [f"{title} {doc['text']}".strip()]
            texts += ps
            owner += [i] * len(ps)
        return texts, owner

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s
        import Stemmer

        stemmer = Stemmer.Stemmer("english") if self.cfg.stem else None
        return bm25s.tokenize(texts, stopwords="english" if self.cfg.stopwords else None, stemmer=stemmer,
                              return_ids=False, show_progress=False)

    def _build_bm25(self) -> None:
        import bm25s
        import scipy.sparse as sp

        cfg = self.cfg
        texts = [" ".join([self.data.corpus[d]["title"]] * cfg.bm25_title + [self.data.corpus[d]["text"]])
                 for d in self.doc_ids]
        toks = self._tokenize(texts)
        self.bm25 = bm25s.BM25(k1=cfg.k1, b=cfg.b, method="lucene")
        self.bm25.index(toks, show_progress=False)
        s = self.bm25.scores
        vocab = self.bm25.vocab_dict
        # bm25s stores token -> (doc, weight) postings: a CSR matrix of vocab x docs.
        self.bm25_mat = sp.csr_matrix((s["data"], s["indices"], s["indptr"]), shape=(len(s["indptr"]) - 1, s["num_docs"]))
        # term frequencies and lengths for RM3
        rows, cols = [], []
        for i, t in enumerate(toks):
            ids = [vocab[w] for w in t if w in vocab]
            rows += [i] * len(ids)
            cols += ids
        self.tf = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(toks), self.bm25_mat.shape[0]))
        self.doc_len = np.maximum(np.asarray(self.tf.sum(1)).ravel(), 1.0)

    # -- scoring (queries x docs)
    def _query_weights(self, queries: list[str]):
        import scipy.sparse as sp

        vocab = self.bm25.vocab_dict
        rows, cols = [], []
        for i, t in enumerate(self._tokenize(queries)):
            ids = [vocab[w] for w in t if w in vocab]  # duplicates count twice, as in bm25s
            rows += [i] * len(ids)
            cols += ids
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(queries), self.bm25_mat.shape[0]))

    def bm25_scores(self, qw) -> np.ndarray:
        """BM25 scores of weighted queries (rows of ``qw`` over the vocabulary)."""
        return np.asarray((qw @ self.bm25_mat).todense(), np.float32)

    def dense_scores(self, qv: np.ndarray) -> np.ndarray:
        """Doc scores from passage cosines via the flat FAISS index (all passages, exact)."""
        n = self.faiss.ntotal
        D, I = self.faiss.search(np.ascontiguousarray(qv, np.float32), n)
        nq = len(qv)
        owner = self.pass_owner[I]
        rows = np.repeat(np.arange(nq), n)
        agg = self.cfg.dense_agg
        if agg == "max" or n == len(self.doc_ids):
            out = np.full((nq, len(self.doc_ids)), -np.inf, np.float32)
            np.maximum.at(out, (rows, owner.ravel()), D.ravel())
        elif agg == "sum":
            out = np.zeros((nq, len(self.doc_ids)), np.float32)
            np.add.at(out, (rows, owner.ravel()), D.ravel())
        elif agg == "mean2":  # mean of a doc's best two passages (a single passage counts once)
            best = np.full((nq, len(self.doc_ids)), -np.inf, np.float32)
            second = np.full_like(best, -np.inf)
            for r in range(nq):  # D is sorted: a doc's first hit is its best passage, the next its second
                o = owner[r]
                _, first = np.unique(o, return_index=True)
                best[r, o[first]] = D[r, first]
                rest = np.ones(n, bool)
                rest[first] = False
                o2, d2 = o[rest], D[r, rest]
                _, f2 = np.unique(o2, return_index=True)
                second[r, o2[f2]] = d2[f2]
            out = np.where(np.isinf(second), best, (best + second) / 2)
        else:
            raise ValueError(f"unknown dense_agg {agg!r}")
        if self.cfg.dense_mix:
            w = self.cfg.dense_mix_weight
            out = (1 - w) * out + w * (qv @ self.mix_vecs.T)
        if self.cfg.sent_weight:
            sims = qv @ self.sent_vecs.T
            out = out + self.cfg.sent_weight * np.maximum.reduceat(sims, self.sent_starts, axis=1)
        return out

    def all_scores(self, queries: dict[str, str]) -> dict[str, np.ndarray]:
        """Dense, BM25 and hybrid (queries x docs) matrices, with PRF applied as configured."""
        key = tuple(queries)
        if key not in self._memo:  # first-pass scores depend only on the index knobs
            texts = list(queries.values())
            qv = self.cache.embed(texts)
            qw = self._query_weights(texts)
            self._memo = {key: (qv, qw, self.dense_scores(qv), self.bm25_scores(qw))}
        qv, qw, dense, bm25 = self._memo[key]
        cfg = self.cfg
        if cfg.rocchio_docs or cfg.rm3_docs:
            src_d = src_b = None
            if cfg.prf_source == "hybrid":
                src_d = src_b = fuse(dense, bm25, cfg)
            if cfg.rocchio_docs:
                dense = self.dense_scores(self.rocchio(qv, src_d if src_d is not None else dense))
            if cfg.rm3_docs:
                bm25 = self.bm25_scores(self.rm3(qw, src_b if src_b is not None else bm25))
        return {"dense": dense, "bm25": bm25, "hybrid": fuse(dense, bm25, cfg)}

    def rocchio(self, qv: np.ndarray, first: np.ndarray) -> np.ndarray:
        """q' = normalise(q + beta * mean of the top-m feedback documents' vectors)."""
        top = _topk_rows(first, self.cfg.rocchio_docs)
        q2 = qv + self.cfg.rocchio_beta * self.doc_vecs[top].mean(1)
        return (q2 / np.linalg.norm(q2, axis=1, keepdims=True)).astype(np.float32)

    def rm3(self, qw, first: np.ndarray):
        """RM3: expansion terms from the top-m docs, P(t|R) = sum_d w_d * tf(t,d)/|d| with w_d the
        doc's first-pass score normalised over the m docs; keep the top terms, renormalise, and mix
        with the original query (normalised to sum 1) at ``rm3_orig_weight``."""
        import scipy.sparse as sp

        cfg = self.cfg
        top = _topk_rows(first, cfg.rm3_docs)
        s = np.take_along_axis(first, top, 1).astype(np.float64)
        s = s - s.min(1, keepdims=True) + 1e-6 if cfg.prf_source == "hybrid" else np.maximum(s, 1e-6)
        w = s / s.sum(1, keepdims=True)
        tfn = sp.diags(1.0 / self.doc_len) @ self.tf
        orig = np.asarray(qw.todense(), np.float64)
        orig /= np.maximum(orig.sum(1, keepdims=True), 1e-9)
        new = np.zeros_like(orig)
        for i in range(len(top)):
            p = np.asarray((sp.csr_matrix(w[i][None, :]) @ tfn[top[i]]).todense()).ravel()
            keep = np.argpartition(-p, cfg.rm3_terms)[: cfg.rm3_terms]
            e = np.zeros_like(p)
            e[keep] = p[keep]
            e /= max(e.sum(), 1e-9)
            new[i] = cfg.rm3_orig_weight * orig[i] + (1 - cfg.rm3_orig_weight) * e
        return sp.csr_matrix(new.astype(np.float32))

    def search(self, queries: dict[str, str], mode: str, n: int = 100) -> dict[str, dict[str, float]]:
        """Top ``n`` documents per query for ``mode``."""
        m = self.all_scores(queries)[mode]
        top = _topk_rows(m, n)
        out = {}
        for qi, qid in enumerate(queries):
            out[qid] = {self.doc_ids[j]: float(m[qi, j]) for j in top[qi] if np.isfinite(m[qi, j])}
        return out


# ---------------------------------------------------------------- citebot's own pipeline

class CitebotPipeline:
    """citebot's own pipeline through ``retrieval.engine.Engine`` (index build, encoder, ranking).

    The corpus JSONL is indexed as ``citebot index`` would (cleaning, passages of at most
    ``passage_tokens`` word pieces split at sentence boundaries, bf16 where native). Per query,
    ``Engine.rank`` ranks exactly as ``ask`` does (one ranking path: candidate pool, page evidence,
    the first 30 passages quoted and rescored); a document's rank is its first passage's. For R@100
    the pool is deepened to ``max(candidates, 500)`` passages per side and read beyond the quoted 30
    in fused order.
    """

    name = "citebot"
    deep_pool = 500

    def __init__(self, settings_overrides: dict | None = None, name: str = "citebot"):
        try:
            from retrieval import engine  # noqa: F401
        except ImportError as e:
            raise RuntimeError(f"citebot engine not available ({e}); run with --pipeline naive") from None
        self.overrides = settings_overrides or {}
        self.name = name

    def index(self, data: BeirData, workdir: Path) -> dict:
        """Build (or reuse) a citebot index of ``data.corpus`` under ``workdir``."""
        from retrieval.config import Settings
        from retrieval.engine import Engine

        workdir.mkdir(parents=True, exist_ok=True)
        src = data.folder / "corpus.jsonl"
        if len(data.corpus) != sum(1 for _ in open(src, encoding="utf-8") if _.strip()):
            src = workdir / "corpus.jsonl"  # a subset: a gitignored copy under bench/out
            with open(src, "w", encoding="utf-8") as f:
                for d, doc in data.corpus.items():
                    f.write(json.dumps({"_id": d, "title": doc["title"], "text": doc["text"]}) + "\n")
        # defaults + --set overrides only: a citebot.toml or CITEBOT_* variable must not change a benchmark
        self.settings = Settings.from_mapping({"corpus": src, "index_dir": workdir / "index", **self.overrides})
        t0 = time.perf_counter()
        self.engine = Engine.open(self.settings)
        secs = time.perf_counter() - t0
        self.pass_doc = self.engine.passage_documents()
        st = self.engine.stats()
        return {"open_or_build_seconds": round(secs, 1), "passages": st["passages"], "docs": st["documents"],
                "precision": st.get("precision"), "settings": {k: str(v) for k, v in vars(self.settings).items()}}

    def search(self, queries: dict[str, str], mode: str, n: int = 100) -> dict[str, dict[str, float]]:
        """Top ``n`` docs per query, in the order of their best passage in ``ask``'s ranking."""
        from retrieval.engine import clean_question

        s, eng = self.settings, self.engine
        deep = n > 10
        if deep:  # a deeper pool for R@100 only; the top 10 is ranked from the pool ``ask`` uses
            eng.settings = replace(s, candidates=max(s.candidates, self.deep_pool))
        try:
            texts = [clean_question(q, s.max_question_chars) for q in queries.values()]
            qvecs = eng.encoder.encode_queries(texts)
            out: dict[str, dict[str, float]] = {}
            for qid, q, qv in zip(queries, texts, qvecs):
                r = eng.rank(q, qv, mode=mode, deep=deep)
                order = [self.pass_doc[x.cand.id] for x in r.scored] + [self.pass_doc[c.id] for c in r.rest]
                docs = list(dict.fromkeys(order))[:n]
                out[qid] = {d: float(n - i) for i, d in enumerate(docs)}
        finally:
            eng.settings = s
        return out


# ---------------------------------------------------------------- runner

def run_pipeline(pipe, data: BeirData, workdir: Path, modes=MODES) -> dict:
    """Index, search every mode and evaluate; returns metrics and timings."""
    info = pipe.index(data, workdir)
    res = {"pipeline": pipe.name, "index": info, "modes": {}}
    if hasattr(pipe, "cfg"):
        res["config"] = asdict(pipe.cfg)
    for mode in modes:
        t0 = time.perf_counter()
        top10 = pipe.search(data.queries, mode, 10)  # what an answer uses
        secs = time.perf_counter() - t0
        top100 = pipe.search(data.queries, mode, 100)  # deeper pool where the pipeline has one
        ev10 = evaluate(top10, data.qrels, ks_ndcg=(10,), ks_recall=(10,))
        ev100 = evaluate(top100, data.qrels, ks_ndcg=(10,), ks_recall=(100,))
        res["modes"][mode] = {"nDCG@10": round(ev10["nDCG@10"], 4), "R@100": round(ev100["R@100"], 4),
                              "queries": ev10["queries"], "search_seconds": round(secs, 2),
                              "per_query_ndcg10": {q: round(v["nDCG@10"], 4) for q, v in ev10["per_query"].items()}}
    return res


def paired_delta(a: dict[str, float], b: dict[str, float], rounds: int = 2000, seed: int = 0) -> dict:
    """Mean per-query difference b - a with a 95% bootstrap interval over queries."""
    qs = sorted(set(a) & set(b))
    d = np.array([b[q] - a[q] for q in qs])
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), (rounds, len(d)))].mean(1)
    return {"delta": round(float(d.mean()), 4), "ci95": [round(float(np.percentile(boots, 2.5)), 4),
                                                          round(float(np.percentile(boots, 97.5)), 4)],
            "queries": len(qs)}


def markdown(results: list[dict], data_desc: str) -> str:
    """A markdown table of the results."""
    lines = [f"BEIR {data_desc}", "", "| pipeline | mode | nDCG@10 | R@100 | queries |", "|---|---|---|---|---|"]
    for r in results:
        for mode, m in r["modes"].items():
            lines.append(f"| {r['pipeline']} | {mode} | {m['nDCG@10']:.4f} | {m['R@100']:.4f} | {m['queries']} |")
    return "\n".join(lines) + "\n"


def make_pipeline(name: str, precision: str, overrides: dict | None = None):
    """``naive``, ``tuned`` or ``citebot`` (``overrides``: citebot Settings fields)."""
    if name == "naive":
        return NaivePipeline(NaiveConfig(precision=precision), "naive")
    if name == "tuned":
        return NaivePipeline(replace(TUNED, precision=precision), "tuned")
    if name == "citebot":
        return CitebotPipeline(overrides)
    raise SystemExit(f"unknown pipeline {name!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=common.DEFAULT_DATA, help="BEIR folder (default: ../shared/bench/scifact)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--pipeline", default="naive", help="comma list of naive, tuned, citebot")
    ap.add_argument("--precision", default="fp32", help="fp32, bf16-autocast, auto (encoder for naive/tuned)")
    ap.add_argument("--smoke", action="store_true", help="100 docs / 15 queries")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="citebot Settings override, e.g. --set fusion=rrf (repeatable)")
    ap.add_argument("--out", type=Path, default=common.OUT / "beir")
    args = ap.parse_args(argv)
    overrides = dict(kv.split("=", 1) for kv in args.set)

    data = load_beir(args.data, args.split)
    if args.smoke:  # the wiring, not a figure: small enough for every CI run
        data = subset(data, n_docs=100, n_queries=15)
    desc = f"{args.data.name} {args.split}: {len(data.corpus)} docs, {len(data.queries)} queries" + (" (smoke)" if args.smoke else "")
    precision = common.resolve_precision(args.precision)
    tag = f"{args.data.name}-{args.split}" + ("-smoke" if args.smoke else "")
    results = []
    for name in args.pipeline.split(","):
        pipe = make_pipeline(name.strip(), precision, overrides)
        r = run_pipeline(pipe, data, args.out / f"work-{name}-{tag}")
        results.append(r)
        print(markdown([r], desc), flush=True)
    comparisons = {}
    for r in results[1:]:  # each pipeline against the first one, hybrid and per mode
        for mode in MODES:
            comparisons[f"{r['pipeline']} - {results[0]['pipeline']} ({mode})"] = paired_delta(
                results[0]["modes"][mode]["per_query_ndcg10"], r["modes"][mode]["per_query_ndcg10"])
    for k, v in comparisons.items():
        print(f"nDCG@10 {k}: {v['delta']:+.4f} (95% CI {v['ci95'][0]:+.4f} .. {v['ci95'][1]:+.4f})")
    payload = {"dataset": desc, "comparisons": comparisons, "machine": common.machine_info(), "command": " ".join(["python -m bench.beir"] + (argv if argv is not None else sys.argv[1:])),
               "results": results}
    name = f"{tag}-{args.pipeline.replace(',', '+')}" + ("-" + "-".join(args.set).replace("=", "") if args.set else "") 
    common.write_json(args.out / f"{name}.json", payload)
    (args.out / f"{name}.md").write_text(markdown(results, desc), encoding="utf-8")
    print(f"wrote {args.out / (name + '.json')} and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
