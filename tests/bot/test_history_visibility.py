"""Permissions at answer time: a passage from a channel the asker can't read is as if it did not exist.

The members and channels are discord.py's own objects, built by the running client from the fake
Discord's payloads (GUILD_CREATE roles, channels and overwrites; the member of a real interaction),
so ``permissions_for`` does the work it does in production.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import discord
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from fakediscord import point_discord_at  # noqa: E402
from fakehistory import FakeHistory  # noqa: E402
from harness import bot_config, start_bot, stop_bot  # noqa: E402

from bot.history_store import GuildArchive  # noqa: E402
from bot.visibility import Visibility, citation_place, discord_places, place_of, readable  # noqa: E402


@pytest.fixture
async def world(tmp_path, engine):
    """The fake with a private thread in #help (alice in it) and an archived public thread, and the
    bot connected to it; the threads are noted in a corpus' history state like a fetch would."""
    fake = await FakeHistory().start()
    private = fake.add_thread(fake.help_id, "private", private=True, members=[fake.alice],
                              messages=[(fake.alice, "private note")])
    archived = fake.add_thread(fake.help_id, "old", archived=True, messages=[(fake.bob, "old answer")])
    corpus = tmp_path / "corpus"
    archive = GuildArchive(corpus, fake.guild_id)
    archive.note_channel(archived, name="old", kind="GuildPublicThread", parent_id=fake.help_id, private=False)
    archive.note_channel(private, name="private", kind="GuildPrivateThread", parent_id=fake.help_id, private=True)
    archive.save_state()
    with point_discord_at(fake):
        bot = await start_bot(bot_config(fake, tmp_path), engine)
        try:
            yield fake, bot, corpus, private, archived
        finally:
            await stop_bot(bot)
    await fake.close()
    fake.assert_clean()


async def member_of(fake, bot, person) -> discord.Member:
    """``person`` as the Member discord.py builds from a real interaction payload."""
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def grab(interaction: discord.Interaction) -> None:
        if interaction.user.id == person.id and not got.done():
            got.set_result(interaction.user)

    bot.add_listener(grab, "on_interaction")
    try:
        inter = await fake.slash("sources", user=person)
        member = await asyncio.wait_for(got, 10)
        await fake.wait_interaction(inter, kind="callback")  # let the command finish
    finally:
        bot.remove_listener(grab, "on_interaction")
    assert isinstance(member, discord.Member)
    return member


def jump(fake, channel_id: int, message_id: int = 1) -> str:
    return f"https://discord.com/channels/{fake.guild_id}/{channel_id}/{message_id}"


def test_place_of_reads_jump_links_and_export_paths():
    assert place_of(None, "https://discord.com/channels/1/2/3") == (1, 2)
    assert place_of("https://ptb.discordapp.com/channels/5/6") == (5, 6)
    assert place_of("_discord/7/8.json") == (7, 8) and place_of("kb/_discord/7/8") == (7, 8)
    assert place_of("_discord\\7\\8.json") == (7, 8)
    assert place_of("docs/discord/7/8.md", "https://example.com/channels/1/2/3") is None
    assert citation_place({"source": "notes.txt", "doc_id": "_discord/9/10"}) == (9, 10)


def test_readable_rule():
    P = discord.Permissions
    assert readable(P(view_channel=True, read_message_history=True))
    assert not readable(P(view_channel=True)) and not readable(None)
    assert not readable(P(view_channel=True, read_message_history=True), private_thread=True)
    assert readable(P(view_channel=True, read_message_history=True), private_thread=True, thread_member=True)
    assert readable(P(view_channel=True, read_message_history=True, manage_threads=True), private_thread=True)


async def test_channel_permissions_per_member(world):
    fake, bot, corpus, private, archived = world
    guild = bot.get_guild(fake.guild_id)
    people = {p.name: await member_of(fake, bot, p) for p in (fake.alice, fake.bob, fake.carol, fake.mo)}
    expect = {
        # (help, staff, private thread, archived thread, unknown channel)
        "alice": (True, False, True, True, False),
        "bob": (True, False, False, True, False),
        "carol": (True, True, False, True, False),  # Staff role: the overwrite lets her in
        "mo": (True, False, True, True, False),  # Manage Threads sees private threads
    }
    for name, member in people.items():
        vis = Visibility.for_asker(guild, member, [corpus])
        got = tuple([await vis.can_read(fake.guild_id, c)
                     for c in (fake.help_id, fake.staff_id, private, archived, 42)])
        assert got == expect[name], name
        assert not await vis.can_read(fake.guild_id + 1, fake.help_id)  # another guild: never
    dm = Visibility(None, people["carol"])
    assert not await dm.can_read(fake.guild_id, fake.help_id)


async def test_answers_are_composed_over_what_the_asker_may_see(world, make_engine):
    """The core composes the answer with the asker's filter (issue 27 item 2): bob, who can't read
    #staff, gets the #help and file passages numbered 1.., no "sources differ" against the hidden
    figure, and a not-found reason that names nothing of #staff; carol gets #staff."""
    fake, bot, corpus, private, archived = world
    folder = corpus / "_discord" / str(fake.guild_id)
    (folder / f"{fake.staff_id}.txt").write_text(
        "Storm report\n\nOur internal staff tally after the Brackenfold storm counts 62 people dead, far more than reported.\n")
    (folder / f"{fake.help_id}.txt").write_text("Storm\n\nThe Brackenfold storm killed 21 people.\n")
    (corpus / "guide.md").write_text("# Storm\n\nThe Brackenfold storm killed 21 people, officials said.\n")
    engine = make_engine(corpus)
    guild = bot.get_guild(fake.guild_id)
    staff_doc = f"_discord/{fake.guild_id}/{fake.staff_id}"
    q = "How many people did the Brackenfold storm kill?"

    async def ask_as(person, question=q):
        member = await member_of(fake, bot, person)
        f = await Visibility.for_asker(guild, member, [corpus]).doc_filter(discord_places(engine))
        return engine.ask(question, visible=f.for_engine())

    full = engine.ask(q)
    assert any(r.doc_id == staff_doc for r in full.results) and full.disagreements
    carol = await ask_as(fake.carol)
    assert any(r.doc_id == staff_doc for r in carol.results)
    bob = await ask_as(fake.bob)
    assert bob.results and all(r.doc_id != staff_doc for r in bob.results)
    assert [(r.rank, r.citation.number) for r in bob.results] == [(i, i) for i in range(1, len(bob.results) + 1)]
    assert all("62" not in f.text for d in bob.disagreements for f in d.figures)
    assert all(staff_doc not in r.also_in for r in bob.results)
    # a word only #staff has: to bob no document mentions it, as if #staff did not exist
    tally = await ask_as(fake.bob, "What does the internal staff tally say?")
    assert all(r.doc_id != staff_doc for r in tally.results)
    assert "Storm report" not in (tally.reason or "")


async def test_sources_and_stored_answers_are_filtered(world):
    fake, bot, corpus, private, archived = world
    guild = bot.get_guild(fake.guild_id)
    bob = await member_of(fake, bot, fake.bob)
    g = fake.guild_id
    docs = [{"doc_id": "manual", "source": "manual.txt"},
            {"doc_id": f"_discord/{g}/{fake.help_id}", "source": f"_discord/{g}/{fake.help_id}.json"},
            {"doc_id": f"_discord/{g}/{fake.staff_id}", "source": f"_discord/{g}/{fake.staff_id}.json"},
            {"doc_id": f"_discord/{g}/{archived}", "source": f"_discord/{g}/{archived}.json"}]
    vis = Visibility.for_asker(guild, bob, [corpus])
    assert [d["doc_id"] for d in await vis.filter_documents(docs)] == ["manual", docs[1]["doc_id"], docs[3]["doc_id"]]
    results = [{"number": 1, "doc_id": "a", "citation": {"source": jump(fake, fake.staff_id)}},
               {"number": 2, "doc_id": "b", "citation": {"source": "b.txt"}}]
    also = [{"number": 3, "doc_id": f"_discord/{g}/{fake.staff_id}", "citation": {"source": "x"}}]
    kept, kept_also = await vis.filter_stored(results, also)
    assert [r["number"] for r in kept] == [2] and kept_also == []


async def test_real_answers_hide_the_private_channel(world, make_engine, tmp_path):
    """A real engine over exports named like the bot writes them: the member without access to
    #staff gets none of its passages, the member with access gets them."""
    fake, bot, corpus, private, archived = world
    folder = corpus / "_discord" / str(fake.guild_id)
    # the DCE reader is another branch's work: plain-text stand-ins at the paths the bot writes
    (folder / f"{fake.staff_id}.txt").write_text(
        "Staff only\n\nThe staging database password rotates every Monday at 09:00 and lives in the vault.\n")
    (folder / f"{fake.help_id}.txt").write_text(
        "Help\n\nTo reset your password, open Settings and choose Security, then Reset password.\n")
    engine = make_engine(corpus)
    guild = bot.get_guild(fake.guild_id)
    answer = engine.ask("When does the staging database password rotate?")
    staff_doc = f"_discord/{fake.guild_id}/{fake.staff_id}"
    assert any(r.doc_id == staff_doc for r in answer.results)
    for person, sees in ((fake.carol, True), (fake.bob, False)):
        member = await member_of(fake, bot, person)
        vis = Visibility.for_asker(guild, member, [corpus])
        visible = (await vis.doc_filter(discord_places(engine))).for_engine()
        filtered = engine.ask("When does the staging database password rotate?", visible=visible)
        assert any(r.doc_id == staff_doc for r in filtered.results) is sees
        docs = await vis.filter_documents(engine.documents())
        assert any(d["doc_id"] == staff_doc for d in docs) is sees


async def test_public_answers_quote_only_what_their_readers_may_see(world):
    """Carol can read #staff, but a public answer in #help is read by people who can't: it leaves
    #staff out. In #staff itself, or privately, she gets it."""
    fake, bot, corpus, private, archived = world
    guild = bot.get_guild(fake.guild_id)
    carol = await member_of(fake, bot, fake.carol)
    help_, staff = guild.get_channel(fake.help_id), guild.get_channel(fake.staff_id)

    async def readable_here(reply_channel, channel_id):
        return await Visibility.for_asker(guild, carol, [corpus], reply_channel=reply_channel).can_read(
            fake.guild_id, channel_id)

    assert not await readable_here(help_, fake.staff_id)
    assert await readable_here(staff, fake.staff_id)
    assert await readable_here(None, fake.staff_id)  # an ephemeral answer: only she sees it
    assert await readable_here(help_, fake.help_id) and await readable_here(staff, fake.help_id)
    assert await readable_here(help_, archived)  # a public thread of a public channel
    mo = await member_of(fake, bot, fake.mo)
    mo_vis = Visibility.for_asker(guild, mo, [corpus], reply_channel=help_)
    assert not await mo_vis.can_read(fake.guild_id, private)  # a private thread never goes public
    assert await Visibility.for_asker(guild, mo, [corpus]).can_read(fake.guild_id, private)


async def test_public_answers_judge_roles_not_only_everyone(world):
    """Issue 27 C: the Newcomers role is denied #help, though @everyone may read it. A public answer
    in #general (which Newcomers read) leaves #help out; privately, or in #help itself, alice gets it;
    nell is refused #help either way."""
    fake, bot, corpus, private, archived = world
    guild = bot.get_guild(fake.guild_id)
    alice, nell = await member_of(fake, bot, fake.alice), await member_of(fake, bot, fake.nell)
    general, help_ = guild.get_channel(fake.general_id), guild.get_channel(fake.help_id)

    async def sees(member, reply_channel, channel_id):
        return await Visibility.for_asker(guild, member, [corpus], reply_channel=reply_channel).can_read(
            fake.guild_id, channel_id)

    assert not await sees(alice, general, fake.help_id)
    assert await sees(alice, None, fake.help_id) and await sees(alice, help_, fake.help_id)
    assert not await sees(alice, general, archived)  # a public thread of #help: #help's readers only
    assert not await sees(nell, None, fake.help_id)
    assert await sees(alice, help_, fake.general_id)  # everyone reading #help reads #general too
    assert await sees(alice, general, fake.general_id)


async def test_a_removed_thread_member_loses_access_at_the_next_question(world):
    """Issue 27 I: membership of a private thread is asked each time, not remembered for a minute."""
    fake, bot, corpus, private, archived = world
    guild = bot.get_guild(fake.guild_id)
    alice = await member_of(fake, bot, fake.alice)
    assert await Visibility.for_asker(guild, alice, [corpus]).can_read(fake.guild_id, private)
    fake.thread_members[private].discard(fake.alice.id)  # removed from the thread on Discord
    assert not await Visibility.for_asker(guild, alice, [corpus]).can_read(fake.guild_id, private)
