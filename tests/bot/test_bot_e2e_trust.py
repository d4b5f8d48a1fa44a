"""Defence in depth (issue 27 G, H, I): components and menus re-check the stored answer's place and
owner; a public /ask needs Send Messages; one per-user rate limit over every command, button and
autocomplete. Each attack of the security review is a test here, through the fake Discord."""

from __future__ import annotations

from fakediscord import VIEW_AND_SEND, Person

from bot.buttons import GONE

QUESTION = "Who designated the cartel a terrorist organization?"
SEND = 1 << 11


async def _private_answer(fake, user):
    inter = await fake.slash("ask", {"question": QUESTION, "private": True}, user=user)
    follow = await fake.wait_interaction(inter, kind="followup")
    assert follow.body()["flags"] & 64
    return fake.messages[int(follow.response["id"])]


async def _forged_click(fake, message, custom_id, *, user, channel_id):
    """A component payload naming ``message`` from a place or user Discord would not deliver it for."""
    payload = fake._interaction(3, {"custom_id": custom_id, "component_type": 2}, user=user,
                                channel_id=channel_id, message=message)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload


async def test_forged_clicks_on_a_private_answer_get_nothing(fake, bot):
    """G: bob forges a source click and a vote on alice's private answer (same channel, and from
    another channel): no passage, no vote stored. Alice's own click still works."""
    answer = await _private_answer(fake, fake.alice)
    for channel in (fake.general_id, fake.other_id):
        inter = await _forged_click(fake, answer, "citebot:src:default:1", user=fake.bob, channel_id=channel)
        follow = await fake.wait_interaction(inter, kind="followup")
        assert follow.body()["content"] == GONE and not follow.body().get("embeds")
        inter = await _forged_click(fake, answer, "citebot:vote:default:up", user=fake.bob, channel_id=channel)
        cb = await fake.wait_interaction(inter, kind="callback")
        assert "can't store the vote" in cb.json["data"]["content"]
    assert bot.store.votes() == []
    cb = await fake.wait_interaction(await fake.context_menu("Show sources", answer, user=fake.bob), kind="callback")
    assert "isn't one of my answers" in cb.json["data"]["content"] or "no sources" in cb.json["data"]["content"]
    assert not cb.json["data"].get("embeds")
    follow = await fake.wait_interaction(await fake.click(answer, "citebot:src:default:1", user=fake.alice), kind="followup")
    assert follow.body().get("embeds")


async def test_public_answer_from_another_channel_payload_is_refused(fake, bot):
    """G: a public answer in #general, its button "clicked" in a payload from #other."""
    msg = await fake.mention(QUESTION)
    answer = fake.messages[int((await fake.wait_reply(msg)).response["id"])]
    inter = await _forged_click(fake, answer, "citebot:src:default:1", user=fake.bob, channel_id=fake.other_id)
    assert (await fake.wait_interaction(inter, kind="followup")).body()["content"] == GONE
    inter = await fake.click(answer, "citebot:src:default:1", user=fake.bob)
    assert (await fake.wait_interaction(inter, kind="followup")).body().get("embeds")


async def test_public_ask_without_send_messages_is_answered_privately(fake, bot):
    """H: a member who may not post in the channel can't publish their question as an answer title."""
    mute = Person(fake.snowflake(), "mute", permissions=VIEW_AND_SEND & ~SEND)
    inter = await fake.slash("ask", {"question": QUESTION, "private": False}, user=mute)
    cb = await fake.wait_interaction(inter, kind="callback")
    assert cb.json["data"]["flags"] & 64, "deferred ephemerally"
    follow = await fake.wait_interaction(inter, kind="followup")
    assert follow.body()["flags"] & 64 and "answered you privately" in follow.body()["content"]
    inter = await fake.slash("ask", {"question": QUESTION, "private": False}, user=fake.alice)
    follow = await fake.wait_interaction(inter, kind="followup")
    assert not follow.body().get("flags", 0) & 64


async def test_one_limit_covers_commands_buttons_menus_and_autocomplete(fake, engine, tmp_path):
    """I: /source, autocomplete (which lists documents at each keystroke), buttons and "Show
    sources" share one per-user limit; another user is not slowed down by it."""
    from harness import bot_config, start_bot, stop_bot

    bot = await start_bot(bot_config(fake, tmp_path, interaction_rate=4, interaction_per=600.0), engine)
    try:
        msg = await fake.mention(QUESTION, author=fake.bob)  # a mention is a question, not an interaction
        answer = fake.messages[int((await fake.wait_reply(msg)).response["id"])]
        doc = engine.documents()[0]["doc_id"]
        for inter in (await fake.autocomplete("source", {"document": "a"}, "document"),
                      await fake.slash("source", {"document": doc})):
            await fake.wait_interaction(inter, kind="callback")
        await fake.wait_interaction(await fake.click(answer, "citebot:src:default:1"), kind="followup")
        cb = await fake.wait_interaction(await fake.context_menu("Show sources", answer), kind="callback")
        assert "Slow down" not in (cb.json["data"].get("content") or "")
        for attempt in (fake.click(answer, "citebot:vote:default:up"), fake.context_menu("Show sources", answer),
                        fake.slash("source", {"document": doc})):
            cb = await fake.wait_interaction(await attempt, kind="callback")
            assert "Slow down" in cb.json["data"]["content"] and cb.json["data"]["flags"] & 64
        inter = await fake.autocomplete("source", {"document": "a"}, "document")
        await __import__("asyncio").sleep(0.5)
        assert not fake.for_interaction(inter), "an autocomplete over the limit gets no document list"
        assert bot.store.votes() == []
        cb = await fake.wait_interaction(await fake.context_menu("Show sources", answer, user=fake.bob), kind="callback")
        assert "Slow down" not in (cb.json["data"].get("content") or "")
    finally:
        await stop_bot(bot)
