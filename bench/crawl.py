"""A documentation website as the corpus: git's documentation served from 127.0.0.1 and crawled.

    python -m bench.crawl --work /tmp/citebot-crawl [--concurrency 4] [--no-folder]

Serves a copy of ``../shared/eval/gitdocs/corpus`` (206 HTML pages, 6 PDFs) over HTTP with ETag and
Last-Modified (304 to a matching conditional request) and a generated ``/sitemap.xml``, then:

1. crawls it once without building (pages per second of the fetch alone), and follows the links from
   ``/index.html`` too (how much of the site a link crawl reaches);
2. builds an index from the sitemap (``corpus = http://127.0.0.1:PORT/sitemap.xml``): the first build;
3. builds again with nothing changed: requests, 304s, passages embedded (0), time against the first build;
4. changes one page and builds again: documents re-embedded (1);
5. runs ``questions.jsonl`` on the crawled index and on an index of the folder itself (gold spans
   match passage text, so the figures must agree). The folder's index is built from a copy of the
   crawled one (its summary — documents added, changed, removed, unchanged, passages embedded — shows
   whether the crawl read exactly the folder's documents, byte for byte); ``--fresh-folder`` builds it
   from nothing instead.

Prints each step's figures as one JSON line when it is done; nothing is written inside the repo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench.common import SHARED  # noqa: E402

GITDOCS = SHARED / "eval" / "gitdocs"
TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}


class Static:
    """A static file server with validators and a request log (status counts)."""

    def __init__(self, root: Path, port: int = 0):
        self.root = root
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        bench = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                bench.serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def count(self) -> dict[int, int]:
        with self.lock:
            out = dict(self.statuses)
            self.statuses.clear()
            return out

    def serve(self, h) -> None:
        path = h.path.split("?", 1)[0]
        if path == "/sitemap.xml":
            locs = "".join(f"<url><loc>{self.url('/' + p.name)}</loc></url>" for p in sorted(self.root.iterdir()))
            body, ctype, headers = (f"<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                                    f"{locs}</urlset>").encode(), "application/xml", {}
            status = 200
        else:
            f = self.root / (path.lstrip("/") or "index.html")  # a folder serves its index.html
            if not f.is_file() or f.parent != self.root:
                status, body, ctype, headers = 404, b"not found", "text/plain", {}
            else:
                body = f.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                headers = {"ETag": etag, "Last-Modified": formatdate(f.stat().st_mtime, usegmt=True)}
                ctype = TYPES.get(f.suffix, "application/octet-stream")
                status = 304 if h.headers.get("If-None-Match") == etag else 200
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        if status == 304:
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


def evaluate(eng, questions: Path) -> dict:
    from retrieval.cli.evaluate import evaluate as score
    from retrieval.cli.evaluate import load_questions

    qs = load_questions(questions)
    rep = score(qs, eng.ask_many([q["q"] for q in qs], k=5))  # as `citebot eval` asks (k = max(5, k))
    d = rep.to_dict()
    return {k: d.get(k) for k in ("R@1", "R@3", "R@5", "MRR", "quote_hit@1", "doc_R@1", "off_topic_abstained",
                                  "false_abstentions")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--concurrency", type=int, default=4, help="requests in flight to the one host")
    ap.add_argument("--no-folder", action="store_true", help="skip the folder index (its eval figures)")
    ap.add_argument("--fresh-folder", action="store_true", help="build the folder's index from nothing")
    ap.add_argument("--port", type=int, default=0, help="serve on this port (default: any free one)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the crawled index of an earlier run in --work (same --port): skip the first "
                         "fetch and build, measure from the refresh on")
    args = ap.parse_args(argv)

    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.sources.crawl import crawl
    from retrieval.sources.options import Options
    from retrieval.sources.spec import parse

    work = args.work
    site_root = work / "site"
    if site_root.exists():
        shutil.rmtree(site_root)
    shutil.copytree(GITDOCS / "corpus", site_root)
    server = Static(site_root, args.port)
    out: dict = {"pages_on_site": sum(1 for _ in site_root.iterdir()), "concurrency": args.concurrency}
    shown: set[str] = set()

    def show() -> None:  # the figures so far, one JSON line per new step
        for k, v in out.items():
            if k not in shown:
                print(json.dumps({k: v}), flush=True)
                shown.add(k)
    opts = Options(delay=0.0, concurrency=args.concurrency, timeout=30)

    # 1. the fetch alone, and what following links reaches
    idx = work / "crawled-index"
    s = Settings.from_mapping({"corpus": server.url("/sitemap.xml"), "index_dir": idx, "crawl_delay": 0,
                               "crawl_concurrency": args.concurrency, "crawl_timeout": 30})
    first = None
    if not args.resume:
        for name in ("fetch-only", "links"):
            shutil.rmtree(work / name, ignore_errors=True)
        server.count()
        t0 = time.perf_counter()
        got = crawl(parse(server.url("/sitemap.xml")), work / "fetch-only", opts)
        secs = time.perf_counter() - t0
        out["first_fetch"] = {"pages": len(got.pages), "seconds": round(secs, 2),
                              "pages_per_s": round(len(got.pages) / secs, 1), "MB": round(got.bytes / 1e6, 1),
                              "requests": got.requests}
        links = crawl(parse(server.url("/index.html")), work / "links", opts)
        out["link_crawl_from_index_html"] = {"pages": len(links.pages), "skipped": len(links.skipped)}
        show()

        # 2. the first build from the sitemap
        shutil.rmtree(idx, ignore_errors=True)
        server.count()
        t0 = time.perf_counter()
        eng = Engine.open(s)
        first = time.perf_counter() - t0
        out["first_build"] = {"seconds": round(first, 1), "documents": eng.manifest["documents"],
                              "passages": eng.manifest["passages"], "requests": sum(server.count().values())}
        show()
    else:
        eng = Engine.open(s, build_if_missing=False)
        server.count()

    # 3-4. refreshes
    t0 = time.perf_counter()
    summary = eng.reindex()
    again = time.perf_counter() - t0
    st = server.count()
    out["refresh_unchanged"] = {"seconds": round(again, 1), "vs_first_build": round(again / first, 3) if first else None,
                                "requests": sum(st.values()), "304": st.get(304, 0), "200": st.get(200, 0),
                                "embedded": summary.embedded, "changed": len(summary.changed)}
    show()
    page = site_root / "git-add.html"
    raw = page.read_bytes()  # bytes: the page is put back exactly as it was (line ends included)
    page.write_bytes(raw.replace(b"</p>", b" This sentence was added for the refresh benchmark.</p>", 1))
    t0 = time.perf_counter()
    summary = eng.reindex()
    st = server.count()
    out["one_page_changed"] = {"seconds": round(time.perf_counter() - t0, 1), "changed": summary.changed,
                               "embedded": summary.embedded, "requests": sum(st.values()), "200": st.get(200, 0)}
    show()
    page.write_bytes(raw)
    eng.reindex()

    # 5. the questions on the crawled index, and on the folder's own
    questions = GITDOCS / "questions.jsonl"
    out["eval_crawled"] = evaluate(eng, questions)
    show()
    if not args.no_folder:
        fidx = work / "folder-index"
        shutil.rmtree(fidx, ignore_errors=True)
        if not args.fresh_folder:
            shutil.copytree(idx, fidx, ignore=shutil.ignore_patterns("sources", ".embed-cache"))
        fs = Settings.from_mapping({"corpus": GITDOCS / "corpus", "index_dir": fidx})
        folder = Engine.open(fs)
        if not args.fresh_folder:
            summary = folder.reindex()  # the folder read as a corpus, over the crawled index's vectors
            out["folder_vs_crawl"] = {k: len(getattr(summary, k)) for k in ("added", "changed", "removed", "unchanged")}
            out["folder_vs_crawl"]["embedded"] = summary.embedded
            show()
        out["eval_folder"] = evaluate(folder, questions)
    show()
    server.server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
