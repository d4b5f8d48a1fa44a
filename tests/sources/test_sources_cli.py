"""`citebot index|ask|sources` with a website as the corpus: the index is built from the crawl, the
answer's text and --json carry the link, a refresh says what the fetch did, and a failing site is
one line with the previous index kept."""

from __future__ import annotations

import json

import pytest

from docsite import Site, lighthouse
from retrieval.cli import commands as cli

PAGES = lighthouse()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for k, v in {"HF_HUB_OFFLINE": "1", "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                 "CITEBOT_CRAWL_DELAY": "0", "CITEBOT_CRAWL_TIMEOUT": "2"}.items():
        monkeypatch.setenv(k, v)
    for k in ("CITEBOT_CONFIG", "CITEBOT_CORPUS", "CITEBOT_INDEX_DIR"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys, *args):
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_index_ask_and_sources_over_a_website(env, capsys, encoder):
    with Site(PAGES) as site:
        url = site.url("/docs/")
        code, out, err = run(capsys, "index", "--corpus", url)
        assert code == 0, err
        assert "site " + url in out and "2 pages" in out
        code, out, err = run(capsys, "ask", "--corpus", url, "how often is the wick trimmed?")
        assert code == 0 and site.url("/docs/lamp.html") + "#trim" in out
        code, out, err = run(capsys, "ask", "--corpus", url, "--json", "how often is the wick trimmed?")
        top = json.loads(out.splitlines()[0])["results"][0]
        assert top["url"] == site.url("/docs/lamp.html") + "#trim" and top["source"] == site.url("/docs/lamp.html")
        code, out, err = run(capsys, "sources", "--corpus", url, "--json")
        assert {json.loads(line)["url"] for line in out.splitlines()} == {url, site.url("/docs/lamp.html")}
        code, out, err = run(capsys, "index", "--corpus", url)
        assert code == 0 and "2 unchanged (304)" in out and "0 embedded" in out
        PAGES["/docs/"].status = 503
        try:
            code, out, err = run(capsys, "index", "--corpus", url)
        finally:
            PAGES["/docs/"].status = 200
        assert code == 0 and "last good copy kept" in out and "HTTP 503" in out  # the copy serves, the failure is named
    code, out, err = run(capsys, "index", "--corpus", url)  # the server is gone: the copy is kept again
    assert code == 0 and "unreachable" in out
    code, out, err = run(capsys, "index", "--corpus", "http://127.0.0.1:9/none/")
    assert code == 1 and err.startswith("citebot: error: cannot fetch http://127.0.0.1:9/none/") and err.count("\n") == 1


def test_watch_of_a_website_needs_a_schedule(env, capsys):
    code, out, err = run(capsys, "watch", "--corpus", "https://docs.example.org/")
    assert code == 1 and "no folder to watch; give --every" in err
