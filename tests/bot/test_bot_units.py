"""Unit tests (no model, no Discord): config, token format, upload names, cooldown, feedback store."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.checks import UserCooldown, cooldown_message, place_allowed
from bot.cogs.admin import safe_upload_name
from bot.config import BotConfig, token_problem
from bot.feedback import FeedbackStore
from retrieval.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.abcdefghijklmnopqrstuvwxyz0123456789"
TYPES = [".txt", ".md", ".html"]


def test_config_from_toml_and_env(tmp_path, monkeypatch):
    cfg_file = tmp_path / "citebot.toml"
    cfg_file.write_text(
        'corpus = "docs"\n[bot]\nallowed_guilds = [1, 2]\nadmin_role_ids = [7]\ncooldown_rate = 5\n'
        f'feedback_db = "{tmp_path / "fb.sqlite3"}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("DISCORD_TOKEN", GOOD_TOKEN)
    monkeypatch.setenv("CITEBOT_BOT_AUTO_ANSWER_CHANNELS", "10, 11")
    monkeypatch.setenv("CITEBOT_BOT_COOLDOWN_PER", "12.5")
    cfg = BotConfig.load(cfg_file)
    assert cfg.allowed_guilds == [1, 2] and cfg.admin_role_ids == [7] and cfg.cooldown_rate == 5
    assert cfg.auto_answer_channels == [10, 11] and cfg.cooldown_per == 12.5
    assert cfg.feedback_db == tmp_path / "fb.sqlite3"
    assert cfg.token == GOOD_TOKEN and GOOD_TOKEN not in repr(cfg), "the token never shows in repr/logs"


def test_config_refuses_token_in_file_and_unknown_keys(tmp_path, monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    f = tmp_path / "c.toml"
    f.write_text('[bot]\ntoken = "x.y.z"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        BotConfig.load(f)
    f.write_text("[bot]\nadmin_roles = [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown"):
        BotConfig.load(f)
    f.write_text('[bot]\nallowed_guilds = ["abc"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="allowed_guilds"):
        BotConfig.load(f)


@pytest.mark.parametrize("values,message", [
    ({"sync_commands": "maybe"}, "sync_commands: cannot use 'maybe' as bool"),
    ({"cooldown_rate": 1.9}, "cooldown_rate: cannot use 1.9 as int"),
    ({"cooldown_rate": True}, "cooldown_rate: cannot use True as int"),
    ({"documents_per_page": "7.5"}, "documents_per_page: cannot use '7.5'"),
    ({"admin_user_ids": [True]}, "admin_user_ids: cannot use True as int"),
    ({"allowed_guilds": "1,x"}, "allowed_guilds: cannot use 'x' as int"),
    ({"upload_types": [5]}, "upload_types: cannot use [5]"),
    ({"feedback_db": 3}, "feedback_db: cannot use 3 as path"),
    ({"memory_budget_mb": -1}, "memory_budget_mb must not be negative"),
    ({"history_recheck": -1}, "history_recheck must not be negative"),
    ({"history_recheck": "2.5"}, "history_recheck: cannot use '2.5'"),
    ({"history_recheck": True}, "history_recheck: cannot use True"),
])
def test_bot_settings_are_as_strict_as_retrieval_settings(values, message):
    """One coercer for both packages: what Settings refuses, BotConfig refuses too (one line)."""
    with pytest.raises(ConfigError) as e:
        BotConfig.from_mapping(values)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bot_settings_from_the_environment_still_parse():
    cfg = BotConfig.from_mapping({"sync_commands": "off", "cooldown_rate": "4", "cooldown_per": 2,
                                  "allowed_guilds": "1, 2", "upload_types": "txt,.MD", "memory_budget_mb": "512"})
    assert (cfg.sync_commands, cfg.cooldown_rate, cfg.cooldown_per) == (False, 4, 2.0)
    assert cfg.allowed_guilds == [1, 2] and cfg.upload_types == [".txt", ".md"] and cfg.memory_budget_mb == 512.0
    assert BotConfig().history_recheck == 50 and BotConfig.from_mapping({"history_recheck": "0"}).history_recheck == 0


def test_config_send_retries():
    assert (BotConfig().send_retries, BotConfig().send_retry_delay) == (2, 3.0)
    cfg = BotConfig.from_mapping({"send_retries": "0", "send_retry_delay": "0.5"})  # as the environment gives them
    assert (cfg.send_retries, cfg.send_retry_delay) == (0, 0.5)
    for bad in ({"send_retries": -1}, {"send_retry_delay": -0.1}):
        with pytest.raises(ConfigError, match="send_retr"):
            BotConfig.from_mapping(bad)


def test_token_problem():
    assert "DISCORD_TOKEN" in token_problem(None)
    assert "bare token" in token_problem("Bot " + GOOD_TOKEN)
    assert "look like" in token_problem("not-a-token")
    assert token_problem(GOOD_TOKEN) is None


@pytest.mark.parametrize("name", ["../x.txt", "a/b.txt", "a\\b.txt", ".env.txt", "..", ".", "C:x.txt", "x\x00.txt", "x\n.txt", ""])
def test_unsafe_upload_names_are_refused(name):
    problem, safe = safe_upload_name(name, TYPES)
    assert safe is None and "not allowed" in problem


def test_upload_names_are_cleaned_and_typed():
    assert safe_upload_name("My Report (final).TXT", TYPES) == (None, "My_Report_final_.TXT")
    assert safe_upload_name("notes.md", TYPES) == (None, "notes.md")
    problem, safe = safe_upload_name("tool.exe", TYPES)
    assert safe is None and "Only .txt, .md, .html" in problem
    problem, safe = safe_upload_name("noext", TYPES)
    assert safe is None
    _, long = safe_upload_name("a" * 300 + ".txt", TYPES)
    assert len(long) <= 120 and long.endswith(".txt")


def test_cooldown_per_user_without_sleeping():
    now = [100.0]
    cd = UserCooldown(2, 30, clock=lambda: now[0])
    assert cd.hit(1) is None and cd.hit(1) is None
    wait = cd.hit(1)
    assert wait is not None and 0 < wait <= 30
    assert cd.hit(2) is None, "other users have their own bucket"
    now[0] += 31
    assert cd.hit(1) is None, "the window passed"
    assert "again in 5 s" in cooldown_message(4.6)


def test_place_allowed():
    cfg = BotConfig(allowed_guilds=[1], allowed_channels=[10])

    class Chan:
        def __init__(self, id, parent_id=None):
            self.id, self.parent_id = id, parent_id

    assert place_allowed(cfg, 1, Chan(10))
    assert place_allowed(cfg, 1, Chan(99, parent_id=10)), "threads count as their channel"
    assert not place_allowed(cfg, 1, Chan(11))
    assert not place_allowed(cfg, 2, Chan(10))
    assert not place_allowed(cfg, None, Chan(10)), "DMs are outside the allowed guilds"
    assert place_allowed(BotConfig(), None, None)


def test_feedback_store_keeps_also_in_sources_and_reads_old_databases(tmp_path):
    """"Also in" sources are stored with their numbers; a database made before the column existed
    gets it on open and its answers read as having none."""
    import sqlite3

    db = tmp_path / "old.sqlite3"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE answers (message_id INTEGER PRIMARY KEY, channel_id INTEGER, guild_id INTEGER,"
        " question TEXT NOT NULL, answered INTEGER NOT NULL, results TEXT NOT NULL, index_version TEXT,"
        " created REAL NOT NULL);"
    )
    results = [{"number": 1, "doc_id": "d", "paragraph": 2}, {"number": 2, "doc_id": "e", "paragraph": 5}]
    old.execute("INSERT INTO answers VALUES (1, 5, 6, 'old?', 1, ?, 'v0', 0)", (json.dumps(results),))
    old.commit()
    old.close()

    s = FeedbackStore(db)
    rec = s.get_answer(1)
    assert rec.results == results and rec.also_in == []
    assert rec.source(2) == results[1] and rec.source(3) is None and rec.source(0) is None
    also = [{"number": 3, "doc_id": "f", "paragraph": 4, "citation": {"title": "F"}}]
    s.record_answer(2, channel_id=5, guild_id=6, question="new?", answered=True, results=results,
                    index_version="v1", also_in=also)
    s.close()
    s = FeedbackStore(db)  # reopened: the column is not added twice
    rec = s.get_answer(2)
    assert rec.also_in == also and rec.source(3) == also[0] and rec.source(1) == results[0]
    assert s.get_answer(1).also_in == [] and s.vote(1, 42, 1)
    s.close()


def test_feedback_store_adds_the_kb_column_to_an_older_database(tmp_path):
    """A database from before knowledge bases (no kb column in answers or feedback) is upgraded when
    opened; its rows belong to the default knowledge base; counts and votes are per knowledge base."""
    db = tmp_path / "fb.sqlite3"
    old = sqlite3.connect(db)
    old.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE answers (message_id INTEGER PRIMARY KEY, channel_id INTEGER, guild_id INTEGER,"
        " question TEXT NOT NULL, answered INTEGER NOT NULL, results TEXT NOT NULL, index_version TEXT,"
        " created REAL NOT NULL, also_in TEXT);"
        "CREATE TABLE feedback (message_id INTEGER NOT NULL, user_hash TEXT NOT NULL, vote INTEGER NOT NULL,"
        " question TEXT NOT NULL, results TEXT NOT NULL, index_version TEXT, created REAL NOT NULL,"
        " PRIMARY KEY (message_id, user_hash));"
        "INSERT INTO answers VALUES (1, 5, 6, 'old?', 1, '[]', 'v0', 0, NULL);"
        "INSERT INTO feedback VALUES (1, 'h', 1, 'old?', '[]', 'v0', 0);"
    )
    old.close()
    ro = FeedbackStore.open_readonly(db)  # export of a database not yet upgraded
    assert [v["kb"] for v in ro.votes()] == ["default"]
    ro.close()
    s = FeedbackStore(db)
    assert s.get_answer(1).kb == "default"
    s.record_answer(2, channel_id=7, guild_id=8, question="new?", answered=True, results=[], index_version="v1", kb="alpha")
    assert s.vote(2, 42, -1) and s.get_answer(2).kb == "alpha"
    assert s.count_answers() == 2 and s.count_answers("alpha") == 1 and s.count_answers("default") == 1
    assert s.tally("alpha") == {"up": 0, "down": 1} and s.tally("default") == {"up": 1, "down": 0}
    assert s.answered_in(7, "alpha") and not s.answered_in(7, "default") and s.answered_in(5, "default")
    assert [v["kb"] for v in s.votes()] == ["default", "alpha"]
    s.close()


def test_feedback_store_roundtrip_and_export(tmp_path):
    db = tmp_path / "fb.sqlite3"
    s = FeedbackStore(db)
    results = [{"number": 1, "doc_id": "d", "paragraph": 2, "quote": "q", "citation": {"title": "T"}}]
    s.record_answer(111, channel_id=5, guild_id=6, question="why?", answered=True, results=results, index_version="v1")
    assert s.vote(999, 42, 1) is False, "unknown answer"
    assert s.vote(111, 42, 1) and s.vote(111, 43, -1) and s.vote(111, 42, -1)
    assert s.tally() == {"up": 0, "down": 2}
    assert s.answered_in(5) and not s.answered_in(7)
    salt_hash = s.hash_user(42)
    s.close()

    s = FeedbackStore(db)  # reopened: same salt, same records
    assert s.hash_user(42) == salt_hash and s.get_answer(111).results == results
    out = io.StringIO()
    assert s.export_jsonl(out) == 2
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert {x["vote"] for x in lines} == {"down"} and lines[0]["question"] == "why?"
    # users are exported as their salted hashes, never as ids ("42" could begin a hash 1 time in 256)
    assert all(len(x["user"]) == 64 for x in lines)
    assert {x["user"] for x in lines} == {s.hash_user(42), s.hash_user(43)} and "42" not in {x["user"] for x in lines}
    assert lines[0]["results"] == results and lines[0]["index_version"] == "v1"
    s.close()


def test_bot_cli_does_not_import_discord():
    """``citebot index`` must not pay for discord.py (or torch) just to build the parser."""
    code = "import sys, bot.launcher; bot.launcher.build_parser(); print('discord' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_discord_places_are_read_once_per_version_and_unknown_documents_are_hidden():
    from types import SimpleNamespace

    from bot.visibility import DocFilter, discord_places

    docs = [{"doc_id": "guide", "source": "guide.md"}]
    eng = SimpleNamespace(version="v1", settings=SimpleNamespace(index_dir="/nowhere"), documents=lambda: docs)
    assert discord_places(eng) == {"guide": None}
    docs.append({"doc_id": "chat/9", "source": "https://discord.com/channels/1/2/3"})
    assert discord_places(eng) == {"guide": None}, "cached for the version"
    eng.version = "v2"
    places = discord_places(eng)
    assert places == {"guide": None, "chat/9": (1, 2)}
    f = DocFilter(places, {(1, 2): False})
    assert f("guide") and not f("chat/9") and not f("added-since") and f.for_engine() is f
    assert DocFilter(places, {(1, 2): True}).for_engine() is None  # nothing hidden: the plain path
