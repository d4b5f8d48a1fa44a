"""Helpers shared by the bot tests and bench/bot_latency.py: open an engine, run the bot on the fake."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def open_engine(workdir: Path, encoder=None):
    """A real Engine over a copy of ``seeds/`` with its index in ``workdir`` (built on first use).

    ``encoder``: an already-loaded encoder to share (the test session's), else one is loaded.
    """
    from retrieval.config import Settings
    from retrieval.engine import Engine

    corpus = workdir / "corpus"
    if not corpus.exists():
        shutil.copytree(ROOT / "seeds", corpus)
    # from_mapping, not load(): no config file or CITEBOT_* variable of the machine leaks in
    settings = Settings.from_mapping({"corpus": corpus, "index_dir": workdir / "index"})
    return Engine.open(settings, build_if_missing=True, encoder=encoder)


def bot_config(fake, workdir: Path, **overrides):
    """Bot settings for a bot talking to ``fake``: fast readiness, admin role, fresh feedback db."""
    from bot.config import BotConfig

    values = dict(
        token=fake.token,
        # the bot kept to the fake guild: its (default) knowledge base serves that guild alone, so
        # the guild's admins (ada with Manage Server, rolf with the admin role) administer it
        allowed_guilds=[fake.guild_id],
        feedback_db=workdir / "feedback.sqlite3",
        admin_role_ids=[fake.admin_role_id],
        auto_answer_channels=[fake.other_id],
        cooldown_rate=1000,
        cooldown_per=60.0,
        interaction_rate=1000,
        progress_interval=0.0,
        guild_ready_timeout=0.05,
        send_retry_delay=0.1,  # the pause before sending a failed answer again (3 s by default)
    )
    values.update(overrides)
    return BotConfig.from_mapping(values)


async def start_bot(config, engine, *, timeout: float = 60.0, **bot_kwargs):
    """Start a CiteBot against the fake (already pointed at) and wait until it is ready.

    ``engine=None`` makes the bot open (or build) the index itself in ``setup_hook``.
    """
    from bot.client import CiteBot

    bot = CiteBot(config, engine=engine, **bot_kwargs)
    runner = asyncio.create_task(bot.start(config.token), name="citebot-runner")
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({runner, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if runner in done:
        ready.cancel()
        runner.result()  # raises what start() raised
        raise RuntimeError("the bot stopped before it was ready")
    if ready not in done:
        runner.cancel()
        raise TimeoutError("the bot did not become ready")
    bot._test_runner = runner  # type: ignore[attr-defined]
    return bot


async def stop_bot(bot) -> None:
    """Close the bot and wait for its runner task."""
    await bot.close()
    runner = getattr(bot, "_test_runner", None)
    if runner is not None:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(runner, 10)
