"""The facade the CLI and the bot use: open an index, ask, show sources, reindex.

``ask`` may run from many threads while ``reindex`` builds a new version in another: questions are
answered from the index object they started with, and the new version replaces it in one
reference assignment once it is complete and loaded.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

from .answer import answer
from .config import Settings
from .errors import DocumentNotFound, IndexMissing, QuestionError, ReindexInProgress
from .index import Builder, Index, open_index
from .types import Answer, IndexSummary, SourceView

log = logging.getLogger("citebot")

_blas_limited = False


def single_thread_blas() -> None:
    """Limit numpy's BLAS to one thread in this process (once).

    Question-time products are small (a question against ~2,000 candidate vectors); OpenBLAS
    threads cost more than they save: 5.8 ms instead of 0.07 ms per product on a busy 2-core host
    (bench/RESULTS.md). torch and FAISS keep their own thread settings.
    """
    global _blas_limited
    if not _blas_limited:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1, user_api="blas")
        _blas_limited = True


def clean_question(question: str, max_chars: int) -> str:
    """The question with control and invisible format characters removed and whitespace folded.

    Raises:
        QuestionError: empty after cleaning, or longer than ``max_chars``.
    """
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if len(question) > max_chars * 4:  # don't even normalize megabytes
        raise QuestionError(f"the question is too long ({len(question):,} characters; the limit is {max_chars:,})")
    q = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in question)
    q = " ".join(q.split())
    if not q:
        raise QuestionError("the question is empty")
    if len(q) > max_chars:
        raise QuestionError(f"the question is too long ({len(q):,} characters; the limit is {max_chars:,})")
    return q


class Engine:
    """Retrieval over one index directory.

    Args:
        settings: where the corpus and index are, and how to rank.
        encoder: a loaded :class:`~retrieval.embeddings.Encoder` (built from settings when None).
    """

    def __init__(self, settings: Settings, encoder=None):
        single_thread_blas()
        self.settings = settings
        if encoder is None:
            from .embeddings import Encoder

            encoder = Encoder.shared(settings.model, settings.precision, settings.batch_size)
        self.encoder = encoder
        self.index: Index | None = None
        self._reindex_lock = threading.Lock()
        self.loaded_at: float | None = None

    @classmethod
    def open(cls, settings: Settings, *, build_if_missing: bool = True,
             progress: Callable[[int, int], None] | None = None, encoder=None) -> "Engine":
        """Load the model and the index; build the index from the corpus when there is none yet."""
        eng = cls(settings, encoder)
        try:
            eng.index = open_index(settings.index_dir)
            eng.index.set_nprobe(settings.nprobe)
            eng.loaded_at = time.time()
        except IndexMissing:
            if not build_if_missing:
                raise
            eng.reindex(progress=progress)
        return eng

    # -- questions ------------------------------------------------------------------------------
    def ask(self, question: str, *, k: int | None = None, unique_docs: bool = False) -> Answer:
        """Answer one question from the current index.

        Args:
            question: any text up to ``settings.max_question_chars`` characters.
            k: number of results (default ``settings.k``).
            unique_docs: one result per document.
        """
        s = self.settings
        q = clean_question(question, s.max_question_chars)
        return self.ask_vector(q, self.encoder.encode_query(q), k=k, unique_docs=unique_docs)

    def ask_vector(self, q: str, qvec, *, k: int | None = None, unique_docs: bool = False,
                   mode: str = "hybrid") -> Answer:
        """``ask`` with the question already cleaned and embedded (batch evaluation uses this)."""
        return answer(self._current(), q, qvec, self.settings, k=k, unique_docs=unique_docs, mode=mode)

    def ask_many(self, questions: list[str], **kw) -> list[Answer | QuestionError]:
        """Answer a batch, embedding all questions in one pass; bad questions come back as errors."""
        cleaned: list[str | QuestionError] = []
        for q in questions:
            try:
                cleaned.append(clean_question(q, self.settings.max_question_chars))
            except QuestionError as e:
                cleaned.append(e)
        good = [q for q in cleaned if isinstance(q, str)]
        vecs = iter(self.encoder.encode_queries(good)) if good else iter(())
        return [q if isinstance(q, QuestionError) else self.ask_vector(q, next(vecs), **kw) for q in cleaned]

    # -- documents ------------------------------------------------------------------------------
    def documents(self) -> list[dict]:
        return self._current().documents()

    def source(self, doc_id: str, paragraph: int | None = None, context: int = 1) -> SourceView:
        """A paragraph (default: the first) with ``context`` paragraphs either side, and the metadata."""
        index = self._current()
        doc = index.document(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no document {doc_id!r} in the index (see `citebot sources`)")
        total = doc["paragraphs"]
        p = 1 if paragraph is None else int(paragraph)
        if not 1 <= p <= total:
            raise DocumentNotFound(f"document {doc_id!r} has paragraphs 1–{total}, not {p}")
        paras = index.paragraphs(doc_id, max(1, p - context), min(total, p + context))
        return SourceView(document=doc, paragraph=p, paragraphs=paras, total_paragraphs=total)

    def stats(self) -> dict:
        index = self._current()
        m = index.manifest
        return {"documents": m["documents"], "passages": m["passages"], "built_at": m["created"],
                "version": index.version, "model": m["model"], "precision": m.get("precision"),
                "dense": m.get("dense"), "corpus": m.get("corpus"), "index_dir": str(self.settings.index_dir)}

    # -- indexing -------------------------------------------------------------------------------
    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    def reindex(self, *, rebuild: bool = False, progress: Callable[[int, int], None] | None = None) -> IndexSummary:
        """Build a new version from ``settings.corpus`` and switch to it; the old one serves meanwhile.

        Args:
            rebuild: re-embed everything instead of reusing unchanged passages.
            progress: ``progress(documents_done, documents_total)``, called from this thread.

        Raises:
            ReindexInProgress: another reindex is running (here or in another process).
        """
        if not self._reindex_lock.acquire(blocking=False):
            raise ReindexInProgress("a reindex is already running; wait for it to finish")
        try:
            s = self.settings
            builder = Builder(self.encoder, s.index_dir, ann_threshold=s.ann_threshold, max_file_mb=s.max_file_mb,
                              bm25=(s.bm25_k1, s.bm25_b), passage_tokens=s.passage_tokens,
                              embed_title=s.embed_title)
            summary = builder.build(Path(s.corpus), previous=self.index, rebuild=rebuild, progress=progress)
            index = open_index(s.index_dir)
            index.set_nprobe(s.nprobe)
            self.index = index  # one assignment: in-flight questions keep the old object
            self.loaded_at = time.time()
            log.info("index %s: %s", summary.version, "; ".join(summary.lines()[:2]))
            return summary
        finally:
            self._reindex_lock.release()

    def _current(self) -> Index:
        index = self.index
        if index is None:
            raise IndexMissing(f"no index in {self.settings.index_dir}; build one with `citebot index`")
        return index
