"""Plain data shared by the pipeline stages, the CLI and the bot.

Everything here is JSON-friendly (``to_dict``) and has no behaviour beyond formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field


#: below this confidence an answer opens with a low-confidence note (CLI and bot alike)
LOW_CONFIDENCE = 0.5

@dataclass
class Paragraph:
    """One paragraph of a cleaned document.

    Args:
        number: 1-based position among the document's kept paragraphs.
        text: the paragraph text, verbatim from the file (whitespace inside lines kept).
        heading: the closest heading above it, if any (the last element of ``heading_path``).
        heading_path: the headings it sits under, outermost first (``["git-stash", "OPTIONS",
            "--include-untracked"]``); empty when the document has no structure.
        page: 1-based page number for paged formats (PDF), else None.
        anchor: the ``id`` of the closest heading above it that has one (HTML ``id``, a Markdown
            heading's slug), for links to the section; None when there is none.
    """

    number: int
    text: str
    heading: str | None = None
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    anchor: str | None = None


@dataclass
class Document:
    """A cleaned corpus document.

    Args:
        doc_id: stable id (relative path without suffix, or the record id of a JSONL corpus).
        source: the relative file path, or the record URL when a JSONL corpus gives one.
        title: detected title (None when the file has none).
        date: ISO date (YYYY-MM-DD) when one was found.
        author: byline author when found.
        outlet: publication name when known.
        url: the document URL when known.
        paragraphs: the kept paragraphs in order.
        content_hash: sha256 of the raw file bytes or record text.
        encoding: the text encoding the file was decoded as when it was not UTF-8 (a guess), else None.
    """

    doc_id: str
    source: str
    title: str | None
    paragraphs: list[Paragraph]
    content_hash: str
    date: str | None = None
    author: str | None = None
    outlet: str | None = None
    url: str | None = None
    encoding: str | None = None

    def meta(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("paragraphs", "encoding")}


@dataclass
class Citation:
    """Where a quoted passage comes from.

    Args:
        number: 1-based citation number as shown to users.
        doc_id: document id.
        title: document title, or None.
        outlet: publication, or None.
        author: author, or None.
        date: ISO date, or None.
        paragraph: 1-based paragraph number in the document.
        source: relative file path or URL.
        heading_path: the section the passage sits in, outermost first (may be empty).
        page: 1-based page for paged formats (PDF), else None.
        url: a link to the passage: the document's http(s) URL, with ``#anchor`` when its section has
            one; None when the document has no URL.
        paragraph_end: the last paragraph when the quote spans several (a passage shown with its
            neighbour), else None.
    """

    number: int
    doc_id: str
    title: str | None
    outlet: str | None
    author: str | None
    date: str | None
    paragraph: int
    source: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    url: str | None = None
    paragraph_end: int | None = None

    def place(self) -> str:
        """Where in the document: ``section › subsection`` and ``p. n`` when known, else ``¶ n``."""
        parts = []
        if self.heading_path:
            parts.append(" › ".join(self.heading_path))
        end = f"–{self.paragraph_end}" if self.paragraph_end and self.paragraph_end != self.paragraph else ""
        parts.append(f"p. {self.page}" if self.page else f"¶ {self.paragraph}{end}")
        return " · ".join(parts)

    def label(self) -> str:
        """``title · outlet-or-author · date · section · p. n (or ¶ n)`` with unknown parts left out."""
        parts = [self.title or self.doc_id]
        if self.outlet or self.author:
            parts.append(self.outlet or self.author)
        if self.date:
            parts.append(self.date)
        parts.append(self.place())
        return " · ".join(parts)


def link(url: str | None, anchor: str | None = None) -> str | None:
    """``url#anchor`` for an http(s) URL (its own fragment replaced), the URL alone without an anchor;
    None for anything else (a file path, ``javascript:``): only web links are shown as links."""
    if not url or not url.lower().startswith(("http://", "https://")) or any(c.isspace() for c in url):
        return None
    base = url.split("#", 1)[0]
    return f"{base}#{anchor}" if anchor else url


@dataclass
class Result:
    """One ranked passage of an answer.

    Args:
        rank: 1-based rank (also the citation number).
        doc_id: document id.
        paragraph: paragraph number of the passage in its document.
        text: the passage, verbatim.
        quote: the best-answering sentence(s), a verbatim substring of ``text``.
        quote_start: offset of ``quote`` in ``text``.
        score: fused relevance score (higher is better; comparable within one answer).
        dense: cosine similarity of the question and the passage.
        heading: heading the passage sits under, if any.
        also_in: doc ids of other documents that report the same passage (near-duplicates).
        citation: the citation shown for this result.
        paragraph_end: the last paragraph ``text`` reaches when it is the passage with a neighbour
            (see :mod:`retrieval.query.compose`), else None.
    """

    rank: int
    doc_id: str
    paragraph: int
    text: str
    quote: str
    quote_start: int
    score: float
    dense: float
    citation: Citation
    heading: str | None = None
    also_in: list[str] = field(default_factory=list)
    also_in_citations: list[Citation] = field(default_factory=list)
    paragraph_end: int | None = None

    def to_dict(self) -> dict:
        c = self.citation
        return {
            "rank": self.rank,
            "doc_id": self.doc_id,
            "title": c.title,
            "date": c.date,
            "outlet": c.outlet,
            "author": c.author,
            "source": c.source,
            "url": c.url,
            "paragraph": self.paragraph,
            "paragraph_end": self.paragraph_end,
            "heading": self.heading,
            "heading_path": list(c.heading_path),
            "page": c.page,
            "text": self.text,
            "quote": self.quote,
            "score": round(float(self.score), 6),
            "dense": round(float(self.dense), 6),
            "also_in": list(self.also_in),
        }


@dataclass
class Figure:
    """One side of a :class:`Disagreement`: a figure as one quoted result gives it.

    Args:
        rank: the result's rank (its citation number in the CLI output).
        doc_id: the document.
        date: the document's ISO date, or None (counts reported at different dates may differ).
        text: the figure as quoted, verbatim (``at least 62 individuals``, ``killed at least 83``).
        value: the number (``50000000`` for "$50 million"), or an ISO date string for a date.
    """

    rank: int
    doc_id: str
    date: str | None
    text: str
    value: float | int | str


@dataclass
class Disagreement:
    """Quoted documents giving different figures for the same thing (see :mod:`retrieval.query.conflicts`).

    Args:
        thing: what the figures are of, in short (``person killed``, ``bounty (USD)``).
        kind: ``count``, ``money`` or ``date``.
        figures: the differing figures, by rank; at least two documents, at least two values.
    """

    thing: str
    kind: str
    figures: list[Figure]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    """The reply to one question.

    Args:
        question: the question as asked.
        answered: False when the corpus does not answer it (results are still listed).
        results: ranked results, best first.
        confidence: estimated probability that the top result holds the answer (calibrated on the
            dev corpora, comparable across corpora; see docs/RANKING.md).
        index_version: id of the index version that produced the answer.
        reason: why the corpus does not answer, in plain words (None when answered).
        disagreements: figures on which the quoted documents differ (answered answers only).
        limits: what capped the results: ``k``, ``per_section`` (results from one section) and
            ``per_doc`` (from one document; None when only sections are capped).
    """

    question: str
    answered: bool
    results: list[Result]
    confidence: float
    index_version: str
    reason: str | None = None
    disagreements: list[Disagreement] = field(default_factory=list)
    limits: dict = field(default_factory=dict)

    @property
    def low_confidence(self) -> bool:
        """An answer whose first quote is likely wrong: every reply says so above its quotes."""
        return self.answered and self.confidence < LOW_CONFIDENCE

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answered": self.answered,
            "confidence": round(float(self.confidence), 6),
            "index_version": self.index_version,
            "reason": self.reason,
            "results": [r.to_dict() for r in self.results],
            "disagreements": [d.to_dict() for d in self.disagreements],
            "limits": dict(self.limits),
        }


@dataclass
class SourceView:
    """A passage in context: the document's metadata and neighbouring paragraphs.

    Args:
        document: metadata of the document (``Document.meta()`` keys).
        paragraph: the requested paragraph number.
        paragraphs: the requested paragraph and its neighbours, in order.
        total_paragraphs: how many paragraphs the document has.
    """

    document: dict
    paragraph: int
    paragraphs: list[Paragraph]
    total_paragraphs: int

    def to_dict(self) -> dict:
        return {
            "document": self.document,
            "paragraph": self.paragraph,
            "total_paragraphs": self.total_paragraphs,
            "paragraphs": [asdict(p) for p in self.paragraphs],
        }


@dataclass
class Skipped:
    """A corpus file that was not indexed, and why."""

    path: str
    reason: str


@dataclass
class IndexSummary:
    """What a (re)index did.

    Args:
        added / changed / removed / unchanged: document ids in each state.
        skipped: files not indexed, with reasons.
        passages: passages in the new index.
        embedded: passages whose vectors were computed (the rest were reused; a passage repeated in
            the corpus is computed once).
        resumed: passages whose vectors an interrupted build had computed (counted as reused).
        encodings: ``{source: encoding}`` of files not read as UTF-8 (the encoding was a guess).
        seconds: wall time of the build.
        version: id of the new index version.
        adapter: what the query adapter's training did (``adapt = true``): pairs by kind, seconds;
            None when it was not trained.
        sources: one line per fetched source (a website or a repository): what the fetch did, and
            the pages whose last good copy was kept because they failed this time.
    """

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    passages: int = 0
    embedded: int = 0
    resumed: int = 0
    encodings: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    version: str = ""
    adapter: dict | None = None
    sources: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        out = [
            f"documents: {len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged, {len(self.skipped)} skipped",
            f"passages: {self.passages} ({self.embedded} embedded, {self.passages - self.embedded} reused"
            + (f", {self.resumed} of them from an interrupted build" if self.resumed else "")
            + f") in {self.seconds:.1f}s",
        ]
        if self.adapter is not None:
            a = self.adapter
            out.append(f"query adapter: not trained ({a['skipped']})" if "skipped" in a else
                       f"query adapter: trained on {a['pairs']:,} structure pairs in {a['seconds']:.1f}s")
        out += self.sources
        out += [f"skipped {s.path}: {s.reason}" for s in self.skipped]
        out += [f"read as {enc}: {src}" for src, enc in sorted(self.encodings.items())]
        return out


DIFFER = "Sources differ: "


def differ_line(found: Sequence[Disagreement], *, number: Callable[[int], int | None] = lambda rank: rank,
                text: Callable[[str], str] = lambda s: s, limit: int = 1000) -> str | None:
    """``Sources differ: [1] at least 21 vessels, [3] three vessels (2025-09-27); [2] …`` — the
    figures of each disagreement with their citation numbers and their documents' dates when known
    (a running count reported at another date may differ for that reason); None when there are none.

    Args:
        found: the answer's disagreements.
        number: the citation number shown for a result rank, or None when that result is not shown
            (its figure is left out, and a disagreement left without two differing documents is dropped).
        text: how a quoted figure is written (the bot escapes it).
        limit: at most this many characters; the disagreements that do not fit are left out.
    """
    parts: list[str] = []
    for d in found:
        figs = [(n, f) for f in d.figures if (n := number(f.rank)) is not None]
        if not any(a.doc_id != b.doc_id and a.value != b.value for _, a in figs for _, b in figs):
            continue
        part = ", ".join(f"[{n}] {text(' '.join(f.text.split()))}" + (f" ({text(f.date)})" if f.date else "")
                         for n, f in figs)
        if len(DIFFER) + len("; ".join([*parts, part])) > limit:
            continue
        parts.append(part)
    return DIFFER + "; ".join(parts) if parts else None
