"""Discord misbehaving: 429s with retry_after (per-route and global), 5xx, failures that outlast
discord.py's own retries, dropped gateway connections (abrupt, close 4000, op 7 RECONNECT, op 9
INVALID_SESSION). The bot retries or reconnects and answers afterwards; nothing is sent twice; the
question asked while the gateway was down is answered; an answer Discord keeps refusing is logged in
one line and the bot goes on answering."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

QUESTION = "What bounty has the US put on Maduro?"


def channel_posts(fake, after=0):
    return [r for r in fake.since(after) if r.method == "POST" and r.path == f"/channels/{fake.general_id}/messages"]


async def answered(fake, text=QUESTION):
    m = await fake.mention(text)
    r = await fake.wait_reply(m)
    assert r.status == 200 and r.body().get("embeds"), r.body()
    return r


@pytest.fixture
async def bot(run_bot, hostile_engine):
    return await run_bot(hostile_engine)


@pytest.mark.parametrize("is_global", [False, True])
async def test_429_on_reply_is_retried_once(fake, bot, is_global):
    mark = fake.mark()
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=429, retry_after=0.2, times=2,
              is_global=is_global)
    r = await answered(fake)
    posts = channel_posts(fake, mark)
    assert [p.status for p in posts] == [429, 429, 200] and posts[-1] is r
    # the wait honoured retry_after (0.2 s twice), it did not hammer the route
    assert posts[2].t - posts[0].t >= 0.35


async def test_429_on_interaction_callback_and_followup(fake, bot):
    fake.fail("POST", r"^/interactions/\d+/[^/]+/callback$", status=429, retry_after=0.1)
    fake.fail("POST", r"^/webhooks/\d+/[^/]+$", status=429, retry_after=0.1)
    inter = await fake.slash("ask", {"question": QUESTION})
    follow = await fake.wait_interaction(inter, lambda r: r.status == 200, kind="followup")
    assert follow.body()["embeds"]
    statuses = [r.status for r in fake.for_interaction(inter)]
    assert statuses.count(429) == 2 and statuses[-1] == 200


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_5xx_on_reply_is_retried(fake, bot, status):
    mark = fake.mark()
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=status)
    r = await answered(fake)
    assert [p.status for p in channel_posts(fake, mark)] == [status, 200] and r.status == 200


def replies_to(fake, message):
    """The distinct messages the fake holds that reply to ``message``."""
    return [m for m in fake.messages.values() if (m.get("message_reference") or {}).get("message_id") == message["id"]]


def interaction_messages(fake, interaction):
    """The distinct messages the fake holds for ``interaction`` (the original and any follow-ups)."""
    return [m for m in fake.messages.values() if (m.get("interaction_metadata") or {}).get("id") == interaction["id"]]


async def gave_up(caplog, what: str, timeout: float = 30.0) -> list:
    """The bot's "not delivered" log records about ``what``, once there is one."""
    def found():
        return [r for r in caplog.records if r.levelno >= logging.ERROR and what in r.getMessage()]

    async def poll():
        while not found():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)
    return found()


@pytest.mark.parametrize("how", ["503 twice", "429 six times", "503 after the message was created"])
async def test_reply_discord_py_gave_up_on_is_sent_again_once(fake, bot, how):
    """discord.py gives up on a reply (at once on a 503; after five tries in all on 429s); the bot
    sends it again after a pause and it arrives exactly once, even when the failed attempt had
    created it (the retry carries the same nonce and Discord returns that message)."""
    mark = fake.mark()
    route = rf"^/channels/{fake.general_id}/messages$"
    if how == "503 twice":
        fake.fail("POST", route, status=503, times=2)
        expected = [503, 503, 200]
    elif how == "429 six times":
        fake.fail("POST", route, status=429, retry_after=0.01, times=6)
        expected = [429] * 6 + [200]
    else:
        fake.fail("POST", route, status=503, after=True)
        expected = [503, 200]
    m = await fake.mention(QUESTION)
    r = await fake.wait_reply(m, after=mark, timeout=60)
    posts = channel_posts(fake, mark)
    assert [p.status for p in posts] == expected and r.body()["embeds"]
    assert [msg["id"] for msg in replies_to(fake, m)] == [r.response["id"]], "exactly one reply"
    assert len({p.body().get("nonce") for p in posts}) == 1, "every attempt carries the same nonce"
    # the bot paused (send_retry_delay 0.1 s in the test config) before sending again
    fails = [i for i, p in enumerate(posts) if p.status != 200]
    if how == "429 six times":
        assert posts[5].t - posts[4].t >= 0.1
    else:
        assert all(posts[i + 1].t - posts[i].t >= 0.1 for i in fails)


async def test_reply_lost_for_good_is_logged_once_and_the_bot_keeps_answering(fake, bot, caplog):
    """Discord fails every attempt: after 1 + send_retries attempts the bot logs one line (ids and the
    status only: no token, no answer text, no traceback), keeps running and answers the next
    question once Discord has recovered; the lost answer does not turn up later."""
    fault = fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=503, times=10**6)
    mark = fake.mark()
    m = await fake.mention(QUESTION)
    (line,) = await gave_up(caplog, f"reply to message {m['id']}")
    posts = channel_posts(fake, mark)
    assert [p.status for p in posts] == [503] * 3, "1 + send_retries (2) attempts"
    # the whole line: ids, attempts and status; nothing else can hide in it
    assert re.fullmatch(rf"the reply to message {m['id']} in channel {fake.general_id} was not delivered: Discord "
                        r"failed 3 attempt\(s\), the last with HTTP 503, code 0; giving up", line.getMessage())
    assert line.exc_info is None, "no traceback"
    assert not [r for r in caplog.records if "Ignoring exception" in r.getMessage()]

    fault.times = 0  # Discord is back
    r = await answered(fake, "Who refused to comment?")
    later = await fake.mention("What did the Pentagon say?")
    await fake.wait_reply(later, timeout=60)
    assert len(replies_to(fake, {"id": str(r.body()["message_reference"]["message_id"])})) == 1
    assert replies_to(fake, m) == [], "the answer given up on is not sent later"


async def test_ask_follow_up_discord_py_gave_up_on_is_sent_again_once(fake, bot):
    """/ask: discord.py gives up on the follow-up (five 429s); the bot fills in the deferred answer by
    editing the original response, which cannot post a second message whatever the first attempt did."""
    fake.fail("POST", r"^/webhooks/\d+/[^/]+$", status=429, retry_after=0.01, times=5)
    inter = await fake.slash("ask", {"question": QUESTION})
    edit = await fake.wait_interaction(inter, lambda r: r.status == 200, kind="edit", timeout=60)
    assert edit.body()["embeds"]
    calls = [(r.method, r.path.rsplit("/", 1)[-1], r.status) for r in fake.for_interaction(inter)]
    assert calls == [("POST", "callback", 200)] + [("POST", inter["token"], 429)] * 5 + [("PATCH", "@original", 200)]
    (msg,) = interaction_messages(fake, inter)
    assert msg["embeds"] == edit.body()["embeds"] and not msg["flags"] & 128, "the answer, no longer thinking"


async def test_ask_retry_respects_the_interaction_token_window(fake, bot, caplog):
    """An interaction token works for 15 minutes: no attempt is started within the margin before
    its end (the fake answers 401 to a late one), the bot logs one line and keeps answering."""
    from bot.cogs.ask import INTERACTION_MARGIN

    fault = fake.fail(None, r"^/webhooks/\d+/", status=429, retry_after=0.01, times=10**6)
    # created almost 15 minutes ago: its token ends a few seconds after the first attempt
    inter = await fake.slash("ask", {"question": QUESTION}, age=15 * 60 - INTERACTION_MARGIN + 3)
    (line,) = await gave_up(caplog, f"interaction {inter['id']}")
    assert line.getMessage().endswith("the interaction expires before another attempt")
    calls = [(r.method, r.status) for r in fake.for_interaction(inter)]
    assert calls == [("POST", 200)] + [("POST", 429)] * 5, "discord.py's five tries, none of the bot's"
    assert not fake.expired
    fault.times = 0
    again = await fake.slash("ask", {"question": "Who refused to comment?"})
    follow = await fake.wait_interaction(again, lambda r: r.status == 200, kind="followup", timeout=60)
    assert follow.body()["embeds"]


async def test_refusal_another_attempt_cannot_fix_is_not_retried(fake, bot):
    """A 403 (missing access) is final: one attempt, no pause-and-retry loop; the bot keeps answering."""
    mark = fake.mark()
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=403,
              body={"message": "Missing Access", "code": 50001})
    await fake.mention(QUESTION)
    await fake.wait_for(lambda r: r.method == "POST" and r.status == 403, after=mark)
    await asyncio.sleep(0.5)  # longer than both retry pauses of the test config (0.1 s + 0.2 s)
    await answered(fake, "Who refused to comment?")
    assert [p.status for p in channel_posts(fake, mark)] == [403, 200]


@pytest.mark.parametrize("how", ["abrupt", "close-4000", "reconnect-op7"])
async def test_gateway_loss_then_answers(fake, bot, how):
    """The bot reconnects and answers. Op 9 INVALID_SESSION (then a new IDENTIFY, which discord.py
    delays by 5 s) is the same sequence in ``test_bot_secrets.test_bot_session_logs_never_hold_the_token``,
    which waits for the IDENTIFY and is answered afterwards; running it here too cost 5 s of CI."""
    mark = fake.mark()
    if how == "abrupt":
        await fake.drop_gateway()  # no close frame: the socket just dies
    elif how == "close-4000":
        await fake.drop_gateway(code=4000)
    else:
        await fake.request_reconnect()
    # a new session: RESUME (op 6) or IDENTIFY (op 2)
    await fake.wait_for(lambda r: r.path.startswith("/gateway/op/") and r.path[-1] in "26", after=mark, timeout=60)
    await bot.wait_until_ready()
    await _connected(fake)
    await answered(fake)


async def _connected(fake, timeout=60.0):
    """Until the fake has a live gateway connection that finished its handshake."""
    async def ok():
        while not any(not ws.closed for ws in fake._ws) or not (fake.identifies or fake.resumes):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(ok(), timeout)


async def test_question_in_flight_when_gateway_drops_is_still_answered(fake, bot, hostile_engine):
    """The reply goes over REST: a gateway drop while the engine works does not lose it."""
    gate = asyncio.Event()
    real_ask = hostile_engine.ask
    loop = asyncio.get_running_loop()

    def slow_ask(q, **kw):  # runs in the worker thread: hold until the gateway has dropped
        asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(30)
        return real_ask(q, **kw)

    hostile_engine.ask = slow_ask
    try:
        m = await fake.mention(QUESTION)
        await asyncio.sleep(0.2)  # let the bot take the question (no assertion rests on this)
        await fake.drop_gateway()
        gate.set()
        r = await fake.wait_reply(m, timeout=60)
    finally:
        hostile_engine.ask = real_ask
    assert r.status == 200 and r.body()["embeds"]
    await _connected(fake)
    await answered(fake, "Who refused to comment?")


async def test_storm_of_faults_every_question_answered_once(fake, bot):
    """Ten questions while replies meet 429s and a 500 and the gateway drops once: ten replies, one each."""
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=429, retry_after=0.05, times=2)
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=500, times=1)
    msgs = [await fake.mention(f"{QUESTION} ({i})") for i in range(5)]
    await fake.drop_gateway(code=4000)
    await _connected(fake)
    await asyncio.sleep(0.1)
    await bot.wait_until_ready()
    msgs += [await fake.mention(f"Who refused to comment? ({i})") for i in range(5)]
    replies = [await fake.wait_reply(m, timeout=60) for m in msgs]
    assert all(r.status == 200 for r in replies)
    ok = [r for r in channel_posts(fake) if r.status == 200]
    refs = [str(r.body()["message_reference"]["message_id"]) for r in ok]
    assert sorted(refs) == sorted(m["id"] for m in msgs), "each question answered exactly once"
