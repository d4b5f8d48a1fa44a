"""Documents → passages: paragraph-sized, split at sentence boundaries, never over the token limit.

A passage is what gets embedded, ranked and quoted. It keeps its paragraph number, its heading and
the character spans of its sentences (quotes are chosen among them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from sentencex import segment

from retrieval.types import Document

TokenCounter = Callable[[list[str]], list[int]]


@dataclass
class Located:
    """What a passage says and where it sits: the fields a passage being split and a stored one
    (:class:`retrieval.index.store.StoredPassage`) share.

    Args:
        doc_id: the document it belongs to.
        paragraph: paragraph number in the document (1-based).
        part: 0 unless a long paragraph had to be split; then 0, 1, …
        text: the passage, verbatim (a substring of the paragraph).
        heading: the heading above the paragraph, if any.
        heading_path: the headings above the paragraph, outermost first.
        page: 1-based page for paged formats, else None.
    """

    doc_id: str
    paragraph: int
    part: int
    text: str
    heading: str | None = None
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None

    def located(self) -> dict:
        """These fields, as keyword arguments (lists copied)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), list) else v for f in fields(Located)}


@dataclass
class Passage(Located):
    """A unit of retrieval, as the document is split.

    Args:
        title: the document title, if any (BM25 indexes it; the encoder sees it when ``embed_title``).
        sentences: ``(start, end)`` character spans of the sentences in ``text``.
        embed_title: put the title before the text for the encoder.
    """

    title: str | None = None
    sentences: list[tuple[int, int]] = field(default_factory=list)
    embed_title: bool = False

    def context(self) -> str:
        """The lines put before the text for the encoder: the title (when ``embed_title``), the heading."""
        return context_of(self.title, self.heading, self.embed_title)

    def embed_text(self) -> str:
        """What the encoder sees: the passage with its context lines before it."""
        ctx = self.context()
        return f"{ctx}\n{self.text}" if ctx else self.text

    def embed_offset(self) -> int:
        """Where ``text`` starts inside :meth:`embed_text`."""
        ctx = self.context()
        return len(ctx) + 1 if ctx else 0

    def lexical_text(self) -> str:
        """What BM25 indexes: title and heading add the words a question may use."""
        return " ".join(x for x in (self.title, self.heading, self.text) if x)

    @property
    def hash(self) -> str:
        """Identity for vector reuse: same encoder input, same vector."""
        return hashlib.sha256(self.embed_text().encode("utf-8")).hexdigest()[:32]


def context_of(title: str | None, heading: str | None, embed_title: bool = False) -> str:
    """Context lines the encoder reads before a passage's text."""
    return "\n".join(x for x in ((title if embed_title else None), heading) if x)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans of ``text`` (whitespace around sentences excluded), via sentencex."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for sent in segment("en", text):
        s = sent.strip()
        if not s:
            continue
        start = text.find(s, pos)
        if start < 0:  # the segmenter changed the text; fall back to what we have
            break
        spans.append((start, start + len(s)))
        pos = start + len(s)
    if not spans or pos < len(text.rstrip()):
        tail_start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
        if tail_start < len(text.rstrip()):
            spans.append((tail_start, len(text.rstrip())))
    return spans


def _word_cuts(text: str, start: int, end: int, count: TokenCounter, limit: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at word boundaries into pieces of at most ``limit`` tokens."""
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    sizes = count([text[a:b] for a, b in words])
    pieces: list[tuple[int, int]] = []
    cur_start, cur_tokens, last_end = None, 0, None
    for (a, b), n in zip(words, sizes):
        if n > limit:  # a single absurd "word": cut it by characters
            if cur_start is not None:
                pieces.append((cur_start, last_end))
                cur_start, cur_tokens = None, 0
            pieces += _char_cuts(text, a, b, count, limit)
            last_end = b
            continue
        if cur_start is not None and cur_tokens + n > limit:
            pieces.append((cur_start, last_end))
            cur_start, cur_tokens = None, 0
        if cur_start is None:
            cur_start = a
        cur_tokens += n
        last_end = b
    if cur_start is not None:
        pieces.append((cur_start, last_end))
    return pieces


def _char_cuts(text: str, start: int, end: int, count: TokenCounter, limit: int) -> list[tuple[int, int]]:
    """Cut one over-long "word" into the longest prefixes of at most ``limit`` tokens.

    Word-piece counts are not additive inside a word (a prefix may take more tokens than the whole),
    so each cut is found by bisection on the real count rather than by proportion.
    """
    pieces: list[tuple[int, int]] = []
    a = start
    while a < end:
        lo, hi = a + 1, end  # text[a:lo] is taken even if one character alone were over the limit
        if count([text[a:hi]])[0] <= limit:
            lo = hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count([text[a:mid]])[0] <= limit:
                lo = mid
            else:
                hi = mid - 1
        pieces.append((a, lo))
        a = lo
    return pieces


def _fit_groups(text: str, groups: list[list[tuple[int, int, int]]], count: TokenCounter,
                budget: int) -> list[list[tuple[int, int, int]]]:
    """Split any group whose joined text is over ``budget`` (counts of parts need not add up)."""
    out: list[list[tuple[int, int, int]]] = []
    todo = list(reversed(groups))
    while todo:
        g = todo.pop()
        if len(g) > 1 and count([text[g[0][0]:g[-1][1]]])[0] > budget:
            half = len(g) // 2
            todo += [g[half:], g[:half]]
            continue
        out.append(g)
    return out


def split_document(doc: Document, count: TokenCounter, limit: int, embed_title: bool = False) -> list[Passage]:
    """Passages of one document.

    Args:
        doc: the cleaned document.
        count: token counter of the encoder (texts → token counts, no special tokens).
        limit: the most tokens one passage may hold, context lines included.
        embed_title: the encoder reads the document title before each passage (it counts against ``limit``).
    """
    out: list[Passage] = []
    for para in doc.paragraphs:
        title, heading = doc.title, para.heading
        ctx = context_of(title, heading, embed_title)
        budget = limit - (count([ctx])[0] + 1 if ctx else 0)
        if budget < limit // 2:  # an absurd title or heading must not starve the text
            title = heading = None
            budget = limit
        text = para.text
        spans = split_sentences(text)
        sizes = count([text[a:b] for a, b in spans]) if spans else []
        if sum(sizes) + len(spans) <= budget:
            out.append(Passage(doc.doc_id, para.number, 0, text, heading, list(para.heading_path), para.page,
                               title=title, sentences=spans, embed_title=embed_title))
            continue
        # too long: pack whole sentences; cut a sentence only when it alone is over the budget
        units: list[tuple[int, int, int]] = []
        for (a, b), n in zip(spans, sizes):
            if n > budget:
                pieces = _word_cuts(text, a, b, count, budget)
                units += [(x, y, m) for (x, y), m in zip(pieces, count([text[x:y] for x, y in pieces]))]
            else:
                units.append((a, b, n))
        groups: list[list[tuple[int, int, int]]] = [[]]
        used = 0
        for u in units:
            if groups[-1] and used + u[2] + 1 > budget:
                groups.append([])
                used = 0
            groups[-1].append(u)
            used += u[2] + 1
        groups = _fit_groups(text, [g for g in groups if g], count, budget)
        for part, g in enumerate(groups):
            a, b = g[0][0], g[-1][1]
            out.append(Passage(doc.doc_id, para.number, part, text[a:b], heading, list(para.heading_path), para.page,
                               title=title, sentences=[(x - a, y - a) for x, y, _ in g], embed_title=embed_title))
    return out

