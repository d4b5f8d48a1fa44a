"""What a PDF page holds besides its running text, as pdfminer's lines: tables (each row labelled
with its header cells), columns, a table of contents, running heads and footers with page numbers.
:mod:`retrieval.ingest.formats.pdf` builds the lines and turns what is left into paragraphs."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby

from retrieval.ingest.formats import one_line


@dataclass
class Line:
    page: int
    x0: float
    x1: float
    top: float
    bottom: float
    size: float
    bold: bool
    mono: bool
    text: str
    edge: bool = False
    words: list = field(default_factory=list)  # (x0, x1, text) of each word, for tables
    row: bool = False  # a table row, already labelled with its header cells
    top_edge: bool = False  # at the head of the page (``edge`` and not at its foot)


_PAGE_NUMBER = re.compile(r"^\W*(?:page\s*)?\d+(?:\s*(?:of|/)\s*\d+)?\W*$", re.IGNORECASE)
_ROMAN = re.compile(r"^\s*[ivxlc]{1,7}\s*$")  # a front-matter page number (only trusted on a contents page)
# a table-of-contents entry: a run of leader dots, perhaps the page number after it ("2.1 Naming . . . . 4")
_LEADER = re.compile(r"(?:\.\s?){6,}\s*(?:\d+|[ivxlc]{1,7})?\s*$", re.IGNORECASE)
_SECTION_NUMBER = re.compile(r"^\s*(?:[A-Z]|\d{1,3})(?:\.\d{1,3})*\.?(?:\s+(?:[A-Z]|\d{1,3})(?:\.\d{1,3})*\.?)*\s*$")
_CONTENTS = re.compile(r"^\s*(?:table\s+of\s+)?contents\s*$", re.IGNORECASE)
# a back-of-book index entry: a term and its pages ("fit, 36, 44, 91", "errorbars, 65–67, 70")
# (wrapped: "coordinates, 33, 131, 158," then "297"; two columns read as one line: "palette, 39, using, 34")
_INDEX_ENTRY = re.compile(r"^(?:\s*[^,\d\s][^,]{0,80}?(?:,\s*\d{1,4}(?:\s*[–-]\s*\d{1,4})?)+,?)+\s*$")
_INDEX_PAGES = re.compile(r"^\s*\d{1,4}(?:\s*[–-]\s*\d{1,4})?(?:\s*,\s*\d{1,4}(?:\s*[–-]\s*\d{1,4})?)*,?\s*$")
# on an index page: its title, or a letter heading between its entries ("A", "Symbols")
_INDEX_TITLE = re.compile(r"^\s*(?:index|general index|symbols|numbers|[A-Z])\s*$", re.IGNORECASE)
EDGE = 0.09  # top and bottom share of the page where running headers and footers sit


_URL = re.compile(r"^(?:https?|file)://\S+$", re.IGNORECASE)
# "12/1/26, 8:52 PM", "2026-12-01 08:52", "01.12.2026": a date, perhaps with a time, and nothing else
_STAMP = re.compile(r"^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}(?:,?\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AP]M)?)?$", re.IGNORECASE)


GLYPHS = "•◦▪▫‣∙●○■□"  # bullets no sentence starts with (a dash can wrap to a line's start)


def ends_sentence(text: str) -> bool:
    return text.rstrip().rstrip("\"”’')]").endswith((".", "!", "?", ":"))


# a list item's own marker: a bullet glyph, "1." / "2)" / "a." numbering
def is_glyph(text: str) -> bool:
    """Whether ``text`` is one bullet glyph and nothing else."""
    return len(text) == 1 and text in GLYPHS


def tables(lines: list[Line], body: float) -> list[Line]:
    """``lines`` with every table replaced by one labelled line per data row (the first row is the header).

    A table is three or more consecutive rows (lines sharing a baseline) of body-size, non-code text,
    each split in two or more cells by wide gaps, whose cells start at the same two or more column
    positions; cells are short (a two-column page of prose lines up too, but its lines are long).
    A cell as wide as its column leaves no wide gap: its words are put in columns by position.
    """
    out: list[Line] = []
    for _, page in groupby(lines, key=lambda ln: ln.page):
        out += _page_tables(list(page), body)
    return out


def _page_tables(lines: list[Line], body: float) -> list[Line]:
    rows: list[list[Line]] = []
    for ln in sorted(lines, key=lambda x: x.bottom):
        if rows and abs(ln.bottom - rows[-1][0].bottom) <= 1.5:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    at = {id(ln): k for k, ln in enumerate(lines)}  # reading order
    replaced: dict[int, list[Line]] = {}  # id of a table's first line (in reading order) -> its rows
    gone: set[int] = set()
    i = 0
    while i < len(rows):
        j = i
        while j < len(rows) and _tableish(rows[j], body) and (
                j == i or rows[j][0].bottom - rows[j - 1][0].bottom <= 2.5 * body):
            j += 1
        table = _table(rows[i:j]) if j - i >= 3 else None
        if table is None:
            i = max(j, i + 1)
            continue
        members = [ln for r in rows[i:j] for ln in r]
        first = min(members, key=lambda ln: at[id(ln)])
        replaced[id(first)] = table
        gone.update(id(ln) for ln in members)
        i = j
    out = []
    for ln in lines:
        if id(ln) in replaced:
            out += replaced[id(ln)]
        elif id(ln) not in gone:
            out.append(ln)
    return out


def _tableish(row: list[Line], body: float) -> bool:
    if any(ln.mono or ln.edge or abs(ln.size - body) > 1 for ln in row):
        return False
    words = sorted((w for ln in row for w in ln.words), key=lambda w: w[0])
    if words and is_glyph(words[0][2]):  # a list item's bullet set apart is no table cell
        words = words[1:]
    cells = 1 + sum(b[0] - a[1] > 0.6 * body for a, b in zip(words, words[1:]))
    return len(words) >= 2 and cells >= 2


def _table(rows: list[list[Line]]) -> list[Line] | None:
    """The labelled rows of a table, or None when the rows' cells do not line up in columns."""
    words_of = [sorted((w for ln in r for w in ln.words), key=lambda w: w[0]) for r in rows]
    # column starts: where a cell (after a wide gap, or first in its row) starts in two or more data rows
    starts: list[float] = []
    size = rows[1][0].size
    for words in words_of[1:]:
        starts += [w[0] for k, w in enumerate(words) if k == 0 or w[0] - words[k - 1][1] > 0.6 * size]
    starts.sort()
    cols: list[list[float]] = []
    for x in starts:
        if cols and x - cols[-1][-1] <= 2:
            cols[-1].append(x)
        else:
            cols.append([x])
    cols_x = [min(c) for c in cols if len(c) >= 2]
    if len(cols_x) < 2:
        return None

    def cells(words) -> list[str]:
        out = [[] for _ in cols_x]
        for w in words:
            k = max(0, sum(w[0] >= x - 2 for x in cols_x) - 1)
            out[k].append(w[2])
        return [" ".join(c) for c in out]

    table = [cells(w) for w in words_of]
    data = table[1:]
    if any(sum(bool(c) for c in r) < 2 for r in data):
        return None
    lengths = sorted(len(c) for r in data for c in r if c)
    if lengths[len(lengths) // 2] > 25:  # prose columns, not cells
        return None
    header = table[0]
    out = []
    for r, cells_ in zip(rows[1:], data):
        text = " · ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells_) if c)
        ln = r[0]
        out.append(Line(ln.page, min(x.x0 for x in r), max(x.x1 for x in r), ln.top, ln.bottom, ln.size,
                         False, False, text, False, row=True))
    return out


def columns(lines: list[Line]) -> bool:
    """True when many lines sit beside another line (columns, tables): then pdfminer's reading order
    is kept; otherwise lines go top to bottom (its box grouping can put a line ahead of its place)."""
    rows: dict[int, list[Line]] = {}
    for ln in lines:
        if not ln.edge:
            rows.setdefault(round(ln.bottom / 3), []).append(ln)
    beside = sum(len(r) for r in rows.values() if len(r) > 1)
    return beside >= 0.3 * max(1, sum(len(r) for r in rows.values()))


def drop_contents(lines: list[Line]) -> list[Line]:
    """A table of contents and a back-of-book index go: they repeat, as navigation, what the text says
    where it belongs.

    * Contents: entries end in leader dots (the page number after them, or apart); on a page of three
      or more such entries, its title, the lone section and page numbers, and the entries whose leader
      is set on a line of its own (a title with no sentence end: "Bee swarm plots") go too.
    * Index: on a page where most lines are "term, 12, 34–36" entries, those entries, the letter
      headings between them and the page's "Index" title go.
    """
    def entry(ln: Line) -> bool:
        m = _LEADER.search(ln.text)
        # an index sets its entries in a typewriter face; a code line may end in dots ("Loading......")
        return bool(m) and (not ln.mono or bool(re.search(r"\d\s*$", m.group())))

    toc_pages = Counter(ln.page for ln in lines if entry(ln))
    toc = {p for p, n in toc_pages.items() if n >= 3}
    body = Counter(ln.page for ln in lines if not ln.edge and ln.text.strip())
    listed = Counter(ln.page for ln in lines if not ln.edge and _INDEX_ENTRY.match(ln.text))
    index = {p for p, n in listed.items() if n >= 8 and n >= 0.5 * body[p]}
    return [ln for ln in lines if not (
        entry(ln)
        or ln.page in toc and (_SECTION_NUMBER.match(ln.text) or _PAGE_NUMBER.match(ln.text.strip())
                               or _ROMAN.match(ln.text) or _CONTENTS.match(ln.text)
                               or (len(ln.text.split()) <= 10 and not ends_sentence(ln.text)))
        or ln.page in index and (_INDEX_ENTRY.match(ln.text) or _INDEX_PAGES.match(ln.text)
                                 or _INDEX_TITLE.match(ln.text)))]


def drop_running(lines: list[Line], pages: int, title: str | None = None) -> list[Line]:
    """Lines repeated at the page edges on most pages (digits aside), or on pages close together (a
    chapter's name at the head of its pages), go; and so do, at the edges of any page (a one-page PDF has
    nothing to repeat): bare page numbers, a lone URL or date-time stamp (what a browser prints in its
    header and footer) and the document's own title."""
    def key(ln: Line) -> str:
        # a header repeats at the head of pages, a footer at their foot: a code line that a page break
        # puts at the foot of one page and again at the head of the next is text
        return ("^" if ln.top_edge else "_") + re.sub(r"\d+", "#", one_line(ln.text).lower())

    seen: dict[str, set[int]] = {}
    headed: dict[str, set[int]] = {}  # pages where the line sits beside the page number, not a sentence
    numbers = {(ln.page, round(ln.bottom)) for ln in lines if ln.edge and _PAGE_NUMBER.match(ln.text.strip())}
    for ln in lines:
        if ln.edge:
            k = key(ln)
            seen.setdefault(k, set()).add(ln.page)
            if not ends_sentence(ln.text) and len(re.findall(r"[^\W\d_]{2,}", ln.text)) >= 2 and (
                    any((ln.page, round(ln.bottom) + d) in numbers for d in (-2, -1, 0, 1, 2))):
                headed.setdefault(k, set()).add(ln.page)
    need = max(2, pages // 2 + (pages % 2))

    def runs(k: str, ps: set[int]) -> bool:
        if len(ps) >= need:
            return True
        # a chapter's name beside the page number at the head of its pages (every other page when the
        # book's title takes the even ones)
        near = sorted(headed.get(k, ()))
        return any(b - a <= 2 for a, b in zip(near, near[1:]))

    running = {k for k, ps in seen.items() if runs(k, ps)} if pages >= 2 else set()
    named = one_line(title).lower() if title else None

    def stamp(ln: Line) -> bool:
        t = ln.text.strip()
        return bool(_PAGE_NUMBER.match(t) or _URL.match(t) or _STAMP.match(t)) or one_line(t).lower() == named

    return [ln for ln in lines if not (ln.edge and (key(ln) in running or stamp(ln)))]
