"""Answers and sources as plain terminal text (the Discord rendering lives in ``bot.render``)."""

from __future__ import annotations

import textwrap

from retrieval.types import Answer, IndexSummary, SourceView, differ_line

NOT_COVERED = "Not in the corpus: no passage answers this question closely enough."
#: below this confidence (the calibrated probability that the top passage answers) an answer says so


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
    elif answer.low_confidence:
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
