"""Building a new index version: scan → parse → split → reuse or embed → write → switch.

Each document becomes a :class:`DocPlan` whose passages say where their vectors come from (a
:data:`VectorSource`): the previous version's passage with the same encoder input, or the encoder
(possibly already done by an interrupted build, see :mod:`retrieval.index.checkpoint`). Only then are
ids assigned and the store, FAISS, sentence vectors, BM25 and the manifest written; the version
switch itself is :meth:`retrieval.index.versions.Versions.staging`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.model import adapt as adapt_mod
from retrieval.config import corpus_label, is_local
from retrieval.ingest import documents as docs_mod
from retrieval.ingest import sourced
from retrieval.index.checkpoint import EmbedCache
from retrieval.index.dense import Dense
from retrieval.errors import IndexBuildError
from retrieval.index.loaded import Index
from retrieval.index.lexical import Lexical
from retrieval.index.passages import split_document
from retrieval.index.pages import doc_numbering, page_centroids_of
from retrieval.index.store import StoredPassage, write_store
from retrieval.types import Document, IndexSummary, Paragraph, Skipped
from retrieval.index import versions as layout
from retrieval.index.versions import FORMAT_VERSION, Versions, build_lock, checksums, write_manifest

log = logging.getLogger("citebot")

Progress = Callable[[int, int], None]
"""``progress(done, total)``: files read of the corpus's files, or passages embedded of those to embed."""


@dataclass
class Vectors:
    """A passage's vector and one vector per sentence span."""

    passage: np.ndarray
    sentences: np.ndarray


@dataclass
class FromPrevious:
    """Vector source: the previous version's passage ``old_id`` (same encoder input)."""

    old_id: int


@dataclass
class ToEmbed:
    """Vector source: the encoder, reading ``text`` and pooling each of ``spans`` (offsets in ``text``).

    ``vectors`` is filled by the embedding step, or from a checkpoint (``resumed``)."""

    text: str
    spans: list[tuple[int, int]]
    vectors: Vectors | None = None
    resumed: bool = False


VectorSource = FromPrevious | ToEmbed


@dataclass
class PlannedPassage:
    """A passage of the new version (id and sentence row assigned when the version is assembled)."""

    passage: StoredPassage
    source: VectorSource


@dataclass
class DocPlan:
    """A document of the new version: its metadata, paragraphs, passages and state."""

    meta: dict
    paragraphs: list[Paragraph]
    passages: list[PlannedPassage]
    status: str  # added / changed / unchanged


class Builder:
    """Builds a new index version from a corpus, reusing what it can from the previous one.

    Args:
        encoder: a :class:`~retrieval.model.embeddings.Encoder`.
        index_dir: where versions live.
        ann_threshold: above this many passages the dense index is IVF (approximate) instead of exact.
        max_file_mb: corpus files larger than this are skipped.
        bm25: ``(k1, b)`` of the BM25 side.
        passage_tokens: passage size limit in word pieces (capped at the model's limit).
        embed_title: the encoder reads each document's title before its passages.
        checkpoint_every: passages embedded per checkpoint chunk (default: 4 encoder batches); an
            interrupted build loses at most this many.
        adapt: train a query adapter on the new version's structure (:mod:`retrieval.model.adapt`).
        fetch: how websites and repositories are fetched (:class:`retrieval.sources.http.Options`);
            None: the defaults.
        base_url: the web address a local folder corpus mirrors (its files' citations link there).
    """

    def __init__(self, encoder, index_dir: Path, *, ann_threshold: int = 50_000, max_file_mb: float = 20.0,
                 bm25: tuple[float, float] = (1.2, 0.75), passage_tokens: int | None = None,
                 embed_title: bool = False, checkpoint_every: int | None = None, adapt: bool = False,
                 fetch=None, base_url: str = ""):
        self.encoder = encoder
        self.index_dir = Path(index_dir)
        self.ann_threshold = ann_threshold
        self.max_file_mb = max_file_mb
        self.bm25 = bm25
        self.passage_tokens = min(encoder.limit, passage_tokens or encoder.limit)
        self.embed_title = embed_title
        self.checkpoint_every = max(1, checkpoint_every or encoder.batch_size * 4)
        self.adapt = adapt
        self.fetch = fetch
        self.base_url = base_url

    @property
    def splitting(self) -> dict:
        """What decides passage boundaries and encoder inputs; unchanged documents are reused only
        when it matches the previous version's."""
        return {"tokens": self.passage_tokens, "embed_title": self.embed_title}

    def build(self, corpus: Path, *, previous: Index | None = None, rebuild: bool = False,
              reading: Progress | None = None, embedding: Progress | None = None,
              training: Progress | None = None) -> IndexSummary:
        """Build and switch to a new version. The previous version stays in use on any failure.

        Args:
            corpus: a folder or a JSONL file, a website or repository URL, or a list of these
                (:mod:`retrieval.sources`: fetched into the index folder first).
            previous: the version in use (its vectors are reused for unchanged passages).
            rebuild: embed every passage again (vectors an interrupted build checkpointed are still used).
            reading: ``reading(files_read, files_total)`` while documents are read and split.
            embedding: ``embedding(passages_embedded, passages_to_embed)``, from 0 once the total is known.
            training: ``training(queries_encoded, queries_total)`` while the query adapter trains
                (``adapt``); the fit itself takes seconds after the last call.
        """
        t0 = time.perf_counter()
        versions = Versions(self.index_dir)
        enc = self.encoder
        cache = EmbedCache(self.index_dir, f"{enc.name}|{enc.dim}|{enc.precision}")
        try:
            with build_lock(self.index_dir):
                versions.clear_stale()
                if rebuild:
                    adapt_mod.clear_cache(self.index_dir / layout.ADAPT_CACHE)
                fetched = self._sources(corpus, reading)
                name = versions.new_name()
                with versions.staging(name) as out:
                    summary = self._build_into(out, name, fetched, None if rebuild else previous, cache,
                                               reading, embedding, training, corpus_label(corpus))
                    summary.seconds = time.perf_counter() - t0
                summary.version = name
                cache.clear()  # switched: the checkpointed vectors are in the new version
                versions.remove_old(keep={name, previous.path.name if previous else ""})
            return summary
        except (OSError, sqlite3.Error, RuntimeError, MemoryError) as e:
            # disk full, I/O errors, faiss write errors: one line for the user, the cause chained for logs
            kept = "the previous index is still in use" if previous is not None else "no index was written"
            raise IndexBuildError(f"index build failed ({_reason(e)}); {kept}") from e

    # the steps ---------------------------------------------------------------------------------
    def _sources(self, corpus, reading: Progress | None):
        """A plain local corpus as its Path; anything else (URLs, several sources, a ``base_url``, sources
        added from Discord) fetched and resolved (:func:`retrieval.sources.resolve.resolve`)."""
        from retrieval.sources.added import added
        from retrieval.sources.options import Options
        from retrieval.sources.resolve import resolve

        if is_local(corpus) and not self.base_url and not added(self.index_dir):
            return Path(corpus)
        return resolve(corpus, self.index_dir, self.fetch or Options(), base_url=self.base_url, progress=reading)

    def _build_into(self, out: Path, name: str, corpus, prev: Index | None, cache: EmbedCache,
                    reading: Progress | None, embedding: Progress | None,
                    training: Progress | None = None, label: str | None = None) -> IndexSummary:
        enc = self.encoder
        m = prev.manifest if prev is not None else {}
        compatible = prev is not None and (m.get("model"), m.get("dim")) == (enc.name, enc.dim)
        # a version whose vectors this encoder would reproduce: a vector is reused by the hash of the
        # encoder's input, so a new parser re-parses every document but embeds only what it changed
        donor = prev if compatible else None
        same_parse = donor is not None and m.get("parser") == docs_mod.PARSER_VERSION \
            and m.get("passages_split") == self.splitting
        summary = IndexSummary()
        plans = self._read(corpus, prev, donor if same_parse else None, summary, reading)
        if isinstance(corpus, list):
            summary.sources = [line for r in corpus if (line := r.line())]
        self._choose_sources(plans, donor, cache, summary)
        self._embed(plans, cache, summary, embedding)
        passages, vecs, svecs, lexical = self._assemble(plans, donor)
        summary.passages = len(passages)

        write_store(out / layout.STORE, [p.meta for p in plans],
                    [(p.meta["doc_id"], para) for p in plans for para in p.paragraphs], passages)
        kind = "ivf" if len(passages) > self.ann_threshold else "flat"
        Dense.build(vecs, kind, donor.dense if donor is not None else None).save(out / layout.DENSE)
        np.save(out / layout.SENTENCES, svecs)
        codes = doc_numbering([p.doc_id for p in passages])[1]  # as search.doc_codes numbers them
        rows, cents = page_centroids_of(lambda ids: vecs[ids], codes, self.encoder.dim)
        np.save(out / layout.PAGE_ROWS, rows)
        np.save(out / layout.PAGES, cents.astype(np.float16))
        Lexical(*self.bm25).build(lexical).save(out / layout.BM25)
        adapter = None
        if self.adapt:
            titles = {p.meta["doc_id"]: p.meta.get("title") for p in plans}
            W, adapter = adapt_mod.train(enc, passages, titles, vecs, codes, cache=self.index_dir / layout.ADAPT_CACHE,
                                         progress=training)
            if W is not None:
                np.save(out / layout.ADAPTER, W)
            summary.adapter = adapter
        write_manifest(out, {
            "format": FORMAT_VERSION,
            "version": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": enc.name,
            "precision": enc.precision,
            "dim": enc.dim,
            "parser": docs_mod.PARSER_VERSION,
            "documents": len(plans),
            "passages": len(passages),
            "sentences": len(svecs),
            "dense": kind,
            "passages_split": self.splitting,
            "bm25": {"k1": self.bm25[0], "b": self.bm25[1]},
            "corpus": label or str(corpus),
            **({"adapter": adapter} if adapter is not None else {}),
            **checksums(out),
        })
        return summary

    def _read(self, corpus, prev: Index | None, same_split: Index | None, summary: IndexSummary,
              reading: Progress | None) -> list[DocPlan]:
        """Scan, parse and split every file; unchanged documents come whole from ``same_split``
        (the previous version, when it was split the same way by the same model)."""
        old = {d["doc_id"]: d for d in prev.documents()} if prev is not None else {}
        files, skipped = sourced.scan_all(corpus)
        summary.skipped = list(skipped)
        plans: list[DocPlan] = []
        seen: set[str] = set()
        if reading:
            reading(0, len(files))
        for n, (f, src, keep_suffix) in enumerate(files, 1):
            for doc in docs_mod.load_file(f, max_file_mb=self.max_file_mb, keep_suffix=keep_suffix):
                doc = sourced.finish(doc, f, src)
                if isinstance(doc, Skipped):
                    summary.skipped.append(doc)
                elif doc.doc_id in seen:  # a JSONL record and a file with one id, say: the first one wins
                    summary.skipped.append(Skipped(doc.source, f"duplicate document id {doc.doc_id!r}"))
                else:
                    seen.add(doc.doc_id)
                    before = old.get(doc.doc_id)
                    status = "added" if before is None else \
                        "unchanged" if before["content_hash"] == doc.content_hash else "changed"
                    if status == "unchanged" and same_split is not None:
                        plans.append(self._reuse(same_split, doc.doc_id))
                    else:
                        plans.append(self._split(doc, status))
                    getattr(summary, status).append(doc.doc_id)
                    if doc.encoding:
                        summary.encodings[doc.source] = doc.encoding
            if reading and n < len(files):
                reading(n, len(files))
        if reading:
            reading(len(files), len(files))
        summary.removed = sorted(set(old) - seen)
        return plans

    def _split(self, doc: Document, status: str) -> DocPlan:
        meta = doc.meta()
        meta["paragraphs"] = len(doc.paragraphs)
        planned = []
        for p in split_document(doc, self.encoder.count_tokens, self.passage_tokens, self.embed_title):
            off = p.embed_offset()
            stored = StoredPassage(**p.located(), id=-1, spans=list(p.sentences), hash=p.hash)
            planned.append(PlannedPassage(stored, ToEmbed(p.embed_text(), [(a + off, b + off) for a, b in p.sentences])))
        return DocPlan(meta, list(doc.paragraphs), planned, status)

    @staticmethod
    def _reuse(prev: Index, doc_id: str) -> DocPlan:
        passages = prev.store.document_passages(doc_id)
        return DocPlan(prev.document(doc_id), prev.store.paragraphs(doc_id),
                       [PlannedPassage(p, FromPrevious(p.id)) for p in passages], "unchanged")

    @staticmethod
    def _choose_sources(plans: list[DocPlan], donor: Index | None, cache: EmbedCache, summary: IndexSummary) -> None:
        """Passages to embed whose encoder input the previous version has take its vectors; those an
        interrupted build already embedded take the checkpoint's."""
        by_hash = donor.store.ids_by_hash() if donor is not None else {}
        cache.load()
        for pp in (pp for plan in plans for pp in plan.passages):
            src = pp.source
            if not isinstance(src, ToEmbed):
                continue
            old_id = by_hash.get(pp.passage.hash)
            if old_id is not None:
                pp.source = FromPrevious(old_id)
            elif (hit := cache.get(pp.passage.hash, src.spans)) is not None:
                src.vectors, src.resumed = Vectors(*hit), True
                summary.resumed += 1

    def _embed(self, plans: list[DocPlan], cache: EmbedCache, summary: IndexSummary,
               embedding: Progress | None) -> None:
        """Embed what is left, one checkpoint chunk at a time; a passage repeated in the corpus (same
        encoder input: boilerplate, shared option descriptions) is embedded once."""
        enc = self.encoder
        todo: list[PlannedPassage] = []
        copies: dict[str, list[ToEmbed]] = {}
        for pp in (pp for plan in plans for pp in plan.passages):
            if isinstance(pp.source, ToEmbed) and pp.source.vectors is None:
                if pp.passage.hash not in copies:
                    todo.append(pp)
                copies.setdefault(pp.passage.hash, []).append(pp.source)
        # longest first across the whole build, not only inside a chunk: each chunk's batches then hold
        # passages of like length (little padding), as one sentence-transformers call over all would
        todo.sort(key=lambda pp: -len(pp.source.text))
        if embedding:
            embedding(0, len(todo))
        for i in range(0, len(todo), self.checkpoint_every):
            batch = todo[i:i + self.checkpoint_every]
            sources = [pp.source for pp in batch]
            vecs, svecs = enc.encode_passages([s.text for s in sources], [s.spans for s in sources])
            if svecs is None:  # not a mean-pooling model: no sentence vectors
                svecs = [np.zeros((len(s.spans), enc.dim), np.float32) for s in sources]
            for pp, v, sv in zip(batch, vecs, svecs):
                for s in copies[pp.passage.hash]:
                    s.vectors = Vectors(v, sv)
            cache.append([pp.passage.hash for pp in batch], vecs, [s.spans for s in sources], svecs)
            summary.embedded += len(batch)
            if embedding:
                embedding(summary.embedded, len(todo))

    def _assemble(self, plans: list[DocPlan], donor: Index | None):
        """Ids, sentence rows, vectors and BM25 texts of the new version, in passage-id order."""
        planned = [pp for plan in plans for pp in plan.passages]
        titles = [plan.meta.get("title") for plan in plans for _ in plan.passages]
        vecs = np.zeros((len(planned), self.encoder.dim), np.float32)
        svecs = np.zeros((sum(len(pp.passage.spans) for pp in planned), self.encoder.dim), np.float16)
        reused: list[tuple[int, int]] = []  # (new id, old id)
        passages, lexical = [], []
        row = 0
        for pid, (pp, title) in enumerate(zip(planned, titles)):
            p, src = pp.passage, pp.source
            k = len(p.spans)
            if isinstance(src, FromPrevious):
                reused.append((pid, src.old_id))
            else:
                vecs[pid] = src.vectors.passage
                svecs[row:row + k] = src.vectors.sentences
            p.id, p.sent_start = pid, row
            row += k
            passages.append(p)
            lexical.append(" ".join(x for x in (title, p.heading, p.text) if x))
        if reused:
            new_ids, old_ids = (list(x) for x in zip(*reused))
            vecs[new_ids] = donor.vectors(np.array(old_ids))
            old_rows = donor.passages(old_ids)
            for pid, oid in reused:
                a, k = old_rows[oid].sent_start, len(passages[pid].spans)
                svecs[passages[pid].sent_start:passages[pid].sent_start + k] = donor.sentences[a:a + k]
        return passages, vecs, svecs, lexical


def _reason(e: BaseException) -> str:
    """A short, one-line reason for a failed build."""
    if isinstance(e, OSError) and e.strerror:
        where = f": {Path(e.filename).name}" if e.filename else ""
        return f"{e.strerror}{where}"
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
