"""HTML → units with selectolax: headings with levels, ``<dl>`` terms, tables with header cells,
``<pre>`` whole, lists as items; metadata from ``<head>``."""

from __future__ import annotations

import re
from dataclasses import replace

from retrieval.ingest.clean import Unit, normalize
from retrieval.ingest.dates import find_date
from retrieval.ingest.formats import Extracted, one_line, table_rows

_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg",
              "button", "template", "select", "figure")
_INLINE = {"-text", "a", "abbr", "b", "bdi", "bdo", "big", "br", "cite", "code", "data", "del", "dfn", "em",
           "font", "i", "img", "ins", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small", "span",
           "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "-comment"}
# an <aside> is page furniture (a sidebar) unless it is one of these callouts (docutils writes its
# notes and warnings as <aside class="admonition note">)
_CALLOUTS = {"admonition", "note", "warning", "tip", "caution", "important", "hint", "danger", "attention",
             "error", "seealso", "callout", "alert", "notice"}
# page furniture marked by its ARIA landmark role or named footer (asciidoc, Sphinx and Doxygen write
# a <div> footer: "Last updated …", "© Copyright …"), and the link to an API item's code that rustdoc
# and Sphinx's viewcode put beside it
_FURNITURE = ('[role="navigation"]', '[role="banner"]', '[role="contentinfo"]', '[role="search"]',
              "#footer", ".footer", "a.src", "a.srclink", ".viewcode-link", ".viewcode-back")
# tables of contents, dropped when they hold only links (Sphinx's one-page build nests the whole text
# in a toctree-wrapper)
_CONTENTS = ("div.contents.topic", "div.toctree-wrapper")
# the title line of a callout ("Note", "Warning"): it leads the callout's first paragraph
_CALLOUT_TITLE = ("admonition-title", "alert-title", "admonition-heading", "admonitionheading")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_TERM_LEVEL = 6  # definition terms nest below every heading: h6 is 6, the outermost <dl> 7


def read_html(html: str) -> Extracted:
    """The units and metadata of one HTML page."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)

    def meta(*names: str) -> str | None:
        for n in names:
            node = tree.css_first(f'meta[property="{n}"]') or tree.css_first(f'meta[name="{n}"]')
            if node is not None and (node.attributes.get("content") or "").strip():
                return normalize(node.attributes["content"]).strip()
        return None

    out = Extracted(title=meta("og:title", "twitter:title"), author=meta("author", "article:author", "dc.creator"),
                    outlet=meta("og:site_name", "application-name"), url=meta("og:url"))
    if out.title is None:
        node = tree.css_first("title") or tree.css_first("h1")
        out.title = normalize(node.text(strip=True)) if node is not None and node.text(strip=True) else None
        if out.title and out.outlet is None and node.tag == "title":
            # Sphinx titles every page "Tasks — Celery 5.2.6 documentation": the page, then the site
            page, sep, site = out.title.rpartition(" \u2014 ")
            if sep and page.strip() and re.search(r"\bdocumentation$", site, re.IGNORECASE):
                out.title, out.outlet = page.strip(), site.strip()
    raw = meta("article:published_time", "date", "pubdate", "dc.date", "DC.date.issued")
    out.date = find_date(raw) if raw else None
    if out.date is None:
        t = tree.css_first("time[datetime]")
        out.date = find_date(t.attributes.get("datetime") or "") if t is not None else None
    canon = tree.css_first('link[rel="canonical"]')
    if out.url is None and canon is not None:
        out.url = canon.attributes.get("href")
    out.units = body_units(tree)
    return out


def body_units(tree) -> list[Unit]:
    """The units of a parsed page's main text (page furniture dropped)."""
    _notes_in_place(tree)
    for tag in _DROP_TAGS:
        for node in tree.css(tag):
            if tag == "aside" and _CALLOUTS & set(_classes(node)):
                continue
            node.decompose()
    for node in tree.css(", ".join(_FURNITURE)):
        node.decompose()
    for node in tree.css(", ".join(_CONTENTS)):
        if _links_only(node):
            node.decompose()
    for a in tree.css('a[href^="#"]'):  # a heading's permalink ("Menus¶", "§", "#") is no text
        t = a.text(deep=True, separator="").strip()
        if len(t) <= 2 and not any(c.isalnum() for c in t):
            a.decompose()
    for br in tree.css("br"):  # a line break separates words (and keeps its line in <pre>)
        br.replace_with("\n")
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    units: list[Unit] = []
    if root is not None:
        _Walker(units).block(root)
        if not units:  # no block markup: fall back to the text's own lines
            from retrieval.ingest.clean import text_units

            units = text_units(normalize(root.text(separator="\n")))
    return _led(units)


def _notes_in_place(tree) -> None:
    """Each footnote moved to just after the paragraph that refers to it (its first reference), as a
    ``note`` unit that joins that paragraph: the note annotates it, and a fix in a note surfaces with it.

    References are links marked as such by docutils/Sphinx (``footnote-reference``), pandoc and
    markdown-it (``footnote-ref``) or ARIA (``doc-noteref``); the note is the element they point to.
    """
    from html import escape

    from selectolax.lexbor import LexborHTMLParser

    moved = set()
    for a in tree.css('a[href^="#"]'):
        marks = " ".join(_classes(a) + _classes(a.parent) if a.parent is not None else _classes(a))
        if "footnote-ref" not in marks and "footnote-reference" not in marks \
                and a.attributes.get("role") != "doc-noteref":
            continue
        ident = (a.attributes.get("href") or "#")[1:]
        note = tree.css_first(f'[id="{ident}"]') if ident and '"' not in ident and "\\" not in ident else None
        if note is None or ident in moved:
            continue
        for back in note.css('a[role="doc-backlink"], a.footnote-back, a.footnote-backref, a.fn-backref, .label'):
            back.decompose()
        label = one_line(a.text(deep=True, separator="")).strip("[]() ")
        text = one_line(normalize(note.text(deep=True, separator=" ")))
        text = f"[{label}] {text}" if label and text else text
        if note.tag == "dt" and note.next is not None:  # older docutils: <dt>[1]</dt><dd>text</dd>
            dd = note.next
            text = one_line(text + " " + normalize(dd.text(deep=True, separator=" ")))
            dd.decompose()
        block = a.parent
        while block is not None and block.tag in _INLINE:
            block = block.parent
        if block is None or not text:
            continue
        node = LexborHTMLParser(f'<p data-citebot-note="">{escape(text)}</p>').css_first("p")
        if block.tag in ("li", "dd", "td", "th", "dt"):
            block.insert_child(" " + text)  # inside an item the note ends the item
        else:
            block.insert_after(node)
        moved.add(ident)
        note.decompose()
    for box in tree.css("section.footnotes, div.footnotes, aside.footnote-list, ol.footnotes-list"):
        if not box.text(deep=True).strip():
            box.decompose()


def _links_only(node) -> bool:
    """Whether all the words of ``node`` are link texts (a table of contents, not text)."""
    words = len(node.text(deep=True, separator=" ").split())
    linked = sum(len(a.text(deep=True, separator=" ").split()) for a in node.css("a"))
    return words - linked <= max(3, words // 10)


def _classes(node) -> list[str]:
    return (node.attributes.get("class") or "").lower().split()


def _led(units: list[Unit]) -> list[Unit]:
    """Each callout title put before the paragraph it leads ("Note: Frobbing twice is idempotent."),
    so no passage is the bare word "Note"; before anything else it stays a line of its own."""
    out: list[Unit] = []
    for u in units:
        if out and out[-1].kind == "lead":
            lead = out.pop().text.rstrip(":").strip()
            if u.kind == "para":
                u = replace(u, text=f"{lead}: {u.text}")
            else:
                out.append(Unit(f"{lead}:", "para"))
        out.append(u)
    if out and out[-1].kind == "lead":
        out[-1] = replace(out[-1], kind="para")
    return out


def anchor(node) -> str | None:
    """The id a link to this heading uses: its own, a named anchor inside it (``<a id>``/``<a name>``),
    or its section's when it opens one (Sphinx's ``<section id><h2>``)."""
    ids = [node.attributes.get("id")]
    ids += [a.attributes.get("id") or a.attributes.get("name") for a in node.css("a[id], a[name]")]
    parent = node.parent
    if parent is not None and parent.tag in ("section", "div", "article") and parent.child is not None:
        first = next((c for c in parent.iter() if c.tag not in ("-text", "-comment")), None)
        if first is not None and first.mem_id == node.mem_id:
            ids.append(parent.attributes.get("id"))
    return next((i.strip() for i in ids if i and i.strip() and len(i) <= 200 and not any(c.isspace() for c in i.strip())), None)


def _text(node) -> str:
    return normalize(node.text(deep=True, separator=""))


class _Walker:
    """Depth-first walk that turns block elements into units and runs of inline content into paragraphs."""

    def __init__(self, units: list[Unit]):
        self.units = units
        self.dl_depth = 0
        self.lists = 0

    def _is_inline(self, node) -> bool:
        if node.tag not in _INLINE:
            return False
        return node.tag == "-text" or not any(n.tag not in _INLINE for n in node.traverse() if n is not node)

    def block(self, node) -> None:
        buf: list[str] = []

        def flush() -> None:
            text = one_line(normalize("".join(buf)))
            buf.clear()
            if text:
                self.units.append(Unit(text, "para"))

        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "br":
                buf.append(" ")
            elif self._is_inline(child):
                buf.append(child.text(deep=True, separator="") if tag != "-comment" else "")
            else:
                flush()
                self.element(child)
        flush()

    def element(self, node) -> None:
        tag = node.tag
        if tag in _HEADINGS:
            text = one_line(_text(node))
            if text:
                self.units.append(Unit(text, "heading", level=_HEADINGS[tag], anchor=anchor(node)))
        elif tag in ("p", "div") and any(c.endswith(_CALLOUT_TITLE) for c in _classes(node)):
            text = one_line(_text(node))
            if text:
                self.units.append(Unit(text, "lead"))
        elif tag == "p":
            text = one_line(_text(node))
            if text:
                self.units.append(Unit(text, "note" if "data-citebot-note" in node.attributes else "para"))
        elif tag == "pre":
            self.units.append(Unit(_text(node), "code"))
        elif tag in ("ul", "ol"):
            self.lists += 1
            self.items(node, self.lists, 0)
        elif tag == "dl":
            self.definitions(node)
        elif tag == "table":
            self.table(node)
        elif tag in ("hr", "img", "input"):
            return
        else:  # div, section, blockquote, li outside a list, …
            self.block(node)

    def items(self, lst, group: int, depth: int) -> None:
        n = 0
        for li in lst.iter():
            if li.tag != "li":
                continue
            n += 1
            marker = f"{n}." if lst.tag == "ol" else "-"
            own, nested = [], []
            for c in li.iter(include_text=True):
                (nested if c.tag in ("ul", "ol") else own).append(c)
            text = one_line(normalize("".join(c.text(deep=True, separator="") if self._is_inline(c)
                                              else " " + c.text(deep=True, separator="") + " " for c in own)))
            if text:
                self.units.append(Unit("  " * depth + f"{marker} {text}", "item", group=group))
            for sub in nested:
                self.items(sub, group, depth + 1)

    def definitions(self, dl) -> None:
        self.dl_depth += 1
        level = _TERM_LEVEL + self.dl_depth
        terms: list[str] = []
        ids: list[str | None] = []
        children = []
        for c in dl.iter():  # <div> may group a <dt>/<dd> pair
            children += list(c.iter()) if c.tag == "div" else [c]
        for c in children:
            if c.tag == "dt":
                text = one_line(_text(c))
                if text:
                    terms.append(text)
                    ids.append(anchor(c))
            elif c.tag == "dd":
                if terms:
                    self.units.append(Unit(", ".join(terms), "term", level=level, anchor=next(filter(None, ids), None)))
                    terms, ids = [], []
                self.block(c)
        self.units.append(Unit("", "end", level=level))
        self.dl_depth -= 1

    def table(self, table) -> None:
        caption = table.css_first("caption")
        if caption is not None and one_line(_text(caption)):
            self.units.append(Unit(one_line(_text(caption)), "para"))
        rows = [tr for tr in table.css("tr")]
        grid = [[_text(c) for c in tr.iter() if c.tag in ("td", "th")] for tr in rows]
        header = None
        if rows:
            first = [c.tag for c in rows[0].iter() if c.tag in ("td", "th")]
            in_head = rows[0].parent is not None and rows[0].parent.tag == "thead"
            if first and (in_head or all(t == "th" for t in first)):
                header = [one_line(h) for h in grid[0]]
                grid = grid[1:]
        for row in table_rows(grid, header):
            self.units.append(Unit(row, "row"))
