"""Page evidence: what a passage's page and section say about the question, read before and while
the quoted pool is ranked.

* :func:`page_title_cover`: the IDF share of the question's terms that a page's title and id name
  (``page_title_weight``), over the whole candidate pool.
* :func:`section_title_cover`: the same share for a passage's section headings (``section_title_weight``):
  in one long manual every passage has the same page title; its sections' headings still differ.
* :func:`page_evidence`: ``rank_pool``'s page arguments (that cover, the page centroid's cosine).
* :func:`field_cover`: per quoted passage, the share named by its document title and section path
  (``title_weight``).
"""

from __future__ import annotations

import re
import weakref

import numpy as np

from retrieval.query import confidence as conf
from retrieval.index.loaded import Index
from retrieval.index.lexical import analyze
from retrieval.query.search import Pool, page_cosines
from retrieval.index.pages import doc_codes, doc_names, sections
from retrieval.index.store import StoredPassage


def field_cover(index: Index, question: str, rows: dict[int, StoredPassage]) -> dict[int, float]:
    """Per passage: IDF-weighted share of the question's terms in its document title and section path."""
    st = conf.term_stats(index)
    terms = {t: st.idf(t) for t in analyze(question) if st.has(t)}
    total = sum(terms.values())
    if total <= 0:
        return {}
    titles = {d: doc_title(index, d) for d in {r.doc_id for r in rows.values()}}
    out = {}
    for pid, r in rows.items():
        have = set(analyze(" ".join([titles[r.doc_id], *(r.heading_path or []), r.heading or ""])))
        out[pid] = sum(w for t, w in terms.items() if t in have) / total
    return out


_page_terms: "weakref.WeakKeyDictionary[Index, list[frozenset]]" = weakref.WeakKeyDictionary()
_doc_titles: "weakref.WeakKeyDictionary[Index, dict[str, str]]" = weakref.WeakKeyDictionary()


def doc_titles(index: Index) -> dict[str, str]:
    """Every document's title ("" when it has none): one read of every title per loaded version, not a
    query per document (a 1M-document index's first question), shared by the page evidence."""
    got = _doc_titles.get(index)
    if got is None:
        got = _doc_titles[index] = {d["doc_id"]: d.get("title") or "" for d in index.documents()}
    return got


def page_title_cover(index: Index, question: str, codes: np.ndarray) -> np.ndarray:
    """Per pool entry: IDF-weighted share of the question's terms named by its page's title and id.

    Computed over the whole pool, before the quoted pool is cut, so the passages of a page the question
    names ("what does git fetch do", "turn on rerere") can be quoted at all.
    """
    terms_of = _page_terms.get(index)
    if terms_of is None:
        titles = doc_titles(index)
        terms_of = _page_terms[index] = [frozenset(analyze(f"{titles.get(d, '')} {d}")) for d in doc_names(index)]
    st = conf.term_stats(index)
    terms = {t: st.idf(t) for t in set(analyze(question)) if st.has(t)}
    total = sum(terms.values())
    if total <= 0 or codes.size == 0:
        return np.zeros(codes.size)
    docs = np.unique(codes)
    cover = np.zeros(int(docs.max()) + 1)
    for d in docs:
        have = terms_of[d]
        cover[d] = sum(w for t, w in terms.items() if t in have) / total
    return cover[codes]


def section_title_cover(index: Index, question: str, ids: np.ndarray) -> np.ndarray:
    """Per pool entry: IDF-weighted share of the question's terms named by its section's heading path
    ("init.defaultBranch" under CONFIGURATION for "is the first branch called main or master when I init?").

    Computed over the whole pool, like :func:`page_title_cover`, so a section the question names can
    enter the quoted pool; :func:`field_cover` then weighs title and headings together within it.
    """
    codes, holders, _ = sections(index)
    st = conf.term_stats(index)
    terms = {t: st.idf(t) for t in set(analyze(question)) if st.has(t)}
    total = sum(terms.values())
    out = np.zeros(ids.size)
    if total <= 0 or ids.size == 0:
        return out
    at = codes[ids]
    for t, w in terms.items():  # a few question terms, each looked up among the pool's sections at once
        have = holders.get(t)
        if have is not None:
            out += w * np.isin(at, have)
    return out / total


def page_evidence(index: Index, question: str, pool: Pool, s, qvec: np.ndarray) -> dict:
    """``rank_pool``'s page arguments for the settings ``s`` (nothing computed when every weight is 0)."""
    if not (s.page_weight or s.page_title_weight or s.page_dense_weight or s.section_title_weight
            or s.history_weight) or pool.ids.size == 0:
        return {}
    codes = doc_codes(index)[pool.ids]
    bonus = s.page_title_weight * page_title_cover(index, question, codes) if s.page_title_weight else None
    if s.page_dense_weight:
        near = s.page_dense_weight * page_cosines(index, codes, pool.dense, qvec)
        bonus = near if bonus is None else bonus + near
    if s.section_title_weight:
        named = s.section_title_weight * section_title_cover(index, question, pool.ids)
        bonus = named if bonus is None else bonus + named
    if s.history_weight and not asks_about_changes(question):
        past = history_pages(index)[codes] | history_sections(index)[sections(index).codes[pool.ids]]
        if past.any():
            bonus = -s.history_weight * past if bonus is None else bonus - s.history_weight * past
    return {"page_weight": s.page_weight, "codes": codes, "bonus": bonus}


_titles: "weakref.WeakKeyDictionary[Index, dict[str, str]]" = weakref.WeakKeyDictionary()

# A project's history: a changelog, release notes, "What's new in Celery 4.0", by its title or its file
# name (CHANGELOG.md, NEWS, whatsnew-4.0.html, history/changelog-5.1, release-notes/v2.md)
_HISTORY_TITLE = re.compile(r"^\W*(?:changes\b|change history|version history|release history|revision history|"
                            r"whatsnew)|\brelease notes?\b|\bwhat['’]?s new\b|\bchange\s*log\b", re.IGNORECASE)
_HISTORY_FILE = re.compile(r"(?:^|/)(?:change\s*log|changes|whatsnew|(?-i:NEWS)|history|release[-_ ]?notes|relnotes)"
                           r"(?:[-_. ]*v?\d[\w.-]*)?$|(?:^|/)(?:release[-_ ]?notes|changelogs?|whatsnew)/|"
                           r"(?:^|/)releases?/v?\d[\w.-]*$", re.IGNORECASE)
# a question about versions or changes wants the history ("what changed in 5.0", "deprecated since",
# "which node version for fastify 5"); a word before a number counts too, so "port 9418" is not taken down
# either: then the page ranks as before
_ABOUT_CHANGES = re.compile(r"\b(?:what['’]?s new|new in|changed?|changes|changelog|releases?|released|"
                            r"deprecat\w*|removed|introduced|added in|upgrad\w*|migrat\w*|versions?|breaking|"
                            r"histor\w*|backport\w*)\b|\bv?\d+\.\d+\b|\b[a-z]+\s+v?\d+\b(?!\s*(?:%|"
                            r"s|ms|sec|seconds?|min|minutes?|hours?|days?|mb|kb|gb))", re.IGNORECASE)
# a manual's own history section: "New features › Features introduced in version 5.4", "Changes in 2.0"
_HISTORY_SECTION = re.compile(r"^\W*(?:new features|features introduced in|what['’]?s new|changes in (?:version )?v?\d|"
                              r"change\s*log|change history|version history|revision history|release notes?)\b",
                              re.IGNORECASE)
_EXTENSION = re.compile(r"\.(?:md|markdown|mdx|rst|txt|adoc|html?|pdf|docx?)$", re.IGNORECASE)
_history: "weakref.WeakKeyDictionary[Index, np.ndarray]" = weakref.WeakKeyDictionary()
_history_sections: "weakref.WeakKeyDictionary[Index, np.ndarray]" = weakref.WeakKeyDictionary()


def is_history(title: str, doc_id: str) -> bool:
    """Whether a document is a page of the project's history (by its title or its file name)."""
    name = _EXTENSION.sub("", doc_id)
    return bool(_HISTORY_TITLE.search(title or "") or _HISTORY_FILE.search(name))


def asks_about_changes(question: str) -> bool:
    """Whether a question asks about versions or changes (then a changelog may answer it)."""
    return bool(_ABOUT_CHANGES.search(question))


def history_sections(index: Index) -> np.ndarray:
    """Per section number: whether a heading of its path names a history section (read once per version)."""
    out = _history_sections.get(index)
    if out is None:
        paths = sections(index).paths
        out = _history_sections[index] = np.array(
            [any(_HISTORY_SECTION.search(h) for h in path) for path in paths], bool).reshape(len(paths))
    return out


def history_pages(index: Index) -> np.ndarray:
    """Per document code: whether the document is a page of the project's history (read once per version)."""
    out = _history.get(index)
    if out is None:
        titles = doc_titles(index)
        out = _history[index] = np.array([is_history(titles.get(d, ""), d) for d in doc_names(index)], bool)
    return out


def doc_title(index: Index, doc_id: str) -> str:
    """The document's title and id as text (cached per loaded index: titles never change in a version)."""
    titles = _doc_titles.get(index)
    if titles is not None:  # every title already read (the page evidence reads them)
        return f"{titles.get(doc_id, '')} {doc_id}"
    cache = _titles.setdefault(index, {})
    if doc_id not in cache:
        doc = index.document(doc_id) or {}
        cache[doc_id] = f"{doc.get('title') or ''} {doc_id}"
    return cache[doc_id]
