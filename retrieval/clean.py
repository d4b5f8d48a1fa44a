"""Cleaning real web text: boilerplate out, headings kept, title and dateline found.

Works on *units* (a heading or a paragraph candidate) so that plain text, Markdown and HTML
share one set of rules. Every rule is generic: nothing here knows any particular file.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass, field

from .types import Paragraph

# Lines that are site furniture, not article text. Matched against the whole stripped line,
# case-insensitively; most only apply to short lines so that prose is never dropped.
_SHORT_BOILERPLATE = [
    r"\d+\s*(?:min|mins|minute|minutes)\.?\s*(?:read|to read)",
    r"(?:leave|post|add|write) a (?:reply|comment|response)",
    r"\d*\s*(?:comments?|responses?|replies)",
    r"(?:no|view|show|hide|load more) comments?",
    r"your email address will not be published\.?.*",
    r"required fields are marked.*",
    r"latest (?:from|in|news|posts|stories)\b.*",
    r"(?:you|we think you) (?:may|might) (?:also )?(?:like|enjoy)(?: this)?:?",
    r"(?:related|recommended|more|popular|trending|top)(?: posts| articles| stories| news| reading| reads)\b.*",
    r"related:?",
    r"(?:\[\s*)?(?:read more|read also|also read|see also|more on this|recommended)\b.*",
    r"share(?: this| on)?(?: article| story| post| page)?:?",
    r"(?:follow|like|join) us (?:on|at)\b.*",
    r"(?:subscribe|sign up)\b.*(?:newsletter|updates|inbox).*",
    r"advertisement|advertising|sponsored(?: content)?|ad",
    r"skip to (?:main )?content|jump to navigation",
    r"post navigation|(?:previous|next) (?:post|article|story)\b.*",
    r"(?:tags?|tagged|categories|category|filed under)\s*:.*",
    r"(?:©|\(c\)|copyright)\s.*|all rights reserved\.?",
    r"click here\b.*|print(?: this)?(?: article| page)?|email(?: this)?(?: article)?",
    r"(?:photo|image|picture|video|graphic|illustration)s?(?: credit)?s?\s*[:：].*",
    r"(?:photo|image)s? (?:by|via|courtesy of)\b.*",
    r"(?:credit|source|getty images|reuters photo|ap photo)\s*[:/].*",
]
_ANY_LENGTH_BOILERPLATE = [
    # a whole bracketed line of photo credits or cross-links, however long its URL
    r"\[\s*(?:photo|image|picture|video)\b.*\]",
    r"\[\s*(?:read more|read also|also read|see also|related)\b.*\]",
    r"your email address will not be published\b.*",
    r"this site uses akismet\b.*",
]
_SHORT = 12  # words; boilerplate lines are short
_BOILER_SHORT = re.compile(r"(?:%s)" % "|".join(_SHORT_BOILERPLATE), re.IGNORECASE)
_BOILER_ANY = re.compile(r"(?:%s)" % "|".join(_ANY_LENGTH_BOILERPLATE), re.IGNORECASE)
_BREADCRUMB_SEP = re.compile(r"\s[»›>|/]\s|\s?»\s?|\s?›\s?")
_TERMINAL = tuple(".!?…:;,")
_SENTENCE_END = tuple(".!?…")
_CLOSERS = "\"”’')]»"
# a sentence break: a real word (not an initial like "U.S.") ending, then a capital
_SENTENCE_BREAK = re.compile(r"[a-z]{2,}[.!?][\"”’]?\s+[A-Z]")

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?!\d)")
_TEXT_DATE = re.compile(
    rf"\b(?:(\d{{1,2}})\s+({_MONTHS})\.?,?\s+((?:19|20)\d\d)|({_MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+((?:19|20)\d\d))\b",
    re.IGNORECASE,
)
_BYLINE = re.compile(
    r"(?:^|\b)(?i:(?:published |written |posted |reported )?by)\s+"
    r"((?:[A-Z\u00C0-\u00DE][\w'’.\-]*)(?:\s+(?:[A-Z\u00C0-\u00DE][\w'’.\-]*|de|da|del|van|von|der|la|le|bin)){0,5})",
)
_DATELINE_WORDS = re.compile(r"\b(?:published|updated|posted|date|dated)\b", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # lone halves (JSON "\\ud800" escapes) cannot be encoded


@dataclass
class Unit:
    """A line or block before classification.

    Args:
        text: the unit's text, stripped.
        kind: ``heading`` (known to be one, e.g. Markdown ``#`` or HTML ``<h2>``),
            ``para`` (known paragraph) or ``auto`` (decide by shape).
    """

    text: str
    kind: str = "auto"


@dataclass
class Cleaned:
    """Result of cleaning one document's text."""

    title: str | None
    date: str | None
    author: str | None
    paragraphs: list[Paragraph]
    dropped: list[str] = field(default_factory=list)


def normalize(text: str) -> str:
    """Newlines to ``\\n``, control characters out, NFC; keeps everything a reader sees."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = _CONTROL.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    return unicodedata.normalize("NFC", text)


def is_boilerplate(line: str) -> bool:
    """True when the line is site furniture (comment forms, read-time, credits, breadcrumbs, …)."""
    s = line.strip()
    if not s:
        return True
    if _BOILER_ANY.fullmatch(s):
        return True
    words = len(s.split())
    if words <= _SHORT and _BOILER_SHORT.fullmatch(s):
        return True
    return is_breadcrumb(s)


def is_breadcrumb(s: str) -> bool:
    """``Home » News » Title`` style navigation trails."""
    if "»" in s or "›" in s:
        parts = [p for p in re.split(r"[»›]", s) if p.strip()]
        return len(parts) >= 2 and (parts[0].strip().lower() in ("home", "news", "start") or len(parts) >= 3)
    parts = re.split(r"\s[>|/]\s", s)
    return len(parts) >= 3 and parts[0].strip().lower() == "home"


def ends_sentence(s: str) -> bool:
    """True when ``s`` ends like prose (closing quotes and brackets looked through)."""
    return s.rstrip(_CLOSERS).endswith(_TERMINAL)


def looks_like_heading(s: str, *, max_words: int = 15) -> bool:
    """Short, one line, no sentence punctuation at the end: a heading or a title."""
    words = s.split()
    if not words or len(words) > max_words or len(s) > 12 * max_words:
        return False
    if ends_sentence(s) and not s.rstrip(_CLOSERS).endswith("?"):
        return False
    return not _SENTENCE_BREAK.search(s)


def find_date(s: str) -> str | None:
    """The first valid date in ``s`` as ISO ``YYYY-MM-DD``, or None.

    A match that is no calendar day (``31 February 2024``, ``2023-02-29``) is skipped, not stored.
    """
    for m in _ISO_DATE.finditer(s):
        if _valid_day(int(m.group(1)), int(m.group(2)), int(m.group(3))):
            return m.group(0)
    months = _MONTHS.split("|")
    for m in _TEXT_DATE.finditer(s):
        if m.group(1):
            day, month, year = m.group(1), m.group(2), m.group(3)
        else:
            month, day, year = m.group(4), m.group(5), m.group(6)
        idx = months.index(month.lower().rstrip("."))
        num = idx + 1 if idx < 12 else [1, 2, 3, 4, 6, 7, 8, 9, 9, 10, 11, 12][idx - 12]
        if _valid_day(int(year), num, int(day)):
            return f"{year}-{num:02d}-{int(day):02d}"
    return None


def _valid_day(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def parse_dateline(s: str) -> tuple[str | None, str | None] | None:
    """``(date, author)`` when ``s`` is a dateline/byline, else None."""
    words = len(s.split())
    if words > 25 or (words >= 12 and ends_sentence(s)):  # that is a sentence of prose
        return None
    date = find_date(s)
    m = _BYLINE.search(s)
    author = m.group(1).strip(" .,") if m else None
    if author and find_date(author):
        author = None
    if date and (_DATELINE_WORDS.search(s) or author or words <= 6):
        return date, author
    if author and re.match(r"^\s*(?:published |written |posted |reported )?by\s", s, re.IGNORECASE):
        return date, author
    return None


def text_units(text: str) -> list[Unit]:
    """Plain text to units: one unit per line, with hard-wrapped lines joined back.

    A line continues onto the next when it has no closing punctuation and is nearly as long as the
    longest line of its block (the wrap width), which short headings never are.
    """
    units: list[Unit] = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        width = max(len(ln) for ln in lines)
        cur = lines[0]
        for prev, ln in zip(lines, lines[1:]):
            # a wrapped line may end at a comma or colon; only a sentence end closes the unit
            wrapped = width <= 120 and len(prev) >= 0.6 * width and not prev.rstrip(_CLOSERS).endswith(_SENTENCE_END)
            if wrapped:
                cur += " " + ln
            else:
                units.append(Unit(cur))
                cur = ln
        units.append(Unit(cur))
    return units


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_MD_LIST = re.compile(r"^(?:[-*+]|\d+[.)])\s+")


def markdown_units(text: str) -> list[Unit]:
    """Markdown to units: ``#`` headings, paragraphs joined across soft line breaks, list items apart."""
    units: list[Unit] = []
    in_fence = False
    for block in re.split(r"\n\s*\n", text):
        cur: list[str] = []
        for raw in block.split("\n"):
            ln = raw.strip()
            if ln.startswith("```") or ln.startswith("~~~"):
                in_fence = not in_fence
                continue
            if not ln:
                continue
            m = None if in_fence else _MD_HEADING.match(ln)
            if m:
                if cur:
                    units.append(Unit(" ".join(cur), "para"))
                    cur = []
                units.append(Unit(m.group(2), "heading"))
            elif _MD_LIST.match(ln) or ln.startswith(">"):
                if cur:
                    units.append(Unit(" ".join(cur), "para"))
                cur = [ln.lstrip(">").strip()] if ln.startswith(">") else [ln]
            elif set(ln) <= set("-=*_ |:"):  # rules and table separators
                continue
            else:
                cur.append(ln)
        if cur:
            units.append(Unit(" ".join(cur), "para"))
    return units


def clean_units(units: list[Unit], *, title: str | None = None) -> Cleaned:
    """Classify units into title, dateline, headings and paragraphs; drop boilerplate.

    Args:
        units: the document's units in reading order.
        title: a title known from metadata (HTML ``<title>``, a JSONL field); when given,
            the body is not searched for one and a first unit equal to it is dropped.
    """
    date = author = None
    paragraphs: list[Paragraph] = []
    dropped: list[str] = []
    heading: str | None = None
    pending_heading: str | None = None
    found_title = title
    guessed: set[str] = set()  # headings inferred from shape alone
    for i, unit in enumerate(units):
        s = re.sub(r"[ \t]+", " ", unit.text).strip()
        if not s:
            continue
        if is_boilerplate(s):
            dropped.append(s)
            continue
        if not paragraphs and i < 6 and date is None and author is None:
            dl = parse_dateline(s)
            if dl is not None:
                date, author = dl
                dropped.append(s)
                continue
        if found_title is not None and not paragraphs and pending_heading is None and s == found_title:
            continue
        kind = unit.kind
        at_top = found_title is None and not paragraphs and pending_heading is None
        if kind == "auto":
            # titles run longer than section headings
            kind = "heading" if looks_like_heading(s, max_words=25 if at_top else 15) else "para"
        if kind == "heading":
            if unit.kind == "auto" and not at_top:
                guessed.add(s)
            if at_top:
                found_title = s
                continue
            pending_heading = s  # of two headings in a row the nearer one is the context
            continue
        if pending_heading is not None:
            heading = pending_heading
            pending_heading = None
        paragraphs.append(Paragraph(number=len(paragraphs) + 1, text=s, heading=heading))
    if pending_heading is not None:
        # a heading-shaped last line with nothing under it is still text the reader saw
        paragraphs.append(Paragraph(number=len(paragraphs) + 1, text=pending_heading, heading=heading))
    paragraphs = _demote_lone_heading(paragraphs, guessed)
    return Cleaned(title=found_title, date=date, author=author, paragraphs=paragraphs, dropped=dropped)


def clean_text(text: str, *, markdown: bool = False, title: str | None = None) -> Cleaned:
    """Plain text or Markdown to a :class:`Cleaned` document."""
    text = normalize(text)
    units = markdown_units(text) if markdown else text_units(text)
    return clean_units(units, title=title)


def _demote_lone_heading(paragraphs: list[Paragraph], guessed: set[str]) -> list[Paragraph]:
    """A single shape-guessed "heading" deep inside running text is a caption or a fragment.

    Real section headings come in twos or more; one alone after several paragraphs would wrongly
    label everything below it, so it goes back to being an ordinary paragraph.
    """
    if len(guessed) != 1:
        return paragraphs
    (lone,) = guessed
    first = next((i for i, p in enumerate(paragraphs) if p.heading == lone), None)
    if first is None or first < 3:
        return paragraphs
    out = list(paragraphs[:first]) + [Paragraph(number=0, text=lone, heading=None)]
    for p in paragraphs[first:]:
        out.append(Paragraph(number=0, text=p.text, heading=None) if p.heading == lone else p)
    for i, p in enumerate(out, 1):
        p.number = i
    return out
