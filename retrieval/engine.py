"""The facade the CLI, the bot, ``doctor`` and bench/ use: open an index, ask, rank, look up
documents and passages, verify, reindex. Nothing outside ``retrieval/`` needs the index's parts.

``ask`` may run from many threads while ``reindex`` builds a new version in another: questions are
answered from the index object they started with, and the new version replaces it in one
reference assignment once it is complete and loaded.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from typing import Callable

from retrieval.query.answer import Ranking, answer, rank
from retrieval.config import Settings
from retrieval.errors import DocumentNotFound, IndexMissing, QuestionError, ReindexInProgress
from retrieval.sources.options import Options
from retrieval.index.build import Builder, Progress
from retrieval.index.loaded import Index, open_index
from retrieval.index.store import StoredPassage
from retrieval.types import Answer, IndexSummary, SourceView

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
        encoder: a loaded :class:`~retrieval.model.embeddings.Encoder`; when None it is loaded at first
            use (``doctor`` and document lookups never load the model).
    """

    def __init__(self, settings: Settings, encoder=None):
        single_thread_blas()
        self.settings = settings
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self.index: Index | None = None  # internal: the version in use (replaced in one assignment)
        self._reindex_lock = threading.Lock()
        self.loaded_at: float | None = None

    @property
    def encoder(self):
        """The sentence encoder (loaded on first use)."""
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    from retrieval.model.embeddings import Encoder

                    s = self.settings
                    self._encoder = Encoder.shared(s.model, s.precision, s.batch_size)
        return self._encoder

    @classmethod
    def open(cls, settings: Settings, *, build_if_missing: bool = True, progress: Progress | None = None,
             embedding: Progress | None = None, encoder=None) -> "Engine":
        """Load the model and the index; build the index from the corpus when there is none yet.

        Args:
            build_if_missing: build when the index directory has none (else :class:`IndexMissing`).
            progress, embedding: as for :meth:`reindex`.
        """
        eng = cls(settings, encoder)
        eng.encoder  # noqa: B018 - load the model now, not at the first question
        try:
            eng.load()
        except IndexMissing:
            if not build_if_missing:
                raise
            eng.reindex(progress=progress, embedding=embedding)
        return eng

    def load(self, verify: bool = True) -> None:
        """(Re)load the version ``CURRENT`` points at.

        Raises:
            IndexMissing: the index directory holds no index.
            IndexCorrupt: it is damaged (the message names the fix).
        """
        index = open_index(self.settings.index_dir, verify=verify)
        index.set_nprobe(self.settings.nprobe)
        self.index = index  # one assignment: in-flight questions keep the old object
        self.loaded_at = time.time()

    # -- questions ------------------------------------------------------------------------------
    def ask(self, question: str, *, k: int | None = None, unique_docs: bool = False,
            visible: Callable[[str], bool] | None = None) -> Answer:
        """Answer one question from the current index.

        Args:
            question: any text up to ``settings.max_question_chars`` characters.
            k: number of results (default ``settings.k``).
            unique_docs: one result per document.
            visible: ``visible(doc_id)``: whether the asker may see that document (default: all).
                The answer is composed over the visible passages only: results, numbering, "also
                in", disagreements, confidence and the not-found reason never depend on hidden ones.
        """
        s = self.settings
        q = clean_question(question, s.max_question_chars)
        return self.ask_vector(q, self.encoder.encode_query(q), k=k, unique_docs=unique_docs, visible=visible)

    def ask_vector(self, q: str, qvec, *, k: int | None = None, unique_docs: bool = False,
                   mode: str = "hybrid", visible: Callable[[str], bool] | None = None) -> Answer:
        """``ask`` with the question already cleaned and embedded (batch evaluation uses this)."""
        return answer(self._current(), q, qvec, self.settings, k=k, unique_docs=unique_docs, mode=mode,
                      visible=visible, encode=self.encoder.encode_query)

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

    def rank(self, question: str, qvec=None, *, mode: str = "hybrid", deep: bool = False) -> Ranking:
        """The ranking :meth:`ask` composes (candidate pool, page evidence, quoted passages rescored),
        for evaluation and benchmarks: what they measure is what ``ask`` answers from.

        Args:
            question: the question (cleaned here).
            qvec: its vector, when already embedded (batch evaluation).
            mode: ``hybrid``, ``dense`` or ``bm25``.
            deep: keep the fused pool beyond the quoted passages (:attr:`Ranking.rest`).
        """
        s = self.settings
        q = clean_question(question, s.max_question_chars)
        qvec = self.encoder.encode_query(q) if qvec is None else qvec
        return rank(self._current(), q, qvec, s, mode=mode, deep=deep)

    # -- documents and passages -----------------------------------------------------------------
    def documents(self) -> list[dict]:
        """Metadata of every document, by id."""
        return self._current().documents()

    def document(self, doc_id: str) -> dict | None:
        """A document's metadata, or None when the index has no such id."""
        return self._current().document(doc_id)

    def passages(self, ids) -> dict[int, StoredPassage]:
        """Stored passages by id (unknown ids left out)."""
        return self._current().passages(ids)

    def passage_documents(self) -> list[str]:
        """The document id of every passage, indexed by passage id."""
        return self._current().store.passage_documents()

    def source(self, doc_id: str, paragraph: int | None = None, context: int = 1,
               visible: Callable[[str], bool] | None = None) -> SourceView:
        """A paragraph (default: the first) with ``context`` paragraphs either side, and the metadata.

        Args:
            visible: as for :meth:`ask`: a hidden document is not found, and never suggested.
        """
        index = self._current()
        shown = visible or (lambda d: True)
        doc = index.document(doc_id) if shown(doc_id) else None
        if doc is None:  # "git-stash.pdf" names "git-stash"; a near miss gets a suggestion
            from retrieval.ingest.documents import resolve_id

            found, close = resolve_id(doc_id, [d["doc_id"] for d in index.documents() if shown(d["doc_id"])])
            doc, doc_id = (index.document(found), found) if found else (None, doc_id)
            if doc is None:
                hint = f"; did you mean {close!r}?" if close else " (see `citebot sources`)"
                raise DocumentNotFound(f"no document {doc_id!r} in the index{hint}")
        total = doc["paragraphs"]
        p = 1 if paragraph is None else int(paragraph)
        if not 1 <= p <= total:
            raise DocumentNotFound(f"document {doc_id!r} has paragraphs 1–{total}, not {p}")
        paras = index.paragraphs(doc_id, max(1, p - context), min(total, p + context))
        return SourceView(document=doc, paragraph=p, paragraphs=paras, total_paragraphs=total)

    # -- the index itself -----------------------------------------------------------------------
    @property
    def version(self) -> str:
        """Id of the index version in use."""
        return self._current().version

    @property
    def manifest(self) -> dict:
        """The manifest of the version in use (a copy)."""
        return dict(self._current().manifest)

    @property
    def dense(self):
        """The :class:`~retrieval.index.dense.Dense` side of the version in use (ANN benchmarks)."""
        return self._current().dense

    def verify(self, full: bool = False) -> None:
        """Check the version in use against its checksums (:class:`IndexCorrupt` when damaged).

        Args:
            full: hash large files completely (loading checks them by size and samples).
        """
        self._current().verify(full=full)

    def stats(self) -> dict:
        index = self._current()
        m = index.manifest
        return {"documents": m["documents"], "passages": m["passages"], "built_at": m["created"],
                "version": index.version, "model": m["model"], "precision": m.get("precision"),
                "dense": m.get("dense"), "corpus": m.get("corpus"), "index_dir": str(self.settings.index_dir)}

    def close(self) -> None:
        """Release the index files (the engine is unusable afterwards until :meth:`load`)."""
        index, self.index = self.index, None
        if index is not None:
            index.close()

    # -- indexing -------------------------------------------------------------------------------
    @property
    def reindexing(self) -> bool:
        return self._reindex_lock.locked()

    def reindex(self, *, rebuild: bool = False, progress: Progress | None = None,
                embedding: Progress | None = None, training: Progress | None = None) -> IndexSummary:
        """Build a new version from ``settings.corpus`` and switch to it; the old one serves meanwhile.

        An interrupted build's vectors are kept (``index_dir/.embed-cache``): the next one embeds
        only the rest.

        Args:
            rebuild: re-embed everything instead of reusing unchanged passages.
            progress: ``progress(documents_done, documents_total)`` while files are read, from this thread.
            embedding: ``embedding(passages_embedded, passages_to_embed)`` once the files are split.
            training: ``training(queries_encoded, queries_total)`` while the query adapter trains
                (``settings.adapt``).

        Raises:
            ReindexInProgress: another reindex is running (here or in another process).
        """
        if not self._reindex_lock.acquire(blocking=False):
            raise ReindexInProgress("a reindex is already running; wait for it to finish")
        try:
            s = self.settings
            builder = Builder(self.encoder, s.index_dir, ann_threshold=s.ann_threshold, max_file_mb=s.max_file_mb,
                              bm25=(s.bm25_k1, s.bm25_b), passage_tokens=s.passage_tokens,
                              embed_title=s.embed_title, adapt=s.adapt, fetch=Options.of(s), base_url=s.base_url)
            summary = builder.build(s.corpus, previous=self.index, rebuild=rebuild, reading=progress,
                                    embedding=embedding, training=training)
            self.load()
            log.info("index %s: %s", summary.version, "; ".join(summary.lines()[:2]))
            return summary
        finally:
            self._reindex_lock.release()

    def _current(self) -> Index:
        index = self.index
        if index is None:
            raise IndexMissing(f"no index in {self.settings.index_dir}; build one with `citebot index`")
        return index
