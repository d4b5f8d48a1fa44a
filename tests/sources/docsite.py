"""A documentation website the tests own, on 127.0.0.1: pages set per test, each with its status,
content type, headers and an optional delay; ETag / Last-Modified answered with 304 when the client
asks; every request logged (path, status, request headers)."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAST_MODIFIED = "Mon, 07 Dec 2026 12:00:00 GMT"


@dataclass
class Page:
    body: bytes | str = b""
    type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    validators: bool = True  # answer with ETag and Last-Modified (and 304 to a matching request)
    statuses: list = field(default_factory=list)  # statuses to give first, one per request, then `status`


def html(title: str, body: str, head: str = "") -> str:
    return (f"<!doctype html><html><head><title>{title}</title>{head}</head>"
            f"<body><main><h1>{title}</h1>{body}</main></body></html>")


def lighthouse(lamp_title: str = "The lamp") -> dict[str, "Page"]:
    """A two-page manual under /docs/: the start page links to the lamp page, whose section has an id."""
    return {
        "/docs/": Page(html("Lighthouse manual", "<p>Welcome to the lighthouse manual for keepers.</p>"
                                                 "<a href='lamp.html'>lamp</a>")),
        "/docs/lamp.html": Page(html(lamp_title, "<h2 id='trim'>Trimming the wick</h2>"
                                                 "<p>Trim the lamp wick every evening at dusk with brass scissors.</p>")),
    }


class Site:
    """``with Site({path: Page}) as site:`` — ``site.url(path)``; ``site.pages`` may be changed between crawls."""

    def __init__(self, pages: dict[str, Page] | None = None):
        self.pages = pages if pages is not None else {}  # the same dict: a test changes the site between crawls
        self.log: list[tuple[str, int, dict]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                site._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "Site":
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests(self, path: str | None = None) -> list[tuple[str, int, dict]]:
        with self.lock:
            return [r for r in self.log if path is None or r[0] == path]

    def clear(self) -> None:
        with self.lock:
            self.log.clear()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        page = self.pages.get(path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        if page is None:
            self._record(path, 404, headers)
            self._answer(h, 404, b"not found", "text/plain", {})
        else:
            if page.delay:
                time.sleep(page.delay)
            body = page.body.encode() if isinstance(page.body, str) else page.body
            status = page.statuses.pop(0) if page.statuses else page.status
            extra = dict(page.headers)
            if page.validators and status == 200:
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                extra.update({"ETag": etag, "Last-Modified": LAST_MODIFIED})
                if headers.get("if-none-match") == etag:
                    status, body = 304, b""
            self._record(path, status, headers)
            self._answer(h, status, body, page.type, extra)

    def _record(self, path: str, status: int, headers: dict) -> None:
        # logged before the answer is written: a client that has its response has it in the log too
        with self.lock:
            self.log.append((path, status, headers))

    @staticmethod
    def _answer(h, status: int, body: bytes, ctype: str, extra: dict) -> None:
        try:
            h.send_response(status)
            if status != 304:
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                h.send_header(k, v)
            h.end_headers()
            if status != 304:
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
