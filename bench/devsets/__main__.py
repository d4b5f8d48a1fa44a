"""Every dev corpus at once: strict figures beside the naive peer, and reply sheets to read and judge.

    python -m bench.devsets                              # all sets: table of citebot vs naive
    python -m bench.devsets --sets cvs,gitdocs --sheets DIR   # also write each reply as a user sees it

Sets: ``seeds`` and ``gitdocs`` from ../shared/eval, and every folder of bench/devsets/ with a
``build.sh`` (run once into ``--work``/corpora/NAME from its Debian or npm package) and a
``questions.jsonl``. One index per set under ``--work``/index/NAME, brought up to date at each run (a
reader change re-parses; unchanged passages keep their vectors). The naive peer is bench.generalize's
(reciprocal-rank fusion, the closest sentence as quote, no page or title evidence) on the same index.
A question's ``kind`` of ``unanswerable`` or ``off-topic`` is counted apart: both should abstain.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.common import SHARED  # noqa: E402
from retrieval.cli.evaluate import evaluate, load_questions  # noqa: E402
from retrieval.config import Settings  # noqa: E402
from retrieval.errors import IndexMissing  # noqa: E402

HERE = Path(__file__).resolve().parent


def sets() -> dict[str, tuple[Path | None, Path]]:
    """name → (build script or None for a ready folder, questions file); ready folders from shared/."""
    out: dict[str, tuple[Path | None, Path]] = {
        "seeds": (None, SHARED / "eval" / "dev-questions.jsonl"),
        "gitdocs": (None, SHARED / "eval" / "gitdocs" / "questions.jsonl"),
    }
    for d in sorted(HERE.iterdir()):
        if (d / "build.sh").is_file() and (d / "questions.jsonl").is_file():
            out[d.name] = (d / "build.sh", d / "questions.jsonl")
    return out


def corpus_of(name: str, build: Path | None, work: Path) -> Path:
    if name == "seeds":
        return SHARED / "seeds"
    if name == "gitdocs":
        return SHARED / "eval" / "gitdocs" / "corpus"
    out = work / "corpora" / name
    if not out.is_dir() or not any(out.iterdir()):
        subprocess.run(["bash", str(build), str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def questions_of(name: str, path: Path) -> list[dict]:
    qs = load_questions(path)
    if name == "seeds":  # the news set's in-domain unanswerable questions live in their own file
        qs += [dict(q, kind="unanswerable") for q in load_questions(SHARED / "eval" / "news-unanswerable.jsonl")]
    return qs


def figures(questions: list[dict], answers) -> dict:
    rep = evaluate(questions, answers, by_kind=False).to_dict()
    row = {k: rep[k] for k in ("R@1", "R@3", "R@5", "MRR", "quote_hit@1") if k in rep}
    row["false_abstentions"] = f"{rep['false_abstentions']}/{rep['answerable']}"
    for kind in ("unanswerable", "off-topic"):
        idx = [i for i, q in enumerate(questions) if not q["gold"] and q.get("kind", "off-topic") == kind]
        if idx:
            row[kind] = f"{sum(not answers[i].answered for i in idx)}/{len(idx)}"
    return row


def sheet(questions: list[dict], answers) -> str:
    """Each question with its gold and the reply as ``citebot ask`` prints it, to read and judge."""
    from retrieval.cli.render import answer_text

    parts = []
    for n, (q, a) in enumerate(zip(questions, answers), 1):
        head = f"### {n} [{q.get('kind', '')}] file: {q.get('file', '-')}\nQ: {q['q']}\ngold: {json.dumps(q['gold'], ensure_ascii=False)}"
        parts.append(head + "\n" + answer_text(a, width=110))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", help="comma-separated set names (default: all)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/citebot-devsets"))
    ap.add_argument("--sheets", type=Path, help="write NAME.txt reply sheets (citebot's replies) here")
    ap.add_argument("--no-naive", action="store_true", help="citebot only")
    ap.add_argument("--json", action="store_true", help="one JSON object per set and ranking")
    args = ap.parse_args(argv)

    from bench.generalize import NAIVE
    from retrieval.engine import Engine
    from retrieval.model.embeddings import Encoder

    available = sets()
    names = args.sets.split(",") if args.sets else list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        ap.error(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(available)}")
    encoder = None
    rows = []
    for name in names:
        build, qfile = available[name]
        corpus = corpus_of(name, build, args.work)
        questions = questions_of(name, qfile)
        base = Settings.from_mapping({"corpus": str(corpus), "index_dir": str(args.work / "index" / name)})
        if encoder is None:
            encoder = Encoder.shared(base.model, base.precision, base.batch_size)
        eng = Engine(base, encoder)
        t0 = time.perf_counter()
        try:
            eng.load()  # the last run's version: its vectors are reused, only what changed is embedded
        except IndexMissing:
            pass
        summary = eng.reindex()
        built = time.perf_counter() - t0
        qs = [q["q"] for q in questions]
        rankings = [("citebot", base)] + ([] if args.no_naive else
                                          [("naive", dataclasses.replace(base, **NAIVE))])
        for label, settings in rankings:
            eng.settings = settings
            answers = eng.ask_many(qs, k=max(5, settings.k))
            row = {"set": name, "ranking": label, "passages": summary.passages, **figures(questions, answers)}
            rows.append(row)
            if args.sheets and label == "citebot":
                args.sheets.mkdir(parents=True, exist_ok=True)
                (args.sheets / f"{name}.txt").write_text(sheet(questions, answers), "utf-8")
        eng.close()
        print(f"{name}: {summary.passages:,} passages, index up to date in {built:.0f} s", file=sys.stderr)
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return 0
    cols = ["set", "ranking", "passages", "R@1", "R@3", "R@5", "MRR", "quote_hit@1", "false_abstentions",
            "unanswerable", "off-topic"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
