"""Sources that disagree: the same kind of figure given different values by different documents.

An answer quotes several documents; when their quotes give different counts, amounts or dates for
the same thing ("21 vessels" vs "three vessels", "83 people killed" vs "62 individuals killed"), the
reply says so (see :func:`disagreements`). Precision matters more than recall (a false "sources
differ" line is misleading), so a figure is compared only when it is pinned down on both sides:

- a **count** needs the noun it counts (the word(s) after the number, stemmed, with a few synonyms
  folded: people/individuals/persons, boats/vessels, soldiers/troops/staff members/personnel) and an
  **event** word near it from a fixed list (killed, struck, destroyed, deployed, arrested…): "four
  people said" has no event and is never compared. Years (1800–2100) are dates, never counts, and a
  number glued to letters (F-35, B-1, "two-year") is a name or an adjective, not a count;
- an **amount** needs its currency and what it pays for (bounty/reward, fine, aid…), and the two
  sentences must name someone in common ("$25 million" on Cabello is not Maduro's "$50 million");
  "$25 million each" is a per-person figure and never compared;
- a **date** needs an event word just before it ("signed on September 2") and a shared name, and
  differs only in a field both give (September 2025 and 2025-09-02 agree).

Values are equal when they are the same number ("$50 million" = "$50,000,000", "21" = "twenty-one"),
or within 10 % when either side is approximate ("about", "nearly"…). Bounds ("at least 62") are
kept in the shown text, not reasoned about: different figures are shown, the reader judges.

Counts reported at different times legitimately differ (a running total of strikes); the reply
shows each figure with its document's date when the document has one, so the reader sees why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from retrieval.index.passages import split_sentences
from retrieval.types import Disagreement, Figure, Result

WINDOW = 8  # words between a count and its event word
DATE_WINDOW = 2  # a date follows its event word closely ("signed on September 2"): others are of other events
NEAR = 2  # an event word this close is shown with the figure ("killing at least 83 individuals")
APPROX_TOLERANCE = 0.10

_TOKEN = re.compile(r"[$€£]|\d+(?:[,.]\d+)*|[^\W\d_]+(?:[-'’][^\W\d_]+)*|[^\w\s]")

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALE = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "bn": 1e9, "m": 1e6,
          "k": 1e3}
_ABBREVIATED = re.compile(r"(?:m|bn|k)\b", re.I)  # "$50m"
_QUALIFIERS = {  # words before a figure, kept in the shown text; the value says True when approximate
    ("at", "least"): False, ("at", "most"): False, ("more", "than"): False, ("less", "than"): False,
    ("fewer", "than"): False, ("up", "to"): False, ("as", "many", "as"): False, ("over",): False,
    ("under",): False, ("about",): True, ("around",): True, ("approximately",): True, ("roughly",): True,
    ("some",): True, ("nearly",): True, ("almost",): True, ("an", "estimated"): True, ("estimated",): True,
}
# words that end a counted noun phrase ("three boats from …", "83 people killed")
_STOP = set("""of in on at to from with for by aboard against into onto near across over under after before
during since until and or but nor the a an that which who whom whose were was are is be been being have has
had will would could should may might can do does did each per apiece more than this these those its their
his her our your my de la del prior ago later earlier so as if when while""".split())
_DISTRIBUTIVE = {"each", "per", "apiece", "a", "an", "every"}  # "$25 million each", "$5 a day"
# event words (lower case) -> what happened; a count is compared only under the same event
_EVENTS = {
    "killed": "killed", "killing": "killed", "kill": "killed", "kills": "killed", "dead": "killed",
    "died": "killed", "die": "killed", "slain": "killed",
    "injured": "injured", "injuring": "injured", "wounded": "injured", "wounding": "injured", "hurt": "injured",
    "struck": "struck", "sank": "struck", "sunk": "struck", "sink": "struck", "sinking": "struck",
    "destroyed": "struck", "destroying": "struck", "bombed": "struck", "attacked": "struck", "hit": "struck",
    "arrested": "detained", "detained": "detained", "captured": "detained", "jailed": "detained",
    "imprisoned": "detained", "abducted": "detained", "kidnapped": "detained",
    "released": "released", "freed": "released", "release": "released",
    "deployed": "deployed", "mobilized": "deployed", "mobilised": "deployed", "stationed": "deployed",
    "deported": "deported", "expelled": "deported", "repatriated": "deported",
    "displaced": "displaced", "evacuated": "evacuated", "rescued": "rescued", "missing": "missing",
    "conducted": "conducted", "launched": "conducted", "carried": "conducted",
    "charged": "charged", "indicted": "charged", "convicted": "convicted", "sentenced": "sentenced",
    "designated": "designated", "signed": "signed", "elected": "elected", "born": "born",
    "seized": "seized", "confiscated": "seized", "intercepted": "seized",
}
# counted nouns that mean the same thing (stems are compared otherwise)
_SYNONYMS = {
    "person": "people persons individuals individual person",
    "vessel": "boats boat vessels vessel",
    "personnel": "soldiers soldier troops troop personnel staff servicemembers",
}
_BIGRAMS = {("staff", "members"): "personnel", ("service", "members"): "personnel", ("crew", "members"): "crew"}
_MONEY_NOUNS = {  # what an amount pays for -> one name
    "bounty": "bounty", "bounties": "bounty", "reward": "bounty", "rewards": "bounty", "fine": "fine",
    "fines": "fine", "penalty": "fine", "aid": "aid", "budget": "budget", "ransom": "ransom", "loan": "loan",
    "contract": "contract", "deal": "deal", "settlement": "settlement", "damages": "damages", "salary": "salary",
    "funding": "funding", "package": "package", "price": "price", "cost": "cost", "bail": "bail",
}
_CURRENCY = {"$": "USD", "€": "EUR", "£": "GBP", "dollars": "USD", "dollar": "USD", "usd": "USD", "euros": "EUR",
             "euro": "EUR", "eur": "EUR", "pounds": "GBP", "gbp": "GBP"}
_MONTHS = {m: i for i, ms in enumerate(("jan january", "feb february", "mar march", "apr april", "may",
                                         "jun june", "jul july", "aug august", "sep sept september",
                                         "oct october", "nov november", "dec december"), 1) for m in ms.split()}
_CALENDAR = {*_MONTHS, *"monday tuesday wednesday thursday friday saturday sunday".split()}  # not names
_MONTH = r"(?:%s)\.?" % "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATES = [  # (pattern, group names in y/m/d order); the first that matches a span wins
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "ymd"),
    (re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.I), "mdy"),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})(?:,?\s+(\d{{4}}))?\b", re.I), "dmy"),
    (re.compile(rf"\b({_MONTH})\s+(\d{{4}})\b", re.I), "my"),
]


@dataclass
class Mention:
    """A figure found in a text.

    Args:
        kind: ``count``, ``money`` or ``date``.
        key: what it is a figure of; figures are compared only under equal keys.
        value: a float (count, amount) or a ``(year, month, day)`` tuple with None for missing fields.
        approx: the text says it is approximate ("about 15,000").
        start / end: the shown span in the text (the figure, its qualifier, a nearby event word).
        names: proper names of its sentence, lower-cased (amounts and dates need one in common).
    """

    kind: str
    key: tuple
    value: float | tuple
    approx: bool
    start: int
    end: int
    names: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def _stem():
    import Stemmer

    return Stemmer.Stemmer("english").stemWord


@lru_cache(maxsize=1)
def _noun_classes() -> dict[str, str]:
    return {_stem()(w): cls for cls, words in _SYNONYMS.items() for w in words.split()}


# number words up to ninety-nine ("twenty-one"); larger ones are digits or a scale word after these
_WORDS = {**{w: float(i) for i, w in enumerate(_UNITS)}, **{w: float(20 + 10 * i) for i, w in enumerate(_TENS)},
          **{f"{t}-{u}": float(20 + 10 * i + j) for i, t in enumerate(_TENS) for j, u in enumerate(_UNITS[1:10], 1)}}


def _number_word(w: str) -> float | None:
    return _WORDS.get(w.lower())


def _digits(s: str) -> float | None:
    """``4,000`` -> 4000, ``1.5`` -> 1.5; None for a malformed thousands group (``1,5``)."""
    if "," in s and not re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        return None
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def _is_year(s: str) -> bool:
    return len(s) == 4 and s.isdigit() and 1800 <= int(s) <= 2100


def _date_value(m: re.Match, order: str) -> tuple:
    g = dict(zip(order, m.groups()))
    month = g.get("m")
    mon = _MONTHS.get(month.lower().rstrip(".")) if month and not month.isdigit() else (int(month) if month else None)
    year = int(g["y"]) if g.get("y") else None
    day = int(g["d"]) if g.get("d") else None
    return (year, mon, day)


class _Sentence:
    """One sentence, tokenized: word positions for windows, spans already taken by dates and amounts."""

    def __init__(self, text: str, start: int, end: int):
        self.text, self.start = text, start
        self.toks = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text, start, end)]
        self.taken: list[tuple[int, int]] = []
        # proper names: capitalised words (the first one too, unless a stop word), possessives dropped
        names = set()
        for t, _, _ in self.toks:
            if len(t) > 1 and t[0].isupper() and t.lower() not in _STOP and t.lower() not in _CALENDAR:
                names.add(_stem()(re.sub(r"['’]s$", "", t).lower()))
        self.names = frozenset(names)

    def free(self, a: int, b: int) -> bool:
        return not any(a < y and x < b for x, y in self.taken)

    def index(self, pos: int) -> int:
        """The index of the first token starting at or after ``pos``."""
        return next((i for i, t in enumerate(self.toks) if t[1] >= pos), len(self.toks))

    def event(self, first: int, last: int, window: int, after: bool = True) -> tuple[str | None, int | None]:
        """The event word nearest tokens ``first``..``last`` (before them only unless ``after``):
        (event, token index), not past a ';'."""
        best: tuple[int, str | None, int | None] = (window + 1, None, None)
        for step in ((-1, 1) if after else (-1,)):
            i, words = (first if step < 0 else last) + step, 0
            while 0 <= i < len(self.toks) and words < window:
                t = self.toks[i][0]
                if t in ";:":
                    break
                if t[0].isalpha():
                    words += 1
                    ev = _EVENTS.get(t.lower())
                    if ev and words < best[0]:
                        best = (words, ev, i)
                        break
                i += step
        return best[1], best[2]

    def qualifier(self, i: int) -> tuple[int, bool]:
        """Index of a qualifier ending just before token ``i`` ("at least"), else ``i``; and whether
        it makes the figure approximate."""
        for words, approx in _QUALIFIERS.items():
            n = len(words)
            if i >= n and tuple(t[0].lower() for t in self.toks[i - n:i]) == words:
                return i - n, approx
        return i, False


def _span(s: _Sentence, first: int, last: int, ev_i: int | None) -> tuple[int, int]:
    """The shown span: tokens ``first``..``last`` and the event word when it is near."""
    if ev_i is not None and (first - NEAR - 1 <= ev_i <= last + NEAR + 1):
        first, last = min(first, ev_i), max(last, ev_i)
    return s.toks[first][1], s.toks[last][2]


def _dates(s: _Sentence) -> list[Mention]:
    out = []
    for pat, order in _DATES:
        for m in pat.finditer(s.text, s.start, s.toks[-1][2] if s.toks else s.start):
            if not s.free(m.start(), m.end()):
                continue
            s.taken.append((m.start(), m.end()))
            first, last = s.index(m.start()), s.index(m.end()) - 1
            ev, ev_i = s.event(first, last, DATE_WINDOW, after=False)
            if ev:
                a, b = _span(s, first, last, ev_i)
                out.append(Mention("date", ("date", ev), _date_value(m, order), False, a, b, s.names))
    # a bare year is a date too ("in 2020"), never a count
    for i, (t, a, b) in enumerate(s.toks):
        if _is_year(t) and s.free(a, b) and not (i and s.toks[i - 1][0] in "$€£"):
            s.taken.append((a, b))
            ev, ev_i = s.event(i, i, DATE_WINDOW, after=False)
            if ev:
                x, y = _span(s, i, i, ev_i)
                out.append(Mention("date", ("date", ev), (int(t), None, None), False, x, y, s.names))
    return out


def _number_at(s: _Sentence, i: int) -> tuple[float, int] | None:
    """The number starting at token ``i`` (digits or a number word, with a scale word after it):
    (value, index of its last token); None when the token is no standalone number."""
    t, a, b = s.toks[i]
    text = s.text
    if t[0].isdigit():
        # glued to a name or a word: F-35, B-1, curid=86757213, 2.0-style versions, "21-year-old"
        # (but "$50m", "$2bn" are amounts)
        if (a > 0 and (text[a - 1].isalnum() or text[a - 1] in "-=/#._")) or \
                (b < len(text) and (text[b].isalpha() or text[b] in "-_/") and not _ABBREVIATED.match(text, b)):
            return None
        value = _digits(t)
    else:
        value = _number_word(t)
    if value is None:
        return None
    j = i
    while j + 1 < len(s.toks) and s.toks[j + 1][0].lower() in _SCALE and not (
            s.toks[j + 1][0].lower() in ("m", "k", "bn") and s.toks[j + 1][1] > s.toks[j][2]):  # "50 m" is metres
        value *= _SCALE[s.toks[j + 1][0].lower()]
        j += 1
    return value, j


def _money(s: _Sentence) -> list[Mention]:
    out = []
    for i, (t, a, b) in enumerate(s.toks):
        cur = _CURRENCY.get(t) if t in "$€£" else None
        if cur:  # "$50 million", "$ 50 million", "US$50,000,000"
            if i + 1 >= len(s.toks) or not s.toks[i + 1][0][0].isdigit():
                continue
            num = _number_at(s, i + 1)
            first = i
        else:  # "50 million dollars"
            if not (t[0].isdigit() or _number_word(t) is not None):
                continue
            num = _number_at(s, i)
            if num is None or num[1] + 1 >= len(s.toks):
                continue
            cur = _CURRENCY.get(s.toks[num[1] + 1][0].lower())
            if not cur:
                continue
            num, first = (num[0], num[1] + 1), i
        if num is None or not s.free(s.toks[first][1], s.toks[num[1]][2]):
            continue
        value, last = num
        after = s.toks[last + 1][0].lower() if last + 1 < len(s.toks) else ""
        if after in _DISTRIBUTIVE:
            s.taken.append((s.toks[first][1], s.toks[last][2]))
            continue
        # what it pays for: the word after ("$50 million bounty"), else the nearest such word before
        what, what_i = _MONEY_NOUNS.get(after), last + 1
        k, words = first - 1, 0
        while what is None and k >= 0 and words < WINDOW and s.toks[k][0] not in ";:":
            if s.toks[k][0][0].isalpha():
                words += 1
                what, what_i = _MONEY_NOUNS.get(s.toks[k][0].lower()), k
            k -= 1
        s.taken.append((s.toks[first][1], s.toks[last][2]))
        if what is None:
            continue
        q, approx = s.qualifier(first)
        a2, b2 = s.toks[q][1], s.toks[last + 1 if what_i == last + 1 else last][2]
        out.append(Mention("money", ("money", cur, what), value, approx, a2, b2, s.names))
    return out


def _counts(s: _Sentence) -> list[Mention]:
    out = []
    for i, (t, a, b) in enumerate(s.toks):
        if not s.free(a, b) or not (t[0].isdigit() or _number_word(t) is not None):
            continue
        num = _number_at(s, i)
        if num is None:
            continue
        value, last = num
        # the counted noun: up to three words after the number, up to a stop word, punctuation, an
        # event word or a participle ("three drug-laden vessels linked to …" counts vessels)
        words: list[str] = []
        j = last + 1
        if j < len(s.toks) and s.toks[j][0].lower() in _DISTRIBUTIVE:
            continue
        while j < len(s.toks) and len(words) < 3:
            w, _, end = s.toks[j]
            lw = w.lower()
            if end < len(s.text) and (s.text[end] == "-" or s.text[end].isdigit()):
                words = []  # a name with a number in it: "two B-1 bombers"
                break
            if not w[0].isalpha() or lw in _STOP or lw in _EVENTS or \
                    (words and lw.endswith(("ed", "ing"))) or lw.endswith("ing"):
                break
            words.append(lw)
            j += 1
        if not words:
            continue
        noun = _BIGRAMS.get(tuple(words[-2:])) if len(words) >= 2 else None
        if noun is None:
            head = _stem()(re.sub(r"['’]s$", "", words[-1]))
            noun = _noun_classes().get(head, head)
        ev, ev_i = s.event(i, j - 1, WINDOW)
        if ev is None:
            continue
        q, approx = s.qualifier(i)
        x, y = _span(s, q, j - 1, ev_i)
        out.append(Mention("count", ("count", noun, ev), value, approx, x, y, s.names))
    return out


def mentions(text: str) -> list[Mention]:
    """The comparable figures of ``text`` (dates first, then amounts, then counts, so that the numbers
    of a date or an amount are never read as counts), in text order.

    Args:
        text: any text (a quote or a passage), used verbatim: spans index into it.
    """
    out: list[Mention] = []
    for a, b in split_sentences(text):
        s = _Sentence(text, a, b)
        out += _dates(s) + _money(s) + _counts(s)
    return sorted(out, key=lambda m: m.start)


def same(a: Mention, b: Mention) -> bool:
    """Whether two figures of the same key agree."""
    if a.kind == "date":
        return all(x is None or y is None or x == y for x, y in zip(a.value, b.value))
    if a.value == b.value:
        return True
    if a.approx or b.approx:
        return abs(a.value - b.value) <= APPROX_TOLERANCE * max(abs(a.value), abs(b.value))
    return False


def _comparable(a: Mention, b: Mention) -> bool:
    # an amount or a date belongs to someone: the sentences must name someone in common
    return a.kind == "count" or bool(a.names & b.names)


def conflicts(items: Iterable[tuple[int, str, str | None, str]]) -> list[Disagreement]:
    """Figures of the same thing that differ between documents, one :class:`Disagreement` per thing.

    Args:
        items: ``(rank, doc_id, date, text)`` per quoted result: ``rank`` is its citation number,
            ``date`` the document's ISO date or None, ``text`` what is compared (the quote).

    A document is never compared with itself; each (document, value) is shown once, at its best rank.
    """
    found: list[tuple[int, str, str | None, str, Mention]] = []
    for rank, doc_id, date, text in items:
        found += [(rank, doc_id, date, text, m) for m in mentions(text)]
    by_key: dict[tuple, list] = {}
    for f in found:
        group = by_key.setdefault(f[4].key, [])
        # one figure per (document, value): the first, i.e. the best-ranked
        if not any(g[1] == f[1] and same(g[4], f[4]) for g in group):
            group.append(f)
    out = []
    for key, group in by_key.items():
        keep: list[int] = []
        for i, x in enumerate(group):
            for j in range(i + 1, len(group)):
                y = group[j]
                if x[1] != y[1] and _comparable(x[4], y[4]) and not same(x[4], y[4]):
                    keep += [i, j]
        if not keep:
            continue
        figs = [Figure(rank=r, doc_id=d, date=dt, text=t[m.start:m.end], value=_shown(m.value))
                for r, d, dt, t, m in (group[i] for i in sorted(set(keep)))]
        out.append(Disagreement(thing=_thing(key), kind=key[0], figures=sorted(figs, key=lambda f: f.rank)))
    return sorted(out, key=lambda d: [f.rank for f in d.figures])


def disagreements(results: Sequence[Result]) -> list[Disagreement]:
    """The disagreements between the quotes of an answer's results (see :func:`conflicts`).

    Args:
        results: the answer's results; each one's quote is compared, under its rank.
    """
    return conflicts((r.rank, r.doc_id, r.citation.date, r.quote) for r in results)


def _shown(value: float | tuple) -> float | str:
    if isinstance(value, tuple):  # ISO 8601 with the missing fields left out ("2025-09", "--09-02")
        y, m, d = value
        if y is None:
            return f"--{m:02d}-{d:02d}" if d else f"--{m:02d}"
        return "-".join([f"{y:04d}", *([f"{m:02d}"] if m else []), *([f"{d:02d}"] if m and d else [])])
    return int(value) if float(value).is_integer() else value


def _thing(key: tuple) -> str:
    if key[0] == "count":
        return f"{key[1]} {key[2]}"
    if key[0] == "money":
        return f"{key[2]} ({key[1]})"
    return f"date {key[1]}"
