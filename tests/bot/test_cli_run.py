"""``citebot run`` when Discord cannot be reached, and its log at start (issue 13).

Everything stays on loopback: discord.py's REST base is pointed at a port nothing listens on.
"""

from __future__ import annotations

import logging
import socket

import pytest

from bot.launcher import EXIT_UNREACHABLE, main
from test_bot_cli import WELL_FORMED_BUT_WRONG as WELL_FORMED
from test_bot_cli import clean_env  # noqa: F401  (the fixture: no config file or CITEBOT_* leaks in)


@pytest.fixture
def refused_base(monkeypatch):
    """discord.py's REST base on a loopback port that refuses connections."""
    import discord.http

    with socket.socket() as s:  # bound then closed: nothing listens there afterwards
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/api/v10"
    monkeypatch.setattr(discord.http.Route, "BASE", base)
    return base


def test_run_with_discord_unreachable_is_one_line(clean_env, refused_base, capsys, caplog, monkeypatch):
    import discord

    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED)
    monkeypatch.setattr(discord.VoiceClient, "warn_nacl", True)  # as in a fresh process (the first client warns)
    caplog.set_level(logging.WARNING)
    code = main(["run", "--corpus", str(clean_env / "corpus"), "--index-dir", str(clean_env / "index")])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == EXIT_UNREACHABLE != 0
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("citebot: error: cannot reach Discord at " + refused_base)
    assert WELL_FORMED not in err
    assert not (clean_env / "index").exists(), "nothing is built before Discord answers"
    # discord.py's voice warning (citebot has no voice) is silenced
    assert "PyNaCl" not in caplog.text and "PyNaCl" not in err
