"""Answers and sources as plain terminal text (the Discord rendering lives in ``bot.render``)."""

from __future__ import annotations

import textwrap

from .types import Answer, IndexSummary, SourceView

NOT_COVERED = "Not in the corpus: no passage answers this question closely enough."


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
    for r in answer.results:
        body = _mark(r.text, r.quote_start, r.quote_start + len(r.quote), color)
        wrapped = textwrap.fill(body, width=width, initial_indent=f"[{r.rank}] ", subsequent_indent="    ")
        lines.append(wrapped)
        if r.also_in:
            lines.append("    also in: " + ", ".join(c.label() if c.title else c.doc_id for c in r.also_in_citations))
    if answer.results:
        lines.append("")
        lines.append("Sources:")
        for r in answer.results:
            lines.append(f"  [{r.rank}] {r.citation.label()} · {r.citation.source}")
    return "\n".join(lines)


def source_text(view: SourceView, *, width: int = 100) -> str:
    d = view.document
    lines = [d.get("title") or d["doc_id"]]
    for key in ("outlet", "author", "date", "url", "source"):
        if d.get(key):
            lines.append(f"  {key}: {d[key]}")
    lines.append(f"  id: {d['doc_id']} · paragraph {view.paragraph} of {view.total_paragraphs}")
    lines.append("")
    heading = None
    for p in view.paragraphs:
        if p.heading and p.heading != heading:
            lines.append(f"## {p.heading}")
            heading = p.heading
        mark = "> " if p.number == view.paragraph else "  "
        lines.append(textwrap.fill(p.text, width=width, initial_indent=f"{mark}¶{p.number} ",
                                   subsequent_indent="     "))
    return "\n".join(lines)


def summary_text(summary: IndexSummary) -> str:
    return "\n".join([f"index {summary.version}", *summary.lines()])
