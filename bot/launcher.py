"""The ``citebot`` console script (the one entry point): the retrieval commands plus ``run``, ``doctor``
and ``feedback export``.

discord.py is imported only inside ``run`` (and reported by ``doctor``), so ``citebot index`` and
``citebot ask`` don't pay for it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import sys
from pathlib import Path

from retrieval.cli import commands as rcli
from retrieval.errors import CitebotError
from retrieval.config import corpus_label, is_local

EXIT_BAD_TOKEN = 2
EXIT_UNREACHABLE = 3  # Discord could not be reached or would not start a session


def build_parser() -> argparse.ArgumentParser:
    """The retrieval commands' parser with the bot's subcommands."""
    return rcli.build_parser(extensions=[add_bot_commands])


def add_bot_commands(sub: argparse._SubParsersAction) -> None:
    """``run``, ``doctor`` and ``feedback export``."""
    p = sub.add_parser("run", help="start the Discord bot (token from the DISCORD_TOKEN environment variable)")
    rcli.location_args(p)
    p.add_argument(
        "--debug-discord",
        action="store_true",
        help="also log discord.py at DEBUG (troubleshooting only: the log then holds every request's URL "
        "and body, i.e. interaction tokens, questions and quoted text)",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("doctor", help="check the configuration, the index and the token format")
    rcli.location_args(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("feedback", help="work with the 👍/👎 feedback collected by the bot")
    fsub = p.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    e = fsub.add_parser("export", help="write every vote as JSON lines")
    e.add_argument("--out", type=Path, help="output file (default: standard output)")
    e.add_argument("--db", type=Path, help="feedback database (default: [bot] feedback_db)")
    e.add_argument("--config", type=Path, help="TOML config file")
    e.set_defaults(func=cmd_feedback_export)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``citebot`` console script."""
    return rcli.main(argv, parser=build_parser())


# ---------------------------------------------------------------------- run


def configure_logging(*, verbose: bool, debug_discord: bool = False) -> None:
    """Log levels for ``citebot run``: INFO, ``-v`` adds citebot's own DEBUG lines.

    discord.py stays at INFO unless ``debug_discord``: at DEBUG its ``discord.http`` logs every
    request URL (interaction tokens are part of webhook URLs: whoever has one can post as the bot in
    that conversation for 15 minutes) and body (questions, quoted corpus text), and
    ``discord.gateway`` every event received.
    """
    import logging

    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("citebot").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("discord").setLevel(logging.DEBUG if debug_discord else logging.INFO)


def cmd_run(args: argparse.Namespace) -> int:
    """Start the bot; a missing, malformed or rejected token is one line on stderr and exit code 2."""
    from .config import BotConfig, token_problem

    cfg = BotConfig.load(getattr(args, "config", None))
    problem = token_problem(cfg.token)
    if problem:
        print(f"citebot: error: {problem}", file=sys.stderr)
        return EXIT_BAD_TOKEN
    if getattr(args, "kb", None):
        raise CitebotError("`citebot run` serves every knowledge base of the config file; leave out --kb")
    from retrieval.serve.kb import load_registry

    registry = load_registry(getattr(args, "config", None), corpus=getattr(args, "corpus", None),
                             index_dir=getattr(args, "index_dir", None))
    from .routing import Router

    Router(registry, cfg.allowed_guilds)  # conflicting guild or channel claims: one line, before connecting
    configure_logging(verbose=args.verbose, debug_discord=getattr(args, "debug_discord", False))

    import aiohttp
    import discord

    from .client import CiteBot

    discord.VoiceClient.warn_nacl = False  # citebot has no voice: PyNaCl's absence is not news

    async def runner() -> None:
        import signal

        bot = CiteBot(cfg, registry=registry)
        loop = asyncio.get_running_loop()
        # a service manager stops us with SIGTERM: close the gateway and the store cleanly
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(bot.close()))
        async with bot:
            await bot.start(cfg.token)

    try:
        asyncio.run(runner())
    except discord.LoginFailure:
        print("citebot: error: Discord rejected the token in DISCORD_TOKEN (reset it in the Developer Portal)", file=sys.stderr)
        return EXIT_BAD_TOKEN
    except discord.PrivilegedIntentsRequired:
        print(
            "citebot: error: enable the Message Content intent for the bot in the Discord Developer Portal "
            "(Bot → Privileged Gateway Intents)",
            file=sys.stderr,
        )
        return EXIT_BAD_TOKEN
    except (aiohttp.ClientError, asyncio.TimeoutError, discord.GatewayNotFound) as e:
        # DNS, refused connection, TLS, proxy: one line instead of aiohttp's traceback
        print(f"citebot: error: cannot reach Discord at {discord.http.Route.BASE} ({_reason(e)}); "
              "check the network connection and try again", file=sys.stderr)
        return EXIT_UNREACHABLE
    except discord.HTTPException as e:  # Discord answered, but with an error (5xx, rate limit, …)
        print(f"citebot: error: Discord refused to start the session (HTTP {e.status}: {e.text or 'no details'})",
              file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 130
    return 0


def _reason(e: BaseException) -> str:
    """A short cause: the exception's first line, or its type when it has no message."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text[:200] or type(e).__name__


# ---------------------------------------------------------------------- doctor


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print one line per check (ok / warn / FAIL); exit 1 when anything failed."""
    from retrieval.config import find_config

    from .config import BotConfig, token_problem
    from .feedback import FeedbackStore

    results: list[tuple[str, str]] = []

    def report(level: str, text: str) -> None:
        results.append((level, text))
        print(f"{level:4} {text}")

    from retrieval.serve.kb import load_registry

    try:
        path = find_config(getattr(args, "config", None))
        report("ok", f"config file: {path}" if path else "config file: none (defaults and environment)")
        kb = getattr(args, "kb", None)
        where = {} if kb else {"corpus": getattr(args, "corpus", None), "index_dir": getattr(args, "index_dir", None)}
        registry = load_registry(getattr(args, "config", None), **where)
        kbs = [registry.get(kb)] if kb else registry.kbs
        cfg = BotConfig.load(getattr(args, "config", None))
        from .routing import Router

        Router(registry, cfg.allowed_guilds)  # a guild or channel claimed twice
        report("ok", "settings are valid" + (f" ({len(kbs)} knowledge bases)" if len(kbs) > 1 else ""))
    except CitebotError as e:
        report("FAIL", f"configuration: {e}")
        return 1

    for kb in kbs:
        _doctor_kb(kb.settings, report, args, f"[{kb.name}] " if len(kbs) > 1 else "")
    _doctor_memory(kbs, cfg.memory_budget_mb, report)

    problem = token_problem(cfg.token)
    report("FAIL" if problem else "ok", problem or "DISCORD_TOKEN is set and looks like a bot token (format only)")

    db = Path(cfg.feedback_db)
    if db.exists():
        try:
            store = FeedbackStore(db)
            report("ok", f"feedback database: {db} ({store.count_answers()} answers, {len(store.votes())} votes)")
            store.close()
        except Exception as e:  # sqlite3 / OS errors: report, don't crash the doctor
            report("FAIL", f"feedback database {db}: {e}")
    else:
        # don't create anything: find the nearest existing folder and check it is writable
        parent = db.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if os.access(parent, os.W_OK):
            report("ok", f"feedback database: {db} (created at first start)")
        else:
            report("FAIL", f"feedback database {db}: {parent} is not writable")

    try:
        from importlib.metadata import version

        report("ok", f"discord.py {version('discord.py')}")
    except Exception:
        report("FAIL", "discord.py is not installed")

    failed = sum(1 for level, _ in results if level == "FAIL")
    print(f"{'all checks passed' if not failed else f'{failed} check(s) failed'}", file=sys.stderr)
    return 1 if failed else 0


def _doctor_kb(settings, report, args, prefix: str = "") -> None:
    """The corpus and index checks of one knowledge base (``prefix`` names it in each line)."""
    corpus = Path(settings.corpus) if is_local(settings.corpus) else None
    if corpus is None:
        report("ok", f"{prefix}corpus: {corpus_label(settings.corpus)} (fetched at each build)")
    elif corpus.is_dir():
        n = sum(1 for p in corpus.rglob("*") if p.is_file() and not p.name.startswith("."))
        report("ok", f"{prefix}corpus: {corpus} ({n} files)")
    elif corpus.is_file():
        report("ok", f"{prefix}corpus: {corpus} (single file)")
    else:
        report("FAIL", f"{prefix}corpus not found: {corpus} (set it with --corpus, CITEBOT_CORPUS or `corpus` in citebot.toml)")

    _doctor_refresh(settings, report, prefix)
    try:
        from retrieval.engine import Engine
        from retrieval.errors import IndexMissing

        engine = Engine(settings)  # no model load: the index is only opened and checked
        engine.load()
        engine.verify(full=True)  # loading samples files over 64 MB; the doctor hashes them whole
        st, manifest = engine.stats(), engine.manifest
        engine.close()
        report("ok", f"{prefix}index: {settings.index_dir} — {st['documents']} documents, {st['passages']} passages, "
                     f"built {st['built_at']}, version {st['version']}")
        problem = rcli.check_index_corpus(args, settings, manifest)
        if problem:  # answers would come from another corpus than the one configured
            report("FAIL", f"{prefix}index: {problem}")
    except IndexMissing:
        report("warn", f"{prefix}no index in {settings.index_dir}: `citebot run` builds it at start (or run `citebot index`)")
    except CitebotError as e:  # a damaged index's message already names the fix (`citebot index --rebuild`)
        report("FAIL", f"{prefix}index: {e}")


def _doctor_refresh(settings, report, prefix: str = "") -> None:
    """When the bot rebuilds the index by itself (``reindex_every``, ``watch``; retrieval.serve.schedule)."""
    from retrieval.serve.schedule import Plan, format_duration

    plan = Plan.of("doctor", settings)
    if not plan.active:
        return
    what = [f"every {format_duration(plan.every)}"] if plan.every else []
    if plan.watch:
        what.append(f"after changes in the corpus folder ({plan.debounce:g} s debounce)")
    report("ok", f"{prefix}the bot rebuilds the index {' and '.join(what)}")


def _doctor_memory(kbs, budget_mb: float, report) -> None:
    """Each built index's memory once in use (what the pool budgets), against ``memory_budget_mb``:
    an index larger than the whole budget could never be opened."""
    from retrieval.serve.pool import estimate_bytes

    sizes = {}
    for kb in kbs:
        try:
            sizes[kb.name] = estimate_bytes(kb.settings.index_dir) / 2**20
        except CitebotError:  # missing or damaged: reported above
            continue
    for name, mb in sizes.items():
        prefix = f"[{name}] " if len(kbs) > 1 else ""
        if budget_mb and mb > budget_mb:
            report("FAIL", f"{prefix}memory: the index needs about {mb:,.0f} MB, more than memory_budget_mb "
                           f"({budget_mb:,.0f}): it can never be opened")
        else:
            report("ok", f"{prefix}memory: about {mb:,.0f} MB once in use")
    if budget_mb and len(sizes) > 1 and sum(sizes.values()) > budget_mb:
        report("warn", f"memory: all indexes together need about {sum(sizes.values()):,.0f} MB, more than "
                       f"memory_budget_mb ({budget_mb:,.0f}): idle ones are closed to make room")


# ---------------------------------------------------------------------- feedback export


def cmd_feedback_export(args: argparse.Namespace) -> int:
    """Write the votes as JSONL to ``--out`` or standard output."""
    from .config import BotConfig
    from .feedback import FeedbackStore

    db = args.db or BotConfig.load(args.config).feedback_db
    if not Path(db).is_file():
        raise CitebotError(f"no feedback database at {db}")
    try:
        store = FeedbackStore.open_readonly(db)
    except sqlite3.Error as e:  # not a database, a damaged one, or not citebot's
        raise CitebotError(f"cannot read feedback database {db}: {e}") from None
    try:
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                n = store.export_jsonl(fh)
        else:
            n = store.export_jsonl(sys.stdout)
    finally:
        store.close()
    print(f"{n} vote(s) exported{f' to {args.out}' if args.out else ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
