"""PDF → units with pdfminer.six: lines rebuilt into paragraphs, headings from font size and weight.

- paragraphs: hard-wrapped lines joined (line-end hyphenation undone), a paragraph ends at a larger
  vertical gap, a change of indent or of font class, or a short line ending a sentence; one cut by a
  page break is joined back and keeps the page it started on;
- running headers and footers: lines at the top or bottom of the page that repeat (digits aside) on
  most pages, and bare page numbers there, are dropped;
- headings: lines in a larger font than the body (levels by size), or bold short body-size lines;
  a short line followed by more indented text is a definition term (``--all`` then its description);
- monospaced lines are code, kept with their line breaks;
- columns come in the order pdfminer's layout analysis gives.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from io import BytesIO

from retrieval.ingest.clean import Unit, normalize
from retrieval.ingest.formats import Extracted, Unreadable, one_line
from retrieval.ingest.formats.pdf_page import (EDGE, GLYPHS, Line, columns, drop_contents, drop_running, ends_sentence,
                                                 is_glyph, tables)

# a glyph the font maps to no character, as pdfminer writes it: a bullet when it opens a line (TeX's
# \bullet in a Type 1 font), else nothing a reader could use ("(cid:112)6/N" of a square root)
_UNMAPPED = re.compile(r"\(cid:\d+\)")
_UNMAPPED_LEAD = re.compile(r"^(\s*)\(cid:\d+\)(?=\s)")


# a line that stops on a word no title ends with: the first half of a sentence ("… using either")
_DANGLING = re.compile(r"\b(?:or|and|the|a|an|of|to|in|with|for|by|is|are|was|were|that|which|either|using|like|as)$",
                       re.IGNORECASE)


def _sentence_shaped(text: str) -> bool:
    """Whether a line in a heading's font reads as a sentence, not a title: six words or more closed
    by a period ("The boxxyerror plot style is only relevant to 2D data plotting."), or three or more
    stopping on a word no title ends with ("linecolor <colorspec> or", "The time/date formats are")."""
    t = text.strip()
    words = t.split()
    if len(words) >= 6 and t.endswith(".") and not t.endswith(".."):
        return True
    return len(words) >= 3 and bool(_DANGLING.search(t))


def _mapped(text: str) -> str:
    """``text`` without pdfminer's ``(cid:N)`` placeholders (one opening the line becomes a bullet)."""
    if "(cid:" not in text:
        return text
    text = _UNMAPPED_LEAD.sub(r"\1•", text)
    return re.sub(r"[ \t]{2,}", " ", _UNMAPPED.sub("", text))


_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
# monospaced font names: "…Mono…", Courier, Consolas, Source Code; TeX's typewriter faces (CMTT10,
# SFTT1000, TCTT), Nimbus Mono L, Menlo, Monaco
_MONO = ("mono", "courier", "consol", "code", "cmtt", "sftt", "tctt", "nimbusmon", "menlo", "monaco")
_TERM_LEVEL = 6


@dataclass
class _Block:
    lines: list[Line] = field(default_factory=list)
    kind: str = "para"  # para, code, heading
    level: int = 0

    @property
    def first(self) -> Line:
        return self.lines[0]


def read_pdf(data: bytes) -> Extracted:
    """The units and metadata of one PDF.

    Raises:
        Unreadable: encrypted with a password, broken, or without a text layer.
    """
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    try:
        doc = PDFDocument(PDFParser(BytesIO(data)))
    except PDFPasswordIncorrect:
        raise Unreadable("encrypted PDF (needs a password)") from None
    except Exception as e:  # pdfminer raises many kinds on damaged files
        raise Unreadable(f"broken PDF ({type(e).__name__}: {one_line(str(e))[:80] or 'unreadable'})") from None
    if not doc.is_extractable:
        raise Unreadable("PDF forbids text extraction")
    rsrc = PDFResourceManager()
    device = PDFPageAggregator(rsrc, laparams=LAParams())
    interp = PDFPageInterpreter(rsrc, device)
    lines: list[Line] = []
    pages = 0
    try:
        for pages, page in enumerate(PDFPage.create_pages(doc), 1):
            interp.process_page(page)
            lines += _page_lines(device.get_result(), pages)
    except Exception as e:
        if not lines:
            raise Unreadable(f"broken PDF ({type(e).__name__}: {one_line(str(e))[:80] or 'unreadable'})") from None
    if not any(ln.text.strip() for ln in lines):
        raise Unreadable("no text layer (image-only PDF: it would need OCR)")
    info = doc.info[0] if doc.info else {}
    title = _info(info, "Title")
    out = Extracted(units=_units(drop_running(drop_contents(lines), pages, title)))
    out.title, out.author = title, _info(info, "Author")
    return out


def _info(info: dict, key: str) -> str | None:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    value = resolve1(info.get(key))
    if isinstance(value, bytes):
        value = decode_text(value)
    if not isinstance(value, str):
        return None
    value = one_line(normalize(value))
    return value if value and value.lower() not in ("untitled", "unknown") else None


def _page_lines(layout, page: int) -> list[Line]:
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    height = layout.height or 1
    out = []

    def visit(el) -> None:
        if isinstance(el, LTTextLine):
            chars = [c for c in el if isinstance(c, LTChar)]
            text = _mapped(normalize(el.get_text()).translate(_LIGATURES)).rstrip()
            if not chars or not text.strip():
                return
            fonts = Counter(c.fontname for c in chars)
            font = fonts.most_common(1)[0][0].lower()
            size = statistics.median(round(c.size, 1) for c in chars)
            top = el.y1 > height * (1 - EDGE)
            edge = top or el.y0 < height * EDGE
            out.append(Line(page, el.x0, el.x1, height - el.y1, height - el.y0, size,
                             any(w in font for w in ("bold", "black", "heavy", "semibold")),
                             any(w in font for w in _MONO), text, edge,
                             _words(el, size), top_edge=top))
        elif isinstance(el, LTTextContainer) or hasattr(el, "__iter__"):
            for child in el:
                visit(child)

    for el in layout:
        visit(el)
    out = _bullets_joined(out)
    return out if columns(out) else sorted(out, key=lambda ln: (round(ln.bottom), ln.x0))


def _bullets_joined(lines: list[Line]) -> list[Line]:
    """A bullet glyph that came out as a line of its own is put before the item text beside it."""
    glyphs = [ln for ln in lines if is_glyph(ln.text.strip())]
    gone = {id(g) for g in glyphs}
    out = [ln for ln in lines if id(ln) not in gone]
    for b in glyphs:
        beside = [ln for ln in out if abs(ln.bottom - b.bottom) <= 0.5 * b.size and 0 <= ln.x0 - b.x1 <= 3 * b.size]
        if not beside:
            continue  # a lone glyph with nothing beside it says nothing
        item = min(beside, key=lambda ln: ln.x0)
        item.text, item.x0, item.words = f"{b.text.strip()} {item.text}", b.x0, b.words + item.words
    return out


def _words(el, size: float) -> list[tuple[float, float, str]]:
    """``(x0, x1, text)`` of each word of a text line: a space, or a gap wider than a space, ends one."""
    from pdfminer.layout import LTChar

    words: list[list] = []
    prev = None
    for c in el:
        t = c.get_text()
        if not isinstance(c, LTChar):
            prev = None if t.isspace() else prev
            continue
        if t.isspace():
            prev = None
            continue
        if prev is None or c.x0 - prev.x1 > 0.2 * size:
            words.append([c.x0, c.x1, ""])
        words[-1][1] = c.x1
        words[-1][2] += t.translate(_LIGATURES)
        prev = c
    return [(a, b, normalize(_mapped(t))) for a, b, t in words]


# -- tables: rows of short cells whose starts line up; each row becomes "Header: cell · Header: cell"

def _units(lines: list[Line]) -> list[Unit]:
    if not lines:
        return []
    sizes = Counter()
    for ln in lines:
        sizes[ln.size] += len(ln.text)
    body = sizes.most_common(1)[0][0]
    bigger = sorted({ln.size for ln in lines if ln.size > body * 1.15}, reverse=True)
    level_of = {s: i + 1 for i, s in enumerate(bigger)}
    steps = [b.bottom - a.bottom for a, b in zip(lines, lines[1:]) if a.page == b.page and
             a.size == b.size == body and 0 < b.bottom - a.bottom < 2.5 * body]
    step = statistics.median(steps) if steps else body * 1.2
    widest = max(ln.x1 for ln in lines)
    lines = tables(lines, body)
    blocks: list[_Block] = []
    for ln in lines:
        if ln.row:
            blocks.append(_Block([ln], "row"))
            continue
        kind, level = "para", 0
        if ln.size in level_of:
            kind, level = "heading", level_of[ln.size]
        elif ln.bold and len(ln.text) < 100 and not ln.text.rstrip().endswith((".", ",", ";")):
            kind, level = "heading", len(bigger) + 1
        elif ln.mono and not _GLYPH.match(ln.text):  # a list item set in a typewriter face is text
            kind = "code"
        cur = blocks[-1] if blocks else None
        if (kind == "code" and cur is not None and cur.kind == "para" and abs(ln.x0 - cur.lines[-1].x0) < 2
                and _continues(cur, ln, step, widest)):
            kind = "para"  # a monospaced word wrapped into a paragraph is no code block
        if cur is not None and cur.kind == kind and cur.level == level and _continues(cur, ln, step, widest):
            cur.lines.append(ln)
        else:
            blocks.append(_Block([ln], kind, level))
    vocab = Counter(w.lower() for ln in lines for w in re.findall(r"[\w-]+", ln.text))
    return _to_units(blocks, vocab, widest)


def _continues(block: _Block, ln: Line, step: float, widest: float) -> bool:
    prev, first = block.lines[-1], block.first
    if ln.page != prev.page:  # a paragraph or code block cut by the page break goes on at the same indent
        if block.kind == "code":
            return abs(ln.x0 - prev.x0) < 2
        return (block.kind == "para" and abs(ln.x0 - prev.x0) < 2 and not ends_sentence(prev.text)
                and ln.text.lstrip()[:1].islower())
    gap = ln.bottom - prev.bottom
    if gap <= 0 or gap > step * (1.35 if block.kind != "heading" else 1.8):
        return False
    if abs(ln.size - prev.size) > 1:  # a footnote or caption in another size is not the same paragraph
        return False
    if block.kind == "code" or block.kind == "heading":
        return True
    if _GLYPH.match(ln.text) or _NUMBERED.match(ln.text) and _NUMBERED.match(first.text):
        return False  # the next item of a list
    if abs(ln.x0 - prev.x0) > 2:
        if len(block.lines) != 1:
            return False
        # a first-line indent: the paragraph's second line starts left of its first; a list item's
        # hanging indent: its second line starts under the text after its marker ("1. ", "• ")
        return 0 < first.x0 - ln.x0 <= 3 * ln.size or (
            bool(_BULLET.match(first.text) or _NUMBERED.match(first.text)) and 0 < ln.x0 - first.x0 <= 3 * ln.size)
    # a short line that ends a sentence ends its paragraph
    return not (ends_sentence(prev.text) and prev.x1 < first.x0 + 0.6 * (widest - first.x0))


_BULLET = re.compile(rf"^\s*[{GLYPHS}·–—*-]\s+")
_GLYPH = re.compile(rf"^\s*[{GLYPHS}]\s")
_NUMBERED = re.compile(r"^\s*(?:\d{1,3}|[a-z])[.)]\s+\S")


def _to_units(blocks: list[_Block], vocab: Counter, widest: float) -> list[Unit]:
    units: list[Unit] = []
    terms: list[float] = []  # indents of the open definition terms
    lists = 0  # list ids for "item" units
    intro: float | None = None  # indent of a paragraph ending in ":", whose list may follow
    group: int | None = None  # the open list
    i = 0
    while i < len(blocks):
        b = blocks[i]
        x0 = b.first.x0
        if b.kind != "para":
            intro = group = None
        if b.kind == "row":
            units.append(Unit(b.first.text, "row", page=b.first.page))
            i += 1
            continue
        while terms and x0 <= terms[-1] + 2 and b.kind != "heading":
            units.append(Unit("", "end", level=_TERM_LEVEL + len(terms)))
            terms.pop()
        i += 1
        if b.kind == "heading" and (len(b.lines) > 3 or sum(len(ln.text) for ln in b.lines) > 200
                                    or _sentence_shaped(" ".join(ln.text for ln in b.lines))):
            b.kind = "para"  # a whole paragraph in a larger font (an abstract, a lead), or a sentence, is text
        if b.kind == "heading":
            if terms:
                units.append(Unit("", "end", level=_TERM_LEVEL + 1))
                terms = []
            units.append(Unit(one_line(" ".join(ln.text for ln in b.lines)), "heading", level=b.level, page=b.first.page))
            continue
        if b.kind == "code":
            units.append(Unit("\n".join(ln.text for ln in b.lines), "code", page=b.first.page))
            continue
        text = _join(b.lines, vocab)
        # a definition term: short lines at one indent ("-a", "--all"), then more indented text
        names, j, found = [text], i, False
        while j < len(blocks) and _termlike(blocks[j - 1], names[-1]):
            nxt = blocks[j]
            if nxt.kind == "para" and nxt.first.x0 > x0 + 1.5 * b.first.size:
                found = True
                break
            if nxt.kind != "para" or abs(nxt.first.x0 - x0) > 2 or names[-1].rstrip().endswith("."):
                break  # a sentence ("+ See also … below.") heads no list of term names
            names.append(_join(nxt.lines, vocab))
            j += 1
        if found:
            terms.append(x0)
            units.append(Unit(", ".join(names), "term", level=_TERM_LEVEL + len(terms), page=b.first.page))
            intro = group = None
            i = j
            continue
        # list items: a marker of their own, or short lines indented under a sentence ending in ":"
        # (bullets drawn as shapes leave no character in the text layer)
        marked = _BULLET.match(text) or _NUMBERED.match(text)
        under = intro is not None and x0 > intro + 0.5 * b.first.size and len(b.lines) <= 4
        if marked or under:
            if group is None:
                lists += 1
                group = lists
            # short items close together read as one block: a line that stops well short of the
            # text's right edge ends its item
            short = [ln.x1 < x0 + 0.6 * (widest - x0) for ln in b.lines[:-1]]
            texts = [ln.text.strip() for ln in b.lines] if not marked and short and all(short) else [text]
            for t in texts:
                item = t if _NUMBERED.match(t) else "- " + _BULLET.sub("", t)
                units.append(Unit(item, "item", page=b.first.page, group=group))
            continue
        units.append(Unit(text, "para", page=b.first.page))
        group = None
        intro = x0 if text.rstrip().endswith(":") else None
    return units


def _termlike(b: _Block, text: str) -> bool:
    """Short, and not ending a sentence (a question, or one short statement, may be a term: FAQ entries)."""
    if b.kind != "para" or len(b.lines) > 4 or len(text) > 300:
        return False
    if len(text.split()) >= 3 and _DANGLING.search(text.strip()):
        return False  # "The time/date formats are": a sentence going on in the indented lines below
    if text.rstrip().endswith("."):  # "I'm on Windows and git shows ^M." heads its FAQ answer
        return len(b.lines) == 1 and len(text.split()) <= 20
    return not text.rstrip().endswith((":", "!", ";", ","))


def _join(lines: list[Line], vocab: Counter) -> str:
    """Hard-wrapped lines to one paragraph.

    ``exam-`` + ``ple`` becomes ``example`` (a letters-only word, the next line going on in lower
    case), unless the document writes the hyphenated form elsewhere and never the joined one;
    ``<diff-`` + ``option>`` keeps its hyphen, and a line ending in another dash (``push -`` +
    ``p``, ``[-q|--`` + ``quiet]``) is joined without a space.
    """
    text = lines[0].text.strip()
    for ln in lines[1:]:
        nxt = ln.text.strip()
        m = re.search(r"(\w+)-$", text)
        if m and nxt[:1].isalpha():
            head, tail = m.group(1), re.match(r"[\w-]*", nxt).group(0)
            word = m.start() == 0 or text[m.start() - 1].isspace()
            keep = (not word or not head.isalpha() or not nxt[:1].islower()
                    or (vocab[f"{head}-{tail}".lower()] and not vocab[f"{head}{tail}".lower()]))
            text = (text if keep else text[:-1]) + nxt
        elif text.endswith("-") and nxt[:1].isalnum():
            text += nxt
        else:
            text += " " + nxt
    return text
