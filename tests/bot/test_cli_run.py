"""``citebot run`` when Discord cannot be reached, and its log at start (issue 13).

Everything stays on loopback: discord.py's REST base is pointed at a port nothing listens on.
"""

from __future__ import annotations

import logging
import socket

import pytest

from bot.cli import EXIT_UNREACHABLE, main

WELL_FORMED = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.wrong-token-wrong-token-wrong-token"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("CITEBOT_CONFIG", raising=False)
    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED)
    return tmp_path


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


def test_run_with_discord_unreachable_is_one_line(clean_env, refused_base, capsys, caplog):
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
