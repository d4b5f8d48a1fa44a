"""Answers and sources as plain terminal text (the Discord rendering lives in ``bot.render``)."""

from __future__ import annotations

import textwrap
from typing import Callable, Sequence

from retrieval.types import Answer, Disagreement, IndexSummary, SourceView

NOT_COVERED = "Not in the corpus: no passage answers this question closely enough."
#: below this confidence (the calibrated probability that the top passage answers) an answer says so
LOW_CONFIDENCE = 0.5


def _mark(text: str, start: int, end: int, color: bool) -> str:
    on, off = ("\033[1m", "\033[0m") if color else ("»", "«")
    return text[:start] + on + text[start:end] + off + text[end:]


def answer_text(answer: Answer, *, color: bool = False, width: int = 100) -> str:
    """The answer as the CLI prints it: quotes, citations, and "not in the corpus" when abstaining."""
    lines: list[str] = []
    if not answer.answered:
        lines.append(NOT_COVERED)
        if getattr(answer, "reason", None):
            lines.append(f"Why: {answer.reason}.")
        if answer.results:
            lines.append(f"(closest passages, confidence {answer.confidence:.2f}, shown for inspection:)")
    elif answer.confidence < LOW_CONFIDENCE:
        lines.append(f"Low confidence ({answer.confidence:.0%}): the closest passages; they may not answer this.")
    for r in answer.results:
        body = _mark(r.text, r.quote_start, r.quote_start + len(r.quote), color)
        lines.append(_fill(body, width, f"[{r.rank}] ", "    "))
        if r.also_in:
            lines.append("    also in: " + ", ".join(c.label() if c.title else c.doc_id for c in r.also_in_citations))
    if answer.answered and (differ := differ_line(answer.disagreements)):
        lines.append(_fill(differ, width, "", "    "))
    if answer.results:
        lines.append("")
        lines.append("Sources:")
        for r in answer.results:
            # the label names the place: "section › subsection · p. 4" (or "¶ n")
            lines.append(f"  [{r.rank}] {r.citation.label()} · {r.citation.url or r.citation.source}")
        if answer.answered:
            lines.append(f"Confidence that [1] answers: {answer.confidence:.0%}")
    return "\n".join(lines)


DIFFER = "Sources differ: "


def differ_line(found: Sequence[Disagreement], *, number: Callable[[int], int | None] = lambda rank: rank,
                text: Callable[[str], str] = lambda s: s, limit: int = 1000) -> str | None:
    """``Sources differ: [1] at least 21 vessels, [3] three vessels (2025-09-27); [2] …`` — the
    figures of each disagreement with their citation numbers and their documents' dates when known
    (a running count reported at another date may differ for that reason); None when there are none.

    Args:
        found: the answer's disagreements.
        number: the citation number shown for a result rank, or None when that result is not shown
            (its figure is left out, and a disagreement left without two differing documents is dropped).
        text: how a quoted figure is written (the bot escapes it).
        limit: at most this many characters; the disagreements that do not fit are left out.
    """
    parts: list[str] = []
    for d in found:
        figs = [(n, f) for f in d.figures if (n := number(f.rank)) is not None]
        if not any(a.doc_id != b.doc_id and a.value != b.value for _, a in figs for _, b in figs):
            continue
        part = ", ".join(f"[{n}] {text(' '.join(f.text.split()))}" + (f" ({text(f.date)})" if f.date else "")
                         for n, f in figs)
        if len(DIFFER) + len("; ".join([*parts, part])) > limit:
            continue
        parts.append(part)
    return DIFFER + "; ".join(parts) if parts else None


def _fill(text: str, width: int, first: str, rest: str) -> str:
    """Wrap each line of ``text`` on its own: code and lists keep their line breaks."""
    out = []
    for i, line in enumerate(text.split("\n")):
        indent = first if i == 0 else rest
        if len(indent) + len(line) <= width or line.startswith((" ", "\t")):
            out.append(indent + line)
        else:
            out.append(textwrap.fill(line, width=width, initial_indent=indent, subsequent_indent=rest))
    return "\n".join(out)


def source_text(view: SourceView, *, width: int = 100) -> str:
    """A paragraph in context: the document's metadata, then each paragraph under its section path
    and page (``## OPTIONS › --all``, ``p. 3``), the cited one marked ``>``."""
    d = view.document
    lines = [d.get("title") or d["doc_id"]]
    for key in ("outlet", "author", "date", "url", "source"):
        if d.get(key):
            lines.append(f"  {key}: {d[key]}")
    cited = next((p for p in view.paragraphs if p.number == view.paragraph), None)
    where = f"paragraph {view.paragraph} of {view.total_paragraphs}"
    if cited is not None and cited.page:
        where += f" · p. {cited.page}"
    lines.append(f"  id: {d['doc_id']} · {where}")
    lines.append("")
    path: list[str] | None = None
    page = None
    for p in view.paragraphs:
        here = list(p.heading_path) or ([p.heading] if p.heading else [])
        if here and here != path:
            lines.append("## " + " › ".join(here))
        path = here
        if p.page and p.page != page:
            lines.append(f"   (p. {p.page})")
            page = p.page
        mark = "> " if p.number == view.paragraph else "  "
        lines.append(_fill(p.text, width, f"{mark}¶{p.number} ", "     "))
    return "\n".join(lines)


def summary_text(summary: IndexSummary) -> str:
    return "\n".join([f"index {summary.version}", *summary.lines()])
