"""Fuzz ``Engine.ask`` and the Discord renderer with hostile questions; count crashes and pings.

    HF_HUB_OFFLINE=1 .venv/bin/python tests/tools/fuzz_questions.py --n 10000          # the full run
    HF_HUB_OFFLINE=1 .venv/bin/python tests/tools/fuzz_questions.py --n 300 --no-render # retrieval only

Questions come from :mod:`hostile` (beside this file) (seeded: ``--seed``): Unicode of every general category,
zero-width and bidi controls, RTL text, control characters, markdown, mentions (``@everyone``,
``<@id>``, ``<@&id>``), code blocks, URLs, 0–100,000 characters. The corpus is ``seeds/`` plus the
hostile documents of :data:`hostile.HOSTILE_DOCS` (mentions and markdown in the passages).

* crash: any exception from ``ask`` other than :class:`retrieval.errors.QuestionError`, or an answer
  that breaks its contract (quote not a verbatim substring of its passage at ``quote_start``, more
  than k results, wrong index version).
* ping: an ``@everyone``/``@here``/``<@id>``/``<@!id>``/``<@&id>`` left unescaped in any rendered message
  text (content, embed title/description/fields/footer), ``id`` being snowflake-sized (15+ digits; real
  ids have 17+). Embeds never notify and the bot also sends every message with
  ``AllowedMentions.none()`` (checked on the wire by the fake-Discord tests), so this counts what would
  ping if both of those protections were gone. Mention syntax with a shorter id (``<@1>``) can reach no
  one; it is counted apart as ``inert_mentions``.
* render violations: a reply over one of Discord's limits, or corpus/question markdown left unescaped.

Prints one JSON object with the counts; the first failures are listed with their seed index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (ROOT, HERE):  # retrieval/bot, and hostile.py beside this file
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import hostile  # noqa: E402


def check_answer(answer, k: int, version: str) -> list[str]:
    """Contract violations of one answer (empty when it is sound)."""
    bad = []
    if len(answer.results) > k:
        bad.append(f"{len(answer.results)} results > k={k}")
    if answer.index_version != version:
        bad.append(f"index version {answer.index_version} != {version}")
    for r in answer.results:
        if not r.quote or r.text[r.quote_start:r.quote_start + len(r.quote)] != r.quote:
            bad.append(f"result {r.rank}: quote is not the passage text at quote_start")
        if r.citation.paragraph != r.paragraph or r.citation.doc_id != r.doc_id:
            bad.append(f"result {r.rank}: citation does not match the result")
    return bad


def check_render(answer, render_answer, render_text) -> dict[str, list[str]]:
    """Rendered-reply problems by kind: limits, pings, markdown."""
    reply = render_answer(answer)
    out = {"limits": hostile.limit_violations(reply), "pings": [], "markdown": [], "inert": []}
    for where, text in hostile.reply_texts(reply):
        out["pings"] += [f"{where}: {m}" for m in hostile.pings(text)]
        out["inert"] += [f"{where}: {m}" for m in hostile.inert_mentions(text)]
        if where.endswith(("description", "title")) or ".field" in where:
            out["markdown"] += [f"{where}: {m}" for m in hostile.unescaped_markdown(text)]
    return out


def ask_all(engine, questions) -> list[tuple[str, object]]:
    """``(question, Answer or the exception raised)`` for every question, in order."""
    out = []
    for q in questions:
        try:
            out.append((q, engine.ask(q)))
        except Exception as e:  # sorted out by tally(): QuestionError is fine, anything else a crash
            out.append((q, e))
    return out


def run(engine, questions, *, render: bool = True, max_examples: int = 5) -> dict:
    """Ask every question; return the counts and the first failures."""
    t0 = time.perf_counter()
    stats = tally(ask_all(engine, questions), engine.settings.k, engine.version, render=render,
                  max_examples=max_examples)
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    return stats


def tally(outcomes, k: int, version: str, *, render: bool = True, max_examples: int = 5) -> dict:
    """Counts over ``ask_all`` outcomes: crashes, contract breaches and, with ``render``, what the
    Discord renderer makes of each answer (pings, limits, unescaped markdown)."""
    from retrieval.errors import QuestionError

    render_answer = render_text = None
    if render:
        from bot.render import render_answer, render_text  # noqa: F811  (imports discord)
    stats = {"questions": 0, "answered": 0, "not_covered": 0, "refused": 0, "crashes": 0, "contract": 0,
             "rendered": 0, "pings": 0, "inert_mentions": 0, "limit_violations": 0, "markdown_unescaped": 0,
             "chars_max": 0, "examples": []}

    def note(kind: str, i: int, q: str, detail) -> None:
        if len(stats["examples"]) < max_examples:
            stats["examples"].append({"kind": kind, "index": i, "question": q[:120], "detail": detail})

    for i, (q, answer) in enumerate(outcomes):
        stats["questions"] += 1
        stats["chars_max"] = max(stats["chars_max"], len(q))
        if isinstance(answer, QuestionError):
            stats["refused"] += 1
            if render:
                reply = render_text(str(answer))
                stats["pings"] += sum(len(hostile.pings(t)) for _, t in hostile.reply_texts(reply))
            continue
        if isinstance(answer, BaseException):  # anything else is a crash
            stats["crashes"] += 1
            note("crash", i, q, "".join(traceback.format_exception_only(type(answer), answer)).strip())
            continue
        stats["answered" if answer.answered else "not_covered"] += 1
        bad = check_answer(answer, k, version)
        if bad:
            stats["contract"] += 1
            note("contract", i, q, bad)
        if render:
            try:
                problems = check_render(answer, render_answer, render_text)
            except Exception as e:
                stats["crashes"] += 1
                note("render crash", i, q, "".join(traceback.format_exception_only(type(e), e)).strip())
                continue
            stats["rendered"] += 1
            stats["pings"] += len(problems["pings"])
            stats["inert_mentions"] += len(problems["inert"])
            stats["limit_violations"] += bool(problems["limits"])
            stats["markdown_unescaped"] += bool(problems["markdown"])
            for kind in ("pings", "limits", "markdown"):
                if problems[kind]:
                    note(kind, i, q, problems[kind][:3])
    return stats


def open_engine(index_dir: Path, encoder=None, precision: str = "fp32"):
    """An engine over seeds/ plus the hostile documents, built in ``index_dir``.

    fp32 by default: on a bf16-capable CPU ``auto`` picks bf16 autocast, several times slower per
    single question; the precision changes no code path that the fuzz exercises.
    """
    from retrieval.config import Settings
    from retrieval.engine import Engine

    corpus = hostile.write_hostile_corpus(index_dir / "corpus", seeds=ROOT / "seeds")
    s = Settings(corpus=corpus, index_dir=index_dir / "index", precision=precision)
    return Engine.open(s, encoder=encoder)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="questions to try")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--no-render", action="store_true", help="skip the Discord renderer (no discord import)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    ap.add_argument("--out", type=Path, help="also write the JSON result here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="citebot-fuzz-") as tmp:
        engine = open_engine(Path(tmp), precision=args.precision)
        stats = run(engine, hostile.questions(args.seed, args.n), render=not args.no_render)
    stats["seed"] = args.seed
    text = json.dumps(stats, ensure_ascii=True, indent=1)  # examples may hold lone surrogates
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    bad = stats["crashes"] + stats["contract"] + stats["pings"] + stats["limit_violations"] + stats["markdown_unescaped"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
