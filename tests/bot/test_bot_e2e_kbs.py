"""End-to-end: one bot, several knowledge bases. Guild A is served by "alpha", guild B by "beta",
guild C by none. Answers, /sources, /source, uploads, reindex and buttons never cross; an admin of one
guild cannot touch the other's knowledge base; a plain member can touch none; a restart keeps it so.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from fakediscord import MANAGE_GUILD, VIEW_AND_SEND, Person
from harness import bot_config, start_bot, stop_bot

from bot.checks import NOT_SET_UP
from bot.feedback import FeedbackStore
from retrieval.serve.kb import load_registry

ALPHA = {
    "pharos.txt": "The Pharos\n\nThe Lighthouse of Alexandria was rebuilt in 2031 by volunteer stonemasons from Crete.\n\n"
                  "Its new lamp burns olive oil and can be seen from forty kilometres away.\n",
    "bees.txt": "Harbour bees\n\nThe lighthouse keepers of Alexandria keep twelve beehives on the harbour wall.\n\n"
                "The honey is sold every Friday at the fish market.\n",
}
BETA = {
    "volcano.txt": "Mount Ketla\n\nMount Ketla erupted in 1912 and buried the village of Orsund under grey ash.\n\n"
                   "Its crater lake is now a breeding ground for red-throated divers.\n",
    "chess.txt": "The Orsund chess club\n\nThe Orsund chess club was founded by three fishermen in 1954.\n\n"
                 "Its members play on boards carved from driftwood.\n",
}
ALPHA_Q = "Who rebuilt the Lighthouse of Alexandria?"
BETA_Q = "When did Mount Ketla erupt?"
ALPHA_WORDS = ("stonemasons", "Crete", "beehives", "pharos", "bees")
BETA_WORDS = ("Ketla", "Orsund", "driftwood", "volcano", "chess")


def _content(r) -> str:
    return r.body().get("content") or ""


@pytest.fixture
def world(fake, tmp_path):
    """Two more guilds, two corpora and a config file naming them; people with rights in one guild."""
    b, c = fake.add_guild("Beta Guild"), fake.add_guild("Gamma Guild")
    corpora = {}
    for name, docs in (("alpha", ALPHA), ("beta", BETA)):
        folder = tmp_path / name / "corpus"
        folder.mkdir(parents=True)
        for fn, text in docs.items():
            (folder / fn).write_text(text, encoding="utf-8")
        corpora[name] = folder
    config = tmp_path / "citebot.toml"
    config.write_text(
        "[[knowledge_bases]]\n"
        f'name = "alpha"\ncorpus = "{corpora["alpha"]}"\nindex_dir = "{tmp_path / "alpha" / "index"}"\n'
        f"guilds = [{fake.guild_id}]\n\n"
        "[[knowledge_bases]]\n"
        f'name = "beta"\ncorpus = "{corpora["beta"]}"\nindex_dir = "{tmp_path / "beta" / "index"}"\n'
        f"guilds = [{b.id}]\nk = 2\n",
        encoding="utf-8",
    )
    # ada: Manage Server in A only; beth: Manage Server in B only; alice: no rights anywhere
    fake.ada.guild_permissions[b.id] = VIEW_AND_SEND
    beth = Person(fake.snowflake(), "beth", guild_permissions={b.id: VIEW_AND_SEND | MANAGE_GUILD})
    return SimpleNamespace(b=b, c=c, corpora=corpora, config=config, beth=beth, registry=load_registry(config))


async def _start(fake, world, encoder, tmp_path, **overrides):
    cfg = bot_config(fake, tmp_path, allowed_guilds=[], **overrides)
    return await start_bot(cfg, None, registry=world.registry, engine_options={"encoder": encoder})


@pytest.fixture
async def kbot(fake, world, encoder, tmp_path):
    b = await _start(fake, world, encoder, tmp_path)
    yield b
    await stop_bot(b)


async def _ask(fake, question, channel_id):
    m = await fake.mention(question, channel_id=channel_id)
    r = await fake.wait_reply(m)
    return r, fake.messages[int(r.response["id"])]


def _ids(message) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


async def test_answers_sources_and_buttons_stay_in_their_guild(fake, world, kbot):
    r, answer_a = await _ask(fake, ALPHA_Q, fake.general_id)
    text = r.text()
    assert "stonemasons" in text and not any(w in text for w in BETA_WORDS)
    assert _ids(answer_a)[0] == "citebot:src:alpha:1" and "citebot:vote:alpha:up" in _ids(answer_a)

    # the same question in B is answered from beta only (its thread counts as its general channel)
    for channel in (world.b.general_id, world.b.thread_id):
        r, answer_b = await _ask(fake, ALPHA_Q, channel)
        assert not any(w.lower() in r.text().lower() for w in ALPHA_WORDS), r.text()
    r, answer_b = await _ask(fake, BETA_Q, world.b.general_id)
    assert "1912" in r.text() and _ids(answer_b)[0] == "citebot:src:beta:1"

    # /sources and autocomplete list each guild's own documents
    for channel, mine, theirs in ((fake.general_id, ALPHA, BETA), (world.b.general_id, BETA, ALPHA)):
        cb = await fake.wait_interaction(await fake.slash("sources", channel_id=channel), kind="callback")
        desc = cb.json["data"]["embeds"][0]["description"]
        assert all(Path(f).stem in desc for f in mine) and not any(Path(f).stem in desc for f in theirs)
        inter = await fake.autocomplete("source", {"document": ""}, "document", channel_id=channel)
        values = {c["value"] for c in (await fake.wait_interaction(inter, kind="callback")).json["data"]["choices"]}
        assert values == {Path(f).stem for f in mine}
    # /source of an alpha document from B: not found there
    follow = await fake.wait_interaction(await fake.slash("source", {"document": "pharos"}, channel_id=world.b.general_id),
                                         kind="followup")
    assert "no document" in _content(follow) and "stonemasons" not in follow.text()

    # alpha's button works in A; the same message shown in B (forged) is refused, no text leaks
    follow = await fake.wait_interaction(await fake.click(answer_a, "citebot:src:alpha:1", user=fake.bob), kind="followup")
    assert "stonemasons" in follow.text()
    moved = {**copy.deepcopy(answer_a), "channel_id": str(world.b.general_id)}
    for cid in ("citebot:src:alpha:1", "citebot:vote:alpha:up"):
        inter = await fake.click(moved, cid, user=fake.bob)
        r = await fake.wait_interaction(inter, lambda r: r.method == "POST" and _content(r), timeout=10)
        # another guild's answer: as if unknown (issue 27 G), not even "from another knowledge base"
        assert "no longer have" in _content(r) and "stonemasons" not in r.text()
    # a beta button id pasted on alpha's answer (forged) does not open alpha's record either
    forged = copy.deepcopy(answer_a)
    forged["components"][0]["components"][0]["custom_id"] = "citebot:src:beta:1"
    inter = await fake.click(forged, "citebot:src:beta:1", user=fake.bob)
    r = await fake.wait_interaction(inter, kind="followup")
    assert "not served here" in _content(r) and "stonemasons" not in r.text()
    # "Show sources" on A's answer, from B
    inter = await fake.context_menu("Show sources", moved, user=fake.bob)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert "no sources for that message" in cb.json["data"]["content"] and not cb.json["data"].get("embeds")


async def test_guild_without_a_knowledge_base_gets_a_short_private_no(fake, world, kbot):
    m = await fake.mention(ALPHA_Q, channel_id=world.c.general_id)
    r = await fake.wait_reply(m)
    assert _content(r) == NOT_SET_UP and not r.body().get("embeds") and not r.body().get("components")
    for name, opts, kw in (("ask", {"question": ALPHA_Q}, {}), ("sources", None, {}), ("reindex", None, {"user": fake.ada}),
                           ("source", {"document": "pharos"}, {})):
        inter = await fake.slash(name, opts, channel_id=world.c.general_id, **kw)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64 and cb.json["data"]["content"] == NOT_SET_UP
    inter = await fake.autocomplete("source", {"document": ""}, "document", channel_id=world.c.general_id)
    await asyncio.sleep(0.3)
    assert not [r for r in fake.for_interaction(inter) if (r.json or {}).get("data", {}).get("choices")]
    # a plain message in C's auto-answer-less channels is ignored, not answered
    quiet = await fake.send_message("hello", channel_id=world.c.other_id)
    await asyncio.sleep(0.2)
    assert not [r for r in fake.requests if str((r.body().get("message_reference") or {}).get("message_id")) == quiet["id"]]


async def _admin_call(fake, name, user, channel_id, file=None):
    if name == "corpus":
        att = fake.attachment("planted.txt", b"Planted\n\nThis note was planted in the other guild's corpus.\n")
        return await fake.slash("corpus", {"file": att["id"]}, subcommand="add", user=user, channel_id=channel_id,
                                resolved={"attachments": {att["id"]: att}})
    return await fake.slash(name, user=user, channel_id=channel_id)


async def test_admin_rights_never_cross(fake, world, kbot):
    pool = kbot.pool
    versions = {n: await kbot.in_kb(n, lambda e: e.stats()["version"]) for n in ("alpha", "beta")}
    files = {n: sorted(p.name for p in world.corpora[n].iterdir()) for n in ("alpha", "beta")}
    refused = [(fake.ada, world.b.general_id), (world.beth, fake.general_id), (fake.alice, fake.general_id),
               (fake.alice, world.b.general_id), (fake.rolf, world.b.general_id)]
    for user, channel in refused:
        for name in ("reindex", "stats", "corpus"):
            inter = await _admin_call(fake, name, user, channel)
            cb = await fake.wait_interaction(inter, kind="callback")
            data = cb.json["data"]
            assert cb.json["type"] == 4 and data["flags"] & 64 and "Only members with Manage Server" in data["content"]
    assert not any(r.path.startswith("/attachments/") for r in fake.requests), "no upload was even downloaded"
    assert {n: sorted(p.name for p in world.corpora[n].iterdir()) for n in ("alpha", "beta")} == files
    assert not any(pool.peek(n) is not None and pool.peek(n).reindexing for n in ("alpha", "beta"))

    # beth administers beta from B: stats of beta, upload into beta's folder, reindex of beta only
    cb = await fake.wait_interaction(await _admin_call(fake, "stats", world.beth, world.b.general_id), kind="callback")
    embed = cb.json["data"]["embeds"][0]
    assert embed["title"].endswith("beta") and {f["name"]: f["value"] for f in embed["fields"]}["Documents"] == "2"
    follow = await fake.wait_interaction(await _admin_call(fake, "corpus", world.beth, world.b.general_id), kind="followup")
    assert "Saved `planted.txt`" in _content(follow)
    assert (world.corpora["beta"] / "planted.txt").exists() and not (world.corpora["alpha"] / "planted.txt").exists()
    inter = await _admin_call(fake, "reindex", world.beth, world.b.general_id)
    done = await fake.wait_interaction(inter, lambda r: "Reindex finished" in _content(r), kind="edit")
    assert "planted" not in _content(done)  # the channel gets counts; the names go to the admin
    private = await fake.wait_interaction(inter, lambda r: "added: planted" in _content(r), kind="followup")
    assert private.body()["flags"] & 64
    assert await kbot.in_kb("alpha", lambda e: e.stats()["version"]) == versions["alpha"]
    assert await kbot.in_kb("beta", lambda e: e.stats()["version"]) != versions["beta"]
    # rolf's admin role belongs to guild A: there it is enough
    cb = await fake.wait_interaction(await _admin_call(fake, "stats", fake.rolf, fake.general_id), kind="callback")
    assert cb.json["data"]["embeds"][0]["title"].endswith("alpha")


async def test_one_reindex_per_knowledge_base_others_keep_answering(fake, world, kbot):
    admin = kbot.get_cog("Admin")
    gate, held = threading.Event(), threading.Event()

    def hold(done, total):  # the first reindex to report progress (alpha's) waits here
        if not held.is_set():
            held.set()
            gate.wait(60)

    admin.progress_listeners.append(hold)
    (world.corpora["alpha"] / "more.txt").write_text("More\n\nThe harbour wall was repaired in 2033.\n", encoding="utf-8")
    try:
        alpha = await fake.slash("reindex", user=fake.ada)
        assert await asyncio.to_thread(held.wait, 30)
        again = await fake.slash("reindex", user=fake.ada)
        cb = await fake.wait_interaction(again, kind="callback")
        assert "already running" in cb.json["data"]["content"] and cb.json["data"]["flags"] & 64
        r, _ = await _ask(fake, BETA_Q, world.b.general_id)  # beta answers meanwhile
        assert "1912" in r.text()
        r, _ = await _ask(fake, ALPHA_Q, fake.general_id)  # and alpha, from its old index
        assert "stonemasons" in r.text()
        beta = await fake.slash("reindex", user=world.beth, channel_id=world.b.general_id)  # not "already running"
        done = await fake.wait_interaction(beta, lambda r: "Reindex finished" in _content(r), kind="edit")
        assert "0 added, 0 changed, 0 removed, 2 unchanged" in _content(done)
    finally:
        gate.set()
        admin.progress_listeners.remove(hold)
    await fake.wait_interaction(alpha, lambda r: "Reindex finished" in _content(r), kind="edit")
    await fake.wait_interaction(alpha, lambda r: "added: more" in _content(r), kind="followup")


async def test_restart_keeps_the_scoping(fake, world, encoder, tmp_path):
    b1 = await _start(fake, world, encoder, tmp_path)
    try:
        _, answer_a = await _ask(fake, ALPHA_Q, fake.thread_id)
        # a follow-up in that thread is answered (from alpha); B's thread was never answered in
        follow_up = await fake.send_message("And who keeps the beehives?", channel_id=fake.thread_id)
        r = await fake.wait_reply(follow_up)
        assert "beehives" in r.text()
    finally:
        await stop_bot(b1)
    b2 = await _start(fake, world, encoder, tmp_path)  # nothing in memory: dynamic items and the store
    try:
        assert not b2.pool.is_open("alpha"), "opened on demand, not at start"
        follow = await fake.wait_interaction(await fake.click(answer_a, "citebot:src:alpha:1", user=fake.bob),
                                             kind="followup")
        assert "stonemasons" in follow.text()
        assert b2.pool.is_open("alpha") and not b2.pool.is_open("beta")
        cb = await fake.wait_interaction(await fake.click(answer_a, "citebot:vote:alpha:up", user=fake.bob),
                                         kind="callback")
        assert "👍" in cb.json["data"]["content"]
        moved = {**copy.deepcopy(answer_a), "channel_id": str(world.b.thread_id)}
        follow = await fake.wait_interaction(await fake.click(moved, "citebot:src:alpha:1", user=fake.bob),
                                             kind="followup")
        assert "no longer have" in _content(follow) and "stonemasons" not in follow.text()
        quiet = await fake.send_message("And who keeps the beehives?", channel_id=world.b.thread_id)
        await asyncio.sleep(0.3)
        assert not [r for r in fake.requests if str((r.body().get("message_reference") or {}).get("message_id")) == quiet["id"]]
    finally:
        await stop_bot(b2)
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    try:
        assert [v["kb"] for v in store.votes()] == ["alpha"]
        assert store.count_answers("alpha") == 2 and store.count_answers("beta") == 0
        assert store.tally("alpha") == {"up": 1, "down": 0} and store.tally("beta") == {"up": 0, "down": 0}
    finally:
        store.close()


async def test_shared_knowledge_base_only_for_the_bots_owners(fake, world, encoder, tmp_path):
    """A knowledge base serving A and B: Manage Server in A is no right over it; admin_user_ids is."""
    text = world.config.read_text(encoding="utf-8").replace(f"guilds = [{fake.guild_id}]",
                                                           f"guilds = [{fake.guild_id}, {world.b.id}]")
    text = text.replace(f"guilds = [{world.b.id}]\n", f"guilds = [{world.c.id}]\n")
    world.config.write_text(text, encoding="utf-8")
    world.registry = load_registry(world.config)
    b = await _start(fake, world, encoder, tmp_path, admin_user_ids=[fake.bob.id])
    try:
        for user, channel in ((fake.ada, fake.general_id), (world.beth, world.b.general_id)):
            cb = await fake.wait_interaction(await fake.slash("stats", user=user, channel_id=channel), kind="callback")
            assert "shared by several servers" in cb.json["data"]["content"]
        cb = await fake.wait_interaction(await fake.slash("stats", user=fake.bob, channel_id=world.b.general_id),
                                         kind="callback")
        assert cb.json["data"]["embeds"][0]["title"].endswith("alpha")
    finally:
        await stop_bot(b)


async def test_over_the_memory_budget_the_question_is_told_to_wait(fake, world, encoder, tmp_path):
    """An index that does not fit the budget (even with every idle one closed) is not opened: the
    asker gets one line, nothing from any corpus, and the bot keeps running."""
    from bot.client import BUSY

    b = await _start(fake, world, encoder, tmp_path, memory_budget_mb=1)
    try:
        r, _ = await _ask(fake, ALPHA_Q, fake.general_id)
        assert _content(r) == BUSY and not r.body().get("embeds")
        inter = await fake.slash("sources", channel_id=world.b.general_id)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["data"]["content"] == BUSY and cb.json["data"]["flags"] & 64
        assert not b.pool.is_open("alpha") and not b.pool.is_open("beta") and b.pool.used_bytes() == 0
    finally:
        await stop_bot(b)


async def test_auto_answer_channels_answer_from_their_own_knowledge_base(fake, world, encoder, tmp_path):
    b = await _start(fake, world, encoder, tmp_path,
                     auto_answer_channels=[fake.other_id, world.b.other_id, world.c.other_id])
    try:
        for channel, words, other in ((fake.other_id, "stonemasons", BETA_WORDS), (world.b.other_id, "1912", ALPHA_WORDS)):
            q = ALPHA_Q if words == "stonemasons" else BETA_Q
            msg = await fake.send_message(q, channel_id=channel)
            r = await fake.wait_reply(msg)
            assert words in r.text() and not any(w in r.text() for w in other)
        quiet = await fake.send_message(ALPHA_Q, channel_id=world.c.other_id)  # no knowledge base: silence
        probe = await fake.send_message(BETA_Q, channel_id=world.b.other_id)
        await fake.wait_reply(probe)
        assert not [r for r in fake.requests if str((r.body().get("message_reference") or {}).get("message_id")) == quiet["id"]]
    finally:
        await stop_bot(b)
