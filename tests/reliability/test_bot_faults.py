"""Discord misbehaving: 429s with retry_after (per-route and global), 5xx, dropped gateway connections
(abrupt, close 4000, op 7 RECONNECT, op 9 INVALID_SESSION). The bot retries or reconnects and answers
afterwards; nothing is sent twice; the question asked while the gateway was down is answered."""

from __future__ import annotations

import asyncio

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


async def test_503_loses_that_reply_but_the_bot_keeps_answering(fake, bot):
    """discord.py does not retry 503; the bot must survive it and answer the next question."""
    mark = fake.mark()
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=503)
    m = await fake.mention(QUESTION)
    await fake.wait_for(lambda r: r.method == "POST" and r.status == 503, after=mark)
    r = await answered(fake, "Who refused to comment?")
    assert r.status == 200 and str(r.body()["message_reference"]["message_id"]) != m["id"]


@pytest.mark.parametrize("how", ["abrupt", "close-4000", "reconnect-op7", "invalid-session-op9"])
async def test_gateway_loss_then_answers(fake, bot, how):
    mark = fake.mark()
    if how == "abrupt":
        await fake.drop_gateway()  # no close frame: the socket just dies
    elif how == "close-4000":
        await fake.drop_gateway(code=4000)
    elif how == "reconnect-op7":
        await fake.request_reconnect()
    else:
        await fake.invalidate_session(resumable=False)
    # a new session: RESUME (op 6) or, after an invalid session, IDENTIFY (op 2)
    op = "/gateway/op/2" if how == "invalid-session-op9" else "/gateway/op/"
    await fake.wait_for(lambda r: r.path.startswith(op) and r.path[-1] in "26", after=mark, timeout=60)
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
    """Ten questions while replies meet 429s and a 500 and the gateway drops once: ten replies, one each.

    At most three failures can hit one request here: discord.py gives up on a request after five
    tries in all (429s count), and the bot does not send again after that (reported).
    """
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
