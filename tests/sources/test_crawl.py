"""The crawler against a docs site served by the test on 127.0.0.1: scope, robots.txt, redirects,
content types, size and time limits, duplicates, and the refresh with conditional requests."""

from __future__ import annotations

import json
import time

import pytest

from docsite import Page, Site, html
from retrieval.sources.crawl import SourceError, crawl
from retrieval.sources.options import Options
from retrieval.sources.spec import parse

# a 2 s timeout: a loaded CI machine can take over half a second for a page; the slow page takes 4 s
FAST = Options(delay=0.0, concurrency=2, timeout=2.0, max_page_bytes=200_000, max_redirects=3)
WORDS = " ".join(["The frobnicator turns widgets into gadgets for every user."] * 5)


def docs_site() -> dict[str, Page]:
    return {
        "/robots.txt": Page("User-agent: *\nDisallow: /docs/private/\nCrawl-delay: 0.05\n", "text/plain"),
        "/docs/": Page(html("Docs", f"<p>{WORDS}</p><a href='guide/'>guide</a> <a href='api.html#x'>api</a> "
                                    "<a href='index.html'>home</a> <a href='private/secret.html'>s</a> "
                                    "<a href='moved'>moved</a> <a href='manual.pdf'>pdf</a> <a href='app.html'>app</a> "
                                    "<a href='/other/'>outside</a> <a href='http://example.invalid/x'>other host</a> "
                                    "<a href='gone.html'>gone</a> <a href='image.png'>img</a> "
                                    "<a href='api.html?utm_source=x'>tracked</a> <a href='slow.html'>slow</a> "
                                    "<a href='huge.html'>huge</a> <a href='loop1'>loop</a> <a href='flaky.html'>flaky</a>")),
        "/docs/guide/": Page(html("Guide", f"<h2 id='install'>Install</h2><p>Run the installer. {WORDS}</p>"
                                           "<a href='../guide/deep/page.html'>deep</a>")),
        "/docs/guide/deep/page.html": Page(html("Deep", f"<section id='s1'><h2>Deep part</h2><p>Deep text. {WORDS}</p></section>")),
        "/docs/api.html": Page(html("API", f"<p>API text. {WORDS}</p>", "<link rel='canonical' href='/docs/api.html'>")),
        "/docs/private/secret.html": Page(html("Secret", f"<p>secret {WORDS}</p>")),
        "/docs/moved": Page(status=301, headers={"Location": "/docs/guide/"}),
        "/docs/manual.pdf": Page(b"%PDF-1.4 not really", "application/pdf"),
        "/docs/app.html": Page("<html><head><script src='app.js'></script></head><body><div id=root></div>"
                               "<noscript>Enable JavaScript</noscript></body></html>"),
        "/docs/image.png": Page(b"\x89PNG....", "image/png"),
        "/docs/slow.html": Page(html("Slow", f"<p>{WORDS}</p>"), delay=4.0),
        "/docs/huge.html": Page(html("Huge", "<p>" + "x " * 200_000 + "</p>")),
        "/docs/loop1": Page(status=302, headers={"Location": "/docs/loop2"}),
        "/docs/loop2": Page(status=302, headers={"Location": "/docs/loop1"}),
        "/docs/flaky.html": Page(html("Flaky", f"<p>Flaky text. {WORDS}</p>")),
        "/other/": Page(html("Other", f"<p>{WORDS}</p>")),
    }


def test_first_crawl_reads_the_pages_in_scope_once_and_says_what_it_left(tmp_path):
    with Site(docs_site()) as site:
        got = crawl(parse(site.url("/docs/")), tmp_path, FAST)
        paths = [p for p, _, _ in site.requests()]
    assert set(got.pages) == {"index.html", "guide/index.html", "guide/deep/page.html", "api.html", "manual.pdf",
                              "flaky.html"}
    assert (tmp_path / "files" / "guide" / "deep" / "page.html").is_file()
    assert got.pages["api.html"]["url"] == site.url("/docs/api.html")
    assert paths.count("/docs/api.html") == 1 and paths.count("/docs/") == 1  # fragment, index.html, utm: one page
    assert "/docs/private/secret.html" not in paths and "/other/" not in paths
    skipped = dict(got.skipped)
    assert skipped[site.url("/docs/private/secret.html")] == "disallowed by robots.txt"
    assert skipped[site.url("/docs/app.html")].startswith("needs JavaScript")
    assert skipped[site.url("/docs/image.png")] == "unsupported content type image/png"
    assert skipped[site.url("/docs/huge.html")].startswith("over the size limit")
    failed = dict(got.failed)
    assert failed[site.url("/docs/slow.html")].startswith("timed out")
    assert failed[site.url("/docs/loop1")].startswith("redirect loop")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["pages"][site.url("/docs/")]["etag"]


def test_refresh_asks_conditionally_keeps_304s_drops_404s_and_keeps_failures(tmp_path):
    pages = docs_site()
    with Site(pages) as site:
        crawl(parse(site.url("/docs/")), tmp_path, FAST)
        site.clear()
        pages["/docs/api.html"] = Page(html("API", f"<p>API text, changed. {WORDS}</p>"))
        pages["/docs/flaky.html"].statuses = [500]
        del pages["/docs/guide/deep/page.html"]
        again = crawl(parse(site.url("/docs/")), tmp_path, FAST)
        guide = site.requests("/docs/guide/")[0]
        third = crawl(parse(site.url("/docs/")), tmp_path, FAST)  # 500, then 200 again
    assert guide[1] == 304 and guide[2]["if-none-match"] and guide[2]["if-modified-since"]
    assert again.not_modified >= 3 and again.downloaded == 1  # only the changed page came whole
    assert "guide/deep/page.html" not in again.pages and not (tmp_path / "files/guide/deep/page.html").exists()
    assert site.url("/docs/guide/deep/page.html") in again.dropped
    assert dict(again.kept)[site.url("/docs/flaky.html")] == "HTTP 500"
    assert (tmp_path / "files" / "flaky.html").is_file() and "flaky.html" in again.pages
    assert "changed" in (tmp_path / "files" / "api.html").read_text()
    assert not third.kept and third.pages["flaky.html"]["failed"] is None and third.pages["flaky.html"]["status"] == 304


def test_retry_after_on_503_then_the_page(tmp_path):
    pages = {"/": Page(html("Home", f"<p>{WORDS}</p>"), statuses=[503], headers={"Retry-After": "0"})}
    with Site(pages) as site:
        got = crawl(parse(site.url("/")), tmp_path, FAST)
        assert [s for _, s, _ in site.requests("/")] == [503, 200]
    assert set(got.pages) == {"index.html"}


@pytest.mark.parametrize("pages, reason", [
    ({"/robots.txt": Page("User-agent: *\nDisallow: /\n", "text/plain"), "/": Page(html("x", WORDS))}, "robots.txt disallows"),
    ({"/": Page(b"%PDF-1.4", "application/pdf")}, "is not HTML"),
    ({"/": Page(status=302, headers={"Location": "/"})}, "redirect loop"),
    ({"/": Page(status=404)}, "HTTP 404"),
    ({"/": Page(html("x", "<p>" + "y " * 200_000 + "</p>"))}, "over the size limit"),
])
def test_a_start_that_gives_nothing_fails_in_one_line(tmp_path, pages, reason):
    with Site(pages) as site:
        with pytest.raises(SourceError, match=reason) as e:
            crawl(parse(site.url("/")), tmp_path, FAST)
    assert "\n" not in str(e.value)


def test_unreachable_host_and_dns_failure_are_one_line(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(SourceError, match="unreachable|robots"):
        crawl(parse(f"http://127.0.0.1:{port}/"), tmp_path / "a", FAST)
    with pytest.raises(SourceError, match="DNS failure|robots"):
        crawl(parse("http://no-such-host.invalid/"), tmp_path / "b", FAST)


def test_a_failing_start_keeps_the_last_good_copy(tmp_path):
    pages = {"/": Page(html("Home", f"<p>{WORDS}</p><a href='a.html'>a</a>")), "/a.html": Page(html("A", f"<p>{WORDS} a</p>"))}
    with Site(pages) as site:
        crawl(parse(site.url("/")), tmp_path, FAST)
        pages["/"].status = 502
        again = crawl(parse(site.url("/")), tmp_path, FAST)
    assert set(again.pages) == {"index.html", "a.html"}
    assert any("HTTP 502" in why for _, why in again.kept)


def test_sitemap_index_lists_pages_on_its_host_only(tmp_path):
    pages = {
        "/sitemap.xml": Page("<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                             "<sitemap><loc>/sm1.xml</loc></sitemap></sitemapindex>", "application/xml"),
        "/sm1.xml": Page("<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                         "<url><loc>/a.html</loc></url><url><loc>/b/</loc></url>"
                         "<url><loc>http://example.invalid/c.html</loc></url></urlset>", "application/xml"),
        "/a.html": Page(html("A", f"<p>{WORDS}</p><a href='/z.html'>not followed</a>")),
        "/b/": Page(html("B", f"<p>{WORDS} b</p>")),
        "/z.html": Page(html("Z", f"<p>{WORDS} z</p>")),
    }
    with Site(pages) as site:
        got = crawl(parse(site.url("/sitemap.xml")), tmp_path, FAST)
    assert set(got.pages) == {"a.html", "b/index.html"}
    assert dict(got.skipped)["http://example.invalid/c.html"] == "on another host than the sitemap"


def test_sitemap_bomb_and_entities_are_refused(tmp_path):
    many = "".join(f"<url><loc>/p{i}.html</loc></url>" for i in range(50))
    bomb = ("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;&lol;'>]>"
            "<urlset><url><loc>&lol2;</loc></url></urlset>")
    pages = {"/sitemap.xml": Page(f"<urlset>{many}</urlset>", "application/xml"),
             "/bomb/sitemap.xml": Page(bomb, "application/xml")}
    pages.update({f"/p{i}.html": Page(html(f"P{i}", f"<p>{WORDS} {i}</p>")) for i in range(50)})
    with Site(pages) as site:
        got = crawl(parse(site.url("/sitemap.xml")), tmp_path / "a", Options(delay=0, timeout=2, sitemap_max_urls=10))
        assert len(got.pages) == 10 and any("more than 10 URLs" in n for n in got.notes)
        with pytest.raises(SourceError, match="refused"):
            crawl(parse(site.url("/bomb/sitemap.xml")), tmp_path / "b", FAST)


def test_robots_crawl_delay_spaces_requests(tmp_path):
    pages = {"/robots.txt": Page("User-agent: *\nCrawl-delay: 0.2\n", "text/plain"),
             "/": Page(html("H", f"<p>{WORDS}</p><a href='a.html'>a</a><a href='b.html'>b</a>")),
             "/a.html": Page(html("A", f"<p>{WORDS} a</p>")), "/b.html": Page(html("B", f"<p>{WORDS} b</p>"))}
    with Site(pages) as site:
        t0 = time.monotonic()
        crawl(parse(site.url("/")), tmp_path, FAST)
        took = time.monotonic() - t0
    assert took >= 0.2 * 2 - 0.02  # three pages after robots.txt, 0.2 s apart (the setting says 0)


def test_a_tls_error_is_one_line(tmp_path):
    """An https site whose certificate no authority signed (a self-signed one made here)."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                           str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True)
    if made.returncode != 0:
        pytest.skip("openssl could not make a certificate")
    with Site({"/": Page(html("x", f"<p>{WORDS}</p>"))}) as site:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        site.server.socket = ctx.wrap_socket(site.server.socket, server_side=True)
        with pytest.raises(SourceError, match="TLS error") as e:
            crawl(parse(f"https://127.0.0.1:{site.port}/"), tmp_path / "a", FAST)
    assert "\n" not in str(e.value)


def test_a_gzipped_sitemap_is_read_and_a_zip_bomb_refused(tmp_path, monkeypatch):
    import gzip

    import retrieval.sources.sitemaps as sm

    urlset = "<urlset>" + "".join(f"<url><loc>/p{i}.html</loc></url>" for i in range(3)) + "</urlset>"
    pages = {"/sitemap.xml.gz": Page(gzip.compress(urlset.encode()), "application/gzip", validators=False),
             "/bomb/sitemap.xml.gz": Page(gzip.compress(b"<urlset>" + b" " * 2_000_000 + b"</urlset>"),
                                          "application/gzip")}
    pages.update({f"/p{i}.html": Page(html(f"P{i}", f"<p>{WORDS} {i}</p>")) for i in range(3)})
    monkeypatch.setattr(sm, "MAX_SITEMAP_BYTES", 1_000_000)
    with Site(pages) as site:
        got = crawl(parse(site.url("/sitemap.xml.gz")), tmp_path / "a", FAST)
        assert set(got.pages) == {"p0.html", "p1.html", "p2.html"}
        with pytest.raises(SourceError, match="decompresses to more than"):
            crawl(parse(site.url("/bomb/sitemap.xml.gz")), tmp_path / "b", FAST)
