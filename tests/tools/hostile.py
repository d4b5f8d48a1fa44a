"""Hostile inputs for the reliability tests and the long fuzz runs (``tests/tools/fuzz_questions.py``).

Nothing here imports discord or the engine: the generators are plain Python (seeded, so a failing
input can be reproduced from its seed and index), and the checks work on plain strings or on
any object shaped like ``bot.render.Reply``.
"""

from __future__ import annotations

import random
import re
import sys
import unicodedata
from functools import lru_cache
from pathlib import Path

# -------------------------------------------------------------------- characters

ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad"]
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
        "\u200e", "\u200f", "\u061c"]
RTL_TEXT = ["مرحبا بالعالم", "שלום עולם", "سلام دنیا", "ܫܠܡܐ", "ދިވެހި"]
CONTROL = [chr(c) for c in range(0x00, 0x20)] + ["\x7f"] + [chr(c) for c in range(0x80, 0xA0)]
MARKDOWN = ["**", "__", "*", "_", "~~", "||", "`", "```", "```py\nprint('x')\n```", "> ", ">>> ", "# ", "## ",
            "- ", "1. ", "[click](https://evil.example/x)", "[a]( <https://x.example> )", "\\", "\\*", "-# ",
            "<https://example.com>", "||spoiler||", "~~strike~~", "`code`", "***bold italic***"]
MENTIONS = ["@everyone", "@here", "<@123456789012345678>", "<@!123456789012345678>", "<@&234567890123456789>",
            "<#345678901234567890>", "<:emoji:456789012345678901>", "<a:anim:456789012345678901>",
            "<t:1700000000:R>", "</ask:567890123456789012>", "@\u200beveryone", "@ everyone", "＠everyone",
            "@EVERYONE", "@everyone@here", "<@1>", "@123456789012345678"]
URLS = ["https://example.com/a_b_c?x=1&y=**2**", "http://127.0.0.1:1/", "https://discord.gg/invite",
        "javascript:alert(1)", "file:///etc/passwd", "https://xn--80ak6aa92e.com/", "<https://a.example/>",
        "steam://run/1", "https://example.com/@everyone"]
WORDS = ["what", "who", "when", "where", "why", "how", "did", "the", "Pentagon", "Maduro", "Venezuela", "boat",
         "strike", "Caribbean", "president", "said", "report", "ship", "military", "drug", "law", "war",
         "Congress", "Trump", "Hegseth", "oil", "sanctions", "comment", "Herald", "Journal"]

# every Unicode general category; Cs (lone surrogates) and Cn (unassigned) included on purpose
CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
              "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"]


@lru_cache(maxsize=1)
def chars_by_category() -> dict[str, list[int]]:
    """Code points of every general category (about a second to compute, once)."""
    out: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        bucket = out[cat]
        # keep the big blocks small: every code point of rare categories, a stride of the rest
        if len(bucket) < 4000 or cp % 97 == 0:
            bucket.append(cp)
    return out


def random_char(rng: random.Random, category: str | None = None) -> str:
    table = chars_by_category()
    cat = category or rng.choice(CATEGORIES)
    return chr(rng.choice(table[cat]))


# -------------------------------------------------------------------- questions

def _length(rng: random.Random) -> int:
    """0 to 100,000 characters: mostly question-sized, a tail of long and huge ones."""
    r = rng.random()
    if r < 0.03:
        return 0
    if r < 0.70:
        return rng.randint(1, 200)
    if r < 0.90:
        return rng.randint(200, 2000)
    if r < 0.97:
        return rng.randint(2000, 10_000)
    return rng.randint(10_000, 100_000)


def _piece(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.30:
        return rng.choice(WORDS)
    if kind < 0.45:
        return "".join(random_char(rng) for _ in range(rng.randint(1, 8)))
    if kind < 0.52:
        return rng.choice(ZERO_WIDTH) * rng.randint(1, 3)
    if kind < 0.59:
        return rng.choice(BIDI) + rng.choice(RTL_TEXT + WORDS)
    if kind < 0.65:
        return rng.choice(CONTROL)
    if kind < 0.78:
        return rng.choice(MARKDOWN)
    if kind < 0.90:
        return rng.choice(MENTIONS)
    if kind < 0.96:
        return rng.choice(URLS)
    return rng.choice(["\n", "\r\n", "\t", " " * rng.randint(1, 5), "\u2028", "\u2029", "\x85"])


def question(rng: random.Random) -> str:
    """One hostile question of a random length (see :func:`_length`)."""
    n = _length(rng)
    if n == 0:
        return rng.choice(["", " ", "\u200b", "\n\t", "\x00", "\u202e", "‍"])
    style = rng.random()
    if style < 0.05:  # one character repeated: degenerate tokenization
        return random_char(rng) * n
    if style < 0.10:  # a single category throughout
        cat = rng.choice(CATEGORIES)
        return "".join(random_char(rng, cat) for _ in range(min(n, 5000))) * max(1, n // 5000)
    parts: list[str] = []
    size = 0
    while size < n:
        p = _piece(rng)
        parts.append(p)
        size += len(p) + 1
        if len(parts) > 4000:  # long ones: repeat a block rather than generate 100k pieces
            block = " ".join(parts)
            return (block * (n // max(1, len(block)) + 1))[:n]
    return " ".join(parts)[:n]


def questions(seed: int, n: int):
    """``n`` hostile questions from ``seed`` (same seed, same questions)."""
    rng = random.Random(seed)
    for _ in range(n):
        yield question(rng)


# -------------------------------------------------------------------- checks on rendered output

# Discord ids are snowflakes: every user, role and guild id that can exist has at least 17 digits.
PING = re.compile(r"@(?:everyone|here)\b|<@[!&]?\d{15,}>")
INERT_MENTION = re.compile(r"<@[!&]?\d{1,14}>")


def pings(text: str | None) -> list[str]:
    """Mention tokens Discord would turn into a notification (escaped ones carry a zero-width space)."""
    return PING.findall(text or "")


def inert_mentions(text: str | None) -> list[str]:
    """Unescaped mention syntax whose id is too short to belong to anyone: shown as a mention pill
    ("@unknown-user"), notifies no one. Counted apart from pings."""
    return INERT_MENTION.findall(text or "")


def reply_texts(reply) -> list[tuple[str, str]]:
    """``(where, text)`` for every user-visible string of a ``bot.render.Reply``."""
    out = []
    if reply.content is not None:
        out.append(("content", reply.content))
    for i, e in enumerate(reply.embeds):
        for name in ("title", "description", "url"):
            v = getattr(e, name, None)
            if v:
                out.append((f"embed{i}.{name}", str(v)))
        for j, f in enumerate(e.fields):
            out.append((f"embed{i}.field{j}.name", str(f.name)))
            out.append((f"embed{i}.field{j}.value", str(f.value)))
        if e.footer and e.footer.text:
            out.append((f"embed{i}.footer", e.footer.text))
        if e.author and e.author.name:
            out.append((f"embed{i}.author", e.author.name))
    return out


LIMITS = {"content": 2000, "title": 256, "description": 4096, "field.name": 256, "field.value": 1024,
          "footer": 2048, "author": 256, "embed_total": 6000, "embeds": 10, "fields": 25}


def limit_violations(reply) -> list[str]:
    """Every Discord message limit the reply breaks (empty when it can be sent as is)."""
    bad = []
    if reply.content is not None and len(reply.content) > LIMITS["content"]:
        bad.append(f"content {len(reply.content)} > 2000")
    if not reply.content and not reply.embeds:
        bad.append("empty message")
    if len(reply.embeds) > LIMITS["embeds"]:
        bad.append(f"{len(reply.embeds)} embeds > 10")
    total = 0
    for i, e in enumerate(reply.embeds):
        n = 0
        for name, lim in (("title", 256), ("description", 4096)):
            v = getattr(e, name, None) or ""
            n += len(v)
            if len(v) > lim:
                bad.append(f"embed{i}.{name} {len(v)} > {lim}")
        if len(e.fields) > LIMITS["fields"]:
            bad.append(f"embed{i} has {len(e.fields)} fields > 25")
        for j, f in enumerate(e.fields):
            if not str(f.name).strip() or not str(f.value).strip():
                bad.append(f"embed{i}.field{j} empty name or value")
            if len(str(f.name)) > 256:
                bad.append(f"embed{i}.field{j}.name {len(f.name)} > 256")
            if len(str(f.value)) > 1024:
                bad.append(f"embed{i}.field{j}.value {len(f.value)} > 1024")
            n += len(str(f.name)) + len(str(f.value))
        if e.footer and e.footer.text:
            n += len(e.footer.text)
            if len(e.footer.text) > 2048:
                bad.append(f"embed{i}.footer {len(e.footer.text)} > 2048")
        if e.author and e.author.name:
            n += len(e.author.name)
        total += n
    if total > LIMITS["embed_total"]:
        bad.append(f"embeds total {total} > 6000")
    return bad


def unescaped(text: str, i: int) -> bool:
    """True when the character at ``i`` is not preceded by an odd run of backslashes."""
    k = i - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (i - 1 - k) % 2 == 0


MD_SPECIAL = "*_~|`"


def unescaped_markdown(text: str, *, own_bold: bool = True) -> list[str]:
    """Markdown in ``text`` that is not escaped: specials, masked links, line-start syntax.

    With ``own_bold``, unescaped ``**`` pairs are allowed (the renderer's own emphasis); an odd one
    out, or any other unescaped special character, is reported.
    """
    bad = []
    for ln in text.split("\n"):
        body = re.sub(r"^> ?", "", ln)
        stars = 0
        i = 0
        while i < len(body):
            ch = body[i]
            if ch in MD_SPECIAL and unescaped(body, i):
                if own_bold and body.startswith("**", i):
                    stars += 1
                    i += 2
                    continue
                bad.append(f"unescaped {ch!r} in {ln[:80]!r}")
            i += 1
        if stars % 2:
            bad.append(f"odd number of ** in {ln[:80]!r}")
        m = re.search(r"\[[^\]\n]*\]\([^)\n]*\)", body)
        if m and unescaped(body, m.start()):
            bad.append(f"masked link {m.group(0)[:60]!r}")
        if re.match(r"(?:#{1,3} |-# |>>> |> )", body.lstrip("…")) and unescaped(body, 0):
            bad.append(f"line-start markdown in {ln[:80]!r}")
    return bad


# -------------------------------------------------------------------- a hostile (but valid) corpus

HOSTILE_DOCS = {
    "mentions.txt": (
        "Mentions in the corpus\n\n"
        "The press office wrote @everyone and @here in its notice about the harbour closure. "
        "Staff were told to ping <@123456789012345678> or the role <@&234567890123456789> with questions.\n\n"
        "A second notice said the harbour would reopen on Monday, @everyone should check the schedule."
    ),
    "markdown.md": (
        "# Markdown hazards\n\n"
        "The harbour **budget** was __cut__ by ~~half~~ a third, according to ||secret|| minutes of the council.\n\n"
        "The council's `script` ran as ```rm -rf /``` and a [harmless link](https://evil.example/x) was posted.\n\n"
        "> A quoted warning about the harbour dredging contract.\n\n"
        "- The dredging contract was signed in March.\n"
    ),
    "unicode.txt": (
        "Unicode hazards\n\n"
        "The mayor of Zürich said \u202etxet desrever\u202c that the fjord's ferry ran on time, "
        "with zero\u200bwidth joiners in the names Ma\u200dria and José.\n\n"
        "مرحبا بالعالم: the Arabic newsletter reported that the ferry timetable changed in winter. "
        "שלום עולם is Hebrew for hello world, and 東京 ferries are famous too.\n\n"
        "The emoji report 🚢🛳️ said ferries carried 1,234 passengers on the first day of service."
    ),
    "long_sentence.txt": (
        "A very long sentence\n\n"
        + "The committee heard that " + ", ".join(f"witness number {i} described the ferry" for i in range(120))
        + ".\n\n" + "Supercalifragilistic" * 60 + " is not a word but appeared in the ferry log.\n"
    ),
    "page.html": (
        "<html><head><title>Harbour &amp; **ferry** @everyone</title>"
        "<meta property='og:site_name' content='The <@123456789012345678> Times'></head>"
        "<body><article><h1>Harbour &amp; **ferry** @everyone</h1>"
        "<p>The harbour master said the ferry *would* run _every_ hour from the new pier.</p>"
        "<p>Tickets cost `five` euros, the harbour master told @here reporters.</p>"
        "</article></body></html>"
    ),
}


def write_hostile_corpus(folder: Path, *, seeds: Path | None = None) -> Path:
    """Write :data:`HOSTILE_DOCS` (and a copy of ``seeds``) into ``folder``."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    if seeds is not None:
        for p in sorted(Path(seeds).glob("*")):
            if p.is_file():
                shutil.copy(p, folder / p.name)
    for name, text in HOSTILE_DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
