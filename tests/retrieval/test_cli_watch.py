"""``citebot watch``: bad arguments in process (no model load); one real run of the installed
script that rebuilds after a file change and stops cleanly on Ctrl-C (heavy)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.cli import commands as cli

CITEBOT = str(Path(sys.executable).parent / "citebot")


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    c = tmp_path / "corpus"
    c.mkdir()
    (c / "pharos.txt").write_text("The Pharos\n\nThe lighthouse was rebuilt by stonemasons from Crete.\n", encoding="utf-8")
    monkeypatch.delenv("CITEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no citebot.toml of the checkout
    return c


@pytest.mark.parametrize("args, message", [
    (["--every", "5x"], "--every: cannot use '5x'"),
    (["--every", "0s"], "--every: '0s' is too short"),
    (["--debounce", "0"], "watch_debounce must be between"),
    (["--no-watch"], "--no-watch leaves nothing to do"),
])
def test_bad_arguments_are_one_line_errors(corpus, tmp_path, capsys, args, message):
    code = cli.main(["watch", "--corpus", str(corpus), "--index-dir", str(tmp_path / "index"), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "index").exists()  # refused before anything was built


def _lines(proc, sel, want: str, timeout: float, seen: list[str]) -> None:
    """Read stdout lines into ``seen`` until one holds ``want`` (bounded)."""
    end = time.monotonic() + timeout
    while not any(want in ln for ln in seen):
        left = end - time.monotonic()
        assert left > 0 and proc.poll() is None, (seen, proc.poll())
        if sel.select(timeout=min(left, 1.0)):
            line = proc.stdout.readline()
            if line:
                seen.append(line.rstrip("\n"))


@pytest.mark.heavy
def test_watch_rebuilds_after_a_change_and_stops_on_ctrl_c(corpus, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    env.pop("CITEBOT_CONFIG", None)
    index = tmp_path / "index"
    proc = subprocess.Popen([CITEBOT, "watch", "--corpus", str(corpus), "--index-dir", str(index), "--debounce", "0.3"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen: list[str] = []
    try:
        # the first build happens before watching starts; wait for it (the index is there)
        end = time.monotonic() + 180
        while not (index / "CURRENT").is_file():
            assert time.monotonic() < end and proc.poll() is None, proc.poll()
            time.sleep(0.2)
        time.sleep(1.0)  # the watcher is set up right after
        # changes keep coming until one build line shows the new document (bounded)
        end = time.monotonic() + 120
        while not any("(1 added)" in ln for ln in seen):
            (corpus / "bees.txt").write_text("Bees\n\nTwelve beehives stand on the harbour wall.\n", encoding="utf-8")
            _lines(proc, sel, "· watch · ok:", min(30, max(0.1, end - time.monotonic())), seen)
        line = next(ln for ln in seen if "(1 added)" in ln)
        assert "· watch · ok: 2 documents" in line
        # a broken file: skipped and named, the watch goes on
        (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not a pdf at all \x00\xff" * 10)
        _lines(proc, sel, "broken.pdf", 60, seen)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "Traceback" not in err and "citebot: stopped" in err, err
    assert all(" · watch · " in ln for ln in seen), seen  # one line per build on stdout, nothing else
