"""The bot's CLI: ``citebot run`` token errors, ``doctor`` and ``feedback export``."""

from __future__ import annotations

import json

import pytest

from bot.launcher import main
from bot.feedback import FeedbackStore
from fakediscord import fake_in_thread, point_discord_at

WELL_FORMED_BUT_WRONG = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkE0.wrong-token-wrong-token-wrong-token"


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No config file or CITEBOT_* variable of this machine leaks into the CLI under test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("CITEBOT_CONFIG", raising=False)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return tmp_path


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert "Traceback" not in err
    return lines[0]


def test_run_without_token(clean_env, capsys):
    assert main(["run"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert line == "citebot: error: no bot token: set the DISCORD_TOKEN environment variable"


def test_run_with_malformed_token(clean_env, capsys, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "hello")
    assert main(["run"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "does not look like a Discord bot token" in line and "hello" not in line


def test_run_with_a_bad_knowledge_base_config_stops_in_one_line(clean_env, capsys, monkeypatch):
    """The knowledge bases are checked before anything connects: one line, nothing started."""
    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED_BUT_WRONG)
    config = clean_env / "citebot.toml"
    table = '[[knowledge_bases]]\nname = "{n}"\ncorpus = "c{n}"\nindex_dir = "i{n}"\nguilds = [5]\n'
    config.write_text(table.format(n="a") + table.format(n="b"), encoding="utf-8")
    assert main(["run", "--config", str(config)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line == "citebot: error: guild 5 is claimed by knowledge bases 'a' and 'b'; split it with `channels`"
    assert main(["run", "--config", str(config), "--kb", "a"]) == 1
    assert "serves every knowledge base" in _one_line_error(capsys.readouterr().err)


def test_run_with_rejected_token(clean_env, capsys, monkeypatch, tmp_path):
    """Discord answers 401 at login: one line, exit 2, and the index is never opened."""
    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED_BUT_WRONG)
    with fake_in_thread() as fake, point_discord_at(fake):
        code = main(["run", "--corpus", str(tmp_path / "corpus"), "--index-dir", str(tmp_path / "index")])
    assert code == 2
    err = capsys.readouterr().err
    line = _one_line_error(err)
    assert "Discord rejected the token" in line and WELL_FORMED_BUT_WRONG not in err
    assert [(r.method, r.path, r.status) for r in fake.requests] == [("GET", "/users/@me", 401)]
    assert not (tmp_path / "index").exists(), "login failed before the engine was opened"


def test_doctor(clean_env, capsys, monkeypatch, engine):
    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED_BUT_WRONG)
    code = main(["doctor", "--corpus", str(engine.settings.corpus), "--index-dir", str(engine.settings.index_dir)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{engine.stats()['documents']} documents" in out and "looks like a bot token" in out
    assert WELL_FORMED_BUT_WRONG not in out
    monkeypatch.setenv("DISCORD_TOKEN", "nope")
    assert main(["doctor", "--corpus", str(clean_env / "missing"), "--index-dir", str(clean_env / "idx")]) == 1
    out = capsys.readouterr().out
    assert "FAIL corpus not found" in out and "FAIL DISCORD_TOKEN" in out and "warn no index" in out


def test_doctor_checks_each_knowledge_base(clean_env, capsys, monkeypatch, engine):
    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED_BUT_WRONG)
    config = clean_env / "citebot.toml"
    config.write_text(
        f'[[knowledge_bases]]\nname = "seeds"\ncorpus = "{engine.settings.corpus}"\n'
        f'index_dir = "{engine.settings.index_dir}"\nguilds = [1]\n\n'
        f'[[knowledge_bases]]\nname = "empty"\ncorpus = "{clean_env / "nothing"}"\n'
        f'index_dir = "{clean_env / "idx"}"\nguilds = [2]\n', encoding="utf-8")
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "(2 knowledge bases)" in out
    assert f"ok   [seeds] index: {engine.settings.index_dir} — {engine.stats()['documents']} documents" in out
    assert "FAIL [empty] corpus not found" in out and "warn [empty] no index" in out
    assert "ok   [seeds] memory: about " in out and " MB once in use" in out
    monkeypatch.setenv("CITEBOT_BOT_MEMORY_BUDGET_MB", "1")
    assert main(["doctor", "--config", str(config)]) == 1
    assert "FAIL [seeds] memory: the index needs about" in capsys.readouterr().out
    monkeypatch.delenv("CITEBOT_BOT_MEMORY_BUDGET_MB")
    assert main(["doctor", "--config", str(config), "--kb", "seeds"]) == 0, "one knowledge base: that one only"
    out = capsys.readouterr().out
    assert "empty" not in out and "ok   index:" in out
    config.write_text('[[knowledge_bases]]\nname = "x"\ncorpus = "c"\nindex_dir = "i"\nguilds = ["abc"]\n')
    assert main(["doctor", "--config", str(config)]) == 1
    assert "FAIL configuration: knowledge base 'x': guilds has 'abc', not a Discord id" in capsys.readouterr().out


def test_feedback_export(clean_env, capsys):
    db = clean_env / "fb.sqlite3"
    s = FeedbackStore(db)
    s.record_answer(1, channel_id=1, guild_id=1, question="q?", answered=True, results=[{"number": 1}], index_version="v")
    s.vote(1, 5, 1)
    s.close()
    out = clean_env / "votes.jsonl"
    assert main(["feedback", "export", "--db", str(db), "--out", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 1 and rows[0]["vote"] == "up" and rows[0]["question"] == "q?"
    assert main(["feedback", "export", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["vote"] == "up"
    assert main(["feedback", "export", "--db", str(clean_env / "none.sqlite3")]) == 1


def test_feedback_export_of_a_file_that_is_not_a_database(clean_env, capsys):
    bad = clean_env / "votes.jsonl"
    bad.write_text('{"not": "a database"}\n' * 100)
    assert main(["feedback", "export", "--db", str(bad)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert line.startswith("citebot: error: cannot read feedback database") and "not a database" in line


def test_doctor_names_the_fix_for_a_damaged_index_once(clean_env, capsys, engine):
    import shutil

    from retrieval.index.loaded import current_version

    idx = clean_env / "idx"
    shutil.copytree(engine.settings.index_dir, idx)
    (current_version(idx) / "dense.faiss").write_bytes(b"garbage")
    assert main(["doctor", "--corpus", str(engine.settings.corpus), "--index-dir", str(idx)]) == 1
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("FAIL index"))
    assert line.count("citebot index --rebuild") == 1, line


def test_feedback_export_leaves_another_sqlite_database_untouched(clean_env, capsys):
    """Exporting from some other SQLite file is refused, and the file is byte-for-byte as it was
    (opening it as a store used to create citebot's tables in it)."""
    import sqlite3

    other = clean_env / "app.sqlite3"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO users(name) VALUES ('ada')")
    con.commit()
    con.close()
    before = other.read_bytes()
    assert main(["feedback", "export", "--db", str(other)]) == 1
    line = _one_line_error(capsys.readouterr().err)
    assert "not a citebot feedback database" in line
    assert other.read_bytes() == before
    tables = {r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"users"}


def test_feedback_export_of_a_database_made_before_the_also_in_column(clean_env, capsys):
    """An older store (no ``also_in`` column) exports as it is, read-only."""
    import sqlite3

    db = clean_env / "old.sqlite3"
    s = FeedbackStore(db)
    s.record_answer(1, channel_id=1, guild_id=1, question="q?", answered=True, results=[{"number": 1}], index_version="v")
    s.vote(1, 5, -1)
    s.close()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE answers DROP COLUMN also_in")
    con.commit()
    con.close()
    assert main(["feedback", "export", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["vote"] == "down"
    cols = {r[1] for r in sqlite3.connect(db).execute("PRAGMA table_info(answers)")}
    assert "also_in" not in cols, "export must not migrate the database"


def test_doctor_shows_when_the_bot_rebuilds_and_refuses_a_bad_duration(clean_env, capsys, monkeypatch, engine):
    monkeypatch.setenv("DISCORD_TOKEN", WELL_FORMED_BUT_WRONG)
    config = clean_env / "citebot.toml"
    kb = (f'[[knowledge_bases]]\nname = "seeds"\ncorpus = "{engine.settings.corpus}"\n'
          f'index_dir = "{engine.settings.index_dir}"\nguilds = [1]\n')
    config.write_text(kb + 'reindex_every = "6h"\nwatch = true\nwatch_debounce = 5\n', encoding="utf-8")
    assert main(["doctor", "--config", str(config)]) == 0
    assert "ok   the bot rebuilds the index every 6h and after changes in the corpus folder (5 s debounce)" \
        in capsys.readouterr().out
    config.write_text(kb + 'reindex_every = "daily"\n', encoding="utf-8")
    assert main(["doctor", "--config", str(config)]) == 1
    assert ("FAIL configuration: knowledge base 'seeds': reindex_every: cannot use 'daily'; give a duration like "
            '"30m", "6h", "1d" or "1h30m" (s, m, h, d), or "off"') in capsys.readouterr().out
