"""Dates in running text: the first valid calendar day a line names, as ISO ``YYYY-MM-DD``."""

from __future__ import annotations

import datetime
import re

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(?!\d)")
_TEXT_DATE = re.compile(
    rf"\b(?:(\d{{1,2}})\s+({_MONTHS})\.?,?\s+((?:19|20)\d\d)|({_MONTHS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+((?:19|20)\d\d))\b",
    re.IGNORECASE,
)

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
