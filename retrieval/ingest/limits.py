"""Untrusted files read within limits: decompressed size, page and paragraph counts, memory, time.

A corpus may hold files nobody checked (a Discord admin's ``/corpus add``): a 0.56 MB .docx that
inflates to half a gigabyte, a PDF of a million pages, an 85 KB .docx of tiny paragraphs that takes
minutes to parse. Each file is therefore parsed in a child process whose address space is capped
(``RLIMIT_AS``) and which is killed when it runs past the time limit; the numbers a file declares
(the sizes in a zip's directory, a PDF's page count, the paragraphs of a Word/ODF body) are checked
before the parser sees it. A file that breaks a limit is skipped with its reason, the rest of the
build goes on, and the process that asked (the bot's event loop, ``citebot index``) only waits.

One worker process serves the whole process, one file at a time (a timed-out or crashed worker is
replaced). Where child processes or ``resource`` are unavailable, files are parsed in process with
the declared-size checks only.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import io
import logging
import multiprocessing
import threading
import zipfile
from dataclasses import dataclass

from retrieval.ingest.formats import Unreadable, one_line

log = logging.getLogger("citebot")


@dataclass(frozen=True)
class Limits:
    """What one file may cost.

    Args:
        unzipped_mb: total decompressed size of a zip-based file (.docx, .odt).
        pages: pages of a PDF.
        paragraphs: paragraphs of a Word/ODF body, and of any parsed document.
        seconds: wall-clock time to parse one file.
        memory_mb: address space of the parsing process.
        isolate: parse in the child process (False: in process, declared-size checks only).
    """

    unzipped_mb: float = 200.0
    pages: int = 5_000
    paragraphs: int = 200_000
    seconds: float = 120.0
    memory_mb: float = 2_048.0
    isolate: bool = True


#: the limits :func:`parse_limited` applies unless given others (tests lower them)
DEFAULT = Limits()

_MEMBERS = {"docx": ("word/document.xml", (b"<w:p>", b"<w:p ")), "odt": ("content.xml", (b"<text:p", b"<text:h"))}


def check_declared(data: bytes, kind: str, limits: Limits) -> None:
    """The sizes and counts ``data`` declares, against ``limits``, before any parser reads it.

    Raises:
        Unreadable: over a limit (the reason names it).
    """
    if kind in _MEMBERS:
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
            infos = z.infolist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return  # not a zip: the parser says so in its own words
        total = sum(i.file_size for i in infos)
        if total > limits.unzipped_mb * 1e6:
            raise Unreadable(f"expands to {total / 1e6:,.0f} MB when unzipped (limit {limits.unzipped_mb:,.0f} MB)")
        name, marks = _MEMBERS[kind]
        try:
            # read in chunks, never more than the declared (and now bounded) size: a lying directory
            # can't make this read unbounded
            body = _read_bounded(z, name, int(limits.unzipped_mb * 1e6))
        except KeyError:
            return
        count = sum(body.count(m) for m in marks)
        if count > limits.paragraphs:
            raise Unreadable(f"has {count:,} paragraphs (limit {limits.paragraphs:,})")
    elif kind == "pdf":
        pages = _pdf_pages(data)
        if pages is not None and pages > limits.pages:
            raise Unreadable(f"has {pages:,} pages (limit {limits.pages:,})")


def _read_bounded(z: zipfile.ZipFile, name: str, most: int) -> bytes:
    out = bytearray()
    with z.open(name) as fh:
        while chunk := fh.read(1 << 20):
            out += chunk
            if len(out) > most:
                raise Unreadable(f"expands to more than {most / 1e6:,.0f} MB when unzipped")
    return bytes(out)


def _pdf_pages(data: bytes) -> int | None:
    """The page count a PDF's page tree declares (None when it can't be read: the parser decides)."""
    try:
        from pdfminer.pdfdocument import PDFDocument
        from pdfminer.pdfparser import PDFParser
        from pdfminer.pdftypes import resolve1

        doc = PDFDocument(PDFParser(io.BytesIO(data)))
        return int(resolve1(resolve1(doc.catalog["Pages"])["Count"]))
    except Exception:  # damaged or encrypted: reported by the parser itself
        return None


def _checked(parse, content, kind: str, limits: Limits, kwargs: dict):
    """Runs in the worker: the declared-size checks, the parse, the paragraph count. A parser's own
    exception comes back as :class:`Unreadable` with its name and message (some, like lxml's, can't
    be pickled back to the parent)."""
    if isinstance(content, bytes):
        check_declared(content, kind, limits)
    try:
        doc = parse(content, kind, **kwargs)
    except (Unreadable, MemoryError):
        raise
    except Exception as e:
        raise Unreadable(f"could not be parsed: {type(e).__name__}: {one_line(str(e))[:200]}") from None
    if len(doc.paragraphs) > limits.paragraphs:
        raise Unreadable(f"has {len(doc.paragraphs):,} paragraphs (limit {limits.paragraphs:,})")
    return doc


def _start_worker(memory_mb: float) -> None:
    """In the worker: cap its address space, and end it when its parent ends (a ``citebot index``
    killed mid-build must not leave an orphan behind)."""
    import os
    import resource
    from multiprocessing.connection import wait

    cap = int(memory_mb * 1024 * 1024)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (wait([parent.sentinel]), os._exit(0)), daemon=True).start()


class _Worker:
    """The one child process files are parsed in (replaced after a timeout or a crash)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: cf.ProcessPoolExecutor | None = None
        self.memory_mb: float | None = None

    def run(self, parse, content, kind: str, limits: Limits, kwargs: dict):
        with self.lock:  # one file at a time: a kill after a timeout must not take another's parse
            if self.pool is None or self.memory_mb != limits.memory_mb:
                self.stop()
                # spawn, not fork: the parent may hold torch/FAISS threads and locks
                self.pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                   initializer=_start_worker, initargs=(limits.memory_mb,))
                self.memory_mb = limits.memory_mb
            future = self.pool.submit(_checked, parse, content, kind, limits, kwargs)
            try:
                return future.result(timeout=limits.seconds)
            except cf.TimeoutError:
                self.stop(kill=True)
                raise Unreadable(f"took longer than {limits.seconds:,.0f} s to read (limit)") from None
            except MemoryError:
                self.stop(kill=True)
                raise Unreadable(f"needs more than {limits.memory_mb:,.0f} MB of memory to read (limit)") from None
            except cf.process.BrokenProcessPool:
                self.stop(kill=True)
                raise Unreadable(f"the reading process died (out of memory at its {limits.memory_mb:,.0f} MB limit, "
                                 "or crashed)") from None

    def stop(self, kill: bool = False) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if kill:
            for p in list((getattr(pool, "_processes", None) or {}).values()):
                p.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)


_worker = _Worker()
atexit.register(_worker.stop)


def parse_limited(parse, content, kind: str, *, limits: Limits | None = None, **kwargs):
    """``parse(content, kind, **kwargs)`` within ``limits`` (default :data:`DEFAULT`).

    Raises:
        Unreadable: the file broke a limit (or the parser found it unreadable), with the reason.
    """
    limits = limits or DEFAULT
    if limits.isolate and _can_isolate():
        return _worker.run(parse, content, kind, limits, kwargs)
    return _checked(parse, content, kind, limits, kwargs)


def _can_isolate() -> bool:
    try:
        import resource  # noqa: F401  (POSIX only)
    except ImportError:
        return False
    return not multiprocessing.current_process().daemon  # a daemon process may not start children
