"""Discord history in the knowledge-base bot, end to end through the fake Discord: ``/corpus channel
add`` then ``/reindex`` makes a channel's messages quotable with their jump links; a second
``/reindex`` asks Discord only for newer messages; a private channel's passages reach only members
who can read it (answers, ``/sources``, autocomplete, buttons, "Show sources"), and never a public
reply elsewhere; ``/forget-me`` then ``/reindex`` drops a member's messages; an admin can add
channels only to a knowledge base serving their server alone.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fakediscord import MANAGE_GUILD, VIEW_AND_SEND, Person  # noqa: E402
from fakehistory import history_registry  # noqa: E402
from harness import bot_config, start_bot, stop_bot  # noqa: E402

from bot.render import escape  # noqa: E402

KEY_Q = "How do I rotate the Zephyr API key?"
KEY_A = "Open Settings, then Keys, then press Rotate; the old Zephyr key keeps working for 24 hours."
VAULT = "The combination of the Zephyr server room vault is written in the red binder on shelf nine."
VAULT_Q = "Where is the combination of the server room vault written?"
BOB_TIP = "Bob's tip: the Zephyr dashboard exports invoices as CSV from the Billing tab."
BOB_Q = "How do I export invoices from the Zephyr dashboard?"


@pytest.fixture
def world(hfake, tmp_path):
    """#help with a question, its answer and bob's tip; #staff (private: the Staff role) with a note."""
    q = hfake.past_message(hfake.help_id, KEY_Q, author=hfake.bob)
    a = hfake.past_message(hfake.help_id, KEY_A, reply_to=q)
    hfake.clock += 3600  # an hour later: a conversation of its own
    tip = hfake.past_message(hfake.help_id, BOB_TIP, author=hfake.bob)
    hfake.past_message(hfake.staff_id, VAULT, author=hfake.carol)
    registry, corpus = history_registry(tmp_path / "kb", [hfake.guild_id])
    return dict(q=q, a=a, tip=tip, registry=registry, corpus=corpus)


@pytest.fixture
async def hbot(hfake, world, encoder, tmp_path):
    b = await start_bot(bot_config(hfake, tmp_path, history_recheck=0), None, registry=world["registry"],
                        engine_options={"encoder": encoder})
    yield b
    await stop_bot(b)


def _content(r) -> str:
    return r.body().get("content") or ""


async def add(fake, channel_id: int, user=None) -> str:
    inter = await fake.group_command("corpus", "channel", "add", {"channel": str(channel_id)}, user=user,
                                     resolved=fake.resolved_channel(channel_id))
    r = await fake.wait_interaction(inter, lambda r: re.search(r"^(✅|❌)", _content(r)), kind="edit")
    return _content(r)


async def reindex(fake) -> str:
    """``/reindex``: its final text, after the fetch's progress edits (checked to be there)."""
    inter = await fake.slash("reindex", user=fake.ada)
    r = await fake.wait_interaction(inter, lambda r: "Reindex finished" in _content(r), kind="edit", timeout=60)
    edits = [_content(e) for e in fake.for_interaction(inter) if e.method == "PATCH"]
    assert any(e.startswith("⏳ Reading Discord channels") for e in edits), edits
    assert not any("#" in e.split("…")[0][len("⏳ Reading"):] for e in edits), "no channel named in public"
    return _content(r)


async def ask(fake, question: str, user, *, private: bool = True, channel_id=None) -> str:
    inter = await fake.slash("ask", {"question": question, "private": private}, user=user, channel_id=channel_id)
    return (await fake.wait_interaction(inter, kind="followup")).text()


async def test_added_channel_is_quoted_with_its_jump_link_and_refetched_incrementally(hfake, world, hbot):
    assert hbot.get_cog("Channels").recheck == 0  # the [bot] setting reaches the cog
    assert (await add(hfake, hfake.help_id)).startswith("✅")
    text = await reindex(hfake)
    assert "📥 Discord: 0 new" in text  # just added: nothing newer to fetch
    text = await ask(hfake, KEY_Q, hfake.alice)
    assert "press Rotate" in text
    g, c = hfake.guild_id, hfake.help_id
    assert f"https://discord.com/channels/{g}/{c}/{world['q']['id']}" in text  # the conversation's first message

    # a second /reindex fetches first, and asks Discord only for what is newer than the last fetch
    newer = hfake.past_message(hfake.help_id, "Since version 3 the Zephyr key rotates itself every ninety days.")
    mark = hfake.mark()
    text = await reindex(hfake)
    asked = hfake.history_requests(hfake.help_id, mark)
    assert [r.query.get("after") for r in asked] == [world["tip"]["id"]]
    assert "📥 Discord: 1 new message(s)" in text and "1 added" in text
    text = await ask(hfake, "How often does the Zephyr key rotate itself?", hfake.alice)
    assert "ninety days" in text and f"/{c}/{newer['id']}" in text


async def test_private_channel_passages_only_for_members_who_can_read_it(hfake, world, hbot):
    await add(hfake, hfake.help_id)
    await add(hfake, hfake.staff_id)
    await reindex(hfake)
    staff_link = f"https://discord.com/channels/{hfake.guild_id}/{hfake.staff_id}/"
    # bob can't read #staff: never quoted, listed or offered to him
    text = await ask(hfake, VAULT_Q, hfake.bob)
    assert "red binder" not in text and staff_link not in text
    for who, sees in ((hfake.bob, False), (hfake.carol, True)):
        cb = await hfake.wait_interaction(await hfake.slash("sources", user=who), kind="callback")
        assert (f"/{hfake.staff_id}/" in cb.text()) is sees
        inter = await hfake.autocomplete("source", {"document": ""}, "document", user=who)
        choices = (await hfake.wait_interaction(inter, kind="callback")).json["data"]["choices"]
        assert any(f"/{hfake.staff_id}/" in ch["value"] for ch in choices) is sees
        assert any(f"/{hfake.help_id}/" in ch["value"] for ch in choices)
    # carol (Staff) is quoted it privately, and publicly in #staff itself
    text = await ask(hfake, VAULT_Q, hfake.carol)
    assert "red binder" in text and staff_link in text
    # but a public answer in #general is read by everyone there: no #staff passage in it
    text = await ask(hfake, VAULT_Q, hfake.carol, private=False)
    assert "red binder" not in text and staff_link not in text
    m = await hfake.mention(VAULT_Q, author=hfake.carol, channel_id=hfake.staff_id)
    r = await hfake.wait_reply(m)
    assert "red binder" in r.text()
    answer = hfake.messages[int(r.response["id"])]
    # the answer's buttons and "Show sources": carol sees the passage, bob (who can't read #staff) doesn't
    for who, sees in ((hfake.carol, True), (hfake.bob, False)):
        follow = await hfake.wait_interaction(await hfake.click(answer, "citebot:src:hist:1", user=who), kind="followup")
        assert ("red binder" in follow.text()) is sees
        cb = await hfake.wait_interaction(await hfake.context_menu("Show sources", answer, user=who), kind="callback")
        assert ("red binder" in cb.text()) is sees and (staff_link in cb.text()) is sees
    # /source of the #staff document by id: as if it did not exist for bob
    doc = next(d["doc_id"] for d in await hbot.in_kb("hist", lambda e: e.documents()) if f"/{hfake.staff_id}/" in d["doc_id"])
    follow = await hfake.wait_interaction(await hfake.slash("source", {"document": doc}, user=hfake.bob), kind="followup")
    assert "no document" in _content(follow) and "red binder" not in follow.text()


async def test_forget_me_then_reindex_drops_the_members_messages(hfake, world, hbot):
    await add(hfake, hfake.help_id)
    await reindex(hfake)
    assert "Billing tab" in await ask(hfake, BOB_Q, hfake.alice)
    inter = await hfake.slash("forget-me", user=hfake.bob)
    done = await hfake.wait_interaction(inter, kind="followup")
    assert "2 of your messages" in _content(done)
    hfake.past_message(hfake.help_id, "Bob again: invoices also go out by mail.", author=hfake.bob)
    text = await reindex(hfake)
    assert "removed" in text
    docs = await hbot.in_kb("hist", lambda e: [e.source(d["doc_id"]) for d in e.documents()])
    stored = " ".join(p.text for v in docs for p in v.paragraphs)
    assert "press Rotate" in stored  # alice's answer stays
    assert "Billing tab" not in stored and "by mail" not in stored and KEY_Q not in stored
    assert "Billing tab" not in await ask(hfake, BOB_Q, hfake.alice)


async def test_only_an_admin_of_a_knowledge_base_serving_this_server_alone_adds_channels(hfake, tmp_path, encoder):
    b = hfake.add_guild("Beta Guild")
    beth = Person(hfake.snowflake(), "beth", guild_permissions={b.id: VIEW_AND_SEND | MANAGE_GUILD})
    # one knowledge base shared by both guilds: Manage Server in either is no right over it
    registry, corpus = history_registry(tmp_path / "shared", [hfake.guild_id, b.id])
    bot = await start_bot(bot_config(hfake, tmp_path, allowed_guilds=[]), None, registry=registry,
                          engine_options={"encoder": encoder})
    try:
        hfake.seed(hfake.help_id, 3)
        for user, refusal in ((beth, "Only members with Manage Server"), (hfake.bob, "Only members with Manage Server"),
                              (hfake.ada, "shared by several servers")):
            inter = await hfake.group_command("corpus", "channel", "add", {"channel": str(hfake.help_id)}, user=user,
                                              resolved=hfake.resolved_channel(hfake.help_id))
            cb = await hfake.wait_interaction(inter, kind="callback")
            assert cb.json["data"]["flags"] & 64 and refusal in cb.json["data"]["content"]
        assert not hfake.history_requests(hfake.help_id) and not (corpus / "_discord").exists()
    finally:
        await stop_bot(bot)


async def test_forget_me_redacts_stored_answers_votes_and_holds_for_the_guild(hfake, world, hbot, tmp_path):
    """Issue 27 D: after /forget-me, "Show sources" on an older answer no longer shows the member's
    words or name, the feedback export holds neither their votes nor their questions, and the
    forgotten list holds for the guild: a knowledge base's archive opened later skips them too."""
    await add(hfake, hfake.help_id)
    await reindex(hfake)
    inter = await hfake.slash("ask", {"question": BOB_Q, "private": False}, user=hfake.alice, channel_id=hfake.help_id)
    reply = await hfake.wait_interaction(inter, kind="followup")
    assert "Billing tab" in reply.text() and "Bob" in reply.text()
    answer = hfake.messages[int(reply.response["id"])]
    inter = await hfake.slash("ask", {"question": "Which tab of the Zephyr dashboard has invoices, Bob asks",
                                      "private": False}, user=hfake.bob, channel_id=hfake.help_id)
    await hfake.wait_interaction(inter, kind="followup")
    await hfake.wait_interaction(await hfake.click(answer, "citebot:vote:hist:up", user=hfake.bob), kind="callback")
    await hfake.wait_interaction(await hfake.click(answer, "citebot:vote:hist:up", user=hfake.alice), kind="callback")
    assert len(hbot.store.votes()) == 2

    done = _content(await hfake.wait_interaction(await hfake.slash("forget-me", user=hfake.bob), kind="followup"))
    assert "2 of your messages" in done and re.search(r"[1-9]\d* quote\(s\) of your words", done)
    assert "1 of your questions" in done and "1 of your vote(s)" in done

    cb = await hfake.wait_interaction(await hfake.context_menu("Show sources", answer, user=hfake.alice), kind="callback")
    assert "Billing tab" not in cb.text() and "Bob" not in cb.text() and "removed at the author's request" in cb.text()
    votes = hbot.store.votes()
    assert len(votes) == 1 and votes[0]["user"] == hbot.store.hash_user(hfake.alice.id)
    exported = repr(votes)
    assert "Billing tab" not in exported and "Bob" not in exported
    assert "Bob asks" not in repr([hbot.store.get_answer(m) for m in hfake.messages])
    # a corpus folder no knowledge base used before: its archive knows bob is forgotten
    archive, _ = hbot.get_cog("Channels").archive(tmp_path / "later", hfake.guild_id)
    assert hfake.bob.id in archive.forgotten


async def test_source_errors_name_no_hidden_document(hfake, world, hbot):
    """Issue 27 F: /source's "did you mean" and "has paragraphs 1–N" are computed after the
    visibility check: to bob, #staff's documents neither exist nor are suggested."""
    await add(hfake, hfake.help_id)
    await add(hfake, hfake.staff_id)
    await reindex(hfake)
    doc = next(d["doc_id"] for d in await hbot.in_kb("hist", lambda e: e.documents()) if f"/{hfake.staff_id}/" in d["doc_id"])
    for who, asked, hidden in ((hfake.bob, {"document": doc, "paragraph": 99}, True),
                               (hfake.bob, {"document": doc[:-1]}, True),
                               (hfake.carol, {"document": doc, "paragraph": 99}, False)):
        follow = await hfake.wait_interaction(await hfake.slash("source", asked, user=who), kind="followup")
        text = _content(follow)
        assert ("has paragraphs" in text) is not hidden
        if hidden:  # nothing of #staff beyond what bob typed himself (a suggestion may name #help)
            assert str(hfake.staff_id) not in text.replace(escape(asked["document"]), "")


async def test_status_lines_name_no_private_thread_in_public(hfake, world, hbot):
    """Issue 27 J: /corpus channel add shows its progress to the admin only; /reindex's public
    progress and summary carry counts, the names go to the admin in a private message."""
    hfake.add_thread(hfake.help_id, "layoffs-q3-planning", private=True, members=[hfake.alice],
                     messages=[(hfake.alice, "The layoffs list is final on Friday; severance is three months.")])
    inter = await hfake.group_command("corpus", "channel", "add", {"channel": str(hfake.help_id)},
                                      resolved=hfake.resolved_channel(hfake.help_id))
    cb = await hfake.wait_interaction(inter, kind="callback")
    assert cb.json["data"]["flags"] & 64
    await hfake.wait_interaction(inter, lambda r: _content(r).startswith("✅"), kind="edit")
    hfake.past_message(hfake.help_id, "A new answer about invoices arrived today.", author=hfake.alice)
    inter = await hfake.slash("reindex", user=hfake.ada)
    await hfake.wait_interaction(inter, lambda r: "Reindex finished" in _content(r), kind="edit")
    public = [r for r in hfake.for_interaction(inter) if not (r.body().get("flags") or 0) & 64]
    assert public and not any("layoffs" in _content(r) for r in public)
    private = await hfake.wait_interaction(inter, lambda r: "added:" in _content(r), kind="followup")
    assert private.body()["flags"] & 64
