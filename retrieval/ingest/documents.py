"""Corpus → documents: walk a folder or read a JSONL file, decode, extract, clean.

Bad files never stop a run: each comes back as a :class:`~retrieval.types.Skipped` with a reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.ingest.clean import clean_text, clean_units, normalize
from retrieval.ingest.dates import find_date
from retrieval.errors import CorpusError
from retrieval.ingest.limits import parse_limited
from retrieval.types import Document, Paragraph, Skipped

# suffix -> reader; the order matters: of same-stem files the first suffix keeps the bare id
SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
            ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx", ".rst": "rst", ".odt": "odt",
            ".json": "discord"}
_BINARY = {"pdf", "docx", "odt"}  # read from bytes, not decoded as text
# bumping this re-parses every document on the next reindex (passages whose text did not change keep
# their vectors); 4: PDF list items kept with the sentence introducing them; 5: PDF tables of contents,
# chapter running heads and bullets set apart (as TeX prints them); 6: Sphinx roles and directives in
# reST, documentation-site Markdown (definition lists, admonitions, MyST), HTML callouts kept, permalinks
# and navigation landmarks dropped, Word code lines as one block, LibreOffice definition lists, a PDF line
# at the foot of one page and the head of the next kept, ODT paragraph styles; 7: HTML footers (a <div>
# named footer) and API docs' source links dropped; documentation sites' "Edit this page", "Last updated
# on …" are furniture; 8: documents as written: plain text's underlined titles, rule lines and banners
# as structure (never text), its tables of contents dropped, indented examples as code; a FAQ's question
# (Q:/A: lines, "1.2) How …?", a question paragraph before its answer) heads its answer; a lead-in ending
# in ":" kept with what it introduces; footnotes with the paragraph that refers to them
# 9: each paragraph keeps the id of the heading above it (links to the section)
# 10: Texinfo terms tables end where the prose returns; a lone indented prompt line is code
# 11: a PDF's contents entries whose leader dots sit on a line of their own, and its back-of-book index
# 12: plain text's Info menus and index ("* Node::", "* term:  Node.  (line N)") are navigation
# 13: a Sphinx page title "Page — Project documentation" is the page's title and its outlet
# 14: a line shaped as a command ("cvs checkout -r <branch_tag> module", "rm $f") is code, never a guessed heading
# 15: a PDF glyph the font maps to no character ("(cid:136)") is dropped, or a bullet when it opens a line
# 16: a FAQ answer's short opening line ("Answer: Yes.") goes on with the paragraph after it
PARSER_VERSION = "16"


@dataclass
class CorpusFile:
    """A file found in the corpus folder, before it is read."""

    path: Path
    rel: str
    kind: str


def scan(corpus: Path) -> tuple[list[CorpusFile], list[Skipped]]:
    """All candidate files under ``corpus`` (sorted), and the ones refused up front.

    Symlinks are followed only when they stay inside the corpus; folder symlinks are not
    followed at all (no loops). Hidden files and folders are ignored silently.
    """
    corpus = Path(corpus)
    if not corpus.exists():
        raise CorpusError(f"corpus not found: {corpus}")
    if corpus.is_file():
        if corpus.suffix.lower() == ".jsonl":
            return [CorpusFile(corpus, corpus.name, "jsonl")], []
        kind = SUFFIXES.get(corpus.suffix.lower())
        if kind is None:
            raise CorpusError(f"corpus must be a folder or a .jsonl file: {corpus}")
        return [CorpusFile(corpus, corpus.name, kind)], []
    root = corpus.resolve()
    files: list[CorpusFile] = []
    skipped: list[Skipped] = []

    def onerror(err: OSError) -> None:
        skipped.append(Skipped(_rel(Path(err.filename or "?"), corpus), f"unreadable folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(corpus, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in list(dirnames):
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                skipped.append(Skipped(_rel(Path(dirpath, d), corpus), "symlinked folder not followed"))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath, name)
            rel = _rel(path, corpus)
            if not _utf8(rel):  # undecodable bytes in the name: its id could not be stored or shown
                skipped.append(Skipped(_printable(rel), "file name is not valid UTF-8"))
                continue
            kind = SUFFIXES.get(path.suffix.lower()) or ("jsonl" if path.suffix.lower() == ".jsonl" else None)
            if kind is None:
                skipped.append(Skipped(rel, f"unsupported file type {path.suffix or '(none)'}"))
                continue
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    skipped.append(Skipped(rel, "broken or looping symlink"))
                    continue
                if not target.is_relative_to(root):
                    skipped.append(Skipped(rel, "symlink leads outside the corpus"))
                    continue
            if not path.is_file():  # FIFOs, sockets, devices: reading could block or never end
                skipped.append(Skipped(rel, "not a regular file"))
                continue
            files.append(CorpusFile(path, rel, kind))
    return files, skipped


def _utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _printable(s: str) -> str:
    """A file name with undecodable bytes (surrogate escapes) shown as U+FFFD."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _rel(path: Path, corpus: Path) -> str:
    try:
        return path.relative_to(corpus).as_posix()
    except ValueError:
        return path.as_posix()


def _open_nonblocking(path, flags: int) -> int:
    """``open`` opener: O_NONBLOCK, so a FIFO swapped in after the scan cannot block the build."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_bytes(f: CorpusFile, max_bytes: int) -> bytes | Skipped:
    """The file's bytes, or why it cannot be used."""
    try:
        with open(f.path, "rb", opener=_open_nonblocking) as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return Skipped(f.rel, "not a regular file")
            if st.st_size > max_bytes:
                return Skipped(f.rel, f"over the size limit ({st.st_size / 1e6:.1f} MB > {max_bytes / 1e6:.1f} MB)")
            data = fh.read(max_bytes + 1)
    except OSError as e:
        return Skipped(f.rel, f"unreadable: {e.strerror or e}")
    if len(data) > max_bytes:  # grew while we looked
        return Skipped(f.rel, f"over the size limit (> {max_bytes / 1e6:.1f} MB)")
    if not data.strip():
        return Skipped(f.rel, "empty file")
    return data


def decode(data: bytes) -> str | None:
    """UTF-8 (with or without BOM), else a confidently detected encoding, else None.

    Binary data (NUL bytes, or mostly undecodable) gives None.
    """
    return decode_guess(data)[0]


def decode_guess(data: bytes) -> tuple[str | None, str | None]:
    """``(text, encoding)``: as :func:`decode`, with the guessed encoding (None for UTF-8)."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, None
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    head = data[:1_000_000]
    high = len(head) - len(head.translate(None, _HIGH_BYTES))
    if b"\x00" not in head and high <= max(8, len(head) // 10_000):
        # ASCII text with a stray byte or two (a Latin-1 accent in an English FAQ): a detector guesses
        # from too little and can name a Japanese code page; the Western one is far likelier
        enc = "cp1252" if _cp1252_ok(data) else "latin_1"
        return data.decode(enc), enc
    from charset_normalizer import from_bytes

    matches = from_bytes(data[:1_000_000])
    best = matches.best()
    if best is None or best.chaos > 0.2:
        return None, None
    # single-byte code pages are often equally plausible; Western European is the likelier one
    for m in matches:
        if m.encoding in ("cp1252", "latin_1", "iso8859_15") and m.chaos <= best.chaos + 0.01:
            best = m
            break
    try:
        return data.decode(best.encoding), best.encoding
    except (UnicodeDecodeError, LookupError):
        return None, None


_HIGH_BYTES = bytes(range(0x80, 0x100))


def _cp1252_ok(data: bytes) -> bool:
    try:
        data.decode("cp1252")
        return True
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d are unassigned there
        return False


def _is_text(s: str) -> bool:
    """Reject decoded 'text' that is really binary noise."""
    sample = s[:20000]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\n\r\t\f") or ch == "\ufffd")
    return bad / len(sample) < 0.01


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")  # JSON records may hold lone surrogates
    return hashlib.sha256(data).hexdigest()


def load(corpus: Path, *, max_file_mb: float = 20.0) -> Iterator[Document | Skipped]:
    """Every document of the corpus, or a :class:`Skipped` for each file that cannot be used.

    Args:
        corpus: a folder (recursive) of documents (see :data:`SUFFIXES`), or a .jsonl file of records.
        max_file_mb: files larger than this are skipped.
    """
    files, skipped = scan(corpus)
    yield from skipped
    yield from load_files(files, max_file_mb=max_file_mb)


def load_files(files: list[CorpusFile], *, max_file_mb: float = 20.0) -> Iterator[Document | Skipped]:
    """Documents from already scanned files (see :func:`scan`)."""
    clash = clashing_ids(files)
    for f in files:
        yield from load_file(f, max_file_mb=max_file_mb, keep_suffix=f in clash)


def clashing_ids(files: list[CorpusFile]) -> list[CorpusFile]:
    """Files whose suffix-less id another file shares (``a.txt`` and ``a.md``), less the one that
    keeps the bare id: they keep their suffix (``a.md``).

    The bare id goes to the suffix listed first in :data:`SUFFIXES`, whatever else is there, so
    citations of ``a.txt`` survive an ``a.md`` being added or removed beside it.
    """
    rank = {suffix: i for i, suffix in enumerate(SUFFIXES)}
    by_id: dict[str, list[CorpusFile]] = {}
    for f in files:
        by_id.setdefault(_doc_id(f.rel, False), []).append(f)
    out = []
    for group in by_id.values():
        if len(group) > 1:
            group = sorted(group, key=lambda f: (rank.get(Path(f.rel).suffix.lower(), len(rank)), f.rel))
            out += group[1:]
    return out


def load_file(f: CorpusFile, *, max_file_mb: float = 20.0, keep_suffix: bool = False) -> Iterator[Document | Skipped]:
    """The document(s) of one file, or why it was skipped."""
    from retrieval.ingest.formats import Unreadable

    max_bytes = int(max_file_mb * 1_000_000)
    data = read_bytes(f, max_bytes if f.kind not in ("jsonl", "discord") else max_bytes * 50)
    if isinstance(data, Skipped):
        yield data
        return
    if f.kind == "jsonl":
        yield from parse_jsonl(data, f.rel)
        return
    doc_id = _doc_id(f.rel, keep_suffix)
    encoding = None
    if f.kind in _BINARY:
        content = data
    else:
        content, encoding = decode_guess(data)
        if content is None or not _is_text(content):
            yield Skipped(f.rel, "binary or undecodable (not UTF-8, no encoding detected)")
            return
    try:
        if f.kind == "discord":
            from retrieval.ingest.formats.discord import read_discord

            yield from read_discord(content, doc_id=doc_id, source=f.rel)
            return
        # in a child process with memory and time limits: an untrusted file can't take the caller down
        doc = parse_limited(parse, content, f.kind, doc_id=doc_id, source=f.rel, content_hash=sha256(data))
    except Unreadable as e:
        yield Skipped(f.rel, str(e))
        return
    except Exception as e:  # a parser bug must not stop the run
        yield Skipped(f.rel, f"could not be parsed: {type(e).__name__}: {e}")
        return
    doc.encoding = encoding
    if not doc.paragraphs:
        yield Skipped(f.rel, "no text left after cleaning")
        return
    yield doc


def resolve_id(ref: str, ids: list[str]) -> tuple[str | None, str | None]:
    """``(doc_id, None)`` for a document reference given with or without its file suffix
    (``git-stash.pdf`` → ``git-stash``), else ``(None, closest id)`` to suggest (or None)."""
    import difflib

    known = set(ids)
    if ref in known:
        return ref, None
    p = Path(ref)
    if p.suffix.lower() in SUFFIXES and p.with_suffix("").as_posix() in known:
        return p.with_suffix("").as_posix(), None
    close = difflib.get_close_matches(ref, ids, n=1, cutoff=0.6) or \
        difflib.get_close_matches(p.with_suffix("").as_posix() if p.suffix else ref, ids, n=1, cutoff=0.6)
    return None, close[0] if close else None


def _doc_id(rel: str, keep_suffix: bool) -> str:
    if keep_suffix:
        return rel
    p = Path(rel)
    return p.with_suffix("").as_posix() if p.suffix else rel


def parse(content: str | bytes, kind: str, *, doc_id: str, source: str, content_hash: str) -> Document:
    """One file's content (text already decoded, bytes for PDF/DOCX/ODT) to a :class:`Document`.

    Raises:
        formats.Unreadable: the file cannot be used (encrypted, no text layer, …), with the reason.
    """
    if kind == "text":
        from retrieval.ingest.formats.text import text_structure

        c = clean_units(text_structure(content))
        return Document(doc_id=doc_id, source=source, title=c.title, paragraphs=c.paragraphs,
                        content_hash=content_hash, date=c.date, author=c.author)
    x = _reader(kind)(content)
    c = clean_units(x.units, title=x.title)
    return Document(doc_id=doc_id, source=x.url or source, title=c.title, paragraphs=c.paragraphs,
                    content_hash=content_hash, date=x.date or c.date, author=x.author or c.author,
                    outlet=x.outlet, url=x.url)


def _reader(kind: str):
    """The reader function of a structured kind (imported on use: PDF and DOCX libraries are heavy)."""
    if kind == "html":
        from retrieval.ingest.formats.html import read_html as read
    elif kind == "markdown":
        from retrieval.ingest.formats.markdown import read_markdown as read
    elif kind == "pdf":
        from retrieval.ingest.formats.pdf import read_pdf as read
    elif kind == "docx":
        from retrieval.ingest.formats.office import read_docx as read
    elif kind == "odt":
        from retrieval.ingest.formats.office import read_odt as read
    elif kind == "rst":
        from retrieval.ingest.formats.rst import read_rst as read
    else:
        raise ValueError(f"unknown document kind {kind!r}")
    return read


def parse_jsonl(data: bytes, rel: str) -> Iterator[Document | Skipped]:
    """Records ``{_id|id, title, text, date?, url?, author?, outlet?}``, one per line (BEIR corpora as is)."""
    seen: set[str] = set()
    for n, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        where = f"{rel}:{n}"
        try:
            rec = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            yield Skipped(where, f"invalid JSON: {e}")
            continue
        if not isinstance(rec, dict):
            yield Skipped(where, "record is not a JSON object")
            continue
        rid = _field(rec.get("_id", rec.get("id")))
        rid = rid if rid is not None else f"{Path(rel).stem}:{n}"
        if rid in seen:
            yield Skipped(where, f"duplicate id {rid!r}")
            continue
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            yield Skipped(where, "record has no text")
            continue
        seen.add(rid)
        title = rec.get("title") if isinstance(rec.get("title"), str) and rec.get("title").strip() else None
        c = clean_text(text, title=_field(title))
        if not c.paragraphs:  # keep records whose only line looked like a heading
            c.paragraphs = [Paragraph(1, " ".join(normalize(text).split()))]
        url = _field(rec.get("url")) if isinstance(rec.get("url"), str) else None
        date = find_date(str(rec["date"])) if rec.get("date") else c.date
        yield Document(
            doc_id=rid, source=url or f"{rel}#{rid}", title=c.title, paragraphs=c.paragraphs,
            content_hash=sha256(json.dumps([title, text, rec.get("date"), url, rec.get("author"),
                                            rec.get("outlet")], ensure_ascii=False)),
            date=date, author=_field(rec.get("author")) or c.author, outlet=_field(rec.get("outlet")), url=url,
        )


def _field(value) -> str | None:
    """A record field as clean one-line text (lone surrogates replaced); None when empty or not text.

    Numbers are accepted as text (``"_id": 7``); lists, objects and booleans are not.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = " ".join(normalize(value).split())
    return value or None
