"""The SQLite store of an index version: documents, paragraphs and passages, with typed reads.

Tables (format 1)::

    documents (doc_id, source, title, date, author, outlet, url, content_hash, paragraphs)
    paragraphs (doc_id, number, text, heading, heading_path, page, anchor)
    passages (id, doc_id, paragraph, part, text, heading, sent_start, spans, hash, heading_path, page)

Stores written before heading paths and pages existed lack the last two columns of
``paragraphs`` and ``passages``, and those written before section anchors the ``anchor`` column of
``paragraphs``; they still load (empty paths, no pages, no anchors). A passage's anchor is its
paragraph's.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.index.passages import Located
from retrieval.types import Paragraph

DOC_KEYS = ("doc_id", "source", "title", "date", "author", "outlet", "url", "content_hash", "paragraphs")


@dataclass(kw_only=True)
class StoredPassage(Located):
    """One passage row of a version: what it says and where it sits (the fields of
    :class:`~retrieval.index.passages.Located`), and what the index keeps with it.

    Args:
        id: passage id (row of the dense index, the sentence-vector table and BM25).
        anchor: the id of its section's heading (for a link to ``url#anchor``), or None.
        sent_start: row of its first sentence vector in ``sentences.npy``.
        spans: ``(start, end)`` character spans of its sentences in ``text``.
        hash: identity of the encoder input (same hash, same vector).
    """

    id: int
    anchor: str | None = None
    sent_start: int = 0
    spans: list[tuple[int, int]] = field(default_factory=list)
    hash: str = ""


class Store:
    """Read-only access to a version's ``store.sqlite``; thread-safe.

    Args:
        path: the SQLite file.
    """

    def __init__(self, path: Path):
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.db.execute("PRAGMA query_only = 1")
        self._lock = threading.Lock()
        self.passage_count = self._rows("SELECT COUNT(*) FROM passages")[0][0]
        # stores written before heading paths and pages existed still load
        self.structured = any(r[1] == "heading_path" for r in self._rows("PRAGMA table_info(passages)"))
        self._place = "heading_path, page" if self.structured else "'[]', NULL"
        anchored = any(r[1] == "anchor" for r in self._rows("PRAGMA table_info(paragraphs)"))
        self._anchor = "anchor" if anchored else "NULL"
        # a passage's anchor is its paragraph's (primary key lookup)
        self._p_anchor = ("(SELECT g.anchor FROM paragraphs g WHERE g.doc_id = passages.doc_id AND "
                          "g.number = passages.paragraph)") if anchored else "NULL"

    def _rows(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    # -- documents -----------------------------------------------------------------------------
    def document(self, doc_id: str) -> dict | None:
        """A document's metadata (:data:`DOC_KEYS`), or None."""
        rows = self._rows(f"SELECT {', '.join(DOC_KEYS)} FROM documents WHERE doc_id = ?", (doc_id,))
        return dict(zip(DOC_KEYS, rows[0])) if rows else None

    def documents(self) -> list[dict]:
        """Every document's metadata, by id."""
        return [dict(zip(DOC_KEYS, r)) for r in self._rows(f"SELECT {', '.join(DOC_KEYS)} FROM documents ORDER BY doc_id")]

    def paragraphs(self, doc_id: str, first: int = 1, last: int | None = None) -> list[Paragraph]:
        """Paragraphs ``first``..``last`` (default: to the end) of a document, in order."""
        rows = self._rows(f"SELECT number, text, heading, {self._place}, {self._anchor} FROM paragraphs WHERE doc_id = ? "
                          "AND number BETWEEN ? AND ? ORDER BY number", (doc_id, first, last or 1 << 62))
        return [Paragraph(n, t, h, json.loads(hp or "[]"), pg, a) for n, t, h, hp, pg, a in rows]

    # -- passages ------------------------------------------------------------------------------
    _PASSAGE_COLS = "id, doc_id, paragraph, part, text, heading, sent_start, spans, hash"

    def _passage(self, r: tuple) -> StoredPassage:
        return StoredPassage(id=r[0], doc_id=r[1], paragraph=r[2], part=r[3], text=r[4], heading=r[5],
                             sent_start=r[6], spans=[tuple(s) for s in json.loads(r[7])], hash=r[8],
                             heading_path=json.loads(r[9] or "[]"), page=r[10], anchor=r[11])

    def passages(self, ids: Iterable[int]) -> dict[int, StoredPassage]:
        """Passages by id (unknown ids are left out)."""
        ids = [int(i) for i in ids]
        out: dict[int, StoredPassage] = {}
        for i in range(0, len(ids), 900):  # SQLite's limit on bound parameters
            part = ids[i:i + 900]
            rows = self._rows(f"SELECT {self._PASSAGE_COLS}, {self._place}, {self._p_anchor} FROM passages "
                              f"WHERE id IN ({','.join('?' * len(part))})", part)
            out.update((r[0], self._passage(r)) for r in rows)
        return out

    def document_passages(self, doc_id: str) -> list[StoredPassage]:
        """A document's passages in id order."""
        rows = self._rows(f"SELECT {self._PASSAGE_COLS}, {self._place}, {self._p_anchor} FROM passages WHERE doc_id = ? ORDER BY id",
                          (doc_id,))
        return [self._passage(r) for r in rows]

    def ids_by_hash(self) -> dict[str, int]:
        """Passage id of each encoder-input hash (vector reuse across versions)."""
        return {h: i for i, h in self._rows("SELECT id, hash FROM passages")}

    def passage_documents(self) -> list[str]:
        """The document id of every passage, indexed by passage id."""
        return [d for (d,) in self._rows("SELECT doc_id FROM passages ORDER BY id")]

    def passage_sections(self) -> list[tuple[str, str]]:
        """``(doc_id, heading_path as stored JSON)`` of every passage, indexed by passage id."""
        path = "heading_path" if self.structured else "'[]'"  # a store written before sections were kept
        return list(self._rows(f"SELECT doc_id, {path} FROM passages ORDER BY id"))

    def close(self) -> None:
        try:
            self.db.close()
        except Exception:
            pass


def write_store(path: Path, documents: list[dict], paragraphs: list[tuple[str, Paragraph]],
                passages: list[StoredPassage]) -> None:
    """Write a new ``store.sqlite`` (format 1, with heading paths and pages).

    Args:
        path: the file to create.
        documents: metadata rows (:data:`DOC_KEYS`).
        paragraphs: ``(doc_id, paragraph)`` pairs.
        passages: the passages, ids already assigned.
    """
    db = sqlite3.connect(path)
    try:
        db.executescript("""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT, title TEXT, date TEXT, author TEXT,
                                    outlet TEXT, url TEXT, content_hash TEXT, paragraphs INTEGER);
            CREATE TABLE paragraphs (doc_id TEXT, number INTEGER, text TEXT, heading TEXT,
                                     heading_path TEXT, page INTEGER, anchor TEXT, PRIMARY KEY (doc_id, number));
            CREATE TABLE passages (id INTEGER PRIMARY KEY, doc_id TEXT, paragraph INTEGER, part INTEGER,
                                   text TEXT, heading TEXT, sent_start INTEGER, spans TEXT, hash TEXT,
                                   heading_path TEXT, page INTEGER);
        """)
        db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
                       [tuple(d.get(k) for k in DOC_KEYS) for d in documents])
        db.executemany("INSERT INTO paragraphs VALUES (?,?,?,?,?,?,?)",
                       [(d, p.number, p.text, p.heading, json.dumps(p.heading_path), p.page, p.anchor)
                        for d, p in paragraphs])
        db.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                       [(p.id, p.doc_id, p.paragraph, p.part, p.text, p.heading, p.sent_start,
                         json.dumps([list(s) for s in p.spans]), p.hash, json.dumps(p.heading_path), p.page)
                        for p in passages])
        db.execute("CREATE INDEX passages_doc ON passages (doc_id)")
        db.commit()
    finally:
        db.close()
