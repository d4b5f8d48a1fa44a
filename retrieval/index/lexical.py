"""BM25 side of the index, on bm25s with a Snowball stemmer and English stop words."""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

_SPLIT = re.compile(r"(?u)\b\w\w+\b")


def _bm25s():
    import bm25s

    # bm25s sets its logger to DEBUG when imported and logs every build; quiet it after the import
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


# the parts of an identifier: "keepAliveTimeout" → keep, Alive, Timeout; "node_modules" → node, modules
_PART = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|\d|\b|_)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def _identifier(word: str) -> bool:
    """camelCase, snake_case or dotted (``process_order.delay``); not "Maduro", not "NASA"."""
    camel = word.lower() != word and not word.isupper() and not word[1:].islower()
    inner = word.strip("_.")
    return camel or "_" in inner or "." in inner


def _words(text: str) -> list[str]:
    """Lower-cased words, and after an identifier (camelCase, snake_case) its parts too: a manual writes
    ``bodyLimit`` and ``ignoreTrailingSlash``, a question "body limit" and "trailing slash"."""
    out = []
    for w in _SPLIT.findall(text):
        out.append(w.lower())
        if _identifier(w):
            parts = [p.lower() for p in _PART.findall(w)]
            if len(parts) > 1:
                out.extend(p for p in parts if len(p) > 1)
    return out


def identifier_parts(word: str) -> list[str]:
    """The parts an identifier is made of (``process_order.delay`` → process, order, delay;
    ``initCache`` → init, Cache); a word that is not an identifier ("Maduro", "NASA", "Peña") is its
    own part."""
    if not _identifier(word) or not word.isascii():
        return [word]
    return _PART.findall(word) or [word]


def analyze(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed terms (the same for passages and questions); an identifier
    counts as itself and as its parts."""
    stop = _stopwords()
    words = [w for w in _words(text) if w not in stop]
    return _stemmer().stemWords(words) if words else []


class Lexical:
    """A BM25 index over passages.

    Args:
        k1: term-frequency saturation.
        b: length normalization.
    """

    def __init__(self, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.bm25 = None
        self.n = 0

    def build(self, texts: list[str]) -> "Lexical":
        bm25s = _bm25s()
        corpus = [analyze(t) for t in texts]
        self.n = len(corpus)
        self.bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        if self.n:
            # bm25s needs at least one term per corpus; an all-stop-word passage gets none
            self.bm25.index([c or ["\x00"] for c in corpus], show_progress=False)
        return self

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.n:
            self.bm25.save(str(folder))
        (folder / "count").write_text(str(self.n))

    @classmethod
    def load(cls, folder: Path) -> "Lexical":
        bm25s = _bm25s()
        lex = cls()
        lex.n = int((folder / "count").read_text())
        if lex.n:
            lex.bm25 = bm25s.BM25.load(str(folder), mmap=False)
            lex.k1, lex.b = lex.bm25.k1, lex.bm25.b
        return lex

    def scores(self, question: str) -> np.ndarray:
        """BM25 score of every passage for ``question`` (zeros when no term is known)."""
        if not self.n:
            return np.zeros(0, np.float32)
        terms = [t for t in analyze(question) if t in self.bm25.vocab_dict]
        if not terms:
            return np.zeros(self.n, np.float32)
        return np.asarray(self.bm25.get_scores(terms), dtype=np.float32)

    def top(self, question: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, scores)`` of the ``n`` best passages with a positive score, best first."""
        s = self.scores(question)
        if s.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        n = min(n, s.size)
        idx = np.argpartition(-s, n - 1)[:n]
        idx = idx[np.argsort(-s[idx], kind="stable")]
        keep = s[idx] > 0
        return idx[keep].astype(np.int64), s[idx][keep]
