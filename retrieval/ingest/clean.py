"""Cleaning real web text: boilerplate out, headings kept, title and dateline found.

Works on *units* (a heading or a paragraph candidate) so that plain text, Markdown and HTML
share one set of rules. Every rule is generic: nothing here knows any particular file.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from dataclasses import dataclass, field

from retrieval.ingest.dates import find_date
from retrieval.types import Paragraph

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
    r"skip to (?:main )?content|jump to navigation|table of contents",
    r"post navigation|(?:previous|next) (?:post|article|story)\b.*",
    r"(?:tags?|tagged|categories|category|filed under)\s*:.*",
    r"(?:©|\(c\)|copyright)\s.*|all rights reserved\.?",
    r"click here\b.*|print(?: this)?(?: article| page)?|email(?: this)?(?: article)?",
    r"(?:photo|image|picture|video|graphic|illustration)s?(?: credit)?s?\s*[:：].*",
    r"(?:photo|image)s? (?:by|via|courtesy of)\b.*",
    r"(?:credit|source|getty images|reuters photo|ap photo)\s*[:/].*",
    # documentation sites' page furniture (Docusaurus, MkDocs, Read the Docs, GitHub Pages)
    r"(?:edit|improve) (?:this page|this page on github|on github|on gitlab)|view (?:page )?source",
    r"was this (?:page|article|section) helpful\??(?: yes no)?",
    r"last (?:updated|modified|edited)(?: on| at)?:? [\w ,.:/-]{4,40}?(?: by [\w .-]{1,40})?",
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
        kind: ``heading`` (known to be one, e.g. Markdown ``#`` or HTML ``<h2>``), ``para`` (known
            paragraph), ``auto`` (decide by shape), ``code`` (kept verbatim with its line breaks),
            ``item`` (a list item, text with its marker), ``row`` (a table row, already labelled),
            ``term`` (a definition-list term: a heading for what follows, and the first line of its
            definition), ``question`` (a FAQ's question: the heading of its answer), ``note`` (a footnote:
            joins the paragraph before it, which it annotates), ``rule`` (a separator line: nothing joins
            across it) or ``end`` (closes every heading or term of ``level`` and deeper).
        level: heading depth (1 outermost) for ``heading``/``term``/``end``; 0 when unknown.
        page: 1-based page for paged formats.
        group: list id for ``item`` units (items of one list share it).
        anchor: a heading's or term's ``id`` (links to its section), when the format gives one.
    """

    text: str
    kind: str = "auto"
    level: int = 0
    page: int | None = None
    group: int | None = None
    anchor: str | None = None


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


# a command or code line: a placeholder, a variable, brackets, a pipe, an assignment, a flag, a path
_CODE_TOKEN = re.compile(r"[<>{}\[\]$|;=`\\]|\w\(|\w/[\w.-]+/|^[~.]?/\w")
_FLAG = re.compile(r"^--?[A-Za-z]")
_PROMPT = re.compile(r"^[$%>]\s+\S")


def looks_like_code(s: str) -> bool:
    """A line of a command or code ("cvs add -ko <file>", "rm $f", "$ git log"), not a heading: a shell
    prompt, or code marks (a placeholder, a variable, brackets, a call, a path; flags count beside
    them) in a third of its words or more. A question ("What is $CVSROOT?") is not."""
    t = s.strip()
    if not t or "\n" in t or t.rstrip(_CLOSERS).endswith("?"):
        return False
    if _PROMPT.match(t):
        return True
    toks = t.split()
    marked = sum(bool(_CODE_TOKEN.search(x)) for x in toks)
    flags = sum(bool(_FLAG.match(x)) and not _CODE_TOKEN.search(x) for x in toks)
    # an option alone names a section ("The -r option", "--depth"); with code beside it, it is a command
    return marked > 0 and (marked + flags) * 3 >= len(toks)


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


_LIST_CHARS = 700  # a list is packed into paragraphs of about this size (with its intro sentence)
_GUESSED = 90  # a shape-guessed heading under structured ones is the deepest section
_ASKED = 95  # a FAQ's question heads its answer, below every section
_LONG_UNIT = 3000  # chars: a "paragraph" longer than this is a file without paragraph breaks
_CHUNK = 800  # chars: the size such a file is cut into (at sentence ends; about one passage)
_SENT_END = re.compile(r"[.!?…][\"”’')\]]*\s+")


def split_long(text: str, size: int = _CHUNK) -> list[str]:
    """Cut an over-long block into pieces of about ``size`` characters, at sentence ends when it has
    them, else at spaces, else anywhere. Linear in the text (a 5 MB line is fine)."""
    out: list[str] = []
    a, n = 0, len(text)
    while a < n:
        if n - a <= size * 1.5:
            out.append(text[a:].strip())
            break
        window = text[a + size // 2:a + size * 3 // 2]
        cut = None
        for m in _SENT_END.finditer(window):
            cut = a + size // 2 + m.end()
            if m.end() >= size // 2:
                break
        if cut is None:
            sp = window.rfind(" ", 0, size)
            cut = a + size // 2 + sp + 1 if sp >= 0 else a + size
        out.append(text[a:cut].strip())
        a = cut
    return [p for p in out if p]


def _expand(units: list[Unit]) -> list[Unit]:
    out: list[Unit] = []
    for u in units:
        if u.kind in ("auto", "para") and len(u.text) > _LONG_UNIT:
            out += [Unit(p, "para", page=u.page) for p in split_long(u.text)]
        else:
            out.append(u)
    return out


def clean_units(units: list[Unit], *, title: str | None = None) -> Cleaned:
    """Classify units into title, dateline, headings and paragraphs; drop boilerplate.

    Structured units (headings with a level, terms, list items, table rows, code) give every paragraph
    its heading path; list items join the sentence that introduces them (one ending in ``:``).

    Args:
        units: the document's units in reading order.
        title: a title known from metadata (HTML ``<title>``, a JSONL field); when given,
            the body is not searched for one and a first unit equal to it is dropped.
    """
    date = author = None
    paragraphs: list[Paragraph] = []
    dropped: list[str] = []
    heading: str | None = None  # the flat heading of shape-guessed (plain text) headings
    pending_heading: str | None = None
    stack: list[tuple[int, str]] = []  # (level, text) of the structured headings and terms above
    anchors: dict[int, str | None] = {}  # level -> the id of the heading or term at that level
    term: str | None = None  # a definition-list term waiting for its definition
    group_of: dict[int, int | None] = {}  # paragraph index -> the list it holds
    fresh = True  # no paragraph since the last heading: a list cannot join the one before
    in_def = False  # inside a definition whose first paragraph carries its term
    found_title = title
    guessed: set[str] = set()  # headings inferred from shape alone
    lead = ""  # the last paragraph is a lead-in ("… is:", "For example,") waiting for what it introduces
    units = _expand(units)
    for i, unit in enumerate(units):
        kind = unit.kind
        if kind in ("end", "rule"):
            stack = [x for x in stack if x[0] < unit.level] if kind == "end" else stack
            term, fresh, in_def, lead = None, True, False, ""
            continue
        # code keeps its line breaks and relative indentation; a passage never starts or ends with blanks
        s = textwrap.dedent(unit.text.strip("\n")).strip() if kind == "code" else re.sub(r"[ \t]+", " ", unit.text).strip()
        if not s:
            continue
        if kind not in ("code", "row") and is_boilerplate(s):
            dropped.append(s)
            continue
        if not paragraphs and i < 6 and date is None and author is None and kind in ("auto", "para"):
            dl = parse_dateline(s)
            if dl is not None:
                date, author = dl
                dropped.append(s)
                continue
        at_top = not paragraphs and pending_heading is None and not stack
        if found_title is not None and at_top and s == found_title:
            continue
        if kind in ("para", "auto") and _asks(units, i):
            kind = "question"
        if kind == "question":  # the heading of its answer: never a passage, never quoted alone
            if stack:
                stack = [x for x in stack if x[0] < _GUESSED] + [(_ASKED, s)]  # a guessed line above is no section of it
            else:
                pending_heading = s
            term, fresh, in_def, lead = None, True, False, ""
            continue
        if kind == "auto" and looks_like_code(s):
            kind = "code"  # a command line is an example, never a heading: "cvs add -ko <file>"
        if kind == "auto":
            # titles run longer than section headings
            kind = "heading" if looks_like_heading(s, max_words=25 if at_top and found_title is None else 15) else "para"
        if kind in ("heading", "term") and unit.level:
            if at_top and kind == "heading" and (found_title is None or _same_title(s, found_title)):
                found_title = found_title or s  # the page's own title heading is no section
                continue
            stack = [x for x in stack if x[0] < unit.level] + [(unit.level, s)]
            anchors[unit.level] = unit.anchor
            term, fresh, in_def = (s if kind == "term" else None), True, False
            lead = lead if kind == "term" else ""  # a lead-in introduces the definitions after it
            continue
        if kind == "heading":
            lead = ""
            if at_top and found_title is None:
                found_title = s
                continue
            if stack:  # a line shaped like a heading among structured ones (plain text with underlined titles)
                stack = [x for x in stack if x[0] < _GUESSED] + [(_GUESSED, s)]
                term, fresh, in_def = None, True, False
                continue
            if unit.kind == "auto":
                guessed.add(s)
            pending_heading = s  # of two headings in a row the nearer one is the context
            continue
        if pending_heading is not None:
            heading = pending_heading
            pending_heading = None
        path = [h for _, h in stack] if stack else ([heading] if heading else [])
        last = len(paragraphs) - 1
        if kind == "note" and paragraphs:  # a footnote belongs to the paragraph it annotates
            paragraphs[last].text += "\n" + s
            continue
        if term is not None:  # the term opens its definition: "--all: Stash all files…"
            sep = "\n" if kind in ("code", "item") else " "
            s = term + ("" if term.endswith((":", ".")) else ":") + sep + s
            term, in_def = None, True
        if lead == ":" or (lead == "," and kind == "code"):  # "… may be useful:" stays with the command
            paragraphs[last].text += "\n" + s
            group_of[last] = unit.group if kind == "item" else None
            lead = _lead_of(s, kind)  # a lead-in to a lead-in
            continue
        elif in_def and kind == "para" and not fresh and group_of.get(last) is None \
                and len(paragraphs[last].text) + len(s) < _LIST_CHARS:
            paragraphs[last].text += "\n" + s  # a short definition stays whole: "gc.auto: …\nThe default is 6700."
            continue
        if kind == "item" and not fresh and paragraphs and len(paragraphs[last].text) + len(s) < _LIST_CHARS and (
                group_of.get(last) == unit.group or
                (group_of.get(last) is None and paragraphs[last].text.endswith(":"))):
            paragraphs[last].text += "\n" + s
            group_of[last] = unit.group
            continue
        if kind == "code" and not fresh and paragraphs and group_of.get(last) is None and len(paragraphs[last].text) + len(s) < _LIST_CHARS \
                and not ends_sentence(paragraphs[last].text.rstrip(":")) and "\n" not in paragraphs[last].text:
            paragraphs[last].text += "\n" + s  # "If that version is broken, type" + the command
            continue
        group_of[len(paragraphs)] = unit.group if kind == "item" else None
        paragraphs.append(Paragraph(number=len(paragraphs) + 1, text=s, heading=path[-1] if path else None,
                                    heading_path=path, page=unit.page,
                                    anchor=next((anchors.get(lv) for lv, _ in reversed(stack) if anchors.get(lv)), None)))
        fresh = False
        lead = _lead_of(s, kind)
    if pending_heading is not None:
        # a heading-shaped last line with nothing under it is still text the reader saw
        paragraphs.append(Paragraph(number=len(paragraphs) + 1, text=pending_heading, heading=heading,
                                    heading_path=[heading] if heading else []))
    paragraphs = _demote_lone_heading(paragraphs, guessed)
    return Cleaned(title=found_title, date=date, author=author, paragraphs=paragraphs, dropped=dropped)


# a FAQ answer's opening word on a line of its own ("Answer: Yes.", "A: No!", "Short answer: depends;")
_ANSWER_LABEL = re.compile(r"^(?:(?:short |long )?answer|a)\s*:\s*\S", re.IGNORECASE)


def _lead_of(s: str, kind: str) -> str:
    """``:`` for a paragraph that introduces what follows (or a FAQ answer's one-word opening, "Answer:
    Yes.", which the explanation after it goes on), ``,`` for one that introduces code ("For
    example,"), else ``""``."""
    if kind in ("para", "auto") and _ANSWER_LABEL.match(s) and len(s.split()) <= 6:
        return ":"
    end = s.rstrip(_CLOSERS)[-1:]
    return end if end in (":", ",") and kind in ("para", "auto", "note") else ""


def _asks(units: list[Unit], i: int) -> bool:
    """A paragraph that is only a question, its answer after it: a FAQ's question as a bold line."""
    s = units[i].text.strip()
    if not s.rstrip(_CLOSERS).endswith("?") or len(s.split()) > 30 or "\n" in s:
        return False
    nxt = units[i + 1] if i + 1 < len(units) else None
    return nxt is not None and nxt.kind in ("para", "auto", "code", "item", "row") \
        and not nxt.text.strip().rstrip(_CLOSERS).endswith("?")


def _same_title(heading: str, title: str) -> bool:
    """``git-stash(1) Manual Page`` restates the title ``git-stash(1)``: one holds the other."""
    a, b = heading.casefold(), title.casefold()
    return a in b or b in a


def clean_text(text: str, *, title: str | None = None) -> Cleaned:
    """Plain text to a :class:`Cleaned` document (the structured formats' readers give units to
    :func:`clean_units` instead)."""
    return clean_units(text_units(normalize(text)), title=title)


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
    out = list(paragraphs[:first]) + [Paragraph(number=0, text=lone, heading=None, page=paragraphs[first].page)]
    for p in paragraphs[first:]:
        out.append(Paragraph(number=0, text=p.text, heading=None, page=p.page) if p.heading == lone else p)
    for i, p in enumerate(out, 1):
        p.number = i
    return out
