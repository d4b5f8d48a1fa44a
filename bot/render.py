"""Turn answers, sources and summaries into Discord messages that always fit Discord's limits.

Every piece of corpus or user text goes through :func:`escape` (markdown and mentions), and every
message is built to stay inside the limits below: long passages are trimmed around the quoted
sentence with an ellipsis on the cut side, and a quote that is itself too long is cut with a visible
ellipsis, never silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

import discord

from retrieval.types import Answer, Citation, IndexSummary, Result, SourceView

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
MAX_RESULTS = 10  # results quoted in an answer; its "also in" sources are numbered after them

ELLIPSIS = "…"
EMBED_COLOUR = discord.Colour(0x3B82F6)
NOT_FOUND_COLOUR = discord.Colour(0x9CA3AF)

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


# ---------------------------------------------------------------- answers


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


def _where(source: str | None, limit: int) -> str:
    """A citation's file or URL for one line: plain URLs stay clickable (in ``<>``), the rest is escaped."""
    w = one_line(source)
    if w.startswith(("http://", "https://")) and escape(w) == w and " " not in w and ">" not in w and len(w) + 2 <= limit:
        return f"<{w}>"
    return truncate(escape(w), limit)


def citation_line(n: NumberedCitation, limit: int = FIELD_VALUE) -> str:
    """``[n] title · outlet · date · ¶ paragraph · file`` (escaped, one line, at most ``limit`` chars).

    When it is too long the title is shortened, so the rest of the citation (file included) stays.
    """
    c = n.citation
    meta = "".join(f" · {one_line(p)}" for p in (c.outlet or c.author, c.date) if p)
    if c.paragraph:
        meta += f" · ¶ {c.paragraph}"
    head = f"[{n.number}] "
    where = f" · {_where(c.source, max(40, limit // 3))}" if c.source and c.source != c.doc_id else ""
    title = one_line(c.title or c.doc_id)
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


def render_answer(answer: Answer, *, max_results: int = MAX_RESULTS) -> Reply:
    """The reply to a question: passages quoted with citation numbers and a sources footer.

    A not-answered question gets :func:`render_not_found` instead.
    """
    if not answer.answered or not answer.results:
        return render_not_found(answer)
    results = answer.results[:max_results]
    numbered, also = number_citations(results)

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
    embed.set_footer(text=truncate(f"Quoted verbatim from the corpus · index {answer.index_version}", FOOTER))

    fixed = len(embed)
    desc_budget = min(EMBED_DESCRIPTION, EMBED_TOTAL - fixed - 10)
    blocks: list[str] = []
    remaining = desc_budget
    for i, r in enumerate(results):
        n = i + 1
        header = f"**[{n}]**"
        tail = ""
        if also.get(i):
            tail = "\n↳ also in " + ", ".join(f"[{m}]" for m in also[i])
        share = remaining // (len(results) - i) - len(header) - len(tail) - 3
        body = render_passage(r.text, r.quote, r.quote_start, max(share, 40))
        block = f"{header}\n{body}{tail}"
        if len(block) + 2 > remaining:
            block = truncate(block, max(0, remaining - 2))
        blocks.append(block)
        remaining -= len(block) + 2
    embed.description = "\n\n".join(blocks)
    return Reply(content=None, embeds=[embed])


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
            body = render_passage(p.text, "", 0, max(room, 40)) if len(p.text) <= room else _tail_passage(p.text, room)
        else:
            body = render_passage(p.text, "", 0, max(room, 40))
        blocks.append(f"{head}\n{body}")
    desc = "\n\n".join(blocks)
    embed.description = truncate(desc, budget) if desc else "(empty paragraph)"
    if not cited:
        embed.description = truncate("(that paragraph was not found)\n\n" + embed.description, budget)
    return Reply(content=None, embeds=[embed])


def _tail_passage(text: str, room: int) -> str:
    room = max(room, 40)
    raw = room
    for _ in range(12):
        part = _cut_left(text, raw)
        out = "> " + ELLIPSIS + escape(part).replace("\n", "\n> ")
        if len(out) <= room:
            return out
        raw = max(1, int(raw * room / len(out)) - 8)
    return truncate(out, room)


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
        if r.get("paragraph"):
            line += f" · ¶ {r['paragraph']}"
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


def render_progress(done: int | None, total: int | None, *, rebuild: bool = False) -> str:
    """``⏳ Reindexing the corpus… 3/12 documents`` (no counts before the first progress report)."""
    kind = "Rebuilding" if rebuild else "Reindexing"
    if done is None or total is None:
        return f"⏳ {kind} the corpus…"
    return f"⏳ {kind} the corpus… {done}/{total} documents"


def _names(ids: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(escape(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def render_summary(summary: IndexSummary) -> str:
    """The reindex report: counts, then names per state and skipped files with reasons (≤ 2,000)."""
    lines = ["✅ Reindex finished — the new index is live.", *[escape(ln) for ln in summary.lines()[:2]]]
    for label, ids in (("added", summary.added), ("changed", summary.changed), ("removed", summary.removed)):
        if ids:
            lines.append(f"{label}: {_names(ids)}")
    for i, s in enumerate(summary.skipped):
        line = f"skipped {escape(s.path)}: {escape(s.reason)}"
        candidate = "\n".join([*lines, line])
        if len(candidate) > CONTENT - 60:
            lines.append(f"… and {len(summary.skipped) - i} more skipped")
            break
        lines.append(line)
    return truncate("\n".join(lines), CONTENT)


def render_stats(stats: dict, *, answered: int, latencies: Sequence[float], feedback: dict | None = None) -> Reply:
    """The /stats embed: index size and age, questions answered, latency percentiles."""
    embed = discord.Embed(colour=EMBED_COLOUR, title="citebot stats")
    embed.add_field(name="Documents", value=str(stats.get("documents", "?")))
    embed.add_field(name="Passages", value=str(stats.get("passages", "?")))
    embed.add_field(name="Index age", value=_age(stats.get("built_at")))
    embed.add_field(name="Questions answered", value=str(answered))
    if latencies:
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        embed.add_field(name="Latency", value=f"p50 {p50 * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms (n={len(latencies)})")
    else:
        embed.add_field(name="Latency", value="no questions yet")
    if feedback:
        embed.add_field(name="Feedback", value=f"👍 {feedback.get('up', 0)} · 👎 {feedback.get('down', 0)}")
    embed.set_footer(text=truncate(f"index {stats.get('version', '?')} · model {stats.get('model', '?')}", FOOTER))
    return Reply(content=None, embeds=[embed])


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no numpy needed)."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(pct / 100 * len(s) + 0.5)) - 1))
    return s[k]


def _age(built_at: str | None) -> str:
    if not built_at:
        return "?"
    try:
        t = datetime.fromisoformat(str(built_at).replace("Z", "+00:00"))
    except ValueError:
        return escape(str(built_at))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    secs = max(0, int((datetime.now(timezone.utc) - t).total_seconds()))
    for unit, n in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= n:
            return f"{secs // n} {unit} (built {t:%Y-%m-%d %H:%M} UTC)"
    return f"{secs} s (built {t:%Y-%m-%d %H:%M} UTC)"


def button_label(number: int, title: str | None) -> str:
    """``[n] title`` cut to Discord's 80-character button label limit (labels are plain text)."""
    return truncate(f"[{number}] {one_line(title) or 'source'}", BUTTON_LABEL)
