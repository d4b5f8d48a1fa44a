"""The `citebot` command line, in process (``cli.main`` with capsys), except one real run of the
installed script. Damaged indexes through the CLI are in tests/reliability/test_faults.py."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval.cli import chat
from retrieval.cli.questions import read_questions, split_questions
from retrieval.cli import commands as cli

CITEBOT = str(Path(sys.executable).parent / "citebot")


@pytest.fixture(scope="module")
def home(tmp_path_factory, seeds_engine):
    """A working folder whose ``idx`` starts as a copy of the session's seeds index (no second build)."""
    home = tmp_path_factory.mktemp("cli")
    shutil.copytree(seeds_engine.settings.index_dir, home / "idx")
    return home


@pytest.fixture
def env(home, seeds_copy, monkeypatch):
    e = {"HF_HUB_OFFLINE": "1", "CITEBOT_CORPUS": str(seeds_copy), "CITEBOT_INDEX_DIR": str(home / "idx"),
         "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "cfg")}
    for k, v in e.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("CITEBOT_CONFIG", raising=False)
    monkeypatch.chdir(home)
    return dict(os.environ)


def run(capsys, *args, stdin=None, monkeypatch=None):
    """``citebot ARGS`` in this process; returns (exit code, stdout, stderr)."""
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def subproc(env, *args):
    return subprocess.run([CITEBOT, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.heavy
def test_ask_json_as_a_subprocess_builds_the_missing_index(env, tmp_path):
    """The installed ``citebot`` script end to end in one process: no index yet, so ``ask`` builds
    it (one model load), then answers as JSON. Every other CLI test runs in process."""
    env = {**env, "CITEBOT_INDEX_DIR": str(tmp_path / "fresh-index")}
    r = subproc(env, "ask", "--json", "-k", "2", "What bounty has the US put on Maduro?")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and (tmp_path / "fresh-index" / "CURRENT").is_file()
    obj = json.loads(r.stdout.strip())
    assert set(obj) >= {"question", "answered", "results"} and obj["answered"] is True
    assert len(obj["results"]) == 2
    for res in obj["results"]:
        assert set(res) >= {"rank", "doc_id", "title", "date", "source", "paragraph", "text", "quote", "score",
                            "also_in"}
        assert res["quote"] in res["text"]


def test_index_then_index_again_reuses_everything(env, capsys):
    code, out, _ = run(capsys, "index")
    assert code == 0 and "passages:" in out and f"index directory: {env['CITEBOT_INDEX_DIR']}" in out
    code, out, _ = run(capsys, "index")
    assert code == 0 and "5 unchanged" in out and "(0 embedded" in out


def test_ask_file_jsonl_and_plain(env, capsys, tmp_path):
    f = tmp_path / "qs.jsonl"
    f.write_text('{"q": "Who is the US envoy for Venezuela?"}\n{"text": "What is the tallest mountain in Europe?"}\n'
                 "Does Venezuela produce much cocaine?\n")
    code, out, _ = run(capsys, "ask", "--json", "--file", str(f))
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["answered"] for x in lines] == [True, False, True]
    assert lines[1]["results"]  # still listed for inspection
    code, out, _ = run(capsys, "ask", "What is the tallest mountain in Europe?")
    assert "Not in the corpus" in out and "Sources:" in out


def test_bad_questions_exit_non_zero_with_a_message(env, capsys):
    code, _, err = run(capsys, "ask", "   ")
    assert code == 1 and "empty" in err and "Traceback" not in err
    assert err.strip() == "citebot: error: the question is empty"  # the README's error format
    code, _, err = run(capsys, "ask", "x" * 1001)
    assert code == 1 and "too long" in err and err.startswith("citebot: error: ")


@pytest.mark.parametrize("args", [["ask", "-k", "0", "q"], ["ask", "-k", "-1", "q"], ["chat", "-k", "0"],
                                  ["source", "x", "--context", "-1"]])
def test_out_of_range_counts_are_usage_errors(env, capsys, args):
    with pytest.raises(SystemExit) as e:
        run(capsys, *args)
    assert e.value.code == 2 and "must be at least" in capsys.readouterr().err


@pytest.mark.parametrize("line", ['{"q": null}', '{"id": 3}', '{"q": 42}', '{"q": "broken'])
def test_ask_file_refuses_bad_jsonl_records_with_the_line(env, capsys, tmp_path, line):
    f = tmp_path / "qs.jsonl"
    f.write_text('{"q": "Who is the US envoy for Venezuela?"}\n' + line + "\n")
    code, out, err = run(capsys, "ask", "--json", "--file", str(f))
    assert code == 1 and out == "" and err.startswith(f"citebot: error: {f}:2: ")


def test_sources_and_source(env, capsys):
    code, out, _ = run(capsys, "sources", "--json")
    docs = [json.loads(x) for x in out.splitlines()]
    assert len(docs) == 5
    d = docs[0]["doc_id"]
    code, out, _ = run(capsys, "source", f"{d}:2")
    assert code == 0 and "paragraph 2 of" in out and "¶1" in out and "¶3" in out
    code, _, err = run(capsys, "source", "nope:1")
    assert code == 1 and "no document" in err


def test_chat_reads_until_end_of_input(env, capsys, monkeypatch):
    code, out, _ = run(capsys, "chat", stdin="What bounty has the US put on Maduro?\n\nHow do I reset my router?\n",
                       monkeypatch=monkeypatch)
    assert code == 0
    assert "Sources:" in out and "Not in the corpus" in out


def test_chat_reports_a_bad_question_on_stderr_and_goes_on(env, capsys, monkeypatch):
    code, out, err = run(capsys, "chat", stdin="x" * 1001 + "\nWhat bounty has the US put on Maduro?\n",
                         monkeypatch=monkeypatch)
    assert code == 0 and "Sources:" in out and "too long" not in out
    assert err.strip().startswith("citebot: error: the question is too long")


def test_source_takes_an_id_that_contains_a_colon(env, capsys, tmp_path):
    corpus = tmp_path / "recs.jsonl"  # records without an id get "recs:<line>"
    corpus.write_text('{"title": "Penguins", "text": "Emperor penguins huddle.\\n\\nThey eat krill."}\n'
                      '{"id": "doc:7", "text": "A record about volcanoes."}\n')
    loc = ["--corpus", str(corpus), "--index-dir", str(tmp_path / "idx")]
    code, out, _ = run(capsys, "sources", "--json", *loc)
    assert code == 0 and {json.loads(x)["doc_id"] for x in out.splitlines()} == {"recs:1", "doc:7"}
    code, out, err = run(capsys, "source", "recs:1", *loc)
    assert code == 0, err
    assert "id: recs:1 · paragraph 1 of 2" in out
    code, out, _ = run(capsys, "source", "recs:1:2", "--context", "0", *loc)
    assert code == 0 and "paragraph 2 of 2" in out and "They eat krill." in out and "huddle" not in out
    code, out, _ = run(capsys, "source", "doc:7", *loc)
    assert code == 0 and "volcanoes" in out


def test_config_file(env, capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "citebot.toml"
    cfg.write_text('k = 1\n[citebot]\nper_doc = 1\n')
    monkeypatch.setenv("CITEBOT_CONFIG", str(cfg))
    code, out, _ = run(capsys, "ask", "--json", "Who is the US envoy for Venezuela?")
    assert len(json.loads(out)["results"]) == 1
    cfg.write_text('bogus_key = 1\n')
    code, _, err = run(capsys, "sources")
    assert code == 1 and "unknown setting" in err


def test_file_questions_end_only_at_newlines(tmp_path):
    """U+2028, U+0085, form feeds and U+2029 inside a line stay in the question (issue 13:
    ``str.splitlines`` made extra questions of them)."""
    f = tmp_path / "qs.txt"
    f.write_text("Who is\u2028the envoy?\nWhat\u0085bounty\x0c was set?\r\n\nlast\u2029one\n", encoding="utf-8",
                 newline="")
    assert read_questions(f) == ["Who is\u2028the envoy?", "What\u0085bounty\x0c was set?", "last\u2029one"]


# ------------------------------------------------------------------ which index belongs to which corpus


@pytest.fixture
def tiny_corpus(tmp_path):
    c = tmp_path / "penguins"
    c.mkdir()
    (c / "penguins.txt").write_text("Penguins of Antarctica\n\nEmperor penguins huddle together through the "
                                    "polar winter to keep warm.\n", encoding="utf-8")
    return c


@pytest.fixture
def no_index_dir(env, monkeypatch):
    """``env`` without CITEBOT_INDEX_DIR: the default, per-corpus index folders under XDG_DATA_HOME."""
    monkeypatch.delenv("CITEBOT_INDEX_DIR")
    return env


def test_missing_index_and_corpus_name_the_index_directory(no_index_dir, capsys, tmp_path):
    from retrieval.config import default_index_dir

    missing = tmp_path / "nowhere"
    for cmd in (["ask", "a question"], ["sources"]):
        code, _, err = run(capsys, *cmd, "--corpus", str(missing))
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert f"no index in {default_index_dir(missing)}" in err and f"corpus not found: {missing}" in err
    assert not default_index_dir(missing).exists(), "nothing is created for a corpus that is not there"


def test_another_corpus_gets_its_own_default_index(no_index_dir, capsys, tiny_corpus, tmp_path):
    """``ask --corpus OTHER`` without ``--index-dir`` answers from OTHER, not from the index of the
    corpus asked about before."""
    from retrieval.config import default_index_dir

    other = tmp_path / "volcanoes"
    other.mkdir()
    (other / "etna.txt").write_text("Volcanoes\n\nMount Etna erupts several times a year.\n", encoding="utf-8")
    code, out, err = run(capsys, "ask", "--json", "--corpus", str(tiny_corpus), "How do penguins keep warm?")
    assert code == 0 and {r["doc_id"] for r in json.loads(out)["results"]} == {"penguins"}, err
    code, out, err = run(capsys, "ask", "--json", "--corpus", str(other), "How do penguins keep warm?")
    assert code == 0 and {r["doc_id"] for r in json.loads(out)["results"]} == {"etna"}, err
    data = Path(no_index_dir["XDG_DATA_HOME"]) / "citebot" / "index"
    mine, theirs = default_index_dir(tiny_corpus), default_index_dir(other)
    assert mine.parent == theirs.parent == data and mine.name.startswith("penguins-") and mine != theirs
    assert (mine / "CURRENT").is_file() and (theirs / "CURRENT").is_file()


def test_an_index_of_another_corpus_is_refused_or_named(env, capsys, tiny_corpus, monkeypatch):
    """The seeds index asked about another corpus is an error naming both; given by ``--index-dir``
    alone it answers for its own corpus; ``doctor`` fails on the mismatch."""
    from bot import launcher as bot_cli

    seeds_index = env["CITEBOT_INDEX_DIR"]
    run(capsys, "index")
    code, out, err = run(capsys, "ask", "--corpus", str(tiny_corpus), "--index-dir", seeds_index, "penguins?")
    assert code == 1 and out == ""
    assert "belongs to the corpus" in err and str(tiny_corpus) in err and env["CITEBOT_CORPUS"] in err
    monkeypatch.delenv("CITEBOT_CORPUS")
    code, out, err = run(capsys, "sources", "--json", "--index-dir", seeds_index)
    assert code == 0 and len(out.splitlines()) == 5, err
    code = bot_cli.main(["doctor", "--corpus", str(tiny_corpus), "--index-dir", seeds_index])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL index: the index in" in out and "belongs to the corpus" in out
    # both given explicitly: `index` rebuilds it from the corpus asked for, and says so
    copy = shutil.copytree(seeds_index, Path(seeds_index).parent / "idx-copy")
    code, out, _ = run(capsys, "index", "--corpus", str(tiny_corpus), "--index-dir", str(copy))
    assert code == 0 and "1 added" in out and f"this index held {env['CITEBOT_CORPUS']} before" in out


def test_default_corpus_is_the_checkouts_seeds_wherever_citebot_starts(env, monkeypatch, tmp_path):
    from retrieval.config import Settings, default_index_dir

    monkeypatch.delenv("CITEBOT_CORPUS")
    monkeypatch.delenv("CITEBOT_INDEX_DIR")
    monkeypatch.chdir(tmp_path)
    s = Settings.load()
    assert s.corpus == Path(cli.__file__).resolve().parents[2] / "seeds" and s.corpus.is_dir()
    assert s.index_dir == default_index_dir(s.corpus) != default_index_dir(tmp_path)


# ------------------------------------------------------------------ chat on a terminal


class _TtyInput(io.StringIO):
    def isatty(self):
        return True


def test_chat_on_a_terminal_uses_readline_with_a_bounded_private_history(env, capsys, monkeypatch):
    readline = pytest.importorskip("readline")
    hist = chat.history_file()
    hist.parent.mkdir(parents=True, exist_ok=True)
    hist.write_text("an earlier question\n", encoding="utf-8")
    readline.clear_history()

    def typed(prompt=""):  # input() reads a replaced stdin itself; add what readline would record
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        if line.strip():
            readline.add_history(line.rstrip("\n"))
        return line.rstrip("\n")

    monkeypatch.setattr(sys, "stdin", _TtyInput("What bounty has the US put on Maduro?\n\n"))
    monkeypatch.setattr("builtins.input", typed)
    code = cli.main(["chat"])
    out = capsys.readouterr()
    assert code == 0 and "Sources:" in out.out and "empty line or Ctrl-D" in out.err
    assert readline.get_history_length() == chat.HISTORY_LINES
    assert readline.get_history_item(1) == "an earlier question"  # read back at the start
    assert hist.read_text(encoding="utf-8").splitlines()[-2:] == ["an earlier question",
                                                                  "What bounty has the US put on Maduro?"]
    assert hist.stat().st_mode & 0o077 == 0


def test_chat_off_a_terminal_keeps_no_history(env, capsys, monkeypatch):
    hist = chat.history_file()
    if hist.exists():
        hist.unlink()
    code, out, _ = run(capsys, "chat", stdin="What bounty has the US put on Maduro?\n", monkeypatch=monkeypatch)
    assert code == 0 and "Sources:" in out and not hist.exists()


def test_chat_update_brings_the_index_up_to_date_in_the_same_process(env, capsys, monkeypatch, tiny_corpus,
                                                                     tmp_path):
    loc = ["--corpus", str(tiny_corpus), "--index-dir", str(tmp_path / "idx")]
    assert run(capsys, "index", *loc)[0] == 0
    (tiny_corpus / "volcanoes.txt").write_text("Volcanoes\n\nMount Etna erupts several times a year.\n",
                                               encoding="utf-8")
    code, out, err = run(capsys, "chat", "--update", *loc, stdin="How often does Mount Etna erupt?\n",
                         monkeypatch=monkeypatch)
    assert code == 0 and "1 added, 0 changed, 0 removed, 1 unchanged" in err and "Etna erupts" in out


PTY_CHILD = """
import sys
from pathlib import Path
from retrieval.cli.chat import line_editing
save = line_editing(Path(sys.argv[1]))
print("GOT " + repr(input("> ")), flush=True)
save()
"""


def test_up_arrow_on_a_real_terminal_recalls_the_last_question(tmp_path):
    """On a pty, Up brings back the saved question instead of inserting ``^[[A`` (no model load)."""
    pytest.importorskip("readline")
    import pty
    import select

    hist = tmp_path / "history"
    hist.write_text("What bounty has the US put on Maduro?\n", encoding="utf-8")
    main_fd, child_fd = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "PYTHONPATH": str(Path(cli.__file__).resolve().parents[2])}
    p = subprocess.Popen([sys.executable, "-c", PTY_CHILD, str(hist)], stdin=child_fd, stdout=child_fd,
                         stderr=child_fd, env=env, close_fds=True)
    os.close(child_fd)
    out = b""
    try:
        while b"> " not in out:  # the prompt: readline is ready
            assert select.select([main_fd], [], [], 30)[0], out
            out += os.read(main_fd, 1024)
        os.write(main_fd, b"\x1b[A\r")
        while b"GOT " not in out or not out.rstrip().endswith(b"'"):
            assert select.select([main_fd], [], [], 30)[0], out
            out += os.read(main_fd, 1024)
    finally:
        p.wait(timeout=30)
        os.close(main_fd)
    assert "GOT 'What bounty has the US put on Maduro?'" in out.decode("utf-8", "replace")


def test_ask_takes_unquoted_words_as_one_question_and_quoted_ones_each():

    assert split_questions(["how", "do", "I", "stash?"]) == ["how do I stash?"]
    assert split_questions(["how do I stash?", "what is a  tag?"]) == ["how do I stash?", "what is a tag?"]
    assert split_questions(["stash", "what is a tag?"]) == ["stash what is a tag?"]  # mixed: one question
    assert split_questions(["what is a tag?"]) == ["what is a tag?"]
    assert split_questions([]) == []
