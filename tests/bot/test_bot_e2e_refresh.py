"""End-to-end: knowledge bases that stay current (``watch``, ``reindex_every``; bot.cogs.refresh).

The bot runs against the fake Discord; it is asked questions until its answers quote the new text
(bounded waits, no timing assertions). Builds are real (the session's encoder, small corpora).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from fakediscord import MANAGE_GUILD, VIEW_AND_SEND, Person
from harness import bot_config, start_bot, stop_bot
from test_bot_e2e_kbs import ALPHA, ALPHA_Q, BETA, BETA_Q  # the two small corpora of the knowledge base tests

from bot.cogs.admin import ALREADY_RUNNING
from retrieval.serve.kb import load_registry

PHAROS = ALPHA["pharos.txt"]
VOLCANO = BETA["volcano.txt"]
WAIT = 90.0  # bounded: debounce + a build of a few small files, on a busy 2-core machine


def _write(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for fn, text in docs.items():
        (folder / fn).write_text(text, encoding="utf-8")
    return folder


def _kb(name: str, corpus: Path, index: Path, guild: int, extra: str) -> str:
    return (f'[[knowledge_bases]]\nname = "{name}"\ncorpus = "{corpus}"\nindex_dir = "{index}"\n'
            f"guilds = [{guild}]\n{extra}\n")


async def _start(fake, tmp_path: Path, encoder, config: Path):
    """The bot serving the knowledge bases of ``config``, building their indexes."""
    return await start_bot(bot_config(fake, tmp_path, allowed_guilds=[]), None, registry=load_registry(config),
                           engine_options={"encoder": encoder})


async def _start_alpha(fake, tmp_path: Path, encoder, extra: str):
    """The bot serving one knowledge base, ``alpha`` (its corpus: ``ALPHA``), with ``extra`` settings;
    the bot and the corpus folder."""
    corpus = _write(tmp_path / "alpha" / "corpus", ALPHA)
    config = tmp_path / "citebot.toml"
    config.write_text(_kb("alpha", corpus, tmp_path / "alpha" / "index", fake.guild_id, extra), encoding="utf-8")
    return await _start(fake, tmp_path, encoder, config), corpus


async def _answer(fake, question: str, channel_id: int) -> str:
    m = await fake.mention(question, channel_id=channel_id)
    return (await fake.wait_reply(m, timeout=30)).text()


async def _answer_until(fake, question: str, channel_id: int, want: str, timeout: float = WAIT) -> str:
    """Ask until the reply holds ``want`` (the new text is live); the last reply."""
    end = time.monotonic() + timeout
    while True:
        text = await _answer(fake, question, channel_id)
        if want in text:
            return text
        assert time.monotonic() < end, f"still not answered from the new text: {text[:300]}"
        await asyncio.sleep(0.5)


async def _stats(fake, user, channel_id: int) -> dict[str, str]:
    inter = await fake.slash("stats", user=user, channel_id=channel_id)
    cb = await fake.wait_interaction(inter, kind="callback")
    return {f["name"]: f["value"] for f in cb.json["data"]["embeds"][0]["fields"]}


async def _stats_until(fake, user, channel_id: int, cond, timeout: float = WAIT) -> dict[str, str]:
    end = time.monotonic() + timeout
    while True:
        fields = await _stats(fake, user, channel_id)
        if cond(fields):
            return fields
        assert time.monotonic() < end, f"/stats never showed it: {fields}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def watched(fake, tmp_path, encoder):
    """A bot whose one knowledge base watches its corpus folder (0.3 s debounce)."""
    bot, corpus = await _start_alpha(fake, tmp_path, encoder, "watch = true\nwatch_debounce = 0.3")
    bot._corpus = corpus  # type: ignore[attr-defined]
    yield bot
    tasks = list(bot.get_cog("Refresh").refresher._tasks)
    assert len(tasks) == 2  # the loop and the watcher
    await stop_bot(bot)
    assert all(t.done() for t in tasks)  # stopped with the bot


async def test_edited_file_is_answered_from_the_new_text(fake, watched):
    assert "stonemasons" in await _answer(fake, ALPHA_Q, fake.general_id)
    fields = await _stats(fake, fake.ada, fake.general_id)
    assert fields["Last build"] == "none since the bot started"
    assert "watching the corpus folder (0.3 s debounce)" in fields["Next build"]

    (watched._corpus / "pharos.txt").write_text(PHAROS.replace("volunteer stonemasons from Crete",
                                                               "glassblowers from Murano"), encoding="utf-8")
    text = await _answer_until(fake, ALPHA_Q, fake.general_id, "glassblowers")
    assert "stonemasons" not in text
    fields = await _stats(fake, fake.ada, fake.general_id)
    assert "· watch · ok: 2 documents" in fields["Last build"] and "(1 changed)" in fields["Last build"]


async def test_corrupt_file_in_a_watched_corpus_is_skipped_and_answers_go_on(fake, watched):
    corpus = watched._corpus
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\n\x00\x9f\x92 not really a pdf \xff\xfe" * 20)
    (corpus / "broken.docx").write_bytes(b"PK\x03\x04 truncated zip \x00\xff" * 10)
    (corpus / "garbled.txt").write_bytes(bytes(range(256)) * 8)  # undecodable as any text
    names = ("broken.pdf", "broken.docx", "garbled.txt")
    # one build, or a few if the writes straddled the debounce: wait for the one that saw all three
    fields = await _stats_until(fake, fake.ada, fake.general_id, lambda f: all(n in f["Last build"] for n in names))
    last = fields["Last build"]
    assert "· watch · ok: 2 documents" in last and "3 skipped" in last, last
    assert "stonemasons" in await _answer(fake, ALPHA_Q, fake.general_id)  # the knowledge base still answers


async def test_scheduled_build_and_admin_reindex_never_overlap(fake, watched):
    """While a watch build runs (held in its Discord-fetch step), /reindex says one is running;
    once released, the build finishes and /reindex works again."""
    refresh = watched.get_cog("Refresh")
    gate = asyncio.Event()
    started = asyncio.Event()

    async def held(name):
        started.set()
        await gate.wait()

    refresh.refresher.prepare = held
    (watched._corpus / "note.txt").write_text("Harbour cats\n\nNine cats guard the harbour of Alexandria.\n",
                                               encoding="utf-8")
    await asyncio.wait_for(started.wait(), WAIT)
    inter = await fake.slash("reindex", user=fake.ada)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert ALREADY_RUNNING in json.dumps(cb.json)
    gate.set()
    await _answer_until(fake, "How many cats guard the harbour?", fake.general_id, "Nine cats")
    refresh.refresher.prepare = None
    inter = await fake.slash("reindex", user=fake.ada)
    await fake.wait_interaction(inter, lambda r: "Reindex finished" in json.dumps(r.body()), timeout=WAIT)
    fields = await _stats(fake, fake.ada, fake.general_id)
    assert "· admin · ok: 3 documents" in fields["Last build"]


def _versions(index: Path) -> dict[str, str]:
    """version folder → the corpus its manifest names."""
    return {m.parent.name: str(Path(json.loads(m.read_text("utf-8"))["corpus"]).resolve())
            for m in index.glob("*/manifest.json")}


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


async def test_two_scheduled_knowledge_bases_never_build_into_each_other(fake, tmp_path, encoder):
    beta_guild = fake.add_guild("Beta Guild")
    beth = Person(fake.snowflake(), "beth", guild_permissions={beta_guild.id: VIEW_AND_SEND | MANAGE_GUILD})
    alpha = _write(tmp_path / "alpha" / "corpus", ALPHA)
    beta = _write(tmp_path / "beta" / "corpus", BETA)
    ai, bi = tmp_path / "alpha" / "index", tmp_path / "beta" / "index"
    config = tmp_path / "citebot.toml"
    config.write_text(_kb("alpha", alpha, ai, fake.guild_id, 'reindex_every = "1s"')
                      + _kb("beta", beta, bi, beta_guild.id, 'reindex_every = "2s"'), encoding="utf-8")
    bot = await _start(fake, tmp_path, encoder, config)
    try:
        refresher = bot.get_cog("Refresh").refresher
        # both build on their schedules (the first automatic build of each always runs)
        await _stats_until(fake, fake.ada, fake.general_id, lambda f: "· schedule · ok: 2 documents" in f["Last build"])
        fields = await _stats_until(fake, beth, beta_guild.general_id,
                                    lambda f: "· schedule · ok: 2 documents" in f["Last build"])
        assert "every 2s" in fields["Next build"]
        # alpha changes; beta does not: alpha's builds leave beta's index folder as it was
        before_beta = _tree(bi)
        (alpha / "pharos.txt").write_text(PHAROS.replace("volunteer stonemasons from Crete", "glassblowers from Murano"),
                                          encoding="utf-8")
        text = await _answer_until(fake, ALPHA_Q, fake.general_id, "glassblowers")
        assert "Ketla" not in text
        builds = refresher.last["beta"]
        await asyncio.sleep(2.5)  # beta's schedule comes round at least once more: nothing new to build
        assert _tree(bi) == before_beta and refresher.last["beta"] is builds
        # then beta changes too; each answers from its own corpus
        (beta / "volcano.txt").write_text(VOLCANO.replace("1912", "1887"), encoding="utf-8")
        text = await _answer_until(fake, BETA_Q, beta_guild.general_id, "1887")
        assert "glassblowers" not in text and "stonemasons" not in text
        text = await _answer(fake, ALPHA_Q, fake.general_id)
        assert "glassblowers" in text and "Ketla" not in text
        # every version in each index folder was built from its own corpus
        for index, corpus in ((ai, alpha), (bi, beta)):
            versions = _versions(index)
            assert versions and set(versions.values()) == {str(corpus.resolve())}, versions
    finally:
        await stop_bot(bot)


async def test_failed_scheduled_build_keeps_the_last_good_index_live(fake, tmp_path, encoder, caplog):
    bot, corpus = await _start_alpha(fake, tmp_path, encoder, 'reindex_every = "1s"')
    try:
        await _stats_until(fake, fake.ada, fake.general_id, lambda f: "· schedule · ok: 2 documents" in f["Last build"])
        corpus.rename(tmp_path / "away")  # the next slot's build fails: corpus not found
        fields = await _stats_until(fake, fake.ada, fake.general_id, lambda f: "· schedule · failed:" in f["Last build"])
        assert "corpus not found" in fields["Last build"] and "every 1s" in fields["Next build"]
        assert "stonemasons" in await _answer(fake, ALPHA_Q, fake.general_id)  # the last good index answers
        assert any("schedule build of alpha failed: corpus not found" in r.getMessage() for r in caplog.records)
        (tmp_path / "away").rename(corpus)  # back: the schedule goes on and builds again
        await _stats_until(fake, fake.ada, fake.general_id, lambda f: "· schedule · ok: 2 documents" in f["Last build"])
    finally:
        await stop_bot(bot)


async def test_shutdown_during_a_build_stops_the_scheduler_promptly(fake, tmp_path, encoder):
    bot, corpus = await _start_alpha(fake, tmp_path, encoder, 'reindex_every = "1s"\nwatch = true\nwatch_debounce = 0.2')
    refresher = bot.get_cog("Refresh").refresher
    tasks = list(refresher._tasks)
    started = asyncio.Event()

    async def stuck(name):  # a build that would never end by itself
        started.set()
        await asyncio.Event().wait()

    refresher.prepare = stuck
    try:
        await asyncio.wait_for(started.wait(), WAIT)
        assert "building now" in (await _stats(fake, fake.ada, fake.general_id))["Next build"]
    finally:
        t0 = time.monotonic()
        await stop_bot(bot)
    assert time.monotonic() - t0 < 30 and len(tasks) == 2 and all(t.done() for t in tasks)
    assert refresher.running == set()
