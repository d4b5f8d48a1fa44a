"""SQLite store for the bot's answers and the 👍/👎 votes on them, with JSONL export.

Answers are stored by the id of the Discord message that carries them, so the persistent buttons
(sources, feedback) and the "Show sources" menu work after a restart. User ids are never stored in
clear: they are hashed with sha256 and a random salt kept in the database.

This module does not import discord.py (``citebot feedback export`` stays cheap).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable

# columns added after the first version of a table: a database made before gets them when it is
# opened (NULL in its old rows: no "also in" sources, and the default knowledge base)
ADDED_COLUMNS = {"answers": {"also_in": "TEXT", "kb": "TEXT", "asker": "TEXT", "private": "INTEGER"},
                 "feedback": {"kb": "TEXT"}}
ANSWER_COLUMNS = "message_id, channel_id, guild_id, question, answered, results, index_version, created, also_in, kb"
#: what a forgotten member's words and name are replaced by in stored answers and votes
REMOVED = "[removed at the author's request]"
DEFAULT_KB = "default"  # the knowledge base of rows stored before there were several (kb NULL)
_KB_IS = "COALESCE(kb, 'default') = ?"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    message_id INTEGER PRIMARY KEY,
    channel_id INTEGER,
    guild_id INTEGER,
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    results TEXT NOT NULL,
    index_version TEXT,
    created REAL NOT NULL,
    also_in TEXT,
    kb TEXT
);
CREATE INDEX IF NOT EXISTS answers_channel ON answers(channel_id);
CREATE TABLE IF NOT EXISTS feedback (
    message_id INTEGER NOT NULL,
    user_hash TEXT NOT NULL,
    vote INTEGER NOT NULL,
    question TEXT NOT NULL,
    results TEXT NOT NULL,
    index_version TEXT,
    created REAL NOT NULL,
    kb TEXT,
    PRIMARY KEY (message_id, user_hash)
);
-- members who ran /forget-me, per guild: every knowledge base fetching that guild skips them. The
-- one place a user id is kept in clear: it is what a fetch compares message authors with.
CREATE TABLE IF NOT EXISTS forgotten (
    guild_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
"""


@dataclass
class AnswerRecord:
    """A stored answer: what was asked and which passages were shown (as JSON-friendly dicts).

    ``results`` are citations [1]..[n]; ``also_in`` are the "also in" sources numbered after them
    (empty for answers stored before those were kept); ``kb`` is the knowledge base that answered.
    """

    message_id: int
    channel_id: int | None
    guild_id: int | None
    question: str
    answered: bool
    results: list[dict]
    index_version: str | None
    created: float
    also_in: list[dict] = field(default_factory=list)
    kb: str = DEFAULT_KB
    asker: str | None = None  # the asker's hash (:meth:`FeedbackStore.hash_user`), when stored
    private: bool = False  # an ephemeral answer: only its asker saw it

    def source(self, number: int) -> dict | None:
        """What citation ``[number]`` of the answer points at: a result or an "also in" source, or None.

        "Also in" sources are numbered after the results shown (see numbered.number_citations), so
        their numbers win over results stored beyond those (``k`` above the ten shown)."""
        for s in self.also_in:
            if s.get("number") == number:
                return s
        return self.results[number - 1] if 1 <= number <= len(self.results) else None


def _holds(quote: str, words: list[str]) -> bool:
    """Whether a quoted passage holds one of ``words`` (message texts), line by line: a conversation
    quote prefixes each line with its author's name."""
    for line in (quote or "").splitlines():
        parts = [line.strip()]
        if ": " in line:
            parts.append(line.split(": ", 1)[1].strip())
        for p in parts:
            if p and any(w in p or (len(p) >= 12 and p in w) for w in words):
                return True
    return False


def _redact(entries: list[dict], words: list[str], names: set[str], in_guild: Callable[[dict], bool]) -> tuple[int, int]:
    """Replace, in place, the forgotten member's quotes and name in stored results / "also in"
    entries of the guild; returns ``(quotes, names)`` replaced."""
    quotes = named = 0
    for e in entries:
        if not in_guild(e):
            continue
        if "quote" in e and e["quote"] != REMOVED and _holds(e["quote"], words):
            e["quote"] = REMOVED
            quotes += 1
        c = e.get("citation") or {}
        author = str(c.get("author") or "")
        if author and (author in names or author.split(" (@", 1)[0] in names):
            c["author"] = None
            named += 1
    return quotes, named


def _citation_payload(c: Any) -> dict:
    return {"title": c.title, "outlet": c.outlet, "author": c.author, "date": c.date, "source": c.source,
            "heading_path": list(getattr(c, "heading_path", None) or []), "page": getattr(c, "page", None)}


def results_payload(answer: Any) -> list[dict]:
    """The parts of an :class:`~retrieval.types.Answer`'s results worth keeping, with citation numbers."""
    out = []
    for i, r in enumerate(answer.results):
        c = r.citation
        out.append(
            {
                "number": i + 1,  # the number shown in the reply (see numbered.number_citations)
                "doc_id": r.doc_id,
                "paragraph": r.paragraph,
                "quote": r.quote,
                "score": round(float(r.score), 6),
                "also_in": list(r.also_in),
                "citation": _citation_payload(c),
            }
        )
    return out


def also_in_payload(numbered: Any) -> list[dict]:
    """The "also in" sources of an answer, from the citations numbered.number_citations numbers after
    the results (each with ``.number`` and ``.citation``): what a source button or "Show sources"
    needs to open them. ``paragraph`` is None when only the document is known (it opens at its start)."""
    return [
        {
            "number": n.number,
            "doc_id": n.citation.doc_id,
            "paragraph": n.citation.paragraph or None,
            "citation": _citation_payload(n.citation),
        }
        for n in numbered
    ]


class FeedbackStore:
    """Thread-safe SQLite store (one connection guarded by a lock; WAL so export can run alongside)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._add_columns()
        self._salt = self._get_or_make_salt()

    @classmethod
    def open_readonly(cls, path: str | Path) -> "FeedbackStore":
        """The store at ``path`` for reading only (``feedback export``): nothing is created or
        migrated, so pointing it at another SQLite file leaves that file as it was.

        Raises:
            sqlite3.Error: not a database, or not one of citebot's (no ``feedback`` table).
        """
        store = cls.__new__(cls)
        store.path = Path(path)
        store._lock = threading.Lock()
        store._db = sqlite3.connect(f"{store.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        try:
            tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "feedback" not in tables:
                raise sqlite3.DatabaseError("not a citebot feedback database (no feedback table)")
        except sqlite3.Error:
            store._db.close()
            raise
        store._salt = ""  # read-only: no votes are recorded, so no user is hashed
        return store

    def _get_or_make_salt(self) -> str:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
            if row:
                return row[0]
            salt = secrets.token_hex(16)
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('salt', ?)", (salt,))
            return self._db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()[0]

    def _add_columns(self) -> None:
        """Bring a database made by an earlier version up to :data:`SCHEMA`; its rows stay readable."""
        with self._lock:
            for table, columns in ADDED_COLUMNS.items():
                have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:
                        try:
                            self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                        except sqlite3.OperationalError as e:  # another process added it meanwhile
                            if "duplicate column" not in str(e):
                                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def hash_user(self, user_id: int) -> str:
        """sha256 of the salted user id; stable within this database, not reversible by listing ids."""
        return hashlib.sha256(f"{self._salt}:{int(user_id)}".encode()).hexdigest()

    # -------------------------------------------------------------- answers

    def record_answer(
        self,
        message_id: int,
        *,
        channel_id: int | None,
        guild_id: int | None,
        question: str,
        answered: bool,
        results: list[dict],
        index_version: str | None,
        also_in: list[dict] | None = None,
        kb: str = DEFAULT_KB,
        asker: int | None = None,
        private: bool = False,
    ) -> None:
        """Remember the answer carried by ``message_id`` (replaces an earlier record for it);
        ``kb`` is the knowledge base that answered; ``asker`` (stored hashed) lets ``/forget-me``
        find the member's questions."""
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO answers ({ANSWER_COLUMNS}, asker, private) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    int(message_id),
                    channel_id,
                    guild_id,
                    question,
                    int(bool(answered)),
                    json.dumps(results, ensure_ascii=False),
                    index_version,
                    time.time(),
                    json.dumps(also_in or [], ensure_ascii=False),
                    kb,
                    self.hash_user(asker) if asker is not None else None,
                    int(bool(private)),
                ),
            )

    def get_answer(self, message_id: int) -> AnswerRecord | None:
        """The answer carried by ``message_id``, or None."""
        with self._lock:
            row = self._db.execute(f"SELECT {ANSWER_COLUMNS}, asker, private FROM answers WHERE message_id=?",
                                   (int(message_id),)).fetchone()
        if row is None:
            return None
        also_in = json.loads(row[8]) if row[8] else []
        return AnswerRecord(row[0], row[1], row[2], row[3], bool(row[4]), json.loads(row[5]), row[6], row[7], also_in,
                            row[9] or DEFAULT_KB, row[10], bool(row[11]))

    def answered_in(self, channel_id: int, kb: str | None = None) -> bool:
        """Whether the bot has answered in this channel (from knowledge base ``kb``; used to follow threads)."""
        sql, args = "SELECT 1 FROM answers WHERE channel_id=?", [int(channel_id)]
        if kb is not None:
            sql, args = f"{sql} AND {_KB_IS}", [*args, kb]
        with self._lock:
            return self._db.execute(sql + " LIMIT 1", args).fetchone() is not None

    def count_answers(self, kb: str | None = None) -> int:
        """Answers stored (of knowledge base ``kb``, or all)."""
        where, args = (f" WHERE {_KB_IS}", (kb,)) if kb is not None else ("", ())
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers" + where, args).fetchone()[0]

    # -------------------------------------------------------------- votes

    def vote(self, message_id: int, user_id: int, vote: int) -> bool:
        """Store (or change) ``user_id``'s vote (+1 / -1) on an answer. False if the answer is unknown."""
        if vote not in (1, -1):
            raise ValueError("vote must be +1 or -1")
        rec = self.get_answer(message_id)
        if rec is None:
            return False
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO feedback (message_id, user_hash, vote, question, results, index_version, created, kb)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    int(message_id),
                    self.hash_user(user_id),
                    vote,
                    rec.question,
                    json.dumps(rec.results, ensure_ascii=False),
                    rec.index_version,
                    time.time(),
                    rec.kb,
                ),
            )
        return True

    def votes(self) -> list[dict]:
        """All votes, oldest first, as export records."""
        with self._lock:
            # a database opened read-only from before knowledge bases has no kb column: all default
            has_kb = any(r[1] == "kb" for r in self._db.execute("PRAGMA table_info(feedback)"))
            rows = self._db.execute(
                "SELECT message_id, user_hash, vote, question, results, index_version, created, "
                f"{'kb' if has_kb else 'NULL'} FROM feedback ORDER BY created, rowid"
            ).fetchall()
        return [
            {
                "time": datetime.fromtimestamp(r[6], timezone.utc).isoformat(timespec="seconds"),
                "vote": "up" if r[2] > 0 else "down",
                "question": r[3],
                "results": json.loads(r[4]),
                "user": r[1],
                "message_id": str(r[0]),
                "index_version": r[5],
                "kb": r[7] or DEFAULT_KB,
            }
            for r in rows
        ]

    def tally(self, kb: str | None = None) -> dict:
        """👍/👎 counts (on answers of knowledge base ``kb``, or all)."""
        where, args = (f" WHERE {_KB_IS}", (kb,)) if kb is not None else ("", ())
        with self._lock:
            rows = self._db.execute(f"SELECT vote, COUNT(*) FROM feedback{where} GROUP BY vote", args).fetchall()
        d = {"up": 0, "down": 0}
        for v, n in rows:
            d["up" if v > 0 else "down"] = n
        return d

    # -------------------------------------------------------------- /forget-me

    def forgotten(self, guild_id: int) -> set[int]:
        """The members of ``guild_id`` who ran ``/forget-me``."""
        with self._lock:
            rows = self._db.execute("SELECT user_id FROM forgotten WHERE guild_id=?", (int(guild_id),)).fetchall()
        return {int(r[0]) for r in rows}

    def add_forgotten(self, guild_id: int, user_id: int) -> None:
        """Remember that ``user_id`` ran ``/forget-me`` in ``guild_id`` (fetches skip them from now on)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO forgotten (guild_id, user_id, created) VALUES (?,?,?)",
                             (int(guild_id), int(user_id), time.time()))

    def forget(self, guild_id: int, user_id: int, *, words: list[str], names: list[str],
               in_guild: Callable[[dict], bool]) -> dict[str, int]:
        """``/forget-me`` in the store: remember the member for the guild, delete their votes, and
        replace by :data:`REMOVED` their questions asked in the guild and, in every stored answer and
        vote, the quotes of the guild's passages (``in_guild(entry)``) that hold their ``words``
        (their messages' text) and citations naming them (``names``). Returns what was changed:
        ``votes``, ``questions``, ``quotes``, ``names``, ``answers``."""
        words = [w.strip() for w in words if w and w.strip()]
        names = {n.strip() for n in names if n and n.strip()}
        who = self.hash_user(user_id)
        out = {"votes": 0, "questions": 0, "quotes": 0, "names": 0, "answers": 0}
        with self._lock, self._db:  # one transaction: all of it or nothing
            db = self._db
            db.execute("INSERT OR IGNORE INTO forgotten (guild_id, user_id, created) VALUES (?,?,?)",
                       (int(guild_id), int(user_id), time.time()))
            out["votes"] = db.execute("DELETE FROM feedback WHERE user_hash=?", (who,)).rowcount
            asked = [r[0] for r in db.execute("SELECT message_id FROM answers WHERE asker=? AND guild_id=?",
                                              (who, int(guild_id)))]
            for mid in asked:
                db.execute("UPDATE answers SET question=? WHERE message_id=?", (REMOVED, mid))
                db.execute("UPDATE feedback SET question=? WHERE message_id=?", (REMOVED, mid))
            out["questions"] = len(asked)
            rows = db.execute("SELECT message_id, results, also_in FROM answers").fetchall()
            for mid, results, also_in in rows:
                res, also = json.loads(results or "[]"), json.loads(also_in or "[]")
                quotes, named = _redact(res, words, names, in_guild), _redact(also, words, names, in_guild)
                if quotes[0] + quotes[1] + named[0] + named[1]:
                    out["quotes"] += quotes[0] + named[0]
                    out["names"] += quotes[1] + named[1]
                    out["answers"] += 1
                    db.execute("UPDATE answers SET results=?, also_in=? WHERE message_id=?",
                               (json.dumps(res, ensure_ascii=False), json.dumps(also, ensure_ascii=False), mid))
            for rowid, results in db.execute("SELECT rowid, results FROM feedback").fetchall():
                res = json.loads(results or "[]")
                if sum(_redact(res, words, names, in_guild)):
                    db.execute("UPDATE feedback SET results=? WHERE rowid=?", (json.dumps(res, ensure_ascii=False), rowid))
        return out

    def export_jsonl(self, out: IO[str]) -> int:
        """Write every vote as one JSON line to ``out``; returns how many were written."""
        n = 0
        for rec in self.votes():
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
        return n
