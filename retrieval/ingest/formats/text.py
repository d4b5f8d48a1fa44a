"""Plain text → units, reading the structure plain-text manuals and FAQs draw with characters.

A title underlined with ``=====`` (or over- and underlined, or framed in a ``####`` comment banner) is a
heading whose level follows the order the underline styles first appear in (as reStructuredText and
Texinfo's plain-text output use them); a rule line alone separates; neither is ever text. A table of
contents (a block of section-numbered lines) and Info's menus and index (``* Node::``, ``* term:  Node.
(line N)``) are dropped; ``Q:``/``A:`` lines and numbered questions
("1.2) How do I …?") are questions that head their answers; an indented block of lines that do not
wrap as prose is code.
"""

from __future__ import annotations

import re
from collections import Counter

from retrieval.ingest.clean import Unit, ends_sentence, looks_like_heading, normalize, text_units

_RULE_CHARS = set("-=*~^#_+.•<>:")
_UNDERLINE = re.compile(r"([-=*~^#+.])\1{2,}")  # one character repeated: a setext underline or overline
_BANNER = re.compile(r"([-=*~#/]{2,})\s+(\S.*?)\s+[-=*~#/]{2,}")  # "#### Install ####", "== Setup =="
_BOXED = re.compile(r"[#*|]+\s*(.*?)\s*[#*|]*")  # the middle line of a box of rules: "# Install #"
# "Q: …", "Q) …"; "Q. …" only as a question ("Q. Smith said" is a name)
_QUESTION = re.compile(r"(?:Q|Question)\s*(?:[:)]\s*(\S.*)|\.\s*(\S.*\?))", re.IGNORECASE)
_ANSWER = re.compile(r"(?:A|Answer)\s*[:)]\s*(?=\S)", re.IGNORECASE)
_NUMBERED_Q = re.compile(r"(?:\(?\d+(?:\.\d+)*[.):]|[A-Z]\.\d+(?:\.\d+)*[.)]?)\s+\S.*\?")
_SECTION_NO = re.compile(r"(?:(?:Appendix|Chapter|Part|Section)\s+)?(?:\d+|[A-Z])(?:\.\d+)*\.?\s+\S")
_NESTED_NO = re.compile(r"(?:Appendix|Chapter|Part)\s+\S|(?:\d+|[A-Z])\.\d+")
_TERM_LEVEL = 92  # a term nests below the headings (clean.py's guessed headings are 90, questions 95)
_CODE_LINE = re.compile(r"^\s*[$%>] \S|[;{}\\]\s*$")  # a prompt, or a line ending as code lines do
_BULLET = re.compile(r"(?:[-*•+]|\d+[.)])\s+\S")


def is_rule(line: str) -> bool:
    """A line drawn with punctuation only (``-----``, ``=-=-=``, ``* * *``, ``#####``): structure."""
    s = line.strip()
    marks = set(s) - {" ", "\t"}
    return len(s.replace(" ", "")) >= 3 and marks <= _RULE_CHARS and len(marks) <= 2


# Info's navigation as makeinfo --plaintext prints it: "* Menu:", a menu entry ("* Overview::  An
# introduction"), an index entry ("* #cvs.lock, removing:   Concurrency.   (line  4223)", its "(line N)"
# wrapped onto a line of its own when the entry is long)
# ("* std::vector holds …" is a bullet: a menu entry's "::" ends its name)
_INFO_LINE_REF = re.compile(r"^\s*\(line\s+\d+\)\s*$")
_INFO_NAV = re.compile(r"^\*\s+Menu:\s*$|^\*\s+[^:\n]+::(?:\s|$)|^\*\s.*:\s.*\(line\s+\d+\)\s*$")


def _without_info_navigation(text: str) -> str:
    lines = text.split("\n")
    refs = [bool(_INFO_LINE_REF.match(ln)) for ln in lines]
    drop = [r or bool(_INFO_NAV.match(ln)) for ln, r in zip(lines, refs)]
    for i in range(len(lines) - 1):  # an index entry whose "(line N)" went onto the next line
        if refs[i + 1] and lines[i].startswith("* "):
            drop[i] = True
    return "\n".join(ln for ln, d in zip(lines, drop) if not d)


def text_structure(text: str) -> list[Unit]:
    """Units of a plain-text document (see the module docstring)."""
    text = _without_info_navigation(normalize(text))
    lines = text.split("\n")
    body_indent = _common_indent(lines)
    styles: list[tuple[str, bool]] = []  # underline styles in order of first appearance: level = index + 1
    out: list[Unit] = []
    group = 0
    lead_indent = None  # the indentation of a lead-in ("… are:") whose deeper-indented blocks are its list
    term_indent = None  # the indentation of the open term: its definition is what is indented deeper
    for block in re.split(r"\n[ \t]*\n", text):
        raw = [ln.rstrip() for ln in block.split("\n") if ln.strip()]
        if not raw:
            continue
        if term_indent is not None and min(_indent(ln) for ln in raw) <= term_indent:
            # back at the term's margin: the paragraphs after a table of terms belong to the section again
            out.append(Unit("", "end", level=_TERM_LEVEL))
            term_indent = None
        listed = lead_indent is not None and min(_indent(ln) for ln in raw) > lead_indent
        lead_indent = lead_indent if listed else (_indent(raw[-1]) if raw[-1].endswith(":") else None)
        if listed and not _preformatted(raw, body_indent) and not any(is_rule(ln) for ln in raw):
            units = _content(raw, body_indent, out)  # an item of the list the lead-in introduces
            out.extend(Unit(u.text, "item") if u.kind in ("auto", "para") else u for u in units)
            continue
        if _preformatted(raw, body_indent):  # a diagram or an example: its rules are drawing, not structure
            indent = min(len(ln) - len(ln.lstrip(" ")) for ln in raw)
            out.append(Unit("\n".join(ln[indent:] for ln in raw), "code"))
            continue
        run: list[str] = []
        if _is_term(raw, body_indent):  # "'-kkv'" with its definition indented under it, as Texinfo prints a table
            out.append(Unit(raw[0].strip(), "term", level=_TERM_LEVEL))
            term_indent = _indent(raw[0])
            raw = raw[1:]

        def flush() -> None:
            if run and not _is_toc(run):
                for lines, code in _examples(run):
                    out.extend([Unit(_dedent(lines), "code")] if code else _content(lines, body_indent, out))
            run.clear()

        i = 0
        while i < len(raw):
            ln, nxt = raw[i], raw[i + 1] if i + 1 < len(raw) else None
            over = _UNDERLINE.fullmatch(ln.strip())
            if over and nxt is not None and not is_rule(nxt) and i + 2 < len(raw) \
                    and raw[i + 2].strip() == ln.strip():  # over- and underlined title, or a box
                flush()
                title = nxt.strip()
                boxed = _BOXED.fullmatch(title) if title[:1] in "#*|" else None
                out.append(_heading(boxed.group(1) if boxed else title, (ln.strip()[0], True), styles))
                i += 3
                continue
            under = _UNDERLINE.fullmatch(nxt.strip()) if nxt is not None else None
            if under and not is_rule(ln) and looks_like_heading(ln.strip(), max_words=25):
                flush()
                out.append(_heading(ln.strip(), (nxt.strip()[0], False), styles))
                i += 2
                continue
            banner = _BANNER.fullmatch(ln.strip())
            if banner and not is_rule(banner.group(2)):
                flush()
                out.append(_heading(banner.group(2), (banner.group(1)[0], True), styles))
            elif is_rule(ln):
                flush()
                out.append(Unit("", "rule"))
            else:
                run.append(ln)
            i += 1
        flush()
    # items of one list share a group: a list is broken by anything else
    for u in out:
        if u.kind == "item":
            u.group = group
        else:
            group += 1
    return out


def _heading(text: str, style: tuple[str, bool], styles: list[tuple[str, bool]]) -> Unit:
    if style not in styles:
        styles.append(style)
    return Unit(text, "heading", level=styles.index(style) + 1)


def _common_indent(lines: list[str]) -> int:
    """The indentation most text lines have (the body's left margin)."""
    counts = Counter(len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip())
    return counts.most_common(1)[0][0] if counts else 0


def _is_term(lines: list[str], body_indent: int) -> bool:
    """A short first line at the body's margin, every line after it indented deeper: a term and its
    definition (not an indented example, whose lines are indented in other ways)."""
    first = len(lines[0]) - len(lines[0].lstrip(" "))
    if len(lines) < 2 or len(lines[0].split()) > 8 or is_rule(lines[0]) or is_rule(lines[1]) \
            or ends_sentence(lines[0]) or first >= body_indent + 2:
        return False
    deeper = min(len(ln) - len(ln.lstrip(" ")) for ln in lines[1:])
    return deeper >= first + 2 and not _BULLET.match(lines[0].strip()) \
        and not _NUMBERED_Q.fullmatch(lines[0].strip())


def _is_toc(lines: list[str]) -> bool:
    """A table of contents: four or more short section-numbered lines, some numbered in levels (``2.1``)
    or named (``Appendix A``), hardly any a sentence (a numbered list of steps is kept)."""
    if len(lines) < 4 or any(len(ln.split()) > 15 for ln in lines):
        return False
    n = len(lines)
    numbered = sum(bool(_SECTION_NO.match(ln.strip())) for ln in lines)
    nested = sum(bool(_NESTED_NO.match(ln.strip())) for ln in lines)
    sentences = sum(ln.rstrip().endswith(".") for ln in lines)
    return numbered >= 0.8 * n and nested >= 0.3 * n and sentences <= 0.2 * n


def _preformatted(lines: list[str], body_indent: int) -> bool:
    """An indented block of two or more lines that do not wrap as prose."""
    indent = min(len(ln) - len(ln.lstrip(" ")) for ln in lines)
    if indent < body_indent + 2 or len(lines) < 2 or any(_NUMBERED_Q.fullmatch(ln.strip()) for ln in lines):
        return False
    if any(is_rule(ln) or re.search(r"\S {3,}\S", ln) or _CODE_LINE.search(ln) for ln in lines):
        return True  # drawn, aligned in columns, or a shell session or code
    return len(text_units("\n".join(lines))) == len(lines) and not all(ends_sentence(ln) for ln in lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _dedent(lines: list[str]) -> str:
    cut = min(_indent(ln) for ln in lines)
    return "\n".join(ln[cut:] for ln in lines)


def _example_line(line: str) -> bool:
    """Shaped as code, or short and no sentence (``cvs status``, not "The same tag is on every file.")."""
    return bool(_CODE_LINE.search(line)) or (len(line.split()) <= 8 and not ends_sentence(line))


def _examples(run: list[str]) -> list[tuple[list[str], bool]]:
    """The run cut into prose and examples: lines indented deeper under a line ending in ":" or ","
    ("   Type:" then "        cvs status") are an example, when short or shaped as code."""
    out: list[tuple[list[str], bool]] = []
    i = 0
    while i < len(run):
        j = i
        if i and run[i - 1].rstrip().endswith((":", ",")):
            floor = _indent(run[i - 1]) + 4
            while j < len(run) and _indent(run[j]) >= floor and _example_line(run[j]):
                j += 1
        if j > i:
            out.append((run[i:j], True))
            i = j
            continue
        if not out or out[-1][1]:
            out.append(([], False))
        out[-1][0].append(run[i])
        i += 1
    return out


def _content(run: list[str], body_indent: int, before: list[Unit]) -> list[Unit]:
    """The units of a run of text lines between structure lines."""
    indent = min(len(ln) - len(ln.lstrip(" ")) for ln in run)
    parts: list[list[str]] = []
    for ln in run:  # a "Q:" or "A:" line starts a unit of its own, wherever the wrapped line before it ends
        if not parts or _QUESTION.match(ln.strip()) or _ANSWER.match(ln.strip()):
            parts.append([])
        parts[-1].append(ln)
    units = [u for part in parts for u in text_units("\n".join(part))]
    if indent >= body_indent + 2 and not any(_QUESTION.match(u.text) or _NUMBERED_Q.fullmatch(u.text) for u in units):
        # an indented example: lines that do not wrap as prose, or short lines after a lead-in ("type:")
        led = bool(before) and before[-1].kind in ("auto", "para") and before[-1].text.rstrip().endswith((":", ","))
        if _preformatted(run, body_indent) or (led and all(_example_line(ln) for ln in run)) \
                or all(_CODE_LINE.search(ln) for ln in run):  # "     $ cvs -n -q update" alone
            lines = [ln[indent:] for ln in run]
            return [Unit("\n".join(lines), "code")]
    out = []
    for u in units:
        s = u.text
        if (m := _QUESTION.match(s)) and len(s.split()) <= 40:
            out.append(Unit(m.group(1) or m.group(2), "question"))
        elif _NUMBERED_Q.fullmatch(s) and len(s.split()) <= 40:
            out.append(Unit(s, "question"))
        elif m := _ANSWER.match(s):
            out.append(Unit(s[m.end():], "para"))
        elif _BULLET.match(s) and (s[0] in "-*•+" or not looks_like_heading(s)):
            out.append(Unit(s, "item"))
        else:
            out.append(u)
    return out
