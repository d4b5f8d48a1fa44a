"""Ranking and abstention measured on every dev corpus at once (issue 11).

    python -m bench.generalize                         # table: naive peer, before, current defaults
    python -m bench.generalize --grid '{"title_weight": [0, 0.2, 0.4]}'   # sweep, per corpus + LOCO
    python -m bench.generalize --fit                   # refit the confidence models, LOCO check
    python -m bench.generalize --fit --devsets W --corpora seeds,gitdocs,scifact,cvs,gnuplot,debianfaq,fastifydocs
                                                       # the same over every dev corpus (W: a bench.devsets --work)

Corpora: ``seeds`` (dev questions + news-unanswerable), ``gitdocs`` (git's documentation, 45 + 8),
``scifact`` (BEIR SciFact train claims; a subsample unless ``--scifact-queries 0``). One index per
corpus is built once under ``--work`` (default /tmp/citebot-generalize); question vectors are cached
there and every question's candidate pool is kept in memory, so a sweep re-ranks in seconds.

Questions of one corpus asked of another are unanswerable there; they train and check the
confidence models beside each corpus's own off-topic questions.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.common import SHARED  # noqa: E402
from retrieval.query import confidence as conf  # noqa: E402
from retrieval.query.answer import answer  # noqa: E402
from retrieval.config import Settings  # noqa: E402
from retrieval.cli.evaluate import contains_gold, doc_matches  # noqa: E402
from retrieval.query.search import candidate_pool  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVAL = SHARED / "eval"

#: the peer everyone writes first: reciprocal-rank fusion of dense and BM25, the passage's closest
#: sentence as quote, a fixed cosine threshold (0.30) for abstention
NAIVE = {"fusion": "rrf", "dense_weight": 0.5, "sentence_weight": 0.0, "quote_lexical": 0.0, "type_weight": 0.0,
         "title_weight": 0.0, "doc_weight": 0.0, "page_weight": 0.0, "page_title_weight": 0.0,
         "page_dense_weight": 0.0, "section_title_weight": 0.0, "history_weight": 0.0, "join_chars": 0,
         "carried_gain": -1.0}
#: the defaults before issue 11 (ranking as in session 4, cosine ≥ 0.30 to answer)
BEFORE = {"fusion": "linear", "dense_weight": 0.6, "sentence_weight": 1.5, "quote_lexical": 0.1, "type_weight": 0.3,
          "title_weight": 0.0, "doc_weight": 0.0, "page_weight": 0.0, "page_title_weight": 0.0,
          "page_dense_weight": 0.0, "section_title_weight": 0.0, "history_weight": 0.0, "join_chars": 0,
          "carried_gain": -1.0}
OLD_THRESHOLD = 0.30


@dataclass
class Question:
    q: str
    gold: list[str] = field(default_factory=list)  # gold spans (passage-level corpora)
    docs: set = field(default_factory=set)  # relevant doc ids (SciFact)
    file: str | None = None
    kind: str | None = None
    source: str = ""  # the corpus the question was written for

    @property
    def answerable(self) -> bool:
        return bool(self.gold or self.docs)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text("utf-8").splitlines() if l.strip()]


def load_corpora(scifact_queries: int, seed: int = 0, devsets: Path | None = None) -> dict[str, dict]:
    """Corpus folder and questions of each dev corpus; with ``devsets`` (a ``bench.devsets --work``
    folder) also the documentation sets of bench/devsets/, with the indexes already built there."""
    seeds = [Question(r["q"], r["gold"], source="seeds") for r in _read_jsonl(EVAL / "dev-questions.jsonl")]
    seeds += [Question(r["q"], [], kind="unanswerable", source="seeds") for r in _read_jsonl(EVAL / "news-unanswerable.jsonl")]
    git = [Question(r["q"], r["gold"], file=r.get("file"), kind=r.get("kind"), source="gitdocs")
           for r in _read_jsonl(EVAL / "gitdocs" / "questions.jsonl")]
    sf = SHARED / "bench" / "scifact"
    qrels: dict[str, set] = {}
    for line in (sf / "qrels" / "train.tsv").read_text("utf-8").splitlines()[1:]:
        qid, did, score = line.split("\t")[:3]
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(did)
    texts = {r["_id"]: r["text"] for r in _read_jsonl(sf / "queries.jsonl")}
    ids = sorted(q for q in qrels if q in texts)
    if scifact_queries:
        ids = sorted(random.Random(seed).sample(ids, min(scifact_queries, len(ids))))
    sci = [Question(texts[q], docs=qrels[q], source="scifact") for q in ids]
    out = {"seeds": {"corpus": ROOT / "seeds", "questions": seeds},
           "gitdocs": {"corpus": EVAL / "gitdocs" / "corpus", "questions": git},
           "scifact": {"corpus": sf / "corpus.jsonl", "questions": sci}}
    if devsets is not None:
        from bench.devsets.__main__ import sets

        for name in ("seeds", "gitdocs"):
            if (devsets / "index" / name).is_dir():
                out[name]["index"] = devsets / "index" / name
        for name, (build, qfile) in sets().items():
            corpus = devsets / "corpora" / name
            if build is None or not corpus.is_dir():
                continue
            qs = [Question(r["q"], r.get("gold", []), file=r.get("file"), source=name,
                           kind=r.get("kind") if not r.get("gold") else None) for r in _read_jsonl(qfile)]
            out[name] = {"corpus": corpus, "questions": qs, "index": devsets / "index" / name}
    return out


class Bench:
    """Indexes, cached question vectors and candidate pools of every corpus."""

    def __init__(self, work: Path, scifact_queries: int = 200, cross: int = 40, only: list[str] | None = None,
                 devsets: Path | None = None):
        from retrieval.model.embeddings import Encoder
        from retrieval.engine import Engine

        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.corpora = {n: c for n, c in load_corpora(scifact_queries, devsets=devsets).items()
                        if not only or n in only}
        base = Settings()
        self.encoder = Encoder.shared(base.model, base.precision, base.batch_size)
        self.engines = {}
        for name, c in self.corpora.items():
            t0 = time.perf_counter()
            s = Settings.from_mapping({"corpus": c["corpus"], "index_dir": c.get("index", work / name)})
            self.engines[name] = Engine.open(s, encoder=self.encoder)
            print(f"[{name}] index ready in {time.perf_counter() - t0:.1f}s "
                  f"({self.engines[name].index.manifest['passages']} passages)", flush=True)
        self.candidates = base.candidates
        # every corpus answers its own questions; a sample of the others' questions is off-topic there
        self.asked: dict[str, list[Question]] = {}
        for name, c in self.corpora.items():
            own = c["questions"]
            foreign = []
            for other, o in self.corpora.items():
                if other != name:
                    qs = [q for q in o["questions"] if q.answerable]
                    foreign += [replace(q, gold=[], docs=set(), kind="foreign") for q in
                                random.Random(1).sample(qs, min(cross, len(qs)))]
            self.asked[name] = own + foreign
        self.vectors = self._vectors()
        self.pools = {name: [candidate_pool(self.engines[name].index, v, q.q, candidates=self.candidates)
                             for q, v in zip(self.asked[name], self.vectors[name])] for name in self.corpora}

    def _vectors(self) -> dict[str, np.ndarray]:
        out = {}
        for name, qs in self.asked.items():
            texts = [q.q for q in qs]
            key = hashlib.sha256(json.dumps([self.encoder.model_id if hasattr(self.encoder, "model_id") else "",
                                             texts]).encode()).hexdigest()[:16]
            path = self.work / f"qvec-{name}-{key}.npy"
            if path.exists():
                out[name] = np.load(path)
            else:
                out[name] = self.encoder.encode_queries(texts)
                np.save(path, out[name])
        return out

    def run(self, name: str, settings: Settings) -> list[dict]:
        """One record per asked question: the answer, its evidence and a document ranking."""
        eng = self.engines[name]
        index = eng.index
        out = []
        s = settings
        for q, v, pool in zip(self.asked[name], self.vectors[name], self.pools[name]):
            trace: dict = {}
            a = answer(index, q.q, v, s, k=5, pool=pool, trace=trace,  # the path ``ask`` takes
                       encode=self.encoder.encode_query)
            ranking = list(dict.fromkeys(x.row.doc_id for x in trace["ranking"].scored))
            out.append({"q": q, "answer": a, "ev": trace["evidence"], "pa": trace["p_answerable"],
                        "docs": ranking})
        return out


def _first_hit(q: Question, a) -> int | None:
    for r in a.results:
        if (q.gold and contains_gold(r.text, q.gold)) or (q.docs and r.doc_id in q.docs):
            return r.rank
    return None


def _ndcg10(q: Question, ranking: list[str]) -> float:
    dcg = sum(1 / np.log2(i + 2) for i, d in enumerate(ranking[:10]) if d in q.docs)
    ideal = sum(1 / np.log2(i + 2) for i in range(min(10, len(q.docs))))
    return dcg / ideal if ideal else 0.0


def metrics(records: list[dict], abstain=None) -> dict:
    """Figures of one corpus (its own questions; foreign ones only count as off-topic checks).

    ``abstain(rec) -> bool`` overrides the answer's own decision (the old cosine rule).
    """
    own = [r for r in records if r["q"].kind != "foreign"]
    foreign = [r for r in records if r["q"].kind == "foreign"]
    decide = abstain or (lambda r: not r["answer"].answered)
    ans = [r for r in own if r["q"].answerable]
    un = [r for r in own if not r["q"].answerable]
    m: dict = {"n": len(ans)}
    if ans:
        firsts = [_first_hit(r["q"], r["answer"]) for r in ans]
        m["R@1"] = np.mean([f == 1 for f in firsts])
        m["R@3"] = np.mean([f is not None and f <= 3 for f in firsts])
        m["MRR"] = np.mean([1 / f if f else 0 for f in firsts])
        if ans[0]["q"].gold:
            m["quote@1"] = np.mean([bool(r["answer"].results) and contains_gold(r["answer"].results[0].quote, r["q"].gold)
                                    for r in ans])
        if any(r["q"].file for r in ans):
            m["docR@1"] = np.mean([bool(r["answer"].results) and doc_matches(r["answer"].results[0], r["q"].file)
                                   for r in ans if r["q"].file])
        if ans[0]["q"].docs:
            m["nDCG@10"] = np.mean([_ndcg10(r["q"], r["docs"]) for r in ans])
        m["false_abst"] = sum(decide(r) for r in ans)
    off = [r for r in un if r["q"].kind != "unanswerable"]
    unans = [r for r in un if r["q"].kind == "unanswerable"]
    if off:
        m["offtopic"] = f"{sum(decide(r) for r in off)}/{len(off)}"
    if unans:
        m["unanswerable"] = f"{sum(decide(r) for r in unans)}/{len(unans)}"
    if foreign:
        m["foreign"] = f"{sum(decide(r) for r in foreign)}/{len(foreign)}"
    return m


def fmt(m: dict) -> str:
    keys = ["R@1", "R@3", "MRR", "quote@1", "docR@1", "nDCG@10", "false_abst", "offtopic", "unanswerable", "foreign"]
    return "  ".join(f"{k} {m[k]:.3f}" if isinstance(m.get(k), float) else f"{k} {m[k]}" for k in keys if k in m)


# -- confidence models --------------------------------------------------------------------------------

def design(records_by_corpus: dict[str, list[dict]]):
    """Feature matrix, labels (answerable, top correct), groups (corpus, source) and weights."""
    X, ya, yc, groups = [], [], [], []
    for name, recs in records_by_corpus.items():
        for r in recs:
            q = r["q"]
            X.append(r["ev"].vector())
            ya.append(q.answerable)
            yc.append(q.answerable and _first_hit(q, r["answer"]) == 1)
            # three classes weigh the same in each corpus: its answerable questions, its own unanswerable
            # and off-topic ones, and the other corpora's questions (shared equally among the sources)
            groups.append((name, q.source if q.kind == "foreign" else name, q.answerable))
    X, ya, yc = np.array(X), np.array(ya, float), np.array(yc, float)
    counts: dict = {}
    for g in groups:
        counts[g] = counts.get(g, 0) + 1
    sources = {}
    for g in counts:
        if g[0] != g[1]:
            sources[g[0]] = sources.get(g[0], 0) + 1
    w = np.array([1.0 / counts[g] / (sources[g[0]] if g[0] != g[1] else 1) for g in groups])
    return X, ya, yc, groups, w / w.mean()


def fit_logistic(X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Weighted L2-regularized logistic regression by Newton's method; returns [bias, *coefs]."""
    Z = np.hstack([np.ones((len(X), 1)), X])
    beta = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(Z @ beta, -40, 40)))
        g = Z.T @ (w * (p - y)) + reg * beta
        H = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(reg) + 1e-9 * np.eye(len(beta))
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


def as_coef(beta: np.ndarray) -> dict:
    return {"bias": float(beta[0]), **{f: float(b) for f, b in zip(conf.FEATURES, beta[1:])}}


DROP: set = set()  # features left out of the fit (--drop), for ablations


def fit(records_by_corpus: dict[str, list[dict]], exclude: str | None = None, l2: float = 1.0) -> tuple[dict, dict]:
    """Both models fitted on every corpus except ``exclude`` (rows involving it are left out)."""
    X, ya, yc, groups, w = design(records_by_corpus)
    X = X * np.array([f not in DROP for f in conf.FEATURES], float)
    keep = np.array([exclude not in (g[0], g[1]) for g in groups])
    pa = fit_logistic(X[keep], ya[keep], w[keep], l2)
    ans = keep & (ya == 1)
    pc = fit_logistic(X[ans], yc[ans], w[ans], l2)
    return as_coef(pa), as_coef(pc)


def rejudge(records: list[dict], coefs: tuple[dict, dict], threshold: float) -> None:
    """Recompute each record's probabilities and decision with other coefficients (in place)."""
    for r in records:
        pa, c = conf.calibrated(r["ev"], *coefs)
        r["pa"], r["answer"] = pa, replace(r["answer"], answered=bool(r["answer"].results) and pa >= threshold,
                                           confidence=c)


def calibration_table(records: list[dict], bins=(0, .2, .4, .6, .8, 1.0001)) -> list[str]:
    """Confidence bins against the observed share of questions whose top result is right."""
    rows = ["| confidence | questions | mean confidence | top result right |", "|---|---|---|---|"]
    conf_ = np.array([r["answer"].confidence for r in records])
    right = np.array([r["q"].answerable and _first_hit(r["q"], r["answer"]) == 1 for r in records], float)
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (conf_ >= lo) & (conf_ < hi)
        if m.any():
            rows.append(f"| {lo:.1f}–{min(hi, 1):.1f} | {int(m.sum())} | {conf_[m].mean():.2f} | {right[m].mean():.2f} |")
    return rows


def primary(m: dict) -> float:
    """The figure a corpus is judged by in the sweep: nDCG@10 where relevance is per document
    (SciFact), else the mean of MRR and quote-hit@1 (the passage and the quote both matter)."""
    return m["nDCG@10"] if "nDCG@10" in m else (m["MRR"] + m.get("quote@1", m["MRR"])) / 2


def loco(table: list[tuple[dict, dict]], names: list[str]) -> None:
    """Leave one corpus out: pick the setting best on the mean of the others, report it on the one left."""
    print("\nleave-one-corpus-out (pick on the others' mean primary figure, score on the one left out):")
    for held in names:
        others = [n for n in names if n != held]
        if not others:
            continue
        best = max(table, key=lambda row: np.mean([primary(row[1][n]) for n in others]))
        print(f"  {held:8s} picked {json.dumps(best[0])} on {'+'.join(others)}: {fmt(best[1][held])}")
    if len(names) > 1:
        best = max(table, key=lambda row: np.mean([primary(row[1][n]) for n in names]))
        print(f"  all      picked {json.dumps(best[0])}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/citebot-generalize"))
    ap.add_argument("--scifact-queries", type=int, default=200, help="SciFact train claims (0 = all 809)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="settings for the 'now' row")
    ap.add_argument("--grid", type=json.loads, default=None, help="JSON object of setting -> values to sweep")
    ap.add_argument("--fit", action="store_true", help="refit the confidence models (pooled + leave-one-out)")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--drop", default="", help="comma list of features left out of --fit (ablation)")
    ap.add_argument("--dump", type=Path, help="write every record's figures as JSONL here")
    ap.add_argument("--corpora", default="seeds,gitdocs,scifact", help="comma list (default: all three)")
    ap.add_argument("--devsets", type=Path, help="a `bench.devsets --work` folder: its sets join (name them in --corpora)")
    args = ap.parse_args(argv)
    b = Bench(args.work, args.scifact_queries, only=args.corpora.split(","), devsets=args.devsets)
    DROP.update(f for f in args.drop.split(",") if f)
    names = list(b.corpora)

    def settings(over: dict) -> Settings:
        return Settings.from_mapping({**over})

    now = dict(kv.split("=", 1) for kv in args.set)
    if args.grid:
        keys = list(args.grid)
        table = []
        for combo in itertools.product(*args.grid.values()):
            s = settings({**now, **dict(zip(keys, combo))})
            t0 = time.perf_counter()
            per = {n: metrics(b.run(n, s)) for n in names}
            table.append((dict(zip(keys, combo)), per))
            print(json.dumps(dict(zip(keys, combo))), f"({time.perf_counter() - t0:.1f}s)")
            for n in names:
                print(f"   {n:8s} {fmt(per[n])}")
        loco(table, names)
        return 0
    rows = {"naive": settings(NAIVE), "before": settings(BEFORE), "now": settings(now)}
    results = {label: {n: b.run(n, s) for n in names} for label, s in rows.items()}
    old_rule = lambda r: r["ev"].cosine < OLD_THRESHOLD  # noqa: E731
    for label in rows:
        for n in names:
            m = metrics(results[label][n], old_rule if label != "now" else None)
            print(f"{label:7s} {n:8s} {fmt(m)}")
    if args.fit:
        recs = results["now"]
        pooled = fit(recs, l2=args.l2)
        print("pooled answerable:", json.dumps({k: round(v, 3) for k, v in pooled[0].items()}))
        print("pooled correct:   ", json.dumps({k: round(v, 3) for k, v in pooled[1].items()}))
        thr = settings(now).abstain_threshold
        for held in names:
            coefs = fit(recs, exclude=held, l2=args.l2)
            rejudge(recs[held], coefs, thr)
            for r in recs[held]:
                r["pa_loco"] = r["pa"]
            print(f"LOCO {held:8s} {fmt(metrics(recs[held]))}")
            print("\n".join(calibration_table([r for r in recs[held] if r["q"].kind != "foreign"])))
        print("threshold sweep, leave-one-corpus-out probabilities (false abstentions / off-topic / unanswerable / foreign):")
        for t in (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6):
            cells = []
            for n in names:
                m = metrics(recs[n], lambda r, t=t: r["pa_loco"] < t)
                cells.append(f"{n} FA {m.get('false_abst')}/{m['n']} off {m.get('offtopic', '-')} "
                             f"un {m.get('unanswerable', '-')} fr {m.get('foreign', '-')}")
            print(f"  {t:.2f}  " + " | ".join(cells))
        for n in names:
            rejudge(recs[n], pooled, thr)
            print(f"pooled {n:8s} {fmt(metrics(recs[n]))}")
    for n in names:
        print(f"\ncalibration, {n} (own questions, current coefficients or --fit pooled):")
        print("\n".join(calibration_table([r for r in results["now"][n] if r["q"].kind != "foreign"])))
    if args.dump:
        with open(args.dump, "w", encoding="utf-8") as f:
            for n in names:
                for r in results["now"][n]:
                    a = r["answer"]
                    f.write(json.dumps({"corpus": n, "q": r["q"].q, "source": r["q"].source, "kind": r["q"].kind,
                                        "answerable": r["q"].answerable, "first_hit": _first_hit(r["q"], a),
                                        "answered": a.answered, "pa": round(r["pa"], 4), "conf": round(a.confidence, 4),
                                        "reason": a.reason, "ev": dict(zip(conf.FEATURES, r["ev"].vector().round(4))),
                                        "absent": r["ev"].absent_words,
                                        "top": a.results[0].doc_id if a.results else None}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
