"""Which sentence of a passage is shown as the quote that answers.

* The answer type a question expects (a number, a time, a definition).
* Which sentences may stand as the answer (:func:`quotable`: not a question, not a heading, not a pointer).
* The best sentence by cosine, question-term coverage and answer type (:func:`pick_quote`), and the span
  trimmed of what a sentence split leaves in front (:func:`trim`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from retrieval.index.lexical import analyze


# Classic factoid-QA answer types: a "how many" question is answered by a sentence with a number,
# a "when" question by one with a time expression. Only a small tie-breaking bonus.
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
                     r"hundreds?|thousands?|millions?|billions?)\b", re.IGNORECASE)
_TIME = re.compile(r"\b(?:1[5-9]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|"
                   r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                   r"today|yesterday|tomorrow|week|weeks|month|months|year|years|day|days|soon|moment|"
                   r"ago|later|earlier|since|until)\b", re.IGNORECASE)
_ASKS_NUMBER = re.compile(r"^\W*how (?:many|much|long|far|old|often|big|large)\b|"
                          # "what port do I open", "which range of values can I pass": a figure
                          r"\b(?:what|which)(?:['’]?s|\s+is)?\s+(?:the\s+)?(?:max(?:imum)?\s+|min(?:imum)?\s+)?"
                          r"(?:port|range|size|limit|timeout|number|length|percentage)s?\b", re.IGNORECASE)
_ASKS_TIME = re.compile(r"^\W*(?:when\b|what (?:year|date|day|month|time)\b|how soon\b)", re.IGNORECASE)
# "what's the default X?", "is X on by default?": a sentence stating the default, with its value
_ASKS_DEFAULT = re.compile(r"\bdefaults?\b", re.IGNORECASE)
_STATES_DEFAULT = re.compile(r"\bdefault(?:s|ed)?\b(?:\s+(?:is|are|to|value|of|:))*\W{0,4}[^.;\n]{0,40}?"
                             r"(?:\d|\b(?:true|false|null|none|on|off|enabled|disabled)\b)|"
                             r"(?:\d|\b(?:true|false|null|none|enabled|disabled)\b)[^.;\n]{0,40}?\bby default\b|"
                             # "or 0 to disable compression (the default)": the value before it is the default
                             r"\((?:the|is)\s+default\)|"
                             r"\bdefaults?\s+(?:value\s+)?(?:of\s+[^;\n]{1,40}?\s+)?(?:is|to|=|:)\s*"
                             r"(?!(?:used|set|applied|taken|chosen|given|determined|changed|overridden|ignored|not)\b)\S",
                             re.IGNORECASE)


# questions asking what something is, or what it is called: "What is X?", "What did they call X?",
# "What term is used for X?"
_ASKS_DEFINITION = [
    re.compile(p, re.IGNORECASE) for p in (
        r"^\W*(?:what|who)(?:\s+(?:is|are|was|were)|['’]?s)\s+(?:an?\s+|the\s+)?([^?]{2,60}?)\W*$",
        r"^\W*what\s+(?:do|does|did)\s+[^?]{1,60}?\s+call\s+(?:an?\s+|the\s+)?([^?]{2,60}?)\W*$",
        r"^\W*what\s+(?:term|word|name|label|title)\b[^?]{0,60}?\s+(?:for|of|to describe)\s+"
        r"(?:an?\s+|the\s+)?([^?]{2,60}?)\W*$",
    )
]


_LEADING = re.compile(r"^(?:(?:wait|so|ok|okay|hey|hi|um|umm|hmm|lol|btw|quick question|sorry|also|and)\W+)+",
                      re.IGNORECASE)
# chat words after the thing asked about ("what is sid exactly?", "whats a conffile lol")
_TRAILING = re.compile(r"(?:\s+(?:exactly|actually|again|even|anyway|anyways|really|precisely|though|tho|lol|"
                       r"btw|pls|plz|please|here|then))+\W*$", re.IGNORECASE)


def answer_type(question: str) -> re.Pattern | None:
    """The pattern a sentence answering ``question`` is expected to contain, if the question says.

    "How many …" expects a number, "When …" a time expression, a question about a default a sentence
    stating one with its value ("Default: 1048576", "disabled by default"), and "What is X?", "Who is X?", "What
    do they call X?" or "What term is used for X?" a definition of X: an apposition ("X, a …") or a
    copula ("X is a …", "X is not the …").
    """
    # "how many … by default": the default with its value is the narrower expectation
    if _ASKS_DEFAULT.search(question):
        return _STATES_DEFAULT
    if _ASKS_NUMBER.search(question):
        return _NUMBER
    if _ASKS_TIME.search(question):
        return _TIME
    for form in _ASKS_DEFINITION:
        m = form.match(_LEADING.sub("", _TRAILING.sub("", question.strip())))
        if m and len(m.group(1).split()) <= 6:
            # "whats a conffile" is answered by "Conffiles are …": the term's plural counts
            term = r"\s+".join(re.escape(w) for w in m.group(1).split()) + "(?:e?s)?"
            return re.compile(rf"\b{term}\W{{0,3}}(?:,\s*(?:an?|the)\b|\(|(?:is|was)(?:\s+not)?\s+(?:an?|the)\b|"
                              rf"(?:are|were)(?:\s+not)?\s+(?:an?\s+|the\s+)?[a-z])", re.IGNORECASE)
    return None


# "how do I …", "why does …" anywhere in a chat question: the answer is prose that explains
_ASKS_EXPLANATION = re.compile(r"\bwhy\b|\bhow\b(?!\s+(?:much|many|long|far|old|often|big|large|soon)\b)|"
                               r"\b(?:is there|any)\s+(?:a\s+|an\s+|some\s+)?(?:way|means)\s+to\b",
                               re.IGNORECASE)  # "how many …" asks for a figure, not an explanation
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*(?:['’][a-z]+)?")


def asks_explanation(question: str) -> bool:
    """Whether the question asks how or why, or "is there a way to …" (its answer explains, in prose)."""
    return bool(_ASKS_EXPLANATION.search(question))


def _plain_words(sentence: str) -> tuple[int, int]:
    toks = sentence.split()
    return sum(bool(_PLAIN_WORD.fullmatch(t.strip(".,;:!?\"'()"))) for t in toks), len(toks)


def prose_share(sentence: str) -> float:
    """How much a sentence reads as prose (0..1): the share of its tokens that are plain words, halved
    for a line of fewer than 5 of them. A synopsis line (``git stash list [<log-options>]``) or a
    command example scores low, an explanation near 1, a lead-in before code ("… follow this
    convention: <foo>_<version>.deb") high."""
    words, toks = _plain_words(sentence)
    if not toks:
        return 0.0
    return words / toks * (1.0 if words >= 5 else 0.5)


def explanatory(text: str, spans: list[tuple[int, int]], heading: str | None = None) -> bool:
    """Whether a passage holds a sentence that explains: quotable (not a question, not its heading) and
    of at least 6 plain words (not a code or synopsis line)."""
    return any(quotable(text, sp, heading) and _plain_words(text[sp[0]:sp[1]])[0] >= 6
               for sp in (spans or [(0, len(text))]))


_CODE_TOKEN = re.compile(r"[\[\]{}<>|=;\\`]|^--?\w|\w\(|^\$$|::|->|~\d|\^\d")


def explains_nothing(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether a passage is only a question ("How do I …?") or code: a quarter of its tokens or more
    carry code marks (brackets, ``--options``, a ``$`` prompt, calls) and it has fewer than 6 plain
    words. A table row or a short note still says something."""
    spans = spans or [(0, len(text))]
    if all(text[a:b].strip().endswith("?") for a, b in spans):
        return True
    toks = text.split()
    code = sum(bool(_CODE_TOKEN.search(t)) for t in toks)
    return bool(toks) and code >= 0.25 * len(toks) and _plain_words(text)[0] < 6


def with_lead_in(text: str, spans: list[tuple[int, int]], i: int) -> tuple[int, int]:
    """Sentence ``i``'s span, joined with the next one when it is a lead-in ("… is as follows:")."""
    a, b = spans[i]
    if text[a:b].rstrip().endswith(":") and i + 1 < len(spans):
        return a, spans[i + 1][1]
    return a, b


def quotable(text: str, span: tuple[int, int], heading: str | None = None) -> bool:
    """Whether a sentence can stand as the quote that answers: not a question ("How do I …?"), not the
    passage's own term or heading nor a sentence of it (a glossary term, an FAQ entry's title), not a
    bare pointer of one or two words ("See git-pull(1).").

    These sentences still count when ranking (an FAQ entry whose question matches is the right
    passage); they are only not *shown* as the answer while the passage has another sentence.
    """
    s = text[span[0]:span[1]].strip()
    if len(s.split()) < 3 or s.endswith("?"):
        return False
    h = (heading or "").strip().rstrip(":").strip()
    # the heading, or a sentence of it ("I've made a mistake in the last commit." of an FAQ entry whose
    # heading goes on "How do I change it?"): the user's own question shown back
    return not h or s.rstrip(":").strip() not in h


# a sentence that sends the reader elsewhere: "See "Reset, restore and revert" in git(1) for the
# differences", "(To rename a non-branch <tag> see 3O.9.)", "See also: PEP 343", "Refer to …"
_POINTER = re.compile(r"^\W*(?:see(?:\s+also)?\b|refer\s+to\b|(?:to|for)\s[^.;:]{0,80}?,?\s+(?:please\s+)?"
                      r"(?:see|refer\s+to)\b)", re.IGNORECASE)


def only_points_elsewhere(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether a passage is nothing but a pointer to another section or page: each of its (at most
    two) sentences sends the reader elsewhere. It names the question's topic, so it ranks, but the
    reply should show what it points to, not the pointer."""
    spans = spans or [(0, len(text))]
    return len(spans) <= 2 and all(_POINTER.match(text[a:b]) for a, b in spans)


def quotable_spans(row, spans: list[tuple[int, int]]) -> list[bool]:
    return [quotable(row.text, sp, row.heading) for sp in spans]


def pick_quote(text: str, spans: list[tuple[int, int]], sims: np.ndarray, q_terms: set[str],
               lexical_weight: float = 0.1, expect: re.Pattern | None = None,
               type_weight: float = 0.05, allowed: list[bool] | None = None,
               prose_weight: float = 0.0) -> tuple[int, float, float]:
    """Index of the best sentence, its cosine to the question, and its combined value.

    Args:
        text: the passage.
        spans: sentence spans in ``text``.
        sims: cosine of each sentence to the question.
        q_terms: analyzed question terms.
        lexical_weight: bonus per unit of question-term coverage.
        expect: the answer type's pattern (see :func:`answer_type`).
        type_weight: bonus for a sentence matching ``expect``.
        allowed: per span, whether it may be chosen (all when None; ignored when none is).
        prose_weight: bonus per unit of :func:`prose_share` (a how/why question's quote explains).
    """
    if not spans:
        return -1, 0.0, 0.0
    if allowed is not None and not any(allowed[:len(spans)]):
        allowed = None
    # a sentence whose cosine plus every possible bonus stays below the best cosine cannot win:
    # skip analyzing it (term analysis is most of the quoting time on long passages)
    bound = max(lexical_weight, 0.0) * bool(q_terms) + (max(type_weight, 0.0) if expect is not None else 0.0) \
        + max(prose_weight, 0.0)
    top = sims[:len(spans)] if allowed is None else sims[:len(spans)][np.asarray(allowed[:len(spans)], bool)]
    floor = float(np.max(top)) - bound - 1e-9
    best, best_val = 0 if allowed is None else allowed.index(True), -np.inf
    for i, (a, b) in enumerate(spans):
        if float(sims[i]) < floor or (allowed is not None and not allowed[i]):
            continue
        cover = len(q_terms.intersection(analyze(text[a:b]))) / len(q_terms) if q_terms else 0.0
        val = float(sims[i]) + lexical_weight * cover
        if expect is not None and expect.search(text[a:b]):
            val += type_weight
        if prose_weight:
            val += prose_weight * prose_share(text[a:b])
        if val > best_val:
            best, best_val = i, val
    return best, float(sims[best]), float(best_val)


# words that ask rather than name what is asked about ("does it …", "what do … mean")
_ASKING = ("what whats which who whom whose when where why how does do did doing is are was were can could should "
           "would will shall may might must mean means meant meaning actually even just really also still need want "
           "get got anyway exactly from there here my mine me our we you your it its that this these those then so "
           "any some thing stuff")
_QUESTION_WORD = (r"(?:does|do|did|is|are|was|were|can|could|should|will|would|what|whats|what's|how|why|where|"
                  r"when|which|who)\b")
# a second question joined by "and"/"but"/"or" before a question word ("… and does it kill the task")
_AND_ASKS = re.compile(rf"[,;]?\s+(?:and|but|or|also|plus)\s+(?={_QUESTION_WORD})", re.IGNORECASE)
_ASKS = re.compile(rf"^\W*(?:(?:and|but|or|also|so|plus)\s+)?{_QUESTION_WORD}", re.IGNORECASE)


@lru_cache(maxsize=1)
def _asking() -> frozenset[str]:
    return frozenset(analyze(_ASKING))


def question_parts(question: str) -> list[frozenset[str]]:
    """The terms of each part of a question that asks two things ("is it in mb or kb? and does it kill
    the task …", "where did that come from and can I delete it"); [] for a question asking one."""
    asking = _asking()
    asked = []
    for m in re.finditer(r"[^?]+\?*", question):
        seg = m.group(0)
        subs = _AND_ASKS.split(seg.rstrip("?"))
        # a sentence after a question mark is a question when it ends in one or opens with a question
        # word ("does */2 mean every other day"), not a remark ("its getting slammed right now")
        if len(subs) > 1 or seg.endswith("?") or _ASKS.match(seg):
            asked.extend(subs)
    parts = [frozenset(t for t in analyze(p) if t not in asking) for p in asked]
    parts = [p for p in parts if p]
    return parts if len(parts) > 1 else []


def other_part(text: str, spans: list[tuple[int, int]], shown: tuple[int, int], i: int,
               parts: list[frozenset[str]], allowed: list[bool] | None = None, reach: int = 2) -> int | None:
    """A sentence near the shown one (sentence ``i``, ``shown`` its span with any lead-in) that answers
    a part of a two-part question the shown one leaves out (it names at most half of the part's terms;
    the least named part first): the sentence within ``reach`` naming most of the rest (at least two,
    or all when fewer are left), in prose. None when there is none: the shown sentence stands alone."""
    if not parts:
        return None
    have = set(analyze(text[shown[0]:shown[1]]))
    for part in sorted(parts, key=lambda p: len(p & have) / len(p)):
        missing = part - have
        if len(part & have) * 2 > len(part):
            return None
        need = min(2, len(missing))
        best, best_gain = None, 0
        for j in range(max(0, i - reach), min(len(spans), i + reach + 1)):
            a, b = spans[j]
            if shown[0] <= a and b <= shown[1] or (allowed is not None and not allowed[j]) \
                    or prose_share(text[a:b]) < 0.5:  # an answer in words, not a line of code
                continue
            gain = len(missing.intersection(analyze(text[a:b])))
            if gain > best_gain or (gain == best_gain and best is not None and abs(j - i) < abs(best - i)):
                best, best_gain = j, gain
        if best is not None and best_gain >= need:
            return best
    return None


def trim(text: str, a: int, b: int) -> tuple[int, int]:
    """The quote span without the punctuation a sentence split can leave in front (``: A fetch …``)."""
    start = a
    while a < b and (text[a].isspace() or text[a] in ":;,.)]}"):
        a += 1
    return (a, b) if a < b else (start, b)
