"""reStructuredText → units: docutils renders HTML, which the HTML walker reads (same rules as
HTML and Markdown); the docinfo fields give author and date."""

from __future__ import annotations

from ..clean import find_date
from . import Extracted, one_line


def read_rst(text: str) -> Extracted:
    """The units and docinfo of one .rst file (directives that read files or run raw HTML are off)."""
    from docutils.core import publish_parts
    from selectolax.lexbor import LexborHTMLParser

    from .html import body_units

    parts = publish_parts(text, writer="html5", settings_overrides={
        "report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False,
        "input_encoding": "unicode", "syntax_highlight": "none", "doctitle_xform": True,
    })
    out = Extracted(units=body_units(LexborHTMLParser(f"<html><body>{parts['body']}</body></html>")))
    out.title = one_line(LexborHTMLParser(parts["title"] or "<p></p>").text()) or None
    info = LexborHTMLParser(parts.get("docinfo") or "<p></p>")
    for dd in info.css("dd"):
        cls = (dd.attributes.get("class") or "").split()
        value = one_line(dd.text(separator=" "))
        if "author" in cls or "authors" in cls:
            out.author = out.author or value or None
        elif "date" in cls:
            out.date = out.date or find_date(value)
    return out
