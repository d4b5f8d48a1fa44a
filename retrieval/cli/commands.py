"""``citebot`` command line: index, ask, sources, source, chat, watch, eval.

The console script is ``bot.launcher``: it builds this parser with the bot's commands (``run``,
``doctor``, ``feedback``) passed in as an extension.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from retrieval.cli import chat
from retrieval.cli.questions import read_questions, split_questions
from retrieval.config import Settings, corpus_label, corpus_setting, is_local, is_remote, local_folder, resolve_corpus
from retrieval.errors import CitebotError, QuestionError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _at_least(low: int):
    """argparse type: an integer of at least ``low`` (``-k 0`` would silently mean the default)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    parse.__name__ = "int"
    return parse


def location_args(p: argparse.ArgumentParser) -> None:
    """``--corpus``, ``--index-dir``, ``--config``, ``--kb``: which knowledge base a command works on."""
    g = p.add_argument_group("location")
    g.add_argument("--corpus", type=corpus_setting,
                   help="corpus folder or .jsonl file, a website (https://host/path/ or …/sitemap.xml) or a git "
                        "repository (git+https://…/repo.git@BRANCH#subdirectory=docs) (default: the checkout's seeds/)")
    g.add_argument("--index-dir", type=Path,
                   help="index directory (default: the corpus's own folder in the per-user data folder)")
    g.add_argument("--config", type=Path,
                   help="TOML config file (default: $CITEBOT_CONFIG, else ./citebot.toml, else the per-user config folder)")
    g.add_argument("--kb", metavar="NAME", help="a knowledge base of the config file ([[knowledge_bases]] name)")


def build_parser(extensions: Sequence[Callable[[argparse._SubParsersAction], None]] = ()) -> argparse.ArgumentParser:
    """The parser with every retrieval subcommand, and those each of ``extensions`` adds to the
    subcommand set it is given."""
    parser = argparse.ArgumentParser(
        prog="citebot", description="Answer questions over a corpus by quoting it, with citations.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("index", help="build or update the index from the corpus")
    location_args(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything instead of reusing vectors")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer questions with quoted, cited passages")
    location_args(p)
    p.add_argument("question", nargs="*",
                   help='the question: unquoted words are one question; several quoted questions '
                        '("Q1" "Q2") are asked one by one')
    p.add_argument("--file", type=Path, help="questions, one per line, or JSONL with a 'q' or 'text' field")
    p.add_argument("-k", type=_at_least(1), help="results per question")
    p.add_argument("--unique-docs", action="store_true", help="at most one passage per document")
    p.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="ask questions interactively (ends at end of input)")
    location_args(p)
    p.add_argument("-k", type=_at_least(1), help="results per question")
    p.add_argument("--update", action="store_true",
                   help="first bring the index up to date with the corpus (incremental; the model loads once)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("watch", help="keep the index current: rebuild after corpus files change (and on a schedule), "
                                     "one line per build, until Ctrl-C")
    location_args(p)
    p.add_argument("--every", metavar="DURATION", help='also rebuild this often, e.g. "30m", "6h", "1d" '
                                                       "(default: the reindex_every setting)")
    p.add_argument("--debounce", metavar="SECONDS", type=float,
                   help="seconds without a further change before a rebuild (default: the watch_debounce setting)")
    p.add_argument("--no-watch", action="store_true", help="only the schedule, not file changes")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("sources", help="list the indexed documents")
    location_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("source", help="show a passage in context: DOC_ID[:PARAGRAPH]")
    location_args(p)
    p.add_argument("ref", help="document id, optionally with :paragraph")
    p.add_argument("--context", type=_at_least(0), default=1, help="paragraphs shown either side")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_source)

    p = sub.add_parser("eval", help="score answers against gold spans (JSONL: q, gold)")
    location_args(p)
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_eval)
    for extend in extensions:
        extend(sub)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings of ``--kb NAME`` (a ``[[knowledge_bases]]`` entry), else of the one or default
    knowledge base: the top-level settings with ``--corpus``/``--index-dir`` (see retrieval.serve.kb).
    The corpus path is made absolute, so the index records (and is later checked against) one
    unambiguous corpus."""
    from retrieval.serve.kb import load_registry

    kb, corpus, index_dir = getattr(args, "kb", None), getattr(args, "corpus", None), getattr(args, "index_dir", None)
    if kb is not None and (corpus or index_dir):
        raise CitebotError("--kb names a corpus and an index; leave out --corpus and --index-dir")
    s = load_registry(getattr(args, "config", None), corpus=corpus, index_dir=index_dir).get(kb).settings
    s.corpus = resolve_corpus(s.corpus)
    return s


def _given(args: argparse.Namespace, name: str) -> bool:
    """Whether setting ``name`` was set by a flag, the environment or the config file (not a default)."""
    from retrieval.config import find_config, read_toml

    if getattr(args, name, None) is not None or os.environ.get(f"CITEBOT_{name.upper()}"):
        return True
    path = find_config(getattr(args, "config", None))
    return path is not None and read_toml(path).get("citebot", {}).get(name) is not None


def index_corpus_problem(settings: Settings, manifest: dict) -> str | None:
    """A one-line message when the index was built from another corpus than ``settings.corpus``.

    Indexes that recorded a relative corpus path (older builds) cannot be checked and pass.
    """
    built = manifest.get("corpus")
    if not built or not (Path(built).is_absolute() or is_remote(built)):
        return None
    if built == corpus_label(resolve_corpus(settings.corpus)) or (
            is_local(settings.corpus) and Path(built).resolve() == Path(settings.corpus).resolve()):
        return None
    return (f"the index in {settings.index_dir} belongs to the corpus {built}, not to {settings.corpus}: "
            f"leave out --index-dir to use that corpus's own index, or give --corpus {built}")


def check_index_corpus(args: argparse.Namespace, settings: Settings, manifest: dict) -> str | None:
    """:func:`index_corpus_problem`, except that an index given by ``--index-dir`` (or the
    environment, or the config file) with no corpus given anywhere names its own corpus: then
    ``settings.corpus`` becomes that one and there is no problem."""
    problem = index_corpus_problem(settings, manifest)
    if problem and _given(args, "index_dir") and not _given(args, "corpus"):
        parts = manifest["corpus"].split(" + ")  # several sources are recorded joined (config.corpus_label)
        settings.corpus = corpus_setting(parts if len(parts) > 1 else parts[0])
        return None
    return problem


def _progress_bar(desc: str, unit: str = "file"):
    from retrieval.cli.progress import reporter

    return reporter(desc, unit)


def open_engine(args: argparse.Namespace, *, build_if_missing: bool = True, update: bool = False):
    """The engine for a command: its index must belong to the corpus asked about.

    Args:
        build_if_missing: build the index from the corpus when there is none yet.
        update: bring an existing index up to date with the corpus (incremental) before answering.

    Raises:
        CitebotError: no index and no corpus to build it from (naming both), or an index of
            another corpus. With ``--index-dir`` and no corpus given anywhere, the index's own
            corpus is taken.
    """
    from retrieval.engine import Engine
    from retrieval.errors import CorpusError, IndexMissing

    s = settings_from(args)
    progress, embedding = _progress_bar("reading"), _progress_bar("embedding", "passage")
    built = False
    try:
        eng = Engine.open(s, build_if_missing=False)
    except IndexMissing:
        if not build_if_missing:
            raise
        if is_local(s.corpus) and not Path(s.corpus).exists():  # say so before anything is created
            raise CorpusError(f"no index in {s.index_dir}, and none can be built: corpus not found: {s.corpus} "
                              "(give --corpus, or --index-dir of an existing index)")
        eng = Engine(s)  # the model is loaded once per process (Encoder.shared)
        eng.reindex(progress=progress, embedding=embedding)
        built = True
    problem = check_index_corpus(args, s, eng.manifest)
    if problem:
        raise CitebotError(problem)
    if update and not built:
        summary = eng.reindex(progress=progress, embedding=embedding)
        print(f"citebot: index {summary.version}: {summary.lines()[0]}", file=sys.stderr)
    return eng


def cmd_index(args) -> int:
    from retrieval.engine import Engine
    from retrieval.errors import IndexCorrupt, IndexMissing
    from retrieval.cli.render import summary_text

    s = settings_from(args)
    eng = Engine(s)
    try:
        eng.load()
    except IndexMissing:
        pass
    except IndexCorrupt as e:  # the build replaces it; nothing can be reused
        reason = str(e).split("; rebuild it")[0]  # the hint to rebuild is what happens now
        print(f"citebot: {reason} — building a fresh index", file=sys.stderr)
    replaced = None  # the other corpus an index given with --index-dir was built from
    if eng.index is not None and check_index_corpus(args, s, eng.manifest):
        replaced = eng.manifest["corpus"]
    summary = eng.reindex(rebuild=args.rebuild, progress=_progress_bar("reading"),
                          embedding=_progress_bar("embedding", "passage"),
                          training=_progress_bar("adapter: encoding", "pair"))
    print(summary_text(summary))
    if replaced:  # asked for explicitly (--corpus and --index-dir): say what it held before
        print(f"this index held {replaced} before; it now holds {s.corpus}")
    print(f"index directory: {s.index_dir}")
    return 0


def cmd_watch(args) -> int:
    """``citebot watch``: bring the index up to date, then rebuild it whenever the corpus changes
    (debounced) and/or on a schedule (retrieval.serve.schedule), printing one line per build."""
    import asyncio
    import dataclasses
    import signal

    from retrieval.serve.schedule import Plan, Refresher, format_duration, parse_duration

    s = settings_from(args)
    every = parse_duration(args.every, "--every") if args.every is not None else parse_duration(s.reindex_every)
    if args.debounce is not None:
        s.watch_debounce = args.debounce
        s.validate()
    folder = local_folder(s.corpus)  # websites and repositories change elsewhere: only a folder is watched
    plan = dataclasses.replace(Plan.of("index", s), every=every, watch=not args.no_watch and folder is not None)
    if not plan.active:
        raise CitebotError("--no-watch leaves nothing to do; give --every (or set reindex_every)" if folder is not None
                           else "a corpus of websites or repositories has no folder to watch; give --every "
                                "(or set reindex_every)")
    eng = open_engine(args, update=True)
    what = [f"changes in {plan.corpus} ({plan.debounce:g} s debounce)"] if plan.watch else []
    what += [f"every {format_duration(every)}"] if every else []
    print(f"citebot: index {eng.version} in {s.index_dir}; rebuilding on {' and '.join(what)}; Ctrl-C stops",
          file=sys.stderr, flush=True)

    async def build(name: str, trigger: str):
        return await asyncio.to_thread(eng.reindex)

    async def watch() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a clean stop: the watcher thread ends first
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        refresher = Refresher([plan], build)
        refresher.listeners.append(lambda name, b: print(b.line(), flush=True))
        refresher.start()
        try:
            await stop.wait()
        finally:
            await refresher.close()

    asyncio.run(watch())
    print("citebot: stopped", file=sys.stderr)
    return 0


def cmd_ask(args) -> int:
    from retrieval.cli.render import answer_text

    questions = split_questions(args.question or [])
    if args.file:
        try:
            questions += read_questions(args.file)
        except (OSError, UnicodeDecodeError) as e:
            raise CitebotError(f"cannot read {args.file}: {e}") from None
    if not questions:
        raise QuestionError("give a question, or --file with questions")
    eng = open_engine(args)
    status = 0
    color = sys.stdout.isatty() and not args.json
    for q, a in zip(questions, eng.ask_many(questions, k=args.k, unique_docs=args.unique_docs)):
        if isinstance(a, QuestionError):
            status = 1
            if args.json:
                print(json.dumps({"question": q[:200], "error": str(a)}, ensure_ascii=False))
            else:
                print(f"citebot: error: {a}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(a.to_dict(), ensure_ascii=False))
        else:
            print(f"Q: {a.question}\n{answer_text(a, color=color)}\n")
    return status


def cmd_chat(args) -> int:
    from retrieval.cli.render import answer_text

    eng = open_engine(args, update=args.update)
    tty = sys.stdin.isatty()
    save_history = chat.line_editing(chat.history_file()) if tty else (lambda: None)
    if tty:
        print("Ask about the corpus; an empty line or Ctrl-D ends.", file=sys.stderr)
    try:
        while True:
            try:
                line = input("> " if tty else "")
            except EOFError:
                break
            except KeyboardInterrupt:
                print(file=sys.stderr)
                break
            if not line.strip():
                if tty:
                    break
                continue
            if line.strip().lower() in ("quit", "exit", "/quit"):
                break
            try:
                a = eng.ask(line, k=args.k)
            except QuestionError as e:  # the session goes on
                print(f"citebot: error: {e}", file=sys.stderr)
                continue
            print(answer_text(a, color=sys.stdout.isatty()))
            print()
    finally:
        save_history()
    return 0


def cmd_sources(args) -> int:
    eng = open_engine(args)
    docs = eng.documents()
    if args.json:
        for d in docs:
            print(json.dumps(d, ensure_ascii=False))
        return 0
    for d in docs:
        extra = " · ".join(x for x in (d.get("outlet") or d.get("author"), d.get("date")) if x)
        print(f"{d['doc_id']}\t{d.get('title') or '(untitled)'}{' · ' + extra if extra else ''}"
              f"\t{d['paragraphs']} ¶\t{d['source']}")
    print(f"{len(docs)} documents", file=sys.stderr)
    return 0


def cmd_source(args) -> int:
    from retrieval.cli.render import source_text

    ref, _, para = args.ref.rpartition(":") if ":" in args.ref else (args.ref, "", "")
    paragraph = None
    if para and para.isdigit():
        paragraph = int(para)
    else:
        ref = args.ref
    eng = open_engine(args)
    if paragraph is not None and eng.document(ref) is None and eng.document(args.ref) is not None:
        ref, paragraph = args.ref, None  # an id with a colon of its own (JSONL records: "file:line")
    view = eng.source(ref, paragraph, context=args.context)
    print(json.dumps(view.to_dict(), ensure_ascii=False) if args.json else source_text(view))
    return 0


def cmd_eval(args) -> int:
    from retrieval.cli.evaluate import evaluate, load_questions

    questions = load_questions(args.file)
    eng = open_engine(args)
    k = max(5, eng.settings.k)
    answers = []
    for q, a in zip(questions, eng.ask_many([q["q"] for q in questions], k=k)):
        if isinstance(a, QuestionError):
            raise CitebotError(f"question {q['q'][:60]!r}: {a}")
        answers.append(a)
    rep = evaluate(questions, answers)
    print(json.dumps(rep.to_dict(), ensure_ascii=False) if args.json else "\n".join(rep.lines()))
    return 0


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except CitebotError as e:
        print(f"citebot: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
