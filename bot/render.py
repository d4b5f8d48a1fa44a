"""Turn answers, sources and summaries into Discord messages that always fit Discord's limits.

Every piece of corpus or user text goes through :func:`escape` (markdown and mentions), and every
message is built to stay inside the limits below: long passages are trimmed around the quoted
sentence with an ellipsis on the cut side, and a quote that is itself too long is cut with a visible
ellipsis, never silently. The escaping and trimming are in :mod:`bot.fit`; this module builds messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import discord

from retrieval.types import LOW_CONFIDENCE, differ_line
from retrieval.types import Answer, Citation, IndexSummary, SourceView

# the numbered answer and the text pieces, also imported from here by callers
from .numbered import MAX_RESULTS, NumberedAnswer, NumberedCitation, number_citations  # noqa: F401
from .fit import (  # noqa: F401
    ELLIPSIS,
    ZWSP,
    Excerpt,
    _cut_left,
    escape,
    escape_marked,
    excerpt,
    one_line,
    render_passage,
    tail_passage,
    truncate,
)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT = 2000
EMBED_TITLE = 256
EMBED_DESCRIPTION = 4096
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
EMBED_TOTAL = 6000  # across all embeds of one message
EMBEDS = 10
FIELDS = 25
BUTTON_LABEL = 80
SOURCES_BUDGET = 1500  # characters of an answer's "Sources" list (the passages get the rest)
FIRST_SHARE = 0.4  # at most this share of the passages' room goes to the first quote, when it needs it
DIFFER_BUDGET = 400  # characters of the "Sources differ" line

EMBED_COLOUR = discord.Colour(0x3B82F6)
NOT_FOUND_COLOUR = discord.Colour(0x9CA3AF)

@dataclass
class Reply:
    """A message ready to send: pass ``**reply.kwargs()`` to ``send``/``reply``/``followup.send``."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"embeds": self.embeds}
        if self.content is not None:
            out["content"] = self.content
        return out

    def text(self) -> str:
        """Plain-text rendering (logs, transcripts)."""
        parts = [self.content] if self.content else []
        for e in self.embeds:
            parts += [p for p in (e.title, e.description) if p]
            parts += [f"{f.name}\n{f.value}" for f in e.fields]
            if e.footer and e.footer.text:
                parts.append(e.footer.text)
        return "\n".join(parts)


# ---------------------------------------------------------------- answers


def _where(source: str | None, limit: int) -> str:
    """A citation's file or URL for one line: plain URLs stay clickable (in ``<>``), the rest is escaped."""
    w = one_line(source)
    if w.startswith(("http://", "https://")) and escape(w) == w and " " not in w and ">" not in w and len(w) + 2 <= limit:
        return f"<{w}>"
    return truncate(escape(w), limit)


def link_target(url: str | None) -> str | None:
    """``url`` as the target of a masked link, or None: only http(s), no control characters, and the
    characters that would end the link or open markup (spaces, parentheses, brackets, quotes, ``<>``)
    percent-encoded."""
    from urllib.parse import quote

    if not url or not url.lower().startswith(("http://", "https://")) or any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    return quote(url, safe=":/?#@!$&+,;=%-._~*")


def _place(place: str, limit: int) -> str:
    """A citation's place on one line; a deep section path loses its outer headings first."""
    place = one_line(place)
    return place if len(place) <= limit else "…" + _cut_left(place, limit - 1)


def citation_line(n: NumberedCitation, limit: int = FIELD_VALUE) -> str:
    """``[n] title · outlet · date · section › path · p. n (or ¶ n) · file`` (escaped, one line, at most
    ``limit`` chars).

    When it is too long the title is shortened, so the rest of the citation (file included) stays.
    """
    c = n.citation
    meta = "".join(f" · {one_line(p)}" for p in (c.outlet or c.author, c.date) if p)
    if c.paragraph or c.page:
        meta += " · " + _place(c.place(), max(20, limit // 3))
    head = f"[{n.number}] "
    title = one_line(c.title or c.doc_id)
    url = link_target(c.url)
    if url is not None and len(head) + len(url) + 30 <= limit:  # a masked link: [title · section](url)
        room = max(10, limit - len(head) - len(escape(meta)) - len(url) - 4)
        label = escape(truncate(title, room) + meta)
        while len(head) + len(label) + len(url) + 4 > limit and room > 10:
            room -= max(1, len(head) + len(label) + len(url) + 4 - limit)
            label = escape(truncate(title, max(10, room)) + meta)
        if len(head) + len(label) + len(url) + 4 <= limit:
            return f"{head}[{label}]({url})"
    where = f" · {_where(c.source, max(40, limit // 3))}" if c.source and c.source != c.doc_id else ""
    room = max(20, limit - len(head) - len(escape(meta)) - len(where))
    label = escape(truncate(title, room) + meta)
    if len(head) + len(label) + len(where) > limit:  # escaping grew the title: shorten it further
        label = escape(truncate(title, max(10, room - (len(head) + len(label) + len(where) - limit))) + meta)
    return truncate(f"{head}{label}{where}", limit)


def _chunk_lines(lines: Iterable[str], limit: int) -> list[str]:
    """Pack lines into chunks of at most ``limit`` characters (a line longer than that is cut)."""
    chunks: list[str] = []
    cur = ""
    for line in lines:
        line = truncate(line, limit)
        if cur and len(cur) + 1 + len(line) > limit:
            chunks.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        chunks.append(cur)
    return chunks


def answer_title(question: str) -> str:
    return truncate(escape(one_line(question)), 200)


def render_answer(answer: Answer | NumberedAnswer, *, max_results: int = MAX_RESULTS) -> Reply:
    """The reply to a question: passages quoted with citation numbers and a sources footer.

    A not-answered question gets :func:`render_not_found` instead.
    """
    na = answer if isinstance(answer, NumberedAnswer) else NumberedAnswer.of(answer, max_results)
    answer = na.answer
    if not answer.answered or not answer.results:
        return render_not_found(answer)
    results, numbered, also = na.shown, na.citations, na.also

    embed = discord.Embed(colour=EMBED_COLOUR, title=answer_title(answer.question))
    # sources get at most ~1,500 chars so the passages keep most of the 6,000 budget: long titles are
    # shortened so that every citation is listed
    cited = numbered[: FIELDS * 3]
    width = max(60, (SOURCES_BUDGET - 32) // max(1, len(cited)) - 1)  # 32: two fields' names and overhead
    lines = [citation_line(n, min(width, FIELD_VALUE)) for n in cited]
    chunks = _chunk_lines(lines, FIELD_VALUE)
    used_src = 0
    for i, chunk in enumerate(chunks):
        if used_src + len(chunk) > SOURCES_BUDGET and i > 0:
            break
        embed.add_field(name="Sources" if i == 0 else "Sources (cont.)", value=chunk, inline=False)
        used_src += len(chunk) + 16
    # the confidence is the calibrated probability that the top passage holds the answer
    embed.set_footer(text=truncate(f"Quoted verbatim from the corpus · confidence {answer.confidence:.0%} · "
                                   f"index {answer.index_version}", FOOTER))

    fixed = len(embed)
    differ = differ_text(na)
    desc_budget = min(EMBED_DESCRIPTION, EMBED_TOTAL - fixed - 10) - (len(differ) + 2 if differ else 0)
    blocks: list[str] = []
    remaining = desc_budget
    for i, r in enumerate(results):
        n = i + 1
        header = f"**[{n}]**"
        tail = ""
        if also.get(i):
            tail = "\n↳ also in " + ", ".join(f"[{m}]" for m in also[i])
        share = remaining // (len(results) - i) - len(header) - len(tail) - 3
        if i == 0 and len(results) > 2:  # the first quote is read first: room for its context and neighbour
            share = max(share, min(len(r.text) + 40, int(desc_budget * FIRST_SHARE)))
        body = render_passage(r.text, r.quote, r.quote_start, max(share, 40))
        block = f"{header}\n{body}{tail}"
        if len(block) + 2 > remaining:
            block = truncate(block, max(0, remaining - 2))
        blocks.append(block)
        remaining -= len(block) + 2
    embed.description = "\n\n".join([*blocks, *([differ] if differ else [])])
    # a cited quote looks verified: say so when it is more likely wrong than right
    note = LOW_CONFIDENCE_TEXT.format(answer.confidence) if answer.confidence < LOW_CONFIDENCE else None
    return Reply(content=note, embeds=[embed])


def differ_text(na: NumberedAnswer) -> str | None:
    """The "Sources differ" line under the quotes, numbered as in the reply, figures escaped (they
    are corpus text), at most :data:`DIFFER_BUDGET` characters; None when the quotes agree."""
    shown = {r.rank: i + 1 for i, r in enumerate(na.shown)}
    # the core's, computed over what this asker may see; a line naming a result not shown is left out
    found = [d for d in getattr(na.answer, "disagreements", None) or [] if all(f.rank in shown for f in d.figures)]
    line = differ_line(found, number=shown.get, text=lambda t: escape(truncate(one_line(t), 120)),
                       limit=DIFFER_BUDGET - 2)
    return f"⚠ {line}" if line else None


#: an answer below :data:`retrieval.types.LOW_CONFIDENCE` carries this above its quotes
LOW_CONFIDENCE_TEXT = ("Low confidence ({:.0%}): these are the closest passages the corpus has, "
                       "and they may not answer the question. Check the sources.")


NOT_FOUND_TEXT = (
    "Not in the corpus: I found no passage that answers this. "
    "Try rephrasing, or use /sources to see which documents are indexed."
)


def render_not_found(answer: Answer | None = None) -> Reply:
    """The short, honest reply when the corpus does not answer, with the reason when the answer has one
    (it may name corpus headings or question words, so it is escaped like quoted text)."""
    why = getattr(answer, "reason", None)
    if not why:
        return Reply(content=NOT_FOUND_TEXT, embeds=[])
    reason = truncate(escape(one_line(str(why))), 300)
    return Reply(content=truncate(f"{NOT_FOUND_TEXT}\nWhy: {reason}.", CONTENT), embeds=[])


def render_text(text: str) -> Reply:
    """A plain one-off message (errors, refusals); ``text`` is ours, not escaped."""
    return Reply(content=truncate(text, CONTENT), embeds=[])


# ---------------------------------------------------------------- sources


def _meta_fields(doc: dict) -> list[tuple[str, str]]:
    out = []
    for key, name in (("outlet", "Outlet"), ("author", "Author"), ("date", "Date")):
        if doc.get(key):
            out.append((name, truncate(escape(one_line(str(doc[key]))), FIELD_VALUE)))
    where = doc.get("url") or doc.get("source")
    if where:
        # keep URLs clickable: they are sent inside <> which Discord shows as a plain link
        w = one_line(str(where))
        value = f"<{w}>" if w.startswith(("http://", "https://")) and " " not in w and ">" not in w else escape(w)
        out.append(("Source", truncate(value, FIELD_VALUE)))
    out.append(("Document id", truncate(escape(str(doc.get("doc_id", ""))), FIELD_VALUE)))
    return out


def render_source(view: SourceView, *, number: int | None = None, quote: str | None = None) -> Reply:
    """A passage in context: the cited paragraph (quote emphasised), its neighbours, and metadata."""
    doc = view.document
    title = one_line(doc.get("title") or doc.get("doc_id") or "document")
    embed = discord.Embed(colour=EMBED_COLOUR, title=truncate((f"[{number}] " if number else "") + escape(title), EMBED_TITLE))
    for name, value in _meta_fields(doc):
        embed.add_field(name=name, value=value, inline=True)
    embed.add_field(name="Paragraph", value=f"¶ {view.paragraph} of {view.total_paragraphs}", inline=True)
    cited_para = next((p for p in view.paragraphs if p.number == view.paragraph), None)
    if cited_para is not None and cited_para.page:
        embed.add_field(name="Page", value=str(cited_para.page), inline=True)
    if cited_para is not None and cited_para.heading_path:
        embed.add_field(name="Section", value=truncate(escape(one_line(" › ".join(cited_para.heading_path))), 1024),
                        inline=False)
    embed.set_footer(text="The cited paragraph is marked ▶; its neighbours give context.")

    budget = min(EMBED_DESCRIPTION, EMBED_TOTAL - len(embed) - 10)
    cited = [p for p in view.paragraphs if p.number == view.paragraph]
    others = [p for p in view.paragraphs if p.number != view.paragraph]
    # the cited paragraph gets up to 60% of the room, the neighbours share the rest
    cited_budget = budget if not others else int(budget * 0.6)
    other_budget = (budget - cited_budget) // max(1, len(others)) if others else 0
    blocks = []
    for p in view.paragraphs:
        marker = "▶ " if p.number == view.paragraph else ""
        head = f"**{marker}¶ {p.number}**"
        if p.heading:
            head += " · " + truncate(escape(one_line(p.heading)), 100)
        room = (cited_budget if p.number == view.paragraph else other_budget) - len(head) - 3
        if p.number == view.paragraph:
            q = quote or ""
            start = p.text.find(q) if q else 0
            body = render_passage(p.text, q, max(start, 0), max(room, 40))
        elif p.number < view.paragraph:
            # context before: keep its end, nearest the cited paragraph
            body = render_passage(p.text, "", 0, max(room, 40)) if len(p.text) <= room else tail_passage(p.text, room)
        else:
            body = render_passage(p.text, "", 0, max(room, 40))
        blocks.append(f"{head}\n{body}")
    desc = "\n\n".join(blocks)
    embed.description = truncate(desc, budget) if desc else "(empty paragraph)"
    if not cited:
        embed.description = truncate("(that paragraph was not found)\n\n" + embed.description, budget)
    return Reply(content=None, embeds=[embed])


def render_answer_sources(question: str, results: Sequence[dict], also_in: Sequence[dict] = ()) -> Reply:
    """The sources of a stored answer (message context menu): one line of metadata per citation,
    the results then their "also in" sources, numbered as in the answer (see :func:`number_citations`)."""
    embed = discord.Embed(colour=EMBED_COLOUR, title=truncate("Sources · " + escape(one_line(question)), EMBED_TITLE))
    blocks = []
    for r in [*results[:MAX_RESULTS], *also_in]:
        c = r.get("citation") or {}
        label = " · ".join(
            p for p in (c.get("title") or r.get("doc_id"), c.get("outlet") or c.get("author"), c.get("date")) if p
        )
        where = c.get("source") or ""
        line = f"**[{r.get('number', '?')}]** {escape(one_line(label))}"
        if r.get("paragraph") or c.get("page"):
            place = Citation(0, "", None, None, None, None, r.get("paragraph") or 0, "",
                             list(c.get("heading_path") or []), c.get("page")).place()
            line += " · " + escape(_place(place, 200))
        if where:
            line += "\n" + _where(str(where), 300)
        if r.get("quote"):
            line += "\n> " + truncate(escape(one_line(r["quote"])), 300)
        blocks.append(line)
    embed.description = truncate("\n\n".join(blocks) or "(no sources)", EMBED_DESCRIPTION)
    embed.set_footer(text="Use the [n] buttons under the answer for the full context.")
    return Reply(content=None, embeds=[embed])


def render_documents(docs: Sequence[dict], page: int, per_page: int = 10) -> Reply:
    """One page of the indexed documents list (``page`` is 0-based and clamped)."""
    pages = max(1, -(-len(docs) // per_page))
    page = min(max(page, 0), pages - 1)
    chunk = docs[page * per_page : (page + 1) * per_page]
    embed = discord.Embed(colour=EMBED_COLOUR, title=f"Indexed documents ({len(docs)})")
    lines = []
    for d in chunk:
        meta = " · ".join(escape(one_line(str(d[k]))) for k in ("outlet", "date") if d.get(k))
        title = truncate(escape(one_line(d.get("title") or d.get("doc_id"))), 150)
        lines.append(
            f"**{title}**\n`{truncate(str(d.get('doc_id')).replace('`', chr(0x2035)), 120)}`"
            + (f" · {meta}" if meta else "")
            + f" · {d.get('paragraphs', '?')} ¶"
        )
    embed.description = truncate("\n".join(lines) or "(no documents indexed)", EMBED_DESCRIPTION)
    embed.set_footer(text=f"Page {page + 1}/{pages} · /source document:<id> shows a document")
    return Reply(content=None, embeds=[embed])


def page_count(n_docs: int, per_page: int = 10) -> int:
    return max(1, -(-n_docs // per_page))


# ---------------------------------------------------------------- admin


def render_progress(done: int | None, total: int | None, unit: str = "documents", *, rebuild: bool = False) -> str:
    """``⏳ Reindexing the corpus… 3/12 documents`` while files are read, then ``… embedding
    1,024/13,007 passages``, then (``adapt = true``) the query adapter's training (no counts before
    the first progress report)."""
    kind = "Rebuilding" if rebuild else "Reindexing"
    if done is None or total is None:
        return f"⏳ {kind} the corpus…"
    if unit == "passages":
        return f"⏳ {kind} the corpus… embedding {done:,}/{total:,} passages"
    if unit == "training":  # the query adapter (adapt = true): encoding its structure pairs
        return f"⏳ {kind} the corpus… training the query adapter: {done:,}/{total:,} queries encoded"
    return f"⏳ {kind} the corpus… {done}/{total} {unit}"


def _names(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(escape(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def summary_has_details(summary: IndexSummary) -> bool:
    return bool(summary.added or summary.changed or summary.removed or summary.skipped or summary.sources)


def render_summary(summary: IndexSummary, *, details: bool = True) -> str:
    """The reindex report: counts, then (``details``) names per state and skipped files with reasons
    (≤ 2,000). Without details it names nothing of the corpus: the line a public channel gets."""
    head = summary.lines()[:3 if summary.adapter is not None else 2]  # counts (+ the adapter's line)
    lines = ["✅ Reindex finished — the new index is live.", *[escape(ln) for ln in head]]
    if not details:
        if summary_has_details(summary):
            lines.append("The documents added, changed, removed or skipped were sent to the admin.")
        return truncate("\n".join(lines), CONTENT)
    for label, ids in (("added", summary.added), ("changed", summary.changed), ("removed", summary.removed)):
        if ids:
            lines.append(f"{label}: {_names(ids)}")
    for src in summary.sources:  # what each website or repository fetch did (failures named)
        lines.append(truncate(escape(" · ".join(x.strip() for x in src.split("\n"))), 400))
    for i, s in enumerate(summary.skipped):
        line = f"skipped {escape(s.path)}: {escape(s.reason)}"
        candidate = "\n".join([*lines, line])
        if len(candidate) > CONTENT - 60:
            lines.append(f"… and {len(summary.skipped) - i} more skipped")
            break
        lines.append(line)
    return truncate("\n".join(lines), CONTENT)


def button_label(number: int, title: str | None) -> str:
    """``[n] title`` cut to Discord's 80-character button label limit (labels are plain text)."""
    return truncate(f"[{number}] {one_line(title) or 'source'}", BUTTON_LABEL)
