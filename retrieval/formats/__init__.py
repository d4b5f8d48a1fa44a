"""Readers of structured document formats: each turns one file into :class:`Extracted` units.

The units (headings with levels, paragraphs, list items, table rows, code, definition terms) go
through :func:`retrieval.clean.clean_units`, which gives every paragraph its heading path.
A reader that cannot use a file raises :class:`Unreadable` with a one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..clean import Unit


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
