"""Word processor files → units: DOCX with python-docx, ODT with odfpy.

Headings from the heading styles / outline levels, list paragraphs as items (kept with the sentence
that introduces them by :func:`retrieval.ingest.clean.clean_units`), tables as header-labelled rows, title
and author from the document properties.
"""

from __future__ import annotations

import re
from io import BytesIO

from retrieval.ingest.clean import Unit, normalize
from retrieval.ingest.formats import Extracted, Unreadable, one_line, table_rows

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^list\b.*?(\d)?$", re.IGNORECASE)
_CODE_STYLE = re.compile(r"code|preformatted|source|macro text", re.IGNORECASE)
# a definition list as LibreOffice writes one (its styles for HTML's <dt> and <dd>, kept in .docx)
_TERM_STYLE = re.compile(r"^(?:list heading|definition term)\b", re.IGNORECASE)
_DEFINITION_STYLE = re.compile(r"^(?:list contents|definition)\b", re.IGNORECASE)
_TERM_LEVEL = 7  # as the HTML walker's outermost <dl>: below every heading


class _Styled:
    """Units of paragraphs known by their paragraph style (Word's, or LibreOffice's in .odt and .docx):
    title and heading styles as headings, a definition list's term and definition styles as a term with
    its definition, a code style's consecutive paragraphs (a code line each) as one code block."""

    def __init__(self, out: Extracted):
        self.out = out
        self.in_dl = False

    def end_definitions(self) -> None:
        if self.in_dl:
            self.out.units.append(Unit("", "end", level=_TERM_LEVEL))
            self.in_dl = False

    def add(self, style: str, text: str) -> None:
        """One paragraph: ``style`` its style's name ("Heading 2", "Preformatted Text"), ``text`` as read."""
        units = self.out.units
        if not (_TERM_STYLE.match(style) or _DEFINITION_STYLE.match(style)):
            self.end_definitions()
        heading = _HEADING_STYLE.match(style)
        if style.lower() == "title":
            self.out.title = self.out.title or one_line(text)
            units.append(Unit(one_line(text), "heading", level=1))
        elif heading:
            units.append(Unit(one_line(text), "heading", level=int(heading.group(1)) + 1))
        elif _TERM_STYLE.match(style):
            self.in_dl = True
            if units and units[-1].kind == "term":  # "-u" then "--include-untracked": one term
                units[-1].text += ", " + one_line(text)
            else:
                units.append(Unit(one_line(text), "term", level=_TERM_LEVEL))
        elif _CODE_STYLE.search(style):
            if units and units[-1].kind == "code":
                units[-1].text += "\n" + text  # a code line per paragraph: one block
            else:
                units.append(Unit(text, "code"))
        else:
            units.append(Unit(one_line(text), "para"))


def read_docx(data: bytes) -> Extracted:
    """The units and properties of one .docx file.

    Raises:
        Unreadable: not a Word document (or a damaged one).
    """
    import zipfile

    from docx import Document as open_docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        doc = open_docx(BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise Unreadable(f"not a readable Word document ({type(e).__name__})") from None
    cp = doc.core_properties
    out = Extracted(title=one_line(cp.title or "") or None, author=one_line(cp.author or "") or None)
    styled = _Styled(out)
    group, numbers, in_list = 0, {}, False
    for block in doc.iter_inner_content():
        if isinstance(block, Table):
            in_list = False
            styled.end_definitions()
            out.units += _docx_table(block)
            continue
        style = (block.style.name if block.style is not None else "") or ""
        text = normalize(block.text)
        if not text.strip():
            continue
        num = block._p.pPr.numPr if block._p.pPr is not None else None
        # a numbered paragraph or a list style is an item, unless its style names a heading, a title or a
        # term; a definition (LibreOffice's "List Contents") only when it is numbered
        listed = num is not None or (_LIST_STYLE.match(style) and not _DEFINITION_STYLE.match(style))
        if listed and not (_HEADING_STYLE.match(style) or _TERM_STYLE.match(style) or style.lower() == "title"):
            styled.end_definitions()
            depth = _list_depth(num, style)
            if not in_list:
                group, numbers, in_list = group + 1, {}, True
            if "number" in style.lower():
                numbers[depth] = numbers.get(depth, 0) + 1
                marker = f"{numbers[depth]}."
            else:
                marker = "-"
            out.units.append(Unit("  " * depth + f"{marker} {one_line(text)}", "item", group=group))
        else:
            in_list = False
            styled.add(style, text)
    return out


def _list_depth(num, style: str) -> int:
    if num is not None and num.ilvl is not None and num.ilvl.val is not None:
        return int(num.ilvl.val)
    m = _LIST_STYLE.match(style)
    return int(m.group(1)) - 1 if m and m.group(1) else 0


def _docx_table(table) -> list[Unit]:
    grid = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:  # a merged cell is listed once per grid column it spans
            if id(cell._tc) in seen:
                continue
            seen.add(id(cell._tc))
            cells.append(normalize(cell.text))
        grid.append(cells)
    header = None
    if len(grid) >= 2 and all(c.strip() and len(c) < 60 for c in grid[0]):
        header, grid = [one_line(c) for c in grid[0]], grid[1:]
    return [Unit(r, "row") for r in table_rows(grid, header)]


def read_odt(data: bytes) -> Extracted:
    """The units and metadata of one OpenDocument text (.odt) file.

    Raises:
        Unreadable: not an OpenDocument file (or a damaged one).
    """
    import zipfile

    from odf import teletype
    from odf.opendocument import load
    from odf.namespaces import DCNS, METANS, STYLENS, TABLENS, TEXTNS

    try:
        doc = load(BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError, Exception) as e:  # odfpy raises plain errors
        raise Unreadable(f"not a readable OpenDocument file ({type(e).__name__})") from None

    def meta(ns: str, name: str) -> str | None:
        for el in doc.meta.childNodes:
            if el.qname == (ns, name):
                return one_line(teletype.extractText(el)) or None
        return None

    out = Extracted(title=meta(DCNS, "title"), author=meta(DCNS, "creator") or meta(METANS, "initial-creator"))
    counter = [0]
    styled = _Styled(out)
    # a paragraph names an automatic style ("P3") whose parent is the named one ("Preformatted_20_Text")
    automatic = {st.getAttrNS(STYLENS, "name"): st.getAttrNS(STYLENS, "parent-style-name") or ""
                 for st in doc.automaticstyles.childNodes if getattr(st, "qname", None) == (STYLENS, "style")}

    def style_of(el) -> str:
        name = el.getAttrNS(TEXTNS, "style-name") or ""
        name = automatic.get(name, name) or name
        return re.sub(r"_([0-9a-f]{2})_", lambda m: chr(int(m.group(1), 16)), name)  # "_20_" is a space

    def walk(node, list_group: int | None = None, depth: int = 0) -> None:
        for el in node.childNodes:
            q = getattr(el, "qname", None)
            if q == (TEXTNS, "h"):
                styled.end_definitions()
                level = int(el.getAttrNS(TEXTNS, "outline-level") or 1)
                out.units.append(Unit(one_line(teletype.extractText(el)), "heading", level=level + 1))
            elif q == (TEXTNS, "p"):
                text = normalize(teletype.extractText(el))
                if not text.strip():
                    continue
                if list_group is not None:
                    styled.end_definitions()
                    out.units.append(Unit("  " * depth + f"- {one_line(text)}", "item", group=list_group))
                else:
                    styled.add(style_of(el), text)
            elif q == (TEXTNS, "list"):
                if list_group is None:
                    counter[0] += 1
                walk(el, counter[0] if list_group is None else list_group, depth if list_group is None else depth + 1)
            elif q == (TABLENS, "table"):
                styled.end_definitions()
                rows = [[teletype.extractText(c) for c in r.childNodes if getattr(c, "qname", None) ==
                         (TABLENS, "table-cell")] for r in _odt_rows(el, TABLENS)]
                header = None
                if len(rows) >= 2 and all(c.strip() and len(c) < 60 for c in rows[0]):
                    header, rows = [one_line(c) for c in rows[0]], rows[1:]
                out.units += [Unit(r, "row") for r in table_rows(rows, header)]
            elif hasattr(el, "childNodes"):
                walk(el, list_group, depth)

    walk(doc.text)
    return out


def _odt_rows(table, ns: str) -> list:
    rows = []
    for el in table.childNodes:
        q = getattr(el, "qname", None)
        if q == (ns, "table-row"):
            rows.append(el)
        elif q in ((ns, "table-header-rows"), (ns, "table-rows")):
            rows += _odt_rows(el, ns)
    return rows
