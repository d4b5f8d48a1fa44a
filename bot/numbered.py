"""An answer's citations numbered once per reply: the numbers the rendered reply, its buttons and the
feedback store all use (result i is [i+1]; its "also in" sources are numbered after the results)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from retrieval.types import Answer, Citation, Result

MAX_RESULTS = 10  # results quoted in an answer; its "also in" sources are numbered after them


@dataclass
class NumberedCitation:
    """A citation with the number shown in this reply."""

    number: int
    citation: Citation


def number_citations(results: Sequence[Result]) -> tuple[list[NumberedCitation], dict[int, list[int]]]:
    """Number the results' citations 1..n (result i is [i+1]), then the also-in sources after them.

    Returns the ordered citations and, per result index, the numbers of its "also in" sources.
    """
    ordered: list[NumberedCitation] = []
    seen: dict[tuple[str, int], int] = {}

    def add(c: Citation) -> int:
        key = (c.doc_id, c.paragraph)
        if key not in seen:
            seen[key] = len(ordered) + 1
            ordered.append(NumberedCitation(seen[key], c))
        return seen[key]

    # every result keeps its own number, the one its passage is shown under, even when two passages
    # come from the same paragraph (a long paragraph is split into several passages)
    for r in results:
        ordered.append(NumberedCitation(len(ordered) + 1, r.citation))
        seen.setdefault((r.citation.doc_id, r.citation.paragraph), len(ordered))
    also: dict[int, list[int]] = {}
    for i, r in enumerate(results):
        nums = []
        cits = list(r.also_in_citations)
        known = {c.doc_id for c in cits}
        for doc_id in r.also_in:  # ids without a citation object still deserve a mention
            if doc_id not in known:
                cits.append(Citation(0, doc_id, None, None, None, None, 0, doc_id))
        for c in cits:
            n = add(c)
            if n not in nums:
                nums.append(n)
        also[i] = nums
    return ordered, also


@dataclass
class NumberedAnswer:
    """An answer with the numbers its citations carry in the reply, computed once per reply and
    used by the renderer (:func:`render_answer`), the buttons and the feedback store.

    ``shown`` are the results quoted ([1]..[n]); ``citations`` number them, then their "also in"
    sources after them; ``also[i]`` are the numbers of result i's "also in" sources.
    """

    answer: Answer
    shown: list[Result]
    citations: list[NumberedCitation]
    also: dict[int, list[int]]

    @classmethod
    def of(cls, answer: Answer, max_results: int = MAX_RESULTS) -> "NumberedAnswer":
        shown = list(answer.results[:max_results]) if answer.answered else []
        citations, also = number_citations(shown)
        return cls(answer, shown, citations, also)

    @property
    def also_in(self) -> list[NumberedCitation]:
        """The "also in" sources, numbered after the results shown."""
        return self.citations[len(self.shown):]

    def buttons(self) -> list[tuple[int, str | None]]:
        """``(number, title)`` of every citation, for the source buttons."""
        return [(n.number, n.citation.title or n.citation.doc_id) for n in self.citations]
