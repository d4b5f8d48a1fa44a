"""Escaping and fitting untrusted text for Discord: markdown and mentions escaped, passages cut to a
budget around the quoted sentence with a visible ellipsis on each cut side, never silently.

Pure text (no discord.py): :mod:`bot.render` builds the messages from these pieces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ELLIPSIS = "…"

# Discord's markdown, as its client parses it: an escape is a backslash before any character that is
# not a letter, digit or space. We escape ourselves instead of using discord.utils.escape_markdown: it
# puts the backslash of a list marker before the leading whitespace ("\\ -", shown as a stray "\\"),
# leaves unpaired specials and some masked links alone, and only knows 17-20 digit mentions.
ZWSP = "\u200b"
# inline markdown (bold, italics, underline, strike, spoiler, code), escapes and masked-link brackets
_SPECIAL = re.compile(r"[\\*_~|`\[\]]")
# syntax that only counts at the start of a line: quote (> and >>>), heading (#), subtext (-#), lists
# (-, +, 1.); "\r" counts as a line break because Discord reads it as one
_LINE_START = re.compile(r"(?:\A|(?<=[\n\r]))[ \t]*(?:[>#+-]|\d{1,9}(?=\.\s))")
# the "@" of @everyone, @here and <@id>, <@!id>, <@&id> with an id of any length (a zero-width space
# after it breaks the mention, as discord.utils.escape_mentions does for 17-20 digit ids only)
_MENTION_AT = re.compile(r"@(?=everyone|here|[!&]?\d)")
# the "<" of the other tokens Discord renders specially: channels <#id>, slash commands </name:id>,
# custom emoji <:name:id> and <a:name:id>, timestamps <t:unix:style>, guild navigation <id:browse>
_TOKEN_OPEN = re.compile(r"<(?=[#/:]|(?![A-Za-z][\w+.-]*://)[A-Za-z][\w-]*:)")  # <https://…> stays a link
_WS = re.compile(r"\s+")
_LINE_BREAK = re.compile(r"\r\n?|\n")
_LINE = re.compile(r"[^\r\n]+")


def escape_marked(text: str, marks: dict[int, str] | None = None) -> str:
    """Escape markdown and mentions in ``text`` as one string, inserting our own markup afterwards.

    Args:
        text: untrusted text (corpus passages, titles, questions), escaped as a whole so that line
            starts and mentions are seen where Discord will see them.
        marks: renderer markup (``**``, ellipses) to insert, keyed by offset into ``text``; inserted
            verbatim, before the escape of the character at that offset.

    Discord, unescaping the result (a backslash before any non-alphanumeric, non-space character
    shows that character), shows ``text`` exactly, except for zero-width spaces after the "@" of
    mentions; with ``marks`` removed it is the same string.
    """
    events: list[tuple[int, int, str]] = []  # (offset, order at the same offset, inserted text)
    events += [(m.start() + 1, 0, ZWSP) for m in _MENTION_AT.finditer(text)]
    if marks:
        events += [(i, 1, s) for i, s in marks.items()]
    events += [(m.start(), 2, "\\") for m in _SPECIAL.finditer(text)]
    events += [(m.end() if text[m.end() - 1].isdigit() else m.end() - 1, 2, "\\") for m in _LINE_START.finditer(text)]
    events += [(m.start(), 2, "\\") for m in _TOKEN_OPEN.finditer(text)]
    if not events:
        return text
    events.sort(key=lambda e: (e[0], e[1]))
    out, last = [], 0
    for pos, _, ins in events:
        out.append(text[last:pos])
        out.append(ins)
        last = pos
    out.append(text[last:])
    return "".join(out)


def escape(text: str | None) -> str:
    """Escape markdown and mentions in untrusted text (corpus passages, titles, questions)."""
    if not text:
        return ""
    return escape_marked(text)


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis when it was longer."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    # don't leave a dangling escape backslash that would swallow the ellipsis
    cut = cut.rstrip("\\")
    return cut + ELLIPSIS


def one_line(text: str | None) -> str:
    """Collapse all whitespace (titles, labels) to single spaces."""
    return _WS.sub(" ", text or "").strip()


# ---------------------------------------------------------------- trimming around the quote


@dataclass
class Excerpt:
    """A passage cut to size: ``before`` + ``quote`` + ``after`` with cut flags."""

    before: str
    quote: str
    after: str
    cut_before: bool
    cut_after: bool
    quote_cut: bool


def _locate_quote(text: str, quote: str, start: int) -> tuple[int, int]:
    """(start, end) of the quote in text, trusting ``start`` only when it matches."""
    quote = quote or ""
    if quote and text[start : start + len(quote)] == quote:
        s, e = start, start + len(quote)
    elif quote and (i := text.find(quote)) >= 0:
        s, e = i, i + len(quote)
    else:
        return 0, 0
    # keep the emphasis tight: whitespace at the quote's edges belongs to the context
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _cut_left(s: str, keep: int) -> str:
    """The last ``keep`` chars of s, starting at a word boundary when possible."""
    if keep <= 0:
        return ""
    if len(s) <= keep:
        return s
    tail = s[-keep:]
    sp = tail.find(" ")
    if 0 <= sp < len(tail) // 2:
        tail = tail[sp + 1 :]
    return tail


def _cut_right(s: str, keep: int) -> str:
    """The first ``keep`` chars of s, ending at a word boundary when possible."""
    if keep <= 0:
        return ""
    if len(s) <= keep:
        return s
    head = s[:keep]
    sp = head.rfind(" ")
    if sp > len(head) // 2:
        head = head[:sp]
    return head


def excerpt(text: str, quote: str, quote_start: int, budget: int) -> Excerpt:
    """Cut ``text`` to about ``budget`` raw characters, keeping the quote and context on both sides.

    Ellipses are not counted here; callers add them (see :func:`render_passage`).
    """
    s, e = _locate_quote(text, quote, quote_start)
    if len(text) <= budget:
        return Excerpt(text[:s], text[s:e], text[e:], False, False, False)
    q = text[s:e]
    if len(q) >= budget:
        # the quote alone is too long: cut it, visibly
        return Excerpt("", _cut_right(q, budget).rstrip(), "", s > 0, True, True)
    room = budget - len(q)
    before_full, after_full = text[:s], text[e:]
    # share the room, giving what one side does not need to the other
    left = min(len(before_full), room // 2)
    right = min(len(after_full), room - left)
    left = min(len(before_full), room - right)
    before = _cut_left(before_full, left)
    after = _cut_right(after_full, right)
    return Excerpt(before, q, after, len(before) < len(before_full), len(after) < len(after_full), False)


def _compose(ex: Excerpt, *, quote_prefix: str = "> ") -> str:
    """Escaped excerpt with the quote in bold, ellipses on cut sides, each line block-quoted."""
    # The excerpt is escaped as one string and our markup goes in by offset afterwards: escaping
    # the pieces apart made each piece's start look like a line start (a stray "\\ -") and let a
    # mention cut by the quote's edge reassemble.
    before = ex.before.lstrip() if ex.cut_before else ex.before
    after = "" if ex.quote_cut else (ex.after.rstrip() if ex.cut_after else ex.after)
    raw = before + ex.quote + after
    marks: dict[int, str] = {}

    def mark(i: int, s: str) -> None:
        marks[i] = marks.get(i, "") + s

    if ex.cut_before:
        mark(0, ELLIPSIS)
    for line in _LINE.finditer(ex.quote):
        # bold does not span lines; emphasise each line of the quote on its own, edges tight
        core = line.group().strip()
        if core:
            start = len(before) + line.start() + line.group().index(core)
            mark(start, "**")
            mark(start + len(core), "**")
    if ex.quote_cut:
        mark(len(before) + len(ex.quote), ELLIPSIS)
    elif ex.cut_after:
        mark(len(raw), ELLIPSIS)
    body = escape_marked(raw, marks)
    # Discord reads "\r" and "\r\n" as line breaks too; each line gets the block-quote prefix
    lines = _LINE_BREAK.split(body)
    return "\n".join(quote_prefix + ln if ln.strip() else quote_prefix.rstrip() for ln in lines)


def render_passage(text: str, quote: str, quote_start: int, budget: int, *, quote_prefix: str = "> ") -> str:
    """A passage as block-quoted markdown of at most ``budget`` characters, quote emphasised."""
    budget = max(budget, 8)
    raw = budget
    for _ in range(12):
        out = _compose(excerpt(text, quote, quote_start, raw), quote_prefix=quote_prefix)
        if len(out) <= budget:
            return out
        # escaping and markup grew it: shrink the raw budget in proportion and retry
        raw = max(1, int(raw * budget / len(out)) - 8)
    return truncate(out, budget)


def tail_passage(text: str, room: int) -> str:
    room = max(room, 40)
    raw = room
    for _ in range(12):
        part = _cut_left(text, raw)
        out = "> " + ELLIPSIS + escape(part).replace("\n", "\n> ")
        if len(out) <= room:
            return out
        raw = max(1, int(raw * room / len(out)) - 8)
    return truncate(out, room)
