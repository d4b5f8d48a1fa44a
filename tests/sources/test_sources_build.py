"""Sources through the real build: a site, a repository and a folder in one index, citations that
link to the page and section, refreshes that re-embed nothing unchanged, and failures that keep
the previous index live."""

from __future__ import annotations

import pytest

from docsite import Page, Site, html
from gitrepo import commit, make_repo
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.errors import CorpusError

FAST = dict(crawl_delay=0.0, crawl_timeout=2.0)


def site_pages() -> dict[str, Page]:
    return {
        "/docs/": Page(html("Lighthouse manual", "<p>Welcome to the lighthouse manual for keepers.</p>"
                                                 "<a href='lamp.html'>lamp</a> <a href='fog/'>fog</a>")),
        "/docs/lamp.html": Page(html("The lamp", "<h2 id='trim'>Trimming the wick</h2>"
                                                 "<p>Trim the lamp wick every evening at dusk with brass scissors.</p>"
                                                 "<h2 id='oil'>Oil</h2><p>Use whale oil only in winter months.</p>")),
        "/docs/fog/": Page(html("Fog signals", "<section id='horn'><h2>Horn</h2>"
                                               "<p>Sound the fog horn twice per minute when visibility drops.</p></section>")),
    }


def engine(encoder, corpus, tmp_path, **kw) -> Engine:
    s = Settings(corpus=corpus, index_dir=tmp_path / "idx", **{**FAST, **kw})
    return Engine.open(s, encoder=encoder)


def test_a_site_is_indexed_with_links_to_its_sections_and_refreshes_incrementally(encoder, tmp_path):
    pages = site_pages()
    with Site(pages) as site:
        eng = engine(encoder, site.url("/docs/"), tmp_path)
        ids = sorted(d["doc_id"] for d in eng.documents())
        assert ids == ["fog/index", "index", "lamp"]
        top = eng.ask("how often should the wick be trimmed?").results[0]
        assert top.doc_id == "lamp" and top.citation.url == site.url("/docs/lamp.html") + "#trim"
        assert top.to_dict()["url"] == top.citation.url and top.citation.source == site.url("/docs/lamp.html")
        horn = eng.ask("how often to sound the fog horn").results[0]
        assert horn.citation.url == site.url("/docs/fog/") + "#horn"  # the section's id
        assert {d["url"] for d in eng.documents()} == {site.url("/docs/"), site.url("/docs/lamp.html"), site.url("/docs/fog/")}

        site.clear()
        s = eng.reindex()
        assert s.embedded == 0 and sorted(s.unchanged) == ids
        assert [st for p, st, _ in site.requests() if p != "/robots.txt"] == [304, 304, 304]
        assert any("3 unchanged (304)" in line for line in s.lines())

        pages["/docs/lamp.html"] = Page(html("The lamp", "<h2 id='trim'>Trimming the wick</h2>"
                                                         "<p>Trim the lamp wick every morning with steel scissors.</p>"
                                                         "<h2 id='oil'>Oil</h2><p>Use whale oil only in winter months.</p>"))
        del pages["/docs/fog/"]
        s = eng.reindex()
        assert s.changed == ["lamp"] and s.removed == ["fog/index"] and s.embedded == 1


def test_a_repository_links_to_its_forge_and_follows_commits(encoder, tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "origin", {
        "docs/guide.md": "# Guide\n\n## Getting started\n\nInstall the harbour crane with the blue lever.\n",
        "docs/old.md": "# Old\n\nThe retired pier was closed for repairs in spring.\n",
        "src/code.py": "print('not docs')\n"})
    make_repo(tmp_path / "other", {"docs/x.md": "# X\n\nOther repository text.\n"})
    spec = f"git+file://{repo}@main#subdirectory=docs"
    eng = engine(encoder, spec, tmp_path)
    assert sorted(d["doc_id"] for d in eng.documents()) == ["guide", "old"]
    top = eng.ask("how do I install the crane").results[0]
    assert top.citation.url is None and top.citation.source == "docs/guide.md"  # not on a forge: the repo path

    commit(repo, {"docs/guide.md": "# Guide\n\n## Getting started\n\nInstall the harbour crane with the red lever.\n",
                  "docs/old.md": None})
    s = eng.reindex()
    assert s.changed == ["guide"] and s.removed == ["old"] and s.embedded == 1
    # on a known forge the file's page on the branch, with the heading's slug
    from retrieval.sources.spec import parse

    link = parse("git+https://github.com/org/repo.git@main#subdirectory=docs").forge_link("main", "docs/guide.md")
    assert link == "https://github.com/org/repo/blob/main/docs/guide.md"
    assert parse("git+https://gitlab.com/o/r.git").forge_link("dev", "a.md") == "https://gitlab.com/o/r/-/blob/dev/a.md"
    assert eng.ask("install the crane").results[0].paragraph == 1
    assert eng.passages([eng.ask("install the crane").results[0].rank - 1])  # the store answers


def test_markdown_heading_slugs_make_forge_links(encoder, tmp_path, monkeypatch):
    import retrieval.sources.spec as spec_mod

    repo = make_repo(tmp_path / "origin", {"docs/guide.md": "# Guide\n\n## Getting Started!\n\nInstall the harbour crane.\n"})
    # a forge URL that git reaches as the local repository
    monkeypatch.setattr(spec_mod.Spec, "forge_link",
                        lambda self, branch, path: f"https://github.com/org/repo/blob/{branch}/{path}")
    eng = engine(encoder, f"git+file://{repo}@main#subdirectory=docs", tmp_path)
    r = eng.ask("install the harbour crane").results[0]
    assert r.citation.url == "https://github.com/org/repo/blob/main/docs/guide.md#getting-started"


def test_several_sources_in_one_index_and_a_missing_branch_keeps_the_index(encoder, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "index.md").write_text("# Notes\n\nThe ferry leaves at seven every morning.\n")
    repo = make_repo(tmp_path / "origin", {"docs/index.md": "# Crane\n\nThe crane lifts ten tonnes.\n"})
    with Site(site_pages()) as site:
        corpus = [str(folder), site.url("/docs/"), f"git+file://{repo}@main#subdirectory=docs"]
        eng = engine(encoder, corpus, tmp_path, base_url="https://notes.example.org/")
        ids = sorted(d["doc_id"] for d in eng.documents())
        assert len(ids) == 5 and len({i.split("/")[0] for i in ids}) == 3  # one prefix per source
        ferry = eng.ask("when does the ferry leave").results[0]
        assert ferry.citation.url == "https://notes.example.org/index.md"
        version = eng.version
        eng.settings.corpus = [str(folder), f"git+file://{repo}@nope#subdirectory=docs"]
        with pytest.raises(CorpusError, match="nope") as e:
            eng.reindex()
        assert "\n" not in str(e.value) and eng.version == version


def test_missing_repository_is_one_line(encoder, tmp_path):
    with pytest.raises(CorpusError, match="cannot fetch git\\+file://") as e:
        engine(encoder, f"git+file://{tmp_path}/nothing.git", tmp_path)
    assert "\n" not in str(e.value)


def test_another_branch_and_a_guarded_repository(tmp_path):
    from gitrepo import git

    from retrieval.sources import git as git_mod
    from retrieval.sources.crawl import SourceError
    from retrieval.sources.spec import parse

    repo = make_repo(tmp_path / "origin", {"docs/a.md": "# A\n\nOn main.\n"})
    git(repo, "checkout", "-q", "-b", "v2")
    commit(repo, {"docs/a.md": "# A\n\nOn v2.\n", "docs/b.md": "# B\n\nOnly on v2.\n"})
    git(repo, "checkout", "-q", "main")
    root, branch, _ = git_mod.fetch(parse(f"git+file://{repo}@v2#subdirectory=docs"), tmp_path / "v2", 60)
    assert branch == "v2" and sorted(p.name for p in root.iterdir()) == ["a.md", "b.md"]
    assert "On v2." in (root / "a.md").read_text()
    root, branch, _ = git_mod.fetch(parse(f"git+file://{repo}"), tmp_path / "default", 60)
    assert branch == "main" and not (root / "docs" / "b.md").exists()
    # added from Discord: a file:// (or loopback) repository is refused before git runs
    with pytest.raises(SourceError, match="refused"):
        git_mod.fetch(parse(f"git+file://{repo}"), tmp_path / "guarded", 60, guard=True)
    with pytest.raises(SourceError, match="refused"):
        git_mod.fetch(parse("git+http://127.0.0.1:9/r.git"), tmp_path / "guarded2", 60, guard=True)
