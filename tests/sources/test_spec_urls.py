"""Source specs, URL normalization and scope, and the address guard of sources added from Discord."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.config import Settings, corpus_label, default_index_dir
from retrieval.errors import ConfigError
from retrieval.sources.spec import parse, specs
from retrieval.sources.urls import Refused, check_public, in_scope, normalize


def test_specs_of_each_kind():
    assert parse("/srv/docs").kind == "folder"
    assert parse("https://docs.example.org/guide/").kind == "site"
    assert parse("https://docs.example.org/sitemap.xml").kind == "sitemap"
    g = parse("git+https://github.com/org/repo.git@v2.1#subdirectory=docs/en")
    assert (g.kind, g.url, g.branch, g.subdirectory) == ("git", "https://github.com/org/repo.git", "v2.1", "docs/en")
    f = parse("git+file:///tmp/repo")
    assert (f.url, f.branch, f.subdirectory) == ("file:///tmp/repo", None, "")
    s = parse("git+ssh://git@host.org/org/repo.git@main")
    assert (s.url, s.branch) == ("ssh://git@host.org/org/repo.git", "main")
    with pytest.raises(ConfigError, match="leaves the repository"):
        parse("git+https://h.org/r.git#subdirectory=../x")
    with pytest.raises(ConfigError, match="not a branch"):
        parse("git+https://h.org/r.git@--upload-pack=x")
    assert parse("https://a.org/x/").slug != parse("https://a.org/y/").slug
    assert [s.kind for s in specs(["/a", "https://a.org/"], ["https://a.org/", "https://b.org/"])] == \
        ["folder", "site", "site"]


def test_normalization_gives_one_spelling_per_page():
    base = "https://Docs.Example.org:443/guide/"
    assert normalize("index.html#install", base) == "https://docs.example.org/guide/"
    assert normalize("./a/../b.html?utm_source=x&b=2&a=1", base) == "https://docs.example.org/guide/b.html?a=1&b=2"
    assert normalize("mailto:x@y.org", base) is None and normalize("javascript:void(0)", base) is None
    assert normalize("http://h.org:8080/x") == "http://h.org:8080/x"
    assert in_scope("https://docs.example.org/guide/deep/a.html", "https://docs.example.org/guide/")
    assert in_scope("http://docs.example.org/guide/", "https://docs.example.org/guide/")
    assert not in_scope("https://docs.example.org/blog/", "https://docs.example.org/guide/")
    assert not in_scope("https://evil.org/guide/", "https://docs.example.org/guide/")


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://localhost:8080/", "http://[::1]/", "http://10.0.0.5/",
                                 "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://224.0.0.1/",
                                 "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "ftp://example.org/", "file:///etc/passwd"])
def test_the_guard_refuses_what_is_not_public_http(url):
    with pytest.raises(Refused):
        check_public(url)


def test_the_guard_lets_a_public_address_through():
    check_public("https://93.184.216.34/docs/")


def test_a_guarded_crawl_refuses_a_name_resolving_to_loopback(tmp_path):
    from docsite import Page, Site, html
    from retrieval.sources.crawl import SourceError, crawl
    from retrieval.sources.options import Options

    with Site({"/": Page(html("x", "<p>text</p>"))}) as site:
        with pytest.raises(SourceError, match="refused"):
            crawl(parse(f"http://localhost:{site.port}/"), tmp_path, Options(delay=0, timeout=2, guard=True))
        assert site.requests() == []  # nothing reached the server


def test_the_corpus_setting_takes_urls_and_lists(tmp_path):
    s = Settings.from_mapping({"corpus": "https://docs.example.org/guide/"})
    assert s.corpus == "https://docs.example.org/guide/" and s.index_dir.name.startswith("guide-")
    s = Settings.from_mapping({"corpus": [str(tmp_path), "git+https://h.org/r.git@main"]})
    assert s.corpus == [Path(tmp_path), "git+https://h.org/r.git@main"]
    assert corpus_label(s.corpus) == f"{tmp_path} + git+https://h.org/r.git@main"
    assert default_index_dir(s.corpus) != default_index_dir(tmp_path)
    with pytest.raises(ConfigError, match="base_url"):
        Settings.from_mapping({"base_url": "docs.example.org"})
    with pytest.raises(ConfigError, match="empty list"):
        Settings.from_mapping({"corpus": []})


def test_the_schedule_fetches_websites_at_every_slot_and_watches_only_folders(tmp_path):
    from retrieval.serve.schedule import Plan

    site = Settings.from_mapping({"corpus": "https://docs.example.org/", "index_dir": tmp_path / "i1", "watch": True,
                                  "reindex_every": "1h"})
    p = Plan.of("kb", site)
    assert p.fetched and not p.watch and p.every == 3600
    (tmp_path / "notes").mkdir()
    mixed = Settings.from_mapping({"corpus": [str(tmp_path / "notes"), "https://docs.example.org/"],
                                   "index_dir": tmp_path / "i2", "watch": True})
    p = Plan.of("kb", mixed)
    assert p.fetched and p.watch and p.corpus == (tmp_path / "notes").resolve()
    assert not Plan.of("kb", Settings.from_mapping({"corpus": tmp_path / "notes", "index_dir": tmp_path / "i3"})).fetched
