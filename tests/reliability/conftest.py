"""Fixtures for the reliability tests (retrieval side: nothing here imports discord).

The encoder is fp32 (see :func:`encoder`), one per session. The hostile corpus engine is built
once per session over a temporary folder; tests that reindex or damage an index build their own.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hostile import write_hostile_corpus  # noqa: E402  (tests/tools, on sys.path via tests/conftest.py)

SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def encoder():
    """fp32 for these tests: they compare answers given alone with answers given while other
    questions share the batch (and with fp32 ``citebot index`` processes in the kill trials); in bf16
    the batch's make-up moves scores by ~2e-4. A second model object costs well under a second
    once torch is loaded; ``Encoder.shared`` hands the same one to every test asking for fp32."""
    from retrieval.model.embeddings import Encoder

    return Encoder.shared("bundled", "fp32", 64)


@pytest.fixture(scope="session")
def hostile_corpus(tmp_path_factory) -> Path:
    """seeds/ plus documents full of mentions, markdown, RTL and zero-width text."""
    return write_hostile_corpus(tmp_path_factory.mktemp("hostile") / "corpus", seeds=SEEDS)


@pytest.fixture(scope="session")
def hostile_engine(encoder, hostile_corpus, tmp_path_factory):
    """A read-only engine over :func:`hostile_corpus` (tests must not reindex it)."""
    from retrieval.config import Settings
    from retrieval.engine import Engine

    s = Settings(corpus=hostile_corpus, index_dir=tmp_path_factory.mktemp("hostile-index"))
    return Engine.open(s, encoder=encoder)


FUZZ_SEED, FUZZ_N = 2024, 300


@pytest.fixture(scope="session")
def fuzz_outcomes(hostile_engine):
    """300 hostile questions (seeded) asked once per session: ``[(question, Answer or exception)]``.
    The retrieval test counts crashes; the bot-side test renders the same answers."""
    import fuzz_questions
    import hostile

    return fuzz_questions.ask_all(hostile_engine, hostile.questions(FUZZ_SEED, FUZZ_N))


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A private, writable copy of seeds/ for tests that change the corpus."""
    dst = tmp_path / "corpus"
    shutil.copytree(SEEDS, dst)
    return dst


# ------------------------------------------------------------------ Discord side (test_bot_*.py only)
# The fake Discord and the bot harness live in tests/bot/. They are imported inside the fixtures, so
# the retrieval-side tests of this folder never import discord.

BOT_TESTS = ROOT / "tests" / "bot"


def bot_harness():
    """``(harness, fakediscord)`` modules of the bot tests."""
    if str(BOT_TESTS) not in sys.path:
        sys.path.insert(0, str(BOT_TESTS))
    import fakediscord
    import harness

    return harness, fakediscord


@pytest.fixture
async def fake():
    """A fake Discord on 127.0.0.1 with discord.py pointed at it; afterwards no unknown route was
    called, no message broke Discord's limits and every message disabled pings."""
    _, fd = bot_harness()
    f = await fd.FakeDiscord().start()
    with fd.point_discord_at(f):
        yield f
    await f.close()
    f.assert_clean()


@pytest.fixture
async def run_bot(fake, tmp_path):
    """Factory: ``await run_bot(engine, **config_overrides)`` starts a CiteBot on the fake."""
    harness, _ = bot_harness()
    bots = []

    async def start(engine, **overrides):
        cfg = harness.bot_config(fake, tmp_path, **overrides)
        b = await harness.start_bot(cfg, engine)
        bots.append(b)
        return b

    yield start
    for b in bots:
        await harness.stop_bot(b)


@pytest.fixture
def bot_modules():
    """``(harness, fakediscord)`` for tests that drive the fake by hand."""
    return bot_harness()
