"""Readers of structured document formats: each turns one file into :class:`Extracted` units.

The units (headings with levels, paragraphs, list items, table rows, code, definition terms) go
through :func:`retrieval.ingest.clean.clean_units`, which gives every paragraph its heading path.
A reader that cannot use a file raises :class:`Unreadable` with a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.ingest.clean import Unit


_ROLE_TARGET = re.compile(r"(.*?)\s*<[^<>]*>", re.DOTALL)
_ROLE_PREFIX = {"pep": "PEP ", "rfc": "RFC ", "issue": "#", "pr": "#"}  # as Sphinx (and sphinx-issues) show them


# what Sphinx's (and MyST's) version and "see also" directives read as, before their text
DIRECTIVE_LEADS = {"versionadded": "Added in version", "versionchanged": "Changed in version",
                   "versionremoved": "Removed in version", "deprecated": "Deprecated since version",
                   "seealso": "See also"}
VERSIONED = DIRECTIVE_LEADS.keys() - {"seealso"}  # their argument starts with the version


class Unreadable(Exception):
    """The file cannot be used; ``str(e)`` is the one-line reason shown in the index summary."""


@dataclass
class Extracted:
    """What a reader found in one file.

    Args:
        units: the blocks in reading order.
        title / author / date / url / outlet: metadata when the file states it (date as ISO).
    """

    units: list[Unit] = field(default_factory=list)
    title: str | None = None
    author: str | None = None
    date: str | None = None
    url: str | None = None
    outlet: str | None = None


def one_line(text: str) -> str:
    """Whitespace collapsed to single spaces."""
    return " ".join(text.split())


def table_rows(rows: list[list[str]], header: list[str] | None) -> list[str]:
    """Table rows as text, each cell labelled with its column header: ``Plan: Business · Storage: 1 TB``.

    Args:
        rows: the body rows, cells as text.
        header: the header cells, or None when the table has none (cells are then joined bare).
    """
    out = []
    for cells in rows:
        cells = [one_line(c) for c in cells]
        if header:
            parts = [f"{h}: {c}" if h else c for h, c in zip(header, cells) if c]
            parts += [c for c in cells[len(header):] if c]
        else:
            parts = [c for c in cells if c]
        if parts:
            out.append(" · ".join(parts))
    return out


def role_text(content: str, name: str = "") -> str:
    """The text a Sphinx (reST) or MyST (Markdown) role shows.

    Args:
        content: the role's text: ``title <target>`` shows the title, ``~pkg.mod.func`` its last name,
            ``!target`` (no link) the target.
        name: the role's name without its domain (``pep`` shows ``8`` as "PEP 8").
    """
    m = _ROLE_TARGET.fullmatch(content)
    if m and m.group(1):
        return m.group(1)
    text = content.removeprefix("!")
    text = text[1:].rsplit(".", 1)[-1] if text.startswith("~") else text
    return _ROLE_PREFIX.get(name, "") + text
