"""End-to-end: the real discord.py client against the fake Discord, asking questions."""

from __future__ import annotations

import re

import discord
import discord.gateway
import discord.http

QUESTION = "When could US strikes inside Venezuela start?"
OFF_TOPIC = "What is the recipe for banana bread?"


def _norm(s: str) -> str:
    """Undo our escaping and markup so passages can be compared with the corpus text."""
    s = s.replace("\u200b", "")
    s = re.sub(r"\\(.)", r"\1", s)
    s = s.replace("**", "").replace("…", "")
    s = re.sub(r"^> ?", "", s, flags=re.M)
    return " ".join(s.split())


def test_patched_discord_internals_exist():
    """The fixture patches these discord.py internals; fail loudly if a release renames them."""
    assert discord.__version__ == "2.7.1"
    assert discord.http.Route.BASE == "https://discord.com/api/v10" or discord.http.Route.BASE.startswith("http://127.0.0.1")
    assert hasattr(discord.http.Route, "BASE")
    assert hasattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY")
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY).startswith(("wss://gateway.discord.gg", "ws://127.0.0.1"))


async def test_login_handshake_and_command_sync(fake, bot):
    """Login calls /users/@me then /oauth2/applications/@me; IDENTIFY carries the token and
    the message-content intent; every command is synced."""
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths.index(("GET", "/users/@me")) < paths.index(("GET", "/oauth2/applications/@me"))
    assert ("PUT", f"/applications/{fake.app_id}/commands") in paths
    assert fake.identifies and fake.identifies[0]["token"] == fake.token
    assert fake.identifies[0]["intents"] & (1 << 15), "message content intent requested"
    names = {(c["name"], c["type"]) for c in fake.commands[None]}
    assert names >= {("ask", 1), ("source", 1), ("sources", 1), ("reindex", 1), ("corpus", 1), ("stats", 1),
                     ("Show sources", 3)}
    admin = {c["name"]: c for c in fake.commands[None]}
    assert admin["reindex"]["default_member_permissions"] == str(1 << 5)
    assert bot.user.id == fake.bot.id and bot.application_id == fake.app_id


async def test_mention_gets_cited_reply(fake, bot, engine):
    """A mention is answered as a reply quoting the corpus verbatim, with numbered citations."""
    msg = await fake.mention(QUESTION)
    reply = await fake.wait_reply(msg)
    assert reply.status == 200
    body = reply.body()
    assert body["allowed_mentions"]["parse"] == [] and body["allowed_mentions"]["replied_user"] is False
    embed = body["embeds"][0]
    answer = engine.ask(QUESTION)
    assert answer.answered
    desc = embed["description"]
    for i, r in enumerate(answer.results, 1):
        assert f"**[{i}]**" in desc
        # the best sentence is emphasised, verbatim
        assert f"**{r.quote.strip()}**" in desc.replace("\\", "") or _norm(r.quote) in _norm(desc)
    sources = "\n".join(f["value"] for f in embed["fields"] if f["name"].startswith("Sources"))
    for i, r in enumerate(answer.results, 1):
        assert f"[{i}] " in sources and f"¶ {r.paragraph}" in sources
    # the calibrated confidence is shown; a low one is said above the quotes
    assert f"confidence {answer.confidence:.0%}" in embed["footer"]["text"]
    assert (body.get("content") or "").startswith("Low confidence") == (answer.confidence < 0.5)
    # typing was shown while the engine worked
    assert any(r.path == f"/channels/{fake.general_id}/typing" for r in fake.requests)
    # buttons: one per citation plus the two votes, all with custom ids
    ids = [c["custom_id"] for row in body["components"] for c in row["components"]]
    assert ids[: len(answer.results)] == [f"citebot:src:default:{i}" for i in range(1, len(answer.results) + 1)]
    assert ids[-2:] == ["citebot:vote:default:up", "citebot:vote:default:down"]


async def test_slash_ask_defers_then_follows_up(fake, bot):
    """/ask defers at once (type 5) and then sends the answer as the follow-up."""
    inter = await fake.slash("ask", {"question": QUESTION})
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 5 and not (cb.json.get("data") or {}).get("flags", 0) & 64
    follow = await fake.wait_interaction(inter, kind="followup")
    assert follow.status == 200 and follow.query.get("wait") in ("1", "true")
    assert "**[1]**" in follow.body()["embeds"][0]["description"]
    calls = fake.for_interaction(inter)
    assert calls[0] is cb, "the defer is the first thing the bot does"


async def test_slash_ask_private_is_ephemeral(fake, bot):
    inter = await fake.slash("ask", {"question": QUESTION, "private": True})
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 5 and cb.json["data"]["flags"] & 64
    follow = await fake.wait_interaction(inter, kind="followup")
    assert follow.body()["flags"] & 64


async def test_off_topic_is_not_in_the_corpus(fake, bot):
    msg = await fake.mention(OFF_TOPIC)
    reply = await fake.wait_reply(msg)
    body = reply.body()
    assert "not in the corpus" in body["content"].lower()
    assert not body.get("embeds")
    ids = [c["custom_id"] for row in body.get("components", []) for c in row["components"]]
    assert not any(i.startswith("citebot:src:") for i in ids), "no source buttons when nothing answered"


async def test_hostile_question_pings_no_one_and_is_escaped(fake, bot):
    """@everyone and markdown in the question: no ping, the echoed question is escaped."""
    msg = await fake.send_message(
        f"<@{fake.bot.id}> @everyone **when** could __strikes__ in Venezuela start? <@{fake.bob.id}> ||boats||",
        mentions=[fake.bot, fake.bob], mention_everyone=True,
    )
    reply = await fake.wait_reply(msg)
    body = reply.body()
    assert body["allowed_mentions"] == {"parse": [], "replied_user": False} or (
        body["allowed_mentions"]["parse"] == [] and not body["allowed_mentions"].get("users")
        and not body["allowed_mentions"].get("roles")
    )
    title = body["embeds"][0]["title"]
    assert "@everyone" not in title and "@\u200beveryone" in title
    assert "\\*\\*when\\*\\*" in title and "\\|\\|boats\\|\\|" in title
    assert f"<@{fake.bob.id}>" not in title


async def test_ten_thousand_character_question_gets_clear_message(fake, bot):
    msg = await fake.mention("why " * 2500)
    reply = await fake.wait_reply(msg)
    content = reply.body()["content"]
    assert "limit is 1,000" in content and "characters" in content
    inter = await fake.slash("ask", {"question": "x" * 10_000})
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["type"] == 4 and cb.json["data"]["flags"] & 64
    assert "limit is 1,000" in cb.json["data"]["content"]


async def test_ask_declares_the_question_length_limit(fake, engine, tmp_path, monkeypatch):
    """/ask's question option carries the configured limit as max_length, so the Discord client
    stops the user while typing instead of refusing after submission (the server-side check above
    stays for old clients and forged payloads)."""
    from harness import bot_config, start_bot, stop_bot

    monkeypatch.setattr(engine.settings, "max_question_chars", 321)
    b = await start_bot(bot_config(fake, tmp_path), engine)
    try:
        question = next(o for o in fake.command("ask")["options"] if o["name"] == "question")
        assert question["type"] == 3 and question["required"]
        assert question["min_length"] == 1 and question["max_length"] == 321
        inter = await fake.slash("ask", {"question": "x" * 322})
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["data"]["flags"] & 64 and "limit is 321" in cb.json["data"]["content"]
    finally:
        await stop_bot(b)


async def test_cooldown_has_a_clear_message(fake, engine, tmp_path):
    """Per-user: the third question inside the window is refused with the wait time; others unaffected."""
    from harness import bot_config, start_bot, stop_bot

    b = await start_bot(bot_config(fake, tmp_path, cooldown_rate=2, cooldown_per=600), engine)
    try:
        for _ in range(2):
            m = await fake.mention(QUESTION)
            r = await fake.wait_reply(m)
            assert r.body().get("embeds")
        m = await fake.mention(QUESTION)
        r = await fake.wait_reply(m)
        assert r.body()["content"].startswith("⏳ Slow down") and "again in" in r.body()["content"]
        # the slash path shares the bucket
        inter = await fake.slash("ask", {"question": QUESTION})
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["type"] == 4 and "Slow down" in cb.json["data"]["content"]
        # another user is not affected
        m = await fake.mention(QUESTION, author=fake.bob)
        r = await fake.wait_reply(m)
        assert r.body().get("embeds")
    finally:
        await stop_bot(b)


async def test_reply_to_an_answer_and_thread_follow_up(fake, bot):
    """Replying to an answer asks again without a mention; in a thread the bot keeps following."""
    first = await fake.mention(QUESTION)
    answer = await fake.wait_reply(first)
    answer_msg = fake.messages[int(answer.response["id"])]
    follow = await fake.send_message("Who designated the cartel a terrorist organization?", reply_to=answer_msg)
    r = await fake.wait_reply(follow)
    assert "**[1]**" in r.body()["embeds"][0]["description"]

    # a plain message in a thread where the bot has not answered: ignored
    mark = fake.mark()
    quiet = await fake.send_message("just chatting here", channel_id=fake.thread_id)
    t_first = await fake.mention(QUESTION, channel_id=fake.thread_id)
    await fake.wait_reply(t_first, after=mark)
    assert not any(str((r.body().get("message_reference") or {}).get("message_id")) == quiet["id"] for r in fake.since(mark))
    # now the bot answered in the thread: a follow-up needs no mention
    t_next = await fake.send_message("And who labeled the cartel a terrorist group?", channel_id=fake.thread_id)
    r = await fake.wait_reply(t_next)
    assert r.path == f"/channels/{fake.thread_id}/messages"


async def test_auto_answer_channel(fake, bot):
    """In a configured auto-answer channel every message is a question."""
    msg = await fake.send_message(QUESTION, channel_id=fake.other_id)
    r = await fake.wait_reply(msg)
    assert r.body().get("embeds")


async def test_image_only_messages_are_not_questions(fake, bot):
    """An image (no text) in an auto-answer channel or a followed thread gets no "Ask me a question"
    reply; mentioning the bot without a question still gets the hint."""
    first = await fake.mention(QUESTION, channel_id=fake.thread_id)
    await fake.wait_reply(first)  # the bot now follows the thread
    mark = fake.mark()
    images = []
    for channel in (fake.other_id, fake.thread_id):
        image = fake.attachment("cat.png", b"\x89PNG fake", "image/png")
        images.append(await fake.send_message("", channel_id=channel, attachments=[image]))
    # later messages in the same channels are answered; had the images been answered, theirs came first
    for channel in (fake.other_id, fake.thread_id):
        await fake.wait_reply(await fake.send_message(QUESTION, channel_id=channel), after=mark)
    replied_to = {str((r.body().get("message_reference") or {}).get("message_id")) for r in fake.since(mark)}
    assert not replied_to & {m["id"] for m in images}

    bare = await fake.mention("")
    r = await fake.wait_reply(bare)
    assert "Ask me a question" in r.body()["content"]


async def test_plain_messages_are_ignored(fake, bot):
    """No mention, not a reply, not a followed thread: the bot stays quiet."""
    quiet = await fake.send_message(QUESTION)
    # a later mention is answered; had the quiet one been answered, its reply would come first
    probe = await fake.mention(QUESTION)
    await fake.wait_reply(probe)
    assert not [r for r in fake.requests if str((r.body().get("message_reference") or {}).get("message_id")) == quiet["id"]]


async def test_direct_message_is_answered(fake, engine, tmp_path):
    """In a DM every message is a question (no mention needed), answered from the default knowledge
    base when the bot is not kept to some guilds."""
    from harness import bot_config, start_bot, stop_bot

    b = await start_bot(bot_config(fake, tmp_path, allowed_guilds=[]), engine)
    try:
        msg = await fake.send_dm(QUESTION)
        r = await fake.wait_reply(msg)
        assert r.path == f"/channels/{fake.dm_id}/messages" and "**[1]**" in r.body()["embeds"][0]["description"]
    finally:
        await stop_bot(b)


async def test_allowed_channels_are_enforced(fake, engine, tmp_path):
    """Outside the allowed channels mentions are ignored and commands refused; threads count as their parent."""
    from harness import bot_config, start_bot, stop_bot

    b = await start_bot(bot_config(fake, tmp_path, allowed_channels=[fake.general_id], auto_answer_channels=[]), engine)
    try:
        outside = await fake.mention(QUESTION, channel_id=fake.other_id)
        inter = await fake.slash("ask", {"question": QUESTION}, channel_id=fake.other_id)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert cb.json["type"] == 4 and "not enabled in this channel" in cb.json["data"]["content"]
        inside = await fake.mention(QUESTION, channel_id=fake.thread_id)  # thread under #general
        await fake.wait_reply(inside)
        assert not [r for r in fake.requests if r.path == f"/channels/{fake.other_id}/messages"], outside["id"]
    finally:
        await stop_bot(b)


async def test_engine_failure_on_a_mention_is_reported_not_silent(fake, bot, engine, monkeypatch):
    """An unexpected engine error on a mention gets a one-line reply; a mention has no command error
    handler, so before the fix the asker got nothing at all (typing stopped, no reply)."""
    def broken(*args, **kwargs):
        raise RuntimeError("index file vanished")

    monkeypatch.setattr(engine, "ask", broken)
    msg = await fake.mention(QUESTION)
    r = await fake.wait_reply(msg, timeout=5)
    body = r.body()
    assert "Something went wrong" in body["content"] and not body.get("embeds")
    assert "index file vanished" not in body["content"], "internals stay in the log"


async def test_other_mentions_in_the_question_are_shown_by_name(fake, bot):
    """"@citebot what did @bob say …": bob is named in the echoed question, not shown as raw digits."""
    msg = await fake.send_message(f"<@{fake.bot.id}> did <@{fake.bob.id}> say {QUESTION}", mentions=[fake.bot, fake.bob])
    r = await fake.wait_reply(msg)
    title = r.body()["embeds"][0]["title"]
    assert "@Bob" in title and str(fake.bob.id) not in title


async def test_citation_numbers_match_the_passages_and_name_the_file(fake, bot, engine, monkeypatch):
    """Two passages from one long paragraph keep numbers [1] and [2]: the Sources list, the passages,
    the "also in" pointer and the buttons all agree, and each citation names its file."""
    from retrieval.types import Answer, Citation, Result

    def result(rank, doc, para, text, also=()):
        cit = Citation(rank, doc, f"Title {doc}", "Outlet", None, "2025-01-02", para, f"{doc}.txt")
        also_c = [Citation(0, d, f"Title {d}", None, None, None, 0, f"{d}.txt") for d in also]
        return Result(rank, doc, para, text, text[:30], 0, 1.0, 0.9, cit, None, list(also), also_c)

    answer = Answer(QUESTION, True, [
        result(1, "alpha", 4, "First half of a long paragraph four. " * 3),
        result(2, "alpha", 4, "Second half of the same paragraph four. " * 3),
        result(3, "beta", 7, "A passage of another document, paragraph seven. " * 3, also=("gamma",)),
    ], 0.9, "v-test")
    monkeypatch.setattr(engine, "ask", lambda question, **kw: answer)
    msg = await fake.mention(QUESTION)
    r = await fake.wait_reply(msg)
    embed = r.body()["embeds"][0]
    sources = [ln.replace("\\", "") for f in embed["fields"] if f["name"].startswith("Sources") for ln in f["value"].split("\n")]
    assert sources == [
        "[1] Title alpha · Outlet · 2025-01-02 · ¶ 4 · alpha.txt",
        "[2] Title alpha · Outlet · 2025-01-02 · ¶ 4 · alpha.txt",
        "[3] Title beta · Outlet · 2025-01-02 · ¶ 7 · beta.txt",
        "[4] Title gamma · gamma.txt",
    ]
    desc = embed["description"]
    assert desc.index("**[3]**") < desc.index("another document") < desc.index("↳ also in [4]")
    labels = [c["label"] for row in r.body()["components"] for c in row["components"] if c.get("label")]
    assert labels == ["[1] Title alpha", "[2] Title alpha", "[3] Title beta", "[4] Title gamma"]


async def test_citations_are_numbered_once_per_reply(fake, bot, monkeypatch):
    """One numbered answer per reply: the embed, the buttons and the stored record use the same
    numbering, computed once (it used to be computed three times)."""
    from bot import numbered

    calls = []
    real = numbered.number_citations
    monkeypatch.setattr(numbered, "number_citations", lambda results: calls.append(1) or real(results))
    msg = await fake.mention(QUESTION)
    r = await fake.wait_reply(msg)
    assert r.body()["embeds"] and len(calls) == 1


async def test_shutdown_waits_for_an_answer_being_stored(fake, engine, tmp_path, monkeypatch):
    """Closing the bot just after an answer went out still stores that answer (its buttons work after
    the restart); before, the store closed under the write ("Cannot operate on a closed database")."""
    import time

    from bot.feedback import FeedbackStore
    from harness import bot_config, start_bot, stop_bot

    real = FeedbackStore.record_answer

    def slow(self, *a, **kw):  # the write still running when the reply has been seen
        time.sleep(0.5)
        return real(self, *a, **kw)

    monkeypatch.setattr(FeedbackStore, "record_answer", slow)
    config = bot_config(fake, tmp_path)
    b = await start_bot(config, engine)
    try:
        reply = await fake.wait_reply(await fake.mention(QUESTION))
        assert reply.body().get("embeds")
    finally:
        await stop_bot(b)
    store = FeedbackStore(config.feedback_db)
    try:
        assert store.get_answer(int(reply.response["id"])) is not None
    finally:
        store.close()


async def test_reply_says_when_the_quoted_sources_differ(fake, bot, engine):
    """Quotes from different articles giving different death tolls: one line under the quotes, with
    the reply's citation numbers; a question whose quotes agree gets none."""
    q = "Where have the US strikes on vessels taken place?"
    answer = engine.ask(q)
    assert answer.answered and answer.disagreements
    msg = await fake.mention(q)
    desc = (await fake.wait_reply(msg)).body()["embeds"][0]["description"]
    line = desc.splitlines()[-1]
    assert line.startswith("⚠ Sources differ: [")
    for d in answer.disagreements:
        for f in d.figures:
            assert f"[{f.rank}] {f.text}" in line
    msg = await fake.mention("What bounty has the US put on Maduro?")  # $50,000,000 = $50 million
    assert "Sources differ" not in (await fake.wait_reply(msg)).body()["embeds"][0]["description"]
