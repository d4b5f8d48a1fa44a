"""The Discord token never appears in logs (every logger at DEBUG), errors, stdout/stderr, ``citebot
doctor`` or ``citebot run`` output, nor in anything the bot writes to disk. Each test drives the real
code paths where a token could leak (login, gateway IDENTIFY/RESUME, rate limits, server errors,
reconnects, a failing command, a rejected token, a token put in the config file) and scans everything
it captured for the token, its secret third part and the ``Bot <token>`` header."""

from __future__ import annotations

import asyncio
import logging

import pytest

SECRET = "Zq9-secret-part-of-the-token-XYZ12345"


def needles(token: str) -> list[str]:
    return [token, token.split(".")[-1], f"Bot {token}"]


def assert_clean(text: str, token: str, where: str) -> None:
    for n in needles(token):
        assert n not in text, f"token fragment {n[:6]}… found in {where}"


@pytest.fixture
def all_logs():
    """Every record of every logger at DEBUG, formatted with tracebacks (what a log file would hold)."""
    records: list[str] = []
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(fmt.format(record))

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    old = root.level
    # `citebot run` sets these two (bot.launcher.configure_logging), also in earlier tests: let them
    # follow the root here, and put them back afterwards
    named = {name: logging.getLogger(name).level for name in ("citebot", "discord")}
    for name in named:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(old)
    for name, level in named.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("CITEBOT_CONFIG", raising=False)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path


async def test_bot_session_logs_never_hold_the_token(hostile_engine, tmp_path, all_logs, capfd, bot_modules):
    harness, fd = bot_modules
    token = f"MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.{SECRET}"
    fake = await fd.FakeDiscord(token=token).start()
    try:
        with fd.point_discord_at(fake):
            cfg = harness.bot_config(fake, tmp_path)
            bot = await harness.start_bot(cfg, hostile_engine)
            try:
                m = await fake.mention("What bounty has the US put on Maduro?")
                await fake.wait_reply(m)
                fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=429, retry_after=0.05)
                fake.fail("POST", rf"^/channels/{fake.general_id}/messages$", status=500)
                m = await fake.mention("Who refused to comment?")
                await fake.wait_reply(m, timeout=30)
                mark = fake.mark()
                await fake.drop_gateway(code=4000)  # RESUME carries the token
                await fake.wait_for(lambda r: r.path == "/gateway/op/6", after=mark, timeout=30)
                mark = fake.mark()
                # IDENTIFY carries it again; this is also the fault suite's op 9 INVALID_SESSION case:
                # a new IDENTIFY, ready again, and answered afterwards (the last question below)
                # wait_until_ready() would return at once (still set from the first READY): wait for
                # the next on_ready, listening before the session is invalidated so it cannot be missed
                ready_again = asyncio.create_task(bot.wait_for("ready", timeout=30))
                await asyncio.sleep(0)
                await fake.invalidate_session(resumable=False)
                await fake.wait_for(lambda r: r.path == "/gateway/op/2", after=mark, timeout=30)
                await ready_again
                # a command that fails inside (forged interaction without member data): a logged error
                cmd = fake.command("stats")
                p = fake._interaction(2, {"id": cmd["id"], "name": "stats", "type": 1, "options": []},
                                      user=fake.ada, channel_id=fake.general_id)
                del p["member"]
                await fake.dispatch("INTERACTION_CREATE", p)
                # a failing reindex (corpus gone) is reported and logged
                corpus = hostile_engine.settings.corpus
                hostile_engine.settings.corpus = tmp_path / "missing"
                try:
                    inter = await fake.slash("reindex", user=fake.ada)
                    await fake.wait_interaction(inter, lambda r: "Reindex failed" in (r.body().get("content") or ""),
                                                kind="edit", timeout=30)
                finally:
                    hostile_engine.settings.corpus = corpus
                m = await fake.mention("Who refused to comment?")
                await fake.wait_reply(m, timeout=30)
            finally:
                await harness.stop_bot(bot)
    finally:
        await fake.close()
    await asyncio.sleep(0.1)
    assert fake.identifies and fake.resumes, "the token really went over the gateway in this test"
    logs = "\n".join(all_logs)
    assert "IDENTIFY" in logs or "identif" in logs.lower(), "DEBUG logging of the gateway was captured"
    assert_clean(logs, token, "logs")
    out, err = capfd.readouterr()
    assert_clean(out + err, token, "stdout/stderr")
    assert_clean(repr(cfg) + str(cfg.__dict__.get("token") is not None), token, "config repr")
    for f in tmp_path.rglob("*"):
        if f.is_file():
            data = f.read_bytes().decode("utf-8", "replace")
            assert_clean(data, token, str(f))


def test_doctor_never_prints_the_token(clean_env, capfd, monkeypatch, all_logs, hostile_engine):
    from bot.launcher import main

    loc = ["--corpus", str(hostile_engine.settings.corpus), "--index-dir", str(hostile_engine.settings.index_dir)]
    tokens = [f"MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.{SECRET}", f"Bot MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.{SECRET}",
              f" MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.{SECRET}\n", SECRET, f"{SECRET}.{SECRET}"]
    for token in tokens:
        monkeypatch.setenv("DISCORD_TOKEN", token)
        main(["-v", "doctor", *loc])
        out, err = capfd.readouterr()
        assert "DISCORD_TOKEN" in out
        assert SECRET not in out + err, f"doctor printed the token ({token[:8]}…)"
    # a token pasted into the config file is refused without echoing it
    (clean_env / "citebot.toml").write_text(f'[bot]\ntoken = "{tokens[0]}"\n')
    monkeypatch.setenv("DISCORD_TOKEN", tokens[0])
    code = main(["doctor", *loc])
    out, err = capfd.readouterr()
    assert code == 1 and "do not put the bot token" in out + err
    assert SECRET not in out + err
    assert SECRET not in "\n".join(all_logs)


def test_run_with_rejected_token_never_prints_it(clean_env, capfd, monkeypatch, all_logs, bot_modules):
    """``citebot run -v`` (DEBUG logs) against a fake that answers 401: one line, no token anywhere."""
    from bot.launcher import main

    _, fd = bot_modules
    token = f"MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.{SECRET}"
    monkeypatch.setenv("DISCORD_TOKEN", token)
    with fd.fake_in_thread() as fake, fd.point_discord_at(fake):
        code = main(["-v", "run", "--corpus", str(clean_env / "c"), "--index-dir", str(clean_env / "i")])
    out, err = capfd.readouterr()
    assert code == 2 and "rejected the token" in err
    assert_clean(out + err + "\n".join(all_logs), token, "citebot run output and logs")
    # the request really carried the token (so the scan above was meaningful)
    assert fake.requests[0].headers.get("Authorization") == f"Bot {token}"


def test_run_verbose_never_logs_interaction_tokens(clean_env, monkeypatch, all_logs, bot_modules, hostile_engine):
    """``citebot -v run`` turns on citebot's DEBUG lines but keeps discord.py at INFO: its DEBUG lines
    hold every request URL, and interaction tokens are part of the webhook URLs (anyone holding one
    can post in that conversation as the bot for 15 minutes), plus every request body. Only
    ``--debug-discord`` logs those; that run shows the scan below would have found them."""
    from bot import client as client_mod
    from bot.launcher import main

    _, fd = bot_modules
    monkeypatch.setenv("DISCORD_TOKEN", fd.TOKEN)  # the token fake_in_thread's server accepts
    real = client_mod.CiteBot
    seen: dict = {}

    with fd.fake_in_thread() as fake, fd.point_discord_at(fake):

        def in_fake(coro):
            return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, fake.loop))

        class OneQuestion(real):
            """The bot `citebot run` starts, over the test engine, asked one /ask then closed."""

            def __init__(self, cfg, registry=None):
                super().__init__(cfg, engine=hostile_engine)

            async def on_ready(self):
                await super().on_ready()
                try:
                    seen["citebot"] = logging.getLogger("citebot.ask").getEffectiveLevel()
                    inter = await in_fake(fake.slash("ask", {"question": "Who refused to comment?"}))
                    await in_fake(fake.wait_interaction(inter, kind="followup"))
                    seen["token"] = inter["token"]
                finally:
                    await self.close()

        monkeypatch.setattr(client_mod, "CiteBot", OneQuestion)
        loc = ["--corpus", str(clean_env / "c"), "--index-dir", str(clean_env / "i")]

        assert main(["-v", "run", *loc]) == 0
        token = seen.pop("token")
        assert seen.pop("citebot") == logging.DEBUG, "-v still means DEBUG for citebot's own loggers"
        logs = "\n".join(all_logs)
        assert "logging in using static token" in logs, "discord.py's INFO lines were captured"
        assert token not in logs, "an interaction token reached the log at -v"
        assert_clean(logs, fd.TOKEN, "logs at -v")
        assert any(token in r.path for r in fake.requests), "the bot really used the token in URLs"

        all_logs.clear()
        assert main(["-v", "run", "--debug-discord", *loc]) == 0
        assert seen.pop("token") in "\n".join(all_logs), "--debug-discord logs discord.py's requests"
