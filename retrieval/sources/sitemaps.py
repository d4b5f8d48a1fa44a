"""robots.txt (Protego) and sitemaps (defusedxml: no DTD, so no entity expansion; a cap on URLs and bytes)."""

from __future__ import annotations

import io
import zlib

from retrieval.sources.http import ROBOTS_AGENT, Client
from retrieval.sources.urls import normalize


class Robots:
    """A host's robots.txt rules for citebot."""

    def __init__(self, parser=None, allow_all: bool = True, problem: str | None = None):
        self.parser = parser
        self.allow_all = allow_all
        self.problem = problem  # why everything is disallowed when robots.txt could not be read

    def allowed(self, url: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return self.parser.can_fetch(url, ROBOTS_AGENT)

    @property
    def delay(self) -> float:
        d = self.parser.crawl_delay(ROBOTS_AGENT) if self.parser is not None else None
        return float(d) if d else 0.0


async def robots(client: Client, url: str) -> Robots:
    """The robots.txt of ``url``'s host: missing (4xx) allows everything; unreachable or failing (5xx)
    disallows everything this time, as RFC 9309 asks."""
    from urllib.parse import urlsplit

    from protego import Protego

    u = urlsplit(url)
    r = await client.get(f"{u.scheme}://{u.netloc}/robots.txt", max_bytes=500_000)
    if r.error is None and r.status == 200:
        return Robots(Protego.parse(r.body.decode("utf-8", "replace")))
    if r.error is None and 400 <= r.status < 500:
        return Robots()
    return Robots(allow_all=False, problem=f"robots.txt could not be read ({r.error or f'HTTP {r.status}'})")


MAX_SITEMAP_BYTES = 50_000_000  # the sitemaps protocol's own limit on an uncompressed sitemap


class SitemapError(Exception):
    """A sitemap that cannot be used, with the one-line reason."""


def _inflate(body: bytes, limit: int) -> bytes:
    """A gzip-compressed sitemap, decompressed to at most ``limit`` bytes (a zip bomb stops there)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(body, limit + 1)
    if len(out) > limit:
        raise SitemapError(f"decompresses to more than {limit / 1e6:.0f} MB")
    return out


def parse_sitemap(body: bytes, limit: int) -> tuple[str, list[str]]:
    """``(kind, locs)``: ``urlset`` (pages) or ``sitemapindex`` (more sitemaps), and the ``<loc>`` URLs.

    Raises:
        SitemapError: not XML, a DTD (entity tricks), or not a sitemap.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    if body[:2] == b"\x1f\x8b":
        body = _inflate(body, MAX_SITEMAP_BYTES)
    locs: list[str] = []
    kind = None
    try:
        for _, el in iterparse(io.BytesIO(body), forbid_dtd=True, forbid_entities=True, forbid_external=True):
            tag = el.tag.rsplit("}", 1)[-1]
            if tag == "loc" and el.text:
                locs.append(el.text.strip())
                if len(locs) > limit:
                    break
            elif tag in ("urlset", "sitemapindex"):
                kind = tag
            el.clear()
    except DefusedXmlException as e:
        raise SitemapError(f"refused: {type(e).__name__} (a DTD or entity in a sitemap)") from None
    except Exception as e:  # ParseError and friends
        if len(locs) > limit:
            kind = kind or "urlset"
        else:
            raise SitemapError(f"not a sitemap: {' '.join(str(e).split())[:120]}") from None
    if kind is None and len(locs) <= limit:
        raise SitemapError("not a sitemap (no <urlset> or <sitemapindex>)")
    return kind or "urlset", locs


async def sitemap_urls(client: Client, url: str, limit: int, notes: list[str]) -> list[str]:
    """The page URLs ``url`` lists (a sitemap index followed two levels down), at most ``limit``.

    Raises:
        SitemapError: the first sitemap cannot be read.
    """
    pages: list[str] = []
    seen: set[str] = set()
    todo = [(url, 0)]
    first, truncated = True, False
    while todo and len(pages) < limit:
        sm, depth = todo.pop(0)
        if sm in seen:
            continue
        seen.add(sm)
        r = await client.get(sm)
        try:
            if r.error or r.status != 200:
                raise SitemapError(r.error or f"HTTP {r.status}")
            kind, locs = parse_sitemap(r.body, limit - len(pages))
        except SitemapError as e:
            if first:
                raise SitemapError(f"sitemap {sm}: {e}") from None
            notes.append(f"sitemap {sm} left out: {e}")
            continue
        finally:
            first = False
        locs = [n for n in (normalize(loc, sm) for loc in locs) if n is not None]
        if kind == "sitemapindex":
            todo += [(n, depth + 1) for n in locs if depth < 2]
            continue
        room = limit - len(pages)
        pages += locs[:room]
        if len(locs) > room:
            truncated = True
    if truncated or (todo and len(pages) >= limit):
        notes.append(f"the sitemaps list more than {limit:,} URLs (sitemap_max_urls): the first {limit:,} are read")
    return list(dict.fromkeys(pages))
