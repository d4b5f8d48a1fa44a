"""Markdown → units with markdown-it-py: YAML front matter for the metadata, then the rendered
HTML read by the HTML walker (so Markdown and HTML follow the same structure rules)."""

from __future__ import annotations

import datetime as dt
import re

from ..clean import find_date, normalize
from . import Extracted, one_line

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def read_markdown(text: str) -> Extracted:
    """The units and front-matter metadata of one Markdown file."""
    from markdown_it import MarkdownIt
    from selectolax.lexbor import LexborHTMLParser

    from .html import body_units

    text = normalize(text)
    meta: dict = {}
    m = _FRONT.match(text)
    if m:
        meta = front_matter(m.group(1) or "")
        if meta is not None:
            text = text[m.end():]
        meta = meta or {}
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(text)
    out = Extracted(units=body_units(LexborHTMLParser(f"<html><body>{html}</body></html>")))
    out.title = _scalar(meta.get("title"))
    out.author = _person(meta.get("author") or meta.get("authors"))
    raw_date = meta.get("date") or meta.get("published") or meta.get("created")
    if isinstance(raw_date, (dt.date, dt.datetime)):
        out.date = raw_date.strftime("%Y-%m-%d")
    elif raw_date is not None:
        out.date = find_date(str(raw_date))
    out.url = _scalar(meta.get("url") or meta.get("permalink") or meta.get("canonical_url"))
    return out


def front_matter(block: str) -> dict | None:
    """The YAML mapping of a front-matter block, or None when it is not one (a ``---`` rule, say)."""
    import yaml

    try:
        data = yaml.safe_load(block) if block.strip() else {}
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _scalar(value) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return one_line(str(value)) or None


def _person(value) -> str | None:
    """``author: Ann``, ``author: {name: Ann}`` or a list of either."""
    if isinstance(value, dict):
        return _scalar(value.get("name"))
    if isinstance(value, list):
        names = [n for n in (_person(v) for v in value) if n]
        return ", ".join(names) or None
    return _scalar(value)
