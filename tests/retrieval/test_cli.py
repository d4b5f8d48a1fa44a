"""The `citebot` command line: in process for most cases, as a real subprocess for the main paths."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval import cli

CITEBOT = str(Path(sys.executable).parent / "citebot")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


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


def test_index_then_ask_json_as_a_subprocess(env):
    r = subproc(env, "index")
    assert r.returncode == 0, r.stderr
    assert "5 added" in r.stdout and "passages:" in r.stdout
    r = subproc(env, "ask", "--json", "-k", "2", "What bounty has the US put on Maduro?")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout.strip())
    assert set(obj) >= {"question", "answered", "results"} and obj["answered"] is True
    assert len(obj["results"]) == 2
    for res in obj["results"]:
        assert set(res) >= {"rank", "doc_id", "title", "date", "source", "paragraph", "text", "quote", "score",
                            "also_in"}
        assert res["quote"] in res["text"]


def test_second_index_run_reuses_everything(env, capsys):
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


def test_corrupted_index_gives_one_line_and_index_recovers(env):
    idx = Path(env["CITEBOT_INDEX_DIR"])
    cur = idx / (idx / "CURRENT").read_text().strip()
    (cur / "store.sqlite").write_bytes(b"not a database")
    r = subproc(env, "ask", "anything at all")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "citebot index --rebuild" in r.stderr
    r = subproc(env, "index")
    assert r.returncode == 0 and "5 added" in r.stdout
