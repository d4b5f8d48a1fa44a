"""Fixtures for the bot tests: one real Engine per session, a fake Discord and a running bot per test.

The engine (model load + index build over a copy of ``seeds/``) costs seconds, so it is shared; the
fake server and the bot are cheap (tens of milliseconds) and fresh for every test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import bot_config, open_engine, start_bot, stop_bot  # noqa: E402
from fakediscord import FakeDiscord, point_discord_at  # noqa: E402


@pytest.fixture(scope="session")
def engine(tmp_path_factory, encoder, seeds_engine):
    """The real retrieval engine over a temporary copy of seeds/ (session-wide).

    It shares the session's encoder (tests/conftest.py) and starts from a copy of the session's
    seeds index (same documents, same encoder: no second build). It is the bot tests' own: the
    admin tests reindex it and put the corpus back afterwards.
    """
    import json
    import shutil

    from retrieval.index.loaded import current_version

    work = tmp_path_factory.mktemp("engine")
    shutil.copytree(seeds_engine.settings.index_dir, work / "index")
    shutil.copytree(seeds_engine.settings.corpus, work / "corpus")
    # the copy belongs to the copied corpus (`citebot doctor` checks whose index it is)
    manifest = current_version(work / "index") / "manifest.json"
    m = json.loads(manifest.read_text("utf-8"))
    manifest.write_text(json.dumps({**m, "corpus": str(work / "corpus")}, indent=1), "utf-8")
    return open_engine(work, encoder=encoder)


async def _serve(f):
    with point_discord_at(await f.start()):
        yield f
    await f.close()
    f.assert_clean()


@pytest.fixture
async def fake():
    """A fake Discord on 127.0.0.1 with discord.py pointed at it.

    After the test it checks the invariants every exchange must keep: no unknown route was called,
    no message broke Discord's limits, and every message was sent with pings disabled.
    """
    async for f in _serve(FakeDiscord()):
        yield f


@pytest.fixture
async def hfake():
    """The fake Discord that also serves channel history, threads, a forum and a private channel."""
    from fakehistory import FakeHistory

    async for f in _serve(FakeHistory()):
        yield f


@pytest.fixture
def config(fake, tmp_path):
    """Bot settings for the fake guild (ada has Manage Server; rolf has the configured admin role)."""
    return bot_config(fake, tmp_path)


@pytest.fixture
async def bot(fake, config, engine):
    """A running CiteBot connected to the fake."""
    b = await start_bot(config, engine)
    yield b
    await stop_bot(b)
