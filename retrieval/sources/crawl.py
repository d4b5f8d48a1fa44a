"""A website (a start page and the links under it, or a sitemap's pages) fetched into a local folder.

The folder (``files/``) is what the existing readers read; ``manifest.json`` beside it keeps each page's
URL, canonical URL, content type, ETag, Last-Modified and fetch status, so a refresh asks with
``If-None-Match``/``If-Modified-Since`` and a 304 keeps the file as it is (the build then finds its
content unchanged and embeds nothing). A page that answers 404/410, or is no longer linked or listed,
leaves; one that fails (timeout, 5xx, DNS) keeps its last good copy and is named in the summary.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from retrieval.errors import CorpusError
from retrieval.sources.http import Client, Response
from retrieval.sources.options import Options
from retrieval.sources.sitemaps import SitemapError, robots, sitemap_urls
from retrieval.sources.spec import Spec
from retrieval.sources.urls import host_of, in_scope, normalize

log = logging.getLogger("citebot")

#: content type -> the suffix the readers know it by
TYPES = {"text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf",
         "text/markdown": ".md", "text/x-markdown": ".md", "text/plain": ".txt",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
         "text/x-rst": ".rst", "application/vnd.oasis.opendocument.text": ".odt"}
_BY_SUFFIX = {s: s for s in (".html", ".htm", ".pdf", ".md", ".markdown", ".txt", ".docx", ".rst", ".odt")}
JS_WORDS = 20  # fewer words than this in a page with scripts: it needs JavaScript to show its text


class SourceError(CorpusError):
    """A source that gave nothing usable (and had no earlier copy): the one-line reason."""


@dataclass
class Fetched:
    """What fetching a source did (its summary line and what the build needs)."""

    pages: dict[str, dict] = field(default_factory=dict)  # rel path -> manifest entry
    requests: int = 0
    not_modified: int = 0
    downloaded: int = 0
    bytes: int = 0
    dropped: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (url, why it failed this time)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


Progress = Callable[[int, int], None]


def crawl(spec: Spec, folder: Path, options: Options, progress: Progress | None = None) -> Fetched:
    """Fetch ``spec`` (a ``site`` or ``sitemap``) into ``folder``; see the module doc.

    Raises:
        SourceError: the start page or sitemap cannot be used and nothing was fetched before.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_Crawl(spec, folder, options, progress).run())
    # called from inside an event loop (a build should run in a worker thread; this one did not): a
    # thread of its own, so the crawl gets its own loop
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(_Crawl(spec, folder, options, progress).run())).result()


def load_manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / "manifest.json").read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


class _Crawl:
    def __init__(self, spec: Spec, folder: Path, options: Options, progress: Progress | None):
        self.spec, self.folder, self.o, self.progress = spec, Path(folder), options, progress
        self.files = self.folder / "files"
        self.old: dict[str, dict] = load_manifest(self.folder).get("pages", {})  # by request URL
        self.start = normalize(spec.url) or spec.url
        u = urlsplit(self.start)
        self.scope = self.start if spec.kind == "site" else f"{u.scheme}://{u.netloc}/"
        self.out = Fetched()
        self.new: dict[str, dict] = {}  # request URL -> entry
        self.seen: set[str] = set()
        self.hashes: dict[str, str] = {}  # content hash -> URL that has it
        self.rels: set[str] = set()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.fatal: str | None = None
        self.done = 0
        self.last_log = time.monotonic()

    async def run(self) -> Fetched:
        t0 = time.perf_counter()
        async with Client(self.o) as client:
            self.client = client
            self.robots = await robots(client, self.start)
            client.delays[host_of(self.start)] = self.robots.delay
            if not self.robots.allowed(self.start):
                self._fail_whole(self.robots.problem or f"robots.txt disallows {self.start} for citebot")
            if self.spec.kind == "sitemap":
                try:
                    urls = await sitemap_urls(client, self.start, self.o.sitemap_max_urls, self.out.notes)
                except SitemapError as e:
                    self._fail_whole(str(e))
                    urls = [u for u in self.old]
                for url in urls:
                    if not in_scope(url, self.scope):
                        self.out.skipped.append((url, "on another host than the sitemap"))
                    else:
                        self._enqueue(url)
            else:
                self._enqueue(self.start)
            workers = [asyncio.create_task(self._worker()) for _ in range(self.o.concurrency)]
            await self.queue.join()
            for w in workers:
                w.cancel()
            self.out.requests, self.out.bytes = client.requests, client.bytes
        if self.fatal is not None and not self.new:
            raise SourceError(self.fatal)
        self._finish()
        self.out.seconds = time.perf_counter() - t0
        return self.out

    def _fail_whole(self, reason: str) -> None:
        """The start cannot be used: with an earlier copy it serves as is (said), else the source fails."""
        self.fatal = reason
        if not self.old:
            return
        self.out.notes.append(f"{reason}; the last good copy is kept")
        for url, entry in self.old.items():
            if (self.files / entry["rel"]).is_file():
                self.new[url] = entry
        self.out.kept += [(u, reason) for u in self.new]

    def _enqueue(self, url: str) -> None:
        if url in self.seen or self.fatal is not None:
            return
        if len(self.seen) >= self.o.max_pages:
            if len(self.seen) == self.o.max_pages:
                self.out.notes.append(f"page limit reached (crawl_max_pages = {self.o.max_pages:,}): more pages left out")
                self.seen.add("")  # say it once
            return
        self.seen.add(url)
        self.queue.put_nowait(url)

    async def _worker(self) -> None:
        while True:
            url = await self.queue.get()
            try:
                await self._page(url)
            except Exception as e:  # one page's surprise must not stop the crawl
                log.exception("fetching %s failed", url)
                self.out.failed.append((url, f"{type(e).__name__}: {e}"))
            finally:
                self.done += 1
                self._progress()
                self.queue.task_done()

    def _progress(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.done + self.queue.qsize())
        if time.monotonic() - self.last_log > 10:
            self.last_log = time.monotonic()
            log.info("fetching %s: %d pages fetched, %d queued, %d failed, %.1f MB", self.spec.text, self.done,
                     self.queue.qsize(), len(self.out.failed) + len(self.out.kept), self.client.bytes / 1e6)

    async def _page(self, url: str) -> None:
        if not self.robots.allowed(url):
            self.out.skipped.append((url, "disallowed by robots.txt"))
            return
        if self.client.bytes > self.o.max_source_bytes:
            self.out.skipped.append((url, "source size limit reached (crawl_max_source_mb)"))
            return
        prev = self.old.get(url)
        have = prev is not None and (self.files / prev["rel"]).is_file()
        headers = {}
        if have and prev.get("etag"):
            headers["If-None-Match"] = prev["etag"]
        if have and prev.get("last_modified"):
            headers["If-Modified-Since"] = prev["last_modified"]
        r = await self.client.get(url, headers, scope=self.scope)
        if r.error is None and r.status == 304 and have:
            self.out.not_modified += 1
            self._keep(url, prev, status=304)
        elif r.error is None and r.status in (404, 410):
            if have:
                self.out.dropped.append(url)
            self._refuse_start(url, f"{url} answers HTTP {r.status}")
        elif r.error is not None or r.status != 200:
            reason = r.error or f"HTTP {r.status}"
            if have:
                self.out.kept.append((url, reason))
                self._keep(url, prev, status=prev.get("status", 200), failed=reason)
            else:
                (self.out.skipped if r.error and r.error.startswith(("over the size", "redirects out"))
                 else self.out.failed).append((url, reason))
                self._refuse_start(url, f"{url}: {reason}")
        else:
            self._store(url, r)

    def _refuse_start(self, url: str, reason: str) -> None:
        if url == self.start and self.spec.kind == "site" and not self.new:
            self._fail_whole(reason)

    def _keep(self, url: str, prev: dict, status: int, failed: str | None = None) -> None:
        entry = dict(prev, status=status, failed=failed)
        if failed is None:
            entry.pop("failed_since", None)
        else:
            entry.setdefault("failed_since", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.new[url] = entry
        self.rels.add(entry["rel"])
        self.hashes.setdefault(entry.get("hash", ""), url)
        if entry["rel"].endswith(".html"):
            self._links((self.files / entry["rel"]).read_bytes(), entry.get("url") or url)

    def _store(self, url: str, r: Response) -> None:
        final = normalize(r.url) or r.url
        suffix = TYPES.get(r.content_type) or (
            _BY_SUFFIX.get(Path(urlsplit(final).path).suffix.lower()) if r.content_type in ("", "application/octet-stream") else None)
        if suffix is None:
            self.out.skipped.append((url, f"unsupported content type {r.content_type or '(none)'}"))
            self._refuse_start(url, f"the start page {url} is not HTML ({r.content_type or 'no content type'})")
            return
        if url == self.start and self.spec.kind == "site" and suffix != ".html":
            self._refuse_start(url, f"the start page {url} is not HTML ({r.content_type})")
            return
        if final != url and final in self.new:  # another URL of a page already read
            return
        digest = hashlib.sha256(r.body).hexdigest()
        if digest in self.hashes and self.hashes[digest] != url:
            self.out.skipped.append((url, f"same content as {self.hashes[digest]}"))
            return
        canonical = None
        if suffix == ".html":
            text_words, has_script, canonical = self._links(r.body, final)
            if text_words < JS_WORDS and has_script:
                self.out.skipped.append((url, "needs JavaScript: almost no text without it"))
                return
        prev = self.old.get(url)
        rel = prev["rel"] if prev and prev.get("url") == (canonical or final) else self._rel(canonical or final, suffix)
        path = self.files / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(r.body)
        os.replace(tmp, path)
        self.hashes[digest] = url
        self.rels.add(rel)
        self.out.downloaded += 1
        self.new[url] = {"rel": rel, "url": canonical or final, "final": final, "content_type": r.content_type,
                         "etag": r.headers.get("etag"), "last_modified": r.headers.get("last-modified"),
                         "status": 200, "hash": digest, "failed": None,
                         "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def _rel(self, url: str, suffix: str) -> str:
        """A file path for ``url`` under ``files/``, relative to the source's folder on the site."""
        u = urlsplit(url)
        base = urlsplit(self.scope).path
        folder = base if base.endswith("/") else base.rsplit("/", 1)[0] + "/"
        path = u.path[len(folder):] if u.path.startswith(folder) else u.path.lstrip("/")
        from urllib.parse import unquote

        path = "/".join(p for p in unquote(path).split("/") if p not in ("", ".", ".."))
        if not path or u.path.endswith("/"):
            path = f"{path}/index" if path else "index"
        stem, dot, ext = path.rpartition(".")
        if not (dot and f".{ext.lower()}" == suffix or (suffix == ".html" and ext.lower() == "htm")):
            stem, path = path, path + suffix
        if u.query:
            path = f"{stem}--{hashlib.sha256(u.query.encode()).hexdigest()[:8]}{suffix}"
        rel = path
        while rel in self.rels:
            rel = path.replace(suffix, f"--{hashlib.sha256(url.encode()).hexdigest()[:8]}{suffix}", 1)
            if rel in self.rels:
                rel = f"{rel}-{len(self.rels)}{suffix}"
        return rel

    def _links(self, body: bytes, base: str) -> tuple[int, bool, str | None]:
        """Queue the page's in-scope links (a site crawl); return its word count without scripts,
        whether it has scripts, and its canonical URL when that is on the same site."""
        from selectolax.lexbor import LexborHTMLParser

        tree = LexborHTMLParser(body.decode("utf-8", "replace"))
        b = tree.css_first("base[href]")
        if b is not None:
            base = normalize(b.attributes.get("href") or "", base) or base
        if self.spec.kind == "site":
            for a in tree.css("a[href]"):
                n = normalize(a.attributes.get("href") or "", base)
                if n is not None and in_scope(n, self.scope):
                    self._enqueue(n)
        canonical = None
        c = tree.css_first('link[rel="canonical"][href]')
        if c is not None:
            n = normalize(c.attributes.get("href") or "", base)
            canonical = n if n is not None and host_of(n) == host_of(base) else None
        has_script = tree.css_first("script") is not None
        for node in tree.css("script, style, noscript, template"):
            node.decompose()
        words = len((tree.body.text(separator=" ") if tree.body is not None else "").split())
        return words, has_script, canonical

    def _finish(self) -> None:
        """Files of pages that left (404/410, no longer linked or listed) go; the manifest is written."""
        keep = {e["rel"] for e in self.new.values()}
        if self.fatal is None:
            for url, entry in self.old.items():
                if url not in self.new and entry.get("rel") not in keep:
                    if url not in self.out.dropped:
                        self.out.dropped.append(url)
                    try:
                        (self.files / entry["rel"]).unlink()
                    except OSError:
                        pass
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"source": self.spec.text, "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "pages": self.new, "problem": self.fatal}
        tmp = self.folder / "manifest.json.part"
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, self.folder / "manifest.json")
        self.out.pages = {e["rel"]: e for e in self.new.values()}
