"""End-to-end: start-up that builds the index, and the fake's fault hooks (resume, 429) with the real client."""

from __future__ import annotations

import shutil

from harness import ROOT, bot_config, start_bot, stop_bot

QUESTION = "When could US strikes inside Venezuela start?"


async def test_bot_builds_missing_index_before_serving(fake, tmp_path, encoder):
    """With no index, setup_hook builds it from the corpus (off the event loop) before the bot
    connects to the gateway; the first question is then answered from it."""
    from retrieval.config import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in sorted((ROOT / "seeds").glob("*.txt"))[:2]:  # two documents keep the build short
        shutil.copy(f, corpus / f.name)
    settings = Settings.from_mapping({"corpus": corpus, "index_dir": tmp_path / "index"})
    assert not (tmp_path / "index").exists()
    b = await start_bot(bot_config(fake, tmp_path), None, settings=settings, engine_options={"encoder": encoder})
    try:
        assert b.engine is not None and b.engine.stats()["documents"] == 2
        # the gateway connection came only after the index was ready
        ws = next(i for i, r in enumerate(fake.requests) if r.method == "WS")
        sync = next(i for i, r in enumerate(fake.requests) if r.method == "PUT")
        assert sync < ws, "setup_hook (index, cogs, command sync) finished before the gateway connect"
        m = await fake.mention(QUESTION)
        r = await fake.wait_reply(m)
        assert b.engine.stats()["version"] in r.body()["embeds"][0]["footer"]["text"]
    finally:
        await stop_bot(b)


async def test_gateway_drop_resumes_and_keeps_answering(fake, bot):
    """Close code 4000 from the fake: the client resumes the session (op 6) and answers after it."""
    mark = fake.mark()
    await fake.drop_gateway(code=4000)
    await fake.wait_for(lambda r: r.method == "WS", after=mark)
    resume = await fake.wait_for(lambda r: r.path == "/gateway/op/6", after=mark)
    assert resume.json["session_id"].startswith("session-") and resume.json["token"] == fake.token
    assert not [r for r in fake.since(mark) if r.path == "/gateway/op/2"], "resumed, not re-identified"
    m = await fake.mention(QUESTION)
    r = await fake.wait_reply(m)
    assert r.status == 200


async def test_rate_limited_reply_is_retried(fake, bot):
    """A 429 with retry_after on the reply: discord.py waits and retries; the reply arrives once."""
    fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=429, retry_after=0.05)
    m = await fake.mention(QUESTION)
    r = await fake.wait_reply(m)
    posts = [x for x in fake.requests if x.method == "POST" and x.path == f"/channels/{fake.general_id}/messages"]
    assert [x.status for x in posts] == [429, 200] and posts[-1] is r
