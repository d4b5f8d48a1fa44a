"""The persistent index: FAISS vectors, BM25, a SQLite store, a manifest with checksums.

Layout of ``index_dir``::

    CURRENT               name of the version in use (replaced atomically)
    v-<time>-<rand>/      one complete version
        manifest.json     format, model, counts, checksums — written last
        store.sqlite      documents, paragraphs, passages
        dense.faiss       passage vectors in fp16 (exact inner product, or IVF above a threshold)
        sentences.npy     one float16 vector per passage sentence (for quoting)
        bm25/             the bm25s index
    .build-*/             a build in progress (removed when it fails or is found stale)
    .lock                 held while building

A build writes a fresh version folder and only then points ``CURRENT`` at it, so a crash at any
moment leaves the previous version complete and in use.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import documents as docs_mod
from .errors import IndexBuildError, IndexCorrupt, IndexMissing, ReindexInProgress
from .lexical import Lexical
from .passages import Passage, split_document
from .types import Document, IndexSummary, Paragraph, Skipped

FORMAT_VERSION = 1
FILES = ("store.sqlite", "dense.faiss", "sentences.npy", "bm25/count")
REBUILD_HINT = "rebuild it with `citebot index --rebuild`"
Progress = Callable[[int, int], None]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    for p in sorted([path, *[q for q in path.rglob("*") if q.is_dir()]]):
        _fsync_dir(p)


def file_digest(path: Path, full: bool = False, sample: int = 1 << 20) -> str:
    """sha256 of the file; above 64 MB (unless ``full``) of its size and three 1 MB samples.

    Sampling keeps cold start fast on large indexes; ``citebot doctor`` checks in full.
    """
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if full or size <= 64 << 20:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()
        h.update(str(size).encode())
        for off in (0, size // 2, max(0, size - sample)):
            fh.seek(off)
            h.update(fh.read(sample))
    return "sampled:" + h.hexdigest()


def _sampled(path: Path) -> bool:
    return path.stat().st_size > 64 << 20


# IVF above the ANN threshold: ~4·sqrt(n) lists, trained on at most 64 vectors per list, and by
# default max(32, lists/16) of them scanned per question: recall@10 0.96-0.98 of exact search at
# 100k and 1M passages (bench/RESULTS.md, ANN section).
DEFAULT_NPROBE = 32


def auto_nprobe(nlist: int) -> int:
    """Lists scanned per question when the ``nprobe`` setting is 0 (auto)."""
    return int(min(nlist, max(DEFAULT_NPROBE, nlist // 16)))


def ivf_lists(n: int) -> int:
    """Number of IVF lists for ``n`` vectors."""
    return int(max(1, min(65536, n, max(64, 4 * np.sqrt(max(n, 1))))))


def dense_index(vecs: np.ndarray, kind: str, previous=None, seed: int = 0):
    """A FAISS inner-product index over ``vecs`` (normalized float32 rows), vectors stored in fp16.

    Args:
        vecs: the passage vectors, in passage-id order.
        kind: ``flat`` (exact search) or ``ivf`` (inverted lists: approximate, for large corpora).
        previous: the previous version's index; an IVF one with a similar number of lists lends its
            trained centroids, so an incremental build skips k-means.
        seed: sampling seed for k-means training.
    """
    import faiss

    n, d = vecs.shape
    fp16 = faiss.ScalarQuantizer.QT_fp16  # half the memory traffic of fp32, cosine error ~1e-4
    if kind == "flat":
        index = faiss.IndexScalarQuantizer(d, fp16, faiss.METRIC_INNER_PRODUCT)
    elif kind == "ivf":
        nlist = ivf_lists(n)
        old = _ivf_of(previous)
        if old is not None and old.d == d and nlist / 2 <= old.nlist <= nlist * 2:
            nlist = old.nlist
            quantizer = faiss.IndexFlatIP(d)
            quantizer.add(old.quantizer.reconstruct_n(0, old.nlist))
        else:
            quantizer, old = faiss.IndexFlatIP(d), None
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, fp16, faiss.METRIC_INNER_PRODUCT, False)
        index.own_fields = True
        quantizer.this.disown()
        index.cp.min_points_per_centroid = 1  # we sample ourselves; no "too few points" warning
        if old is None:
            rng = np.random.default_rng(seed)
            sample = vecs if n <= 64 * nlist else vecs[np.sort(rng.choice(n, 64 * nlist, replace=False))]
            index.train(np.ascontiguousarray(sample))
        else:
            index.is_trained = True  # centroids reused; fp16 coding learns nothing
        index.nprobe = auto_nprobe(nlist)
    else:
        raise ValueError(f"unknown dense index kind {kind!r}")
    if n:
        index.add(np.ascontiguousarray(vecs))
    return index


def _fp16_rows(index) -> np.ndarray | None:
    """A zero-copy ``(n, d)`` float16 view of a flat fp16 index's codes (reading rows back through
    FAISS decodes one vector per call), or None for other index types."""
    import faiss

    if not isinstance(index, faiss.IndexScalarQuantizer) or index.ntotal == 0 \
            or index.sq.qtype != faiss.ScalarQuantizer.QT_fp16 or index.code_size != 2 * index.d:
        return None
    buf = faiss.rev_swig_ptr(index.codes.data(), index.ntotal * index.code_size)
    return np.asarray(buf).view(np.float16).reshape(index.ntotal, index.d)


def _ivf_of(index):
    if index is None:
        return None
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None


class Index:
    """A loaded, read-only index version. Thread-safe for queries.

    Args:
        path: the version folder.
        verify: check the manifest's checksums while loading.
    """

    def __init__(self, path: Path, verify: bool = True):
        import faiss

        self.path = Path(path)
        try:
            self.manifest = json.loads((self.path / "manifest.json").read_text("utf-8"))
        except FileNotFoundError:
            raise IndexCorrupt(f"index at {self.path} has no manifest; {REBUILD_HINT}") from None
        except (OSError, ValueError) as e:
            raise IndexCorrupt(f"index manifest at {self.path} is unreadable ({e}); {REBUILD_HINT}") from None
        if not isinstance(self.manifest, dict) or self.manifest.get("format") != FORMAT_VERSION:
            raise IndexCorrupt(f"index at {self.path} has an unknown format; {REBUILD_HINT}")
        if not _manifest_complete(self.manifest):
            raise IndexCorrupt(f"index manifest at {self.path} is incomplete; {REBUILD_HINT}")
        if verify:
            self.verify(full=False)
        self.version = self.path.name
        try:
            self.dense = faiss.read_index(str(self.path / "dense.faiss"))
            self.sentences = np.load(self.path / "sentences.npy", mmap_mode="r")
            self.lexical = Lexical.load(self.path / "bm25")
            self.db = sqlite3.connect(f"file:{self.path / 'store.sqlite'}?mode=ro", uri=True,
                                      check_same_thread=False)
            self.db.execute("PRAGMA query_only = 1")
            n = self.db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
            # stores written before heading paths and pages existed still load
            self.structured = any(r[1] == "heading_path" for r in self.db.execute("PRAGMA table_info(passages)"))
        except Exception as e:  # faiss raises RuntimeError, sqlite DatabaseError, numpy ValueError, …
            raise IndexCorrupt(f"index at {self.path} is damaged ({type(e).__name__}); {REBUILD_HINT}") from None
        m = self.manifest
        if not (n == self.dense.ntotal == self.lexical.n == m["passages"]) \
                or self.sentences.ndim != 2 or len(self.sentences) != m.get("sentences", len(self.sentences)) \
                or self.dense.d != m.get("dim", self.dense.d) or self.sentences.shape[1] != self.dense.d:
            raise IndexCorrupt(f"index at {self.path} has inconsistent parts; {REBUILD_HINT}")
        if hasattr(self.dense, "hnsw"):  # indexes built before IVF replaced HNSW
            self.dense.hnsw.efSearch = int(self.manifest.get("ef_search", 128))
        ivf = _ivf_of(self.dense)
        if ivf is not None:
            ivf.make_direct_map()  # passage vectors are read back by id for fusion and reuse
        self._fp16 = _fp16_rows(self.dense)
        self._lock = threading.Lock()

    def verify(self, full: bool = False) -> None:
        """Raise :class:`IndexCorrupt` when a file is missing or its checksum differs.

        Args:
            full: hash large files completely (by default they are checked by size and samples).
        """
        sums, samples = self.manifest.get("checksums", {}), self.manifest.get("samples", {})
        for name, digest in sums.items():
            p = self.path / name
            if not p.is_file():
                raise IndexCorrupt(f"index file {name} is missing in {self.path}; {REBUILD_HINT}")
            if full or name not in samples:
                ok = file_digest(p, full=True) == digest
            else:
                ok = file_digest(p) == samples[name]
            if not ok:
                raise IndexCorrupt(f"index file {name} in {self.path} is corrupted (checksum mismatch); {REBUILD_HINT}")

    # -- reads --------------------------------------------------------------------------------
    def query(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, args).fetchall()

    def passages(self, ids) -> dict[int, dict]:
        """Passage rows by id: doc_id, paragraph, part, text, heading, sent_start, spans, heading_path, page."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        extra = "heading_path, page" if self.structured else "'[]', NULL"
        rows = self.query(
            f"SELECT id, doc_id, paragraph, part, text, heading, sent_start, spans, {extra} FROM passages "
            f"WHERE id IN ({q})", ids)
        return {r[0]: {"id": r[0], "doc_id": r[1], "paragraph": r[2], "part": r[3], "text": r[4], "heading": r[5],
                       "sent_start": r[6], "spans": [tuple(s) for s in json.loads(r[7])],
                       "heading_path": json.loads(r[8] or "[]"), "page": r[9]} for r in rows}

    def document(self, doc_id: str) -> dict | None:
        rows = self.query("SELECT doc_id, source, title, date, author, outlet, url, content_hash, paragraphs "
                          "FROM documents WHERE doc_id = ?", (doc_id,))
        return _doc_row(rows[0]) if rows else None

    def documents(self) -> list[dict]:
        rows = self.query("SELECT doc_id, source, title, date, author, outlet, url, content_hash, paragraphs "
                          "FROM documents ORDER BY doc_id")
        return [_doc_row(r) for r in rows]

    def paragraphs(self, doc_id: str, first: int, last: int) -> list[Paragraph]:
        extra = "heading_path, page" if self.structured else "'[]', NULL"
        rows = self.query(f"SELECT number, text, heading, {extra} FROM paragraphs WHERE doc_id = ? "
                          "AND number BETWEEN ? AND ? ORDER BY number", (doc_id, first, last))
        return [Paragraph(n, t, h, json.loads(hp or "[]"), pg) for n, t, h, hp, pg in rows]

    def sentence_vectors(self, row: dict) -> np.ndarray:
        a = row["sent_start"]
        return np.asarray(self.sentences[a:a + len(row["spans"])], dtype=np.float32)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored passage vectors (for reuse and for near-duplicate checks)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros((0, self.dense.d), np.float32)
        if self._fp16 is not None:
            return self._fp16[ids].astype(np.float32)
        return self.dense.reconstruct_batch(ids)

    def set_nprobe(self, nprobe: int) -> None:
        """Lists an IVF index scans per question (more: slower, closer to exact; 0: automatic);
        no-op when the index is exact."""
        ivf = _ivf_of(self.dense)
        if ivf is not None:
            ivf.nprobe = auto_nprobe(ivf.nlist) if nprobe <= 0 else max(1, min(int(nprobe), ivf.nlist))

    def search_dense(self, qvec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        n = min(n, self.dense.ntotal)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores, ids = self.dense.search(qvec.reshape(1, -1).astype(np.float32), n)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def close(self) -> None:
        try:
            self.db.close()
        except Exception:
            pass


def _data_files(version: Path) -> list[str]:
    """Every file of a version the manifest checksums: :data:`FILES` and all of bm25s's files
    (a damaged vocabulary or parameter file would otherwise load and fail, or mislead, at question time)."""
    bm25 = sorted(p.relative_to(version).as_posix() for p in (version / "bm25").iterdir() if p.is_file())
    return [*FILES, *(f for f in bm25 if f not in FILES)]


def _manifest_complete(m: dict) -> bool:
    """The keys loading relies on, with the right types; every data file has a checksum."""
    sums, samples = m.get("checksums"), m.get("samples", {})
    return (isinstance(m.get("passages"), int) and not isinstance(m.get("passages"), bool)
            and isinstance(sums, dict) and isinstance(samples, dict)
            and all(isinstance(sums.get(f), str) for f in FILES)
            and all(isinstance(v, str) for v in samples.values()))


def _doc_row(r) -> dict:
    keys = ("doc_id", "source", "title", "date", "author", "outlet", "url", "content_hash", "paragraphs")
    return dict(zip(keys, r))


# -- locating versions ------------------------------------------------------------------------
def current_version(index_dir: Path) -> Path:
    """The version folder ``CURRENT`` points at; :class:`IndexMissing` when there is none."""
    index_dir = Path(index_dir)
    cur = index_dir / "CURRENT"
    if not cur.is_file():
        raise IndexMissing(f"no index in {index_dir}; build one with `citebot index`")
    try:
        name = cur.read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    path = index_dir / name
    if not name.startswith("v-") or "/" in name or not path.is_dir():
        raise IndexCorrupt(f"index pointer {cur} names a missing version {name!r}; {REBUILD_HINT}")
    return path


def _pointer(index_dir: Path) -> str | None:
    """The version name in ``CURRENT``, or None when it cannot be read."""
    try:
        return (Path(index_dir) / "CURRENT").read_text("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _reason(e: BaseException) -> str:
    """A short, one-line reason for a failed build."""
    if isinstance(e, OSError) and e.strerror:
        where = f": {Path(e.filename).name}" if e.filename else ""
        return f"{e.strerror}{where}"
    text = " ".join(str(e).split())[:200]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def open_index(index_dir: Path, verify: bool = True) -> Index:
    return Index(current_version(index_dir), verify=verify)


@contextmanager
def build_lock(index_dir: Path):
    """Exclusive lock for building; :class:`ReindexInProgress` when another build holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = open(index_dir / ".lock", "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReindexInProgress(f"another index build is running in {index_dir}") from None
        yield
    finally:
        fh.close()


# -- building ---------------------------------------------------------------------------------
@dataclass
class _Item:
    """A document of the new version with where its passages and vectors come from."""

    doc: dict
    paragraphs: list[tuple[int, str, str | None, str, int | None]]  # number, text, heading, heading_path JSON, page
    passages: list[dict]  # text, heading, heading_path, page, paragraph, part, spans, hash
    status: str  # added / changed / unchanged


class Builder:
    """Builds a new index version from a corpus, reusing what it can from the previous one.

    Args:
        encoder: a :class:`~retrieval.embeddings.Encoder`.
        index_dir: where versions live.
        ann_threshold: above this many passages the dense index is IVF (approximate) instead of exact.
        max_file_mb: corpus files larger than this are skipped.
        bm25: ``(k1, b)`` of the BM25 side.
        passage_tokens: passage size limit in word pieces (capped at the model's limit).
        embed_title: the encoder reads each document's title before its passages.
    """

    def __init__(self, encoder, index_dir: Path, *, ann_threshold: int = 50_000, max_file_mb: float = 20.0,
                 bm25: tuple[float, float] = (1.2, 0.75), passage_tokens: int | None = None,
                 embed_title: bool = False):
        self.encoder = encoder
        self.index_dir = Path(index_dir)
        self.ann_threshold = ann_threshold
        self.max_file_mb = max_file_mb
        self.bm25 = bm25
        self.passage_tokens = min(encoder.limit, passage_tokens or encoder.limit)
        self.embed_title = embed_title

    @property
    def splitting(self) -> dict:
        """What decides passage boundaries and encoder inputs; unchanged documents are reused only
        when it matches the previous version's."""
        return {"tokens": self.passage_tokens, "embed_title": self.embed_title}

    def build(self, corpus: Path, *, previous: Index | None = None, rebuild: bool = False,
              progress: Progress | None = None) -> IndexSummary:
        """Build and switch to a new version. The previous version stays in use on any failure."""
        t0 = time.perf_counter()
        try:
            with build_lock(self.index_dir):
                self._clear_stale()
                name = f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
                tmp = self.index_dir / f".build-{name}"
                final = self.index_dir / name
                tmp.mkdir(parents=True)
                try:
                    summary = self._build_into(tmp, name, Path(corpus), None if rebuild else previous, progress)
                    summary.seconds = time.perf_counter() - t0
                    _fsync_tree(tmp)
                    os.rename(tmp, final)
                    _fsync_dir(self.index_dir)
                    self._point_to(name)
                    summary.version = name
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    if final.exists() and _pointer(self.index_dir) != name:  # renamed, never pointed at
                        shutil.rmtree(final, ignore_errors=True)
                    raise
                self._remove_old(keep={name, previous.path.name if previous else ""})
            return summary
        except (OSError, sqlite3.Error, RuntimeError, MemoryError) as e:
            # disk full, I/O errors, faiss write errors: one line for the user, the cause chained for logs
            kept = "the previous index is still in use" if previous is not None else "no index was written"
            raise IndexBuildError(f"index build failed ({_reason(e)}); {kept}") from e

    def _point_to(self, name: str) -> None:
        tmp = self.index_dir / f".CURRENT-{uuid.uuid4().hex[:8]}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_dir / "CURRENT")
        _fsync_dir(self.index_dir)

    def _clear_stale(self) -> None:
        for p in self.index_dir.glob(".build-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.index_dir.glob(".CURRENT-*"):
            p.unlink(missing_ok=True)

    def _remove_old(self, keep: set[str]) -> None:
        # the version before this one stays: an engine may still be answering from it
        for p in self.index_dir.glob("v-*"):
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)

    # the work --------------------------------------------------------------------------------
    def _build_into(self, out: Path, name: str, corpus: Path, prev: Index | None, progress: Progress | None) -> IndexSummary:
        import faiss

        enc = self.encoder
        compatible = prev is not None and prev.manifest.get("model") == enc.name and \
            prev.manifest.get("dim") == enc.dim and prev.manifest.get("parser") == docs_mod.PARSER_VERSION
        same_split = compatible and prev.manifest.get("passages_split") == self.splitting
        old_docs = {d["doc_id"]: d for d in prev.documents()} if prev is not None else {}
        old_by_hash: dict[str, int] = {}
        if compatible:
            old_by_hash = {h: i for i, h in prev.query("SELECT id, hash FROM passages")}
        files, skipped = docs_mod.scan(corpus)
        summary = IndexSummary(skipped=list(skipped))
        total = len(files)
        items: list[_Item] = []
        pending: list[tuple[_Item, int]] = []  # (item, passage index) needing vectors
        new_vecs: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        done_docs = 0
        if progress:
            progress(0, total)

        def flush() -> None:
            nonlocal pending
            if not pending:
                return
            texts, spans = [], []
            for it, j in pending:
                p = it.passages[j]
                off = p["offset"]
                texts.append(p["embed"])
                spans.append([(a + off, b + off) for a, b in p["spans"]])
            vecs, svecs = enc.encode_passages(texts, spans)
            for k, (it, j) in enumerate(pending):
                sv = svecs[k] if svecs is not None else np.zeros((len(it.passages[j]["spans"]), enc.dim), np.float32)
                new_vecs[(id(it), j)] = (vecs[k], sv)
            summary.embedded += len(pending)
            pending = []

        clash = docs_mod.clashing_ids(files)
        for f in files:
            for doc in docs_mod.load_file(f, max_file_mb=self.max_file_mb, keep_suffix=f in clash):
                if isinstance(doc, Skipped):
                    summary.skipped.append(doc)
                    continue
                if doc.encoding:  # the summary names files read by a guessed encoding
                    summary.encodings[f.rel] = doc.encoding
                old = old_docs.get(doc.doc_id)
                status = "added" if old is None else ("unchanged" if old["content_hash"] == doc.content_hash
                                                       else "changed")
                if same_split and status == "unchanged":
                    it = self._reuse(prev, doc.doc_id)
                else:
                    it = self._fresh(doc, status)
                items.append(it)
                for j, p in enumerate(it.passages):
                    if "old_id" in p:
                        continue
                    oid = old_by_hash.get(p["hash"])
                    if oid is not None:
                        p["old_id"] = oid
                    else:
                        pending.append((it, j))
            done_docs += 1
            if len(pending) >= enc.batch_size * 4:
                flush()
            if progress and done_docs < total:
                progress(done_docs, total)
        flush()
        if progress:
            progress(total, total)

        # duplicate ids across files (a JSONL record and a file, say): the first one wins
        seen: set[str] = set()
        unique: list[_Item] = []
        for it in items:
            if it.doc["doc_id"] in seen:
                summary.skipped.append(Skipped(it.doc["source"], f"duplicate document id {it.doc['doc_id']!r}"))
                continue
            seen.add(it.doc["doc_id"])
            unique.append(it)
        items = unique
        for it in items:
            getattr(summary, it.status).append(it.doc["doc_id"])
        summary.removed = sorted(set(old_docs) - seen)

        # assemble rows, vectors and sentence vectors in passage-id order
        n = sum(len(it.passages) for it in items)
        vecs = np.zeros((n, enc.dim), np.float32)
        n_sent = sum(len(p["spans"]) for it in items for p in it.passages)
        svecs = np.zeros((n_sent, enc.dim), np.float16)
        rows, lexical = [], []
        reuse_ids = [(pid, p["old_id"]) for pid, p in enumerate(p for it in items for p in it.passages) if "old_id" in p]
        if reuse_ids:
            vecs[[a for a, _ in reuse_ids]] = prev.vectors(np.array([b for _, b in reuse_ids]))
        old_rows = prev.passages([b for _, b in reuse_ids]) if reuse_ids else {}
        pid = s_at = 0
        for it in items:
            for j, p in enumerate(it.passages):
                k = len(p["spans"])
                if "old_id" in p:
                    orow = old_rows[p["old_id"]]
                    svecs[s_at:s_at + k] = prev.sentences[orow["sent_start"]:orow["sent_start"] + k]
                else:
                    v, sv = new_vecs[(id(it), j)]
                    vecs[pid] = v
                    svecs[s_at:s_at + k] = sv
                rows.append((pid, it.doc["doc_id"], p["paragraph"], p["part"], p["text"], p["heading"], s_at,
                             json.dumps(p["spans"]), p["hash"], json.dumps(p.get("heading_path") or []),
                             p.get("page")))
                lexical.append(" ".join(x for x in (it.doc["title"], p["heading"], p["text"]) if x))
                pid += 1
                s_at += k
        summary.passages = n

        self._write_store(out / "store.sqlite", items, rows)
        kind = "ivf" if n > self.ann_threshold else "flat"
        dense = dense_index(vecs, kind, prev.dense if (prev is not None and compatible) else None)
        faiss.write_index(dense, str(out / "dense.faiss"))
        np.save(out / "sentences.npy", svecs)
        Lexical(*self.bm25).build(lexical).save(out / "bm25")
        files = _data_files(out)
        manifest = {
            "format": FORMAT_VERSION,
            "version": name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": enc.name,
            "precision": enc.precision,
            "dim": enc.dim,
            "parser": docs_mod.PARSER_VERSION,
            "documents": len(items),
            "passages": n,
            "sentences": n_sent,
            "dense": kind,
            "passages_split": self.splitting,
            "bm25": {"k1": self.bm25[0], "b": self.bm25[1]},
            "corpus": str(corpus),
            "checksums": {f: file_digest(out / f, full=True) for f in files},
            "samples": {f: file_digest(out / f) for f in files if _sampled(out / f)},
        }
        # written last: a version folder without a manifest is never complete
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1), "utf-8")
        return summary

    def _fresh(self, doc: Document, status: str) -> _Item:
        enc = self.encoder
        ps: list[Passage] = split_document(doc, enc.count_tokens, self.passage_tokens, self.embed_title)
        meta = doc.meta()
        meta["paragraphs"] = len(doc.paragraphs)
        return _Item(
            doc=meta,
            paragraphs=[(p.number, p.text, p.heading, json.dumps(p.heading_path), p.page) for p in doc.paragraphs],
            passages=[{"paragraph": p.paragraph, "part": p.part, "text": p.text, "heading": p.heading,
                       "heading_path": p.heading_path, "page": p.page,
                       "spans": [list(s) for s in p.sentences], "hash": p.hash, "embed": p.embed_text(),
                       "offset": p.embed_offset()} for p in ps],
            status=status,
        )

    def _reuse(self, prev: Index, doc_id: str) -> _Item:
        doc = prev.document(doc_id)
        hp, pg = ("heading_path", "page") if prev.structured else ("'[]'", "NULL")
        paras = prev.query(f"SELECT number, text, heading, {hp}, {pg} FROM paragraphs WHERE doc_id = ? "
                           "ORDER BY number", (doc_id,))
        rows = prev.query(f"SELECT id, paragraph, part, text, heading, spans, hash, {hp}, {pg} FROM passages "
                          "WHERE doc_id = ? ORDER BY id", (doc_id,))
        return _Item(
            doc=doc,
            paragraphs=[tuple(r) for r in paras],
            passages=[{"old_id": r[0], "paragraph": r[1], "part": r[2], "text": r[3], "heading": r[4],
                       "spans": json.loads(r[5]), "hash": r[6], "heading_path": json.loads(r[7] or "[]"),
                       "page": r[8]} for r in rows],
            status="unchanged",
        )

    @staticmethod
    def _write_store(path: Path, items: list[_Item], rows: list[tuple]) -> None:
        db = sqlite3.connect(path)
        try:
            db.executescript("""
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                CREATE TABLE documents (doc_id TEXT PRIMARY KEY, source TEXT, title TEXT, date TEXT, author TEXT,
                                        outlet TEXT, url TEXT, content_hash TEXT, paragraphs INTEGER);
                CREATE TABLE paragraphs (doc_id TEXT, number INTEGER, text TEXT, heading TEXT,
                                         heading_path TEXT, page INTEGER, PRIMARY KEY (doc_id, number));
                CREATE TABLE passages (id INTEGER PRIMARY KEY, doc_id TEXT, paragraph INTEGER, part INTEGER,
                                       text TEXT, heading TEXT, sent_start INTEGER, spans TEXT, hash TEXT,
                                       heading_path TEXT, page INTEGER);
            """)
            keys = ("doc_id", "source", "title", "date", "author", "outlet", "url", "content_hash", "paragraphs")
            db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
                           [tuple(it.doc.get(k) for k in keys) for it in items])
            db.executemany("INSERT INTO paragraphs VALUES (?,?,?,?,?,?)",
                           [(it.doc["doc_id"], *para) for it in items for para in it.paragraphs])
            db.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            db.execute("CREATE INDEX passages_doc ON passages (doc_id)")
            db.commit()
        finally:
            db.close()
