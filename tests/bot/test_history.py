"""Discord history as a source, end to end: the real discord.py client against the fake Discord.

``/corpus channel add`` reads a channel with its threads into DiscordChatExporter JSON in the
corpus; a later fetch asks only for newer messages (less the re-checked recent ones); edits and
deletions on the gateway reach the export; 429s mid-fetch are survived; ``/forget-me`` and
exclusion drop messages for good.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fakehistory import history_registry  # noqa: E402
from harness import bot_config, start_bot, stop_bot  # noqa: E402

JUMP = "https://discord.com/channels/{g}/{c}/{m}"


@pytest.fixture
def kb(hfake, tmp_path):
    """A knowledge base serving the fake guild, with a corpus folder of its own."""
    return history_registry(tmp_path / "kb", [hfake.guild_id])


@pytest.fixture
def corpus(kb) -> Path:
    return kb[1]


@pytest.fixture
async def hbot(hfake, tmp_path, encoder, kb):
    """The bot (the Channels cog loaded after Admin) serving that knowledge base: exports go to its
    corpus folder."""
    b = await start_bot(bot_config(hfake, tmp_path), None, registry=kb[0], engine_options={"encoder": encoder})
    yield b
    await stop_bot(b)


def export(corpus: Path, fake, channel_id: int) -> dict:
    return json.loads((corpus / "_discord" / str(fake.guild_id) / f"{channel_id}.json").read_text(encoding="utf-8"))


def contents(data: dict) -> list[str]:
    return [m["content"] for m in data["messages"]]


async def add(fake, channel_id: int, *, user=None) -> dict:
    """Run ``/corpus channel add`` and wait for its final status edit."""
    inter = await fake.group_command("corpus", "channel", "add", {"channel": str(channel_id)}, user=user,
                                     resolved=fake.resolved_channel(channel_id))
    await fake.wait_interaction(inter, lambda r: re.search(r"^(✅|❌)", r.body().get("content") or ""), kind="edit")
    return inter


def final_text(fake, inter) -> str:
    edits = [r for r in fake.for_interaction(inter) if r.method == "PATCH"]
    return edits[-1].body()["content"]


async def settle(cog, count: int, timeout: float = 10.0) -> None:
    """Wait until the cog applied ``count`` gateway edits/deletions in total."""
    for _ in range(int(timeout / 0.02)):
        if cog.events_applied >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"only {cog.events_applied} of {count} events applied")


async def test_full_then_incremental_fetch_asks_only_for_newer_messages(hfake, hbot, corpus):
    first = hfake.seed(hfake.help_id, 250)
    cog = hbot.get_cog("Channels")
    cog.recheck = 0
    inter = await add(hfake, hfake.help_id)
    assert "250 new" in final_text(hfake, inter)
    data = export(corpus, hfake, hfake.help_id)
    assert [m["id"] for m in data["messages"]] == [m["id"] for m in first]
    assert data["guild"] == {"id": str(hfake.guild_id), "name": "Fake Guild", "iconUrl": None}
    assert data["channel"]["name"] == "help" and data["channel"]["type"] == "GuildTextChat"
    assert data["channel"]["category"] == "Knowledge" and data["messageCount"] == 250
    full = hfake.history_requests(hfake.help_id)
    assert [r.query.get("after") for r in full][0] == "0" and len(full) == 3  # 100 + 100 + 50

    newer = hfake.seed(hfake.help_id, 30)
    mark = hfake.mark()
    inter = await hfake.group_command("corpus", "channel", "fetch")
    await hfake.wait_interaction(inter, lambda r: "✅" in (r.body().get("content") or ""), kind="edit")
    again = hfake.history_requests(hfake.help_id, mark)
    # one page, starting right after the last message of the first fetch
    assert [r.query.get("after") for r in again] == [first[-1]["id"]]
    data = export(corpus, hfake, hfake.help_id)
    assert len(data["messages"]) == 280 and data["messages"][-1]["id"] == newer[-1]["id"]
    assert "30 new" in final_text(hfake, inter)


async def test_recheck_window_catches_edits_and_deletions_missed_while_offline(hfake, hbot, corpus):
    msgs = hfake.seed(hfake.help_id, 40)
    cog = hbot.get_cog("Channels")
    cog.recheck = 10
    await add(hfake, hfake.help_id)
    # changes made while the bot was not listening: no gateway events
    msgs[35]["content"] = "Edited while the bot was offline."
    msgs[35]["edited_timestamp"] = "2026-01-01T00:00:00+00:00"
    await hfake.delete_message(msgs[38], silently=True)
    await hfake.delete_message(msgs[5], silently=True)  # older than the window: kept until a full fetch
    mark = hfake.mark()
    inter = await hfake.group_command("corpus", "channel", "fetch")
    await hfake.wait_interaction(inter, lambda r: "✅" in (r.body().get("content") or ""), kind="edit")
    assert [r.query.get("after") for r in hfake.history_requests(hfake.help_id, mark)] == [msgs[29]["id"]]
    data = export(corpus, hfake, hfake.help_id)
    by_id = {m["id"]: m for m in data["messages"]}
    assert by_id[msgs[35]["id"]]["content"] == "Edited while the bot was offline."
    assert by_id[msgs[35]["id"]]["timestampEdited"].startswith("2026-01-01")
    assert msgs[38]["id"] not in by_id and msgs[5]["id"] in by_id
    assert "1 edited, 1 deleted" in final_text(hfake, inter)


async def test_gateway_edit_and_delete_reach_the_export(hfake, hbot, corpus):
    msgs = hfake.seed(hfake.help_id, 5)
    await add(hfake, hfake.help_id)
    cog = hbot.get_cog("Channels")
    await hfake.edit_message(msgs[1], "The port is 7443, not 443 <@&1> @everyone")
    await hfake.delete_message(msgs[3])
    await settle(cog, 2)
    data = export(corpus, hfake, hfake.help_id)
    by_id = {m["id"]: m for m in data["messages"]}
    assert by_id[msgs[1]["id"]]["content"].startswith("The port is 7443, not 443")
    assert by_id[msgs[1]["id"]]["timestampEdited"] is not None
    assert msgs[3]["id"] not in by_id and len(by_id) == 4


async def test_threads_forum_posts_and_jump_links(hfake, hbot, corpus):
    q = hfake.past_message(hfake.help_id, "How do I rotate the API key?", author=hfake.bob)
    hfake.past_message(hfake.help_id, "Settings › Keys › Rotate; the old key works for 24 h.", reply_to=q)
    active = hfake.add_thread(hfake.help_id, "active thread", messages=[(hfake.bob, "Active thread question")])
    old = hfake.add_thread(hfake.help_id, "archived thread", archived=True,
                           messages=[(hfake.alice, "Archived thread answer")])
    private = hfake.add_thread(hfake.help_id, "private thread", private=True, archived=True,
                               members=[hfake.alice], messages=[(hfake.alice, "Private thread note")])
    post = hfake.add_thread(hfake.forum_id, "Install fails on ARM",
                            messages=[(hfake.bob, "Install fails on ARM64"), (hfake.alice, "Use the arm64 build.")])
    old_post = hfake.add_thread(hfake.forum_id, "Old post", archived=True, messages=[(hfake.bob, "Archived post")])
    hfake.past_message(hfake.help_id, "Ask <@{}> in <#{}> <:party:123>".format(hfake.bob.id, hfake.forum_id),
                       mentions=[hfake.bob])
    hfake.past_message(hfake.help_id, "An earlier answer of citebot itself", author=hfake.bot)
    inter = await add(hfake, hfake.help_id)
    assert "from 4 channel(s)/thread(s)" in final_text(hfake, inter)
    await add(hfake, hfake.forum_id)
    mark = hfake.mark()
    hfake.seed(hfake.news_id, 3)
    await add(hfake, hfake.news_id)
    assert export(corpus, hfake, hfake.news_id)["channel"]["type"] == "GuildNews"
    # announcement channels have no private threads: not asked for
    assert not [r for r in hfake.since(mark) if r.path.endswith("/threads/archived/private")]
    d = corpus / "_discord" / str(hfake.guild_id)
    assert {int(p.stem) for p in d.glob("*.json") if p.stem.isdigit()} == {
        hfake.help_id, hfake.news_id, active, old, private, post, old_post}
    main = export(corpus, hfake, hfake.help_id)
    # mentions and custom emoji as names, like DCE's plain text; the bot's own answers not stored
    assert contents(main)[2:] == ["Ask @Bob in #forum :party:"]
    reply = main["messages"][1]
    assert reply["type"] == "Reply" and reply["reference"]["messageId"] == q["id"]
    assert export(corpus, hfake, private)["channel"]["type"] == "GuildPrivateThread"
    forum = export(corpus, hfake, post)
    assert forum["channel"]["name"] == "Install fails on ARM" and forum["channel"]["categoryId"] == str(hfake.forum_id)
    assert forum["messages"][0]["id"] == str(post)  # the post's first message has the thread's id
    # every stored message's jump link opens that message on Discord (here: the fake's copy of it)
    for cid in (hfake.help_id, post, private):
        data = export(corpus, hfake, cid)
        for m in data["messages"]:
            link = JUMP.format(g=data["guild"]["id"], c=data["channel"]["id"], m=m["id"])
            g, c, mid = map(int, link.rsplit("/", 3)[1:])
            assert g == hfake.guild_id and hfake.messages[mid]["channel_id"] == str(c)
            raw = hfake.messages[mid]["content"]
            assert raw == m["content"] or "<@" in raw  # mentions are stored as names
    state = json.loads((d / ".state.json").read_text())
    assert state["channels"][str(private)]["private"] is True
    assert state["channels"][str(old)]["parent_id"] == str(hfake.help_id)


async def test_rate_limits_mid_fetch_are_survived(hfake, hbot, corpus):
    msgs = hfake.seed(hfake.help_id, 300)
    cog = hbot.get_cog("Channels")
    # 2 x 429: discord.py sleeps and retries by itself
    hfake.rate_limit_history(2)
    await add(hfake, hfake.help_id)
    assert len(export(corpus, hfake, hfake.help_id)["messages"]) == 300
    # 6 x 429 in a row outlast discord.py's five tries: the fetch resumes after the last message it got
    hfake.seed(hfake.help_id, 150)
    mark = hfake.mark()
    fault = hfake.rate_limit_history(6)
    cog.resume_delay = 0.01
    inter = await hfake.group_command("corpus", "channel", "fetch")
    await hfake.wait_interaction(inter, lambda r: "✅" in (r.body().get("content") or ""), kind="edit")
    assert fault.times == 0
    got = [r for r in hfake.history_requests(hfake.help_id, mark)]
    assert sum(r.status == 429 for r in got) == 6 and got[-1].status == 200
    assert len(export(corpus, hfake, hfake.help_id)["messages"]) == 450
    assert msgs[0]["id"] == export(corpus, hfake, hfake.help_id)["messages"][0]["id"]


async def test_forget_me_and_exclusion(hfake, hbot, corpus):
    hfake.seed(hfake.help_id, 20, authors=[hfake.alice, hfake.bob, hfake.carol])
    thread = hfake.add_thread(hfake.help_id, "side thread", messages=[(hfake.bob, "bob in a thread"),
                                                                      (hfake.alice, "alice in a thread")])
    await add(hfake, hfake.help_id)
    authors = {m["author"]["id"] for m in export(corpus, hfake, hfake.help_id)["messages"]}
    assert str(hfake.bob.id) in authors

    inter = await hfake.slash("forget-me", user=hfake.bob)
    done = await hfake.wait_interaction(inter, kind="followup")
    assert "8 of your messages" in done.body()["content"]  # 7 in #help, 1 in the thread
    for cid in (hfake.help_id, thread):
        assert str(hfake.bob.id) not in {m["author"]["id"] for m in export(corpus, hfake, cid)["messages"]}
    # and never fetched again, whether new or re-read
    hfake.seed(hfake.help_id, 4, authors=[hfake.bob, hfake.alice])
    inter = await hfake.group_command("corpus", "channel", "fetch")
    await hfake.wait_interaction(inter, lambda r: "✅" in (r.body().get("content") or ""), kind="edit")
    data = export(corpus, hfake, hfake.help_id)
    assert str(hfake.bob.id) not in {m["author"]["id"] for m in data["messages"]}
    assert len(data["messages"]) == 20 - 7 + 2

    # exclude the thread: its export goes, and it is not read again
    inter = await hfake.group_command("corpus", "channel", "remove", {"channel": str(thread)},
                                      resolved=hfake.resolved_channel(thread))
    cb = await hfake.wait_interaction(inter, kind="callback")
    assert "excluded" in cb.json["data"]["content"]
    assert not (corpus / "_discord" / str(hfake.guild_id) / f"{thread}.json").exists()
    mark = hfake.mark()
    inter = await hfake.group_command("corpus", "channel", "fetch")
    await hfake.wait_interaction(inter, lambda r: "✅" in (r.body().get("content") or ""), kind="edit")
    assert not hfake.history_requests(thread, mark)
    assert not (corpus / "_discord" / str(hfake.guild_id) / f"{thread}.json").exists()


async def test_channel_commands_are_admin_only(hfake, hbot, corpus):
    hfake.seed(hfake.help_id, 3)
    inter = await hfake.group_command("corpus", "channel", "add", {"channel": str(hfake.help_id)},
                                      user=hfake.bob, resolved=hfake.resolved_channel(hfake.help_id))
    cb = await hfake.wait_interaction(inter, kind="callback")
    assert cb.json["data"]["flags"] & 64 and "Manage Server" in cb.json["data"]["content"]
    assert not hfake.history_requests(hfake.help_id)
    assert not (corpus / "_discord").exists()


async def test_without_the_corpus_group_the_commands_are_a_channels_group(hfake, tmp_path, engine):
    """Loaded without the Admin cog's /corpus group, the channel commands form /channels; with the
    one (default) knowledge base, history goes to the engine's corpus folder."""
    b = await start_bot(bot_config(hfake, tmp_path), engine)
    try:
        await b.unload_extension("bot.cogs.channels")
        await b.unload_extension("bot.cogs.admin")
        await b.load_extension("bot.cogs.channels")
        await b.sync_commands()
        cog = b.get_cog("Channels")
        assert cog.corpora(hfake.guild_id) == [Path(engine.settings.corpus)]
        inter = await hfake.slash("channels", subcommand="list", user=hfake.ada)
        cb = await hfake.wait_interaction(inter, kind="callback")
        assert "No channel is indexed" in cb.json["data"]["content"] and cb.json["data"]["flags"] & 64
        inter = await hfake.slash("channels", subcommand="list", user=hfake.bob)
        cb = await hfake.wait_interaction(inter, kind="callback")
        assert "Manage Server" in cb.json["data"]["content"]
    finally:
        await stop_bot(b)


async def test_refusals_and_failures_are_reported_not_left_hanging(hfake, hbot, corpus):
    hfake.seed(hfake.help_id, 5)
    thread = hfake.add_thread(hfake.help_id, "locked thread", messages=[(hfake.bob, "in the locked thread")])
    # Discord refuses one thread's history (403): the channel is read, the thread reported as skipped
    hfake.fail("GET", rf"^/channels/{thread}/messages$", status=403, times=1,
               body={"message": "Missing Access", "code": 50001})
    inter = await add(hfake, hfake.help_id)
    text = final_text(hfake, inter)
    assert text.startswith("✅") and "locked thread: Discord refused (403)" in text
    assert len(export(corpus, hfake, hfake.help_id)["messages"]) == 5
    # an unexpected failure (404 on the channel's history) ends with a clear status, logged
    hfake.fail("GET", rf"^/channels/{hfake.news_id}/messages$", status=404, times=1,
               body={"message": "Unknown Channel", "code": 10003})
    inter = await add(hfake, hfake.news_id)
    assert final_text(hfake, inter).startswith("❌ Reading #announcements failed")
