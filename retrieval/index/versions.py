"""Index versions on disk: the CURRENT pointer, the build lock, the atomic swap, stale cleanup,
and each version's manifest with its checksums.

Layout of ``index_dir``::

    CURRENT               name of the version in use (replaced atomically)
    v-<time>-<rand>/      one complete version
        manifest.json     format, model, counts, checksums — written last
        store.sqlite      documents, paragraphs, passages
        dense.faiss       passage vectors in fp16 (exact inner product, or IVF above a threshold)
        sentences.npy     one float16 vector per passage sentence (for quoting)
        pages.npy         one float16 centroid per document of more than one passage, and
        page_rows.npy     each document's row in it (-1: one passage) — page-level evidence; versions
                          written before them compute them on first use
        adapter.npy       the query adapter trained on this version's passages (``adapt = true``)
        bm25/             the bm25s index
    .build-*/             a build in progress (removed when it fails or is found stale)
    .embed-cache/         vectors of an interrupted build (see :mod:`retrieval.index.checkpoint`)
    .adapt-cache/         the adapter's encoded training queries, for a resumed or the next build (:mod:`retrieval.model.adapt`)
    .lock                 held while building
    sources/<name>/       fetched copies of the knowledge base's websites and repositories, owned by
                          :mod:`retrieval.sources` (a stage before this one): ``files/`` or ``repo/``,
                          ``manifest.json`` (URLs, validators), ``status.json`` (the last fetch)
    sources.json          the sources its admins added from Discord (:mod:`retrieval.sources.added`)

A build writes a fresh version folder and only then points ``CURRENT`` at it, so a crash at any
moment leaves the previous version complete and in use.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from retrieval.errors import IndexCorrupt, IndexMissing, ReindexInProgress

FORMAT_VERSION = 1
# The names of an index's files: this module owns the layout above; everyone else asks it.
STORE, DENSE, SENTENCES, BM25 = "store.sqlite", "dense.faiss", "sentences.npy", "bm25"
PAGES, PAGE_ROWS, ADAPTER = "pages.npy", "page_rows.npy", "adapter.npy"
MANIFEST, CURRENT, LOCK = "manifest.json", "CURRENT", ".lock"
EMBED_CACHE, ADAPT_CACHE = ".embed-cache", ".adapt-cache"
FILES = (STORE, DENSE, SENTENCES, f"{BM25}/count")
OPTIONAL_FILES = (PAGES, PAGE_ROWS, ADAPTER)  # checksummed when present
REBUILD_HINT = "rebuild it with `citebot index --rebuild`"
SAMPLE_ABOVE = 64 << 20


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    for p in sorted([path, *[q for q in path.rglob("*") if q.is_dir()]]):
        fsync_dir(p)


def file_digest(path: Path, full: bool = False, sample: int = 1 << 20) -> str:
    """sha256 of the file; above 64 MB (unless ``full``) of its size and three 1 MB samples.

    Sampling keeps cold start fast on large indexes; ``citebot doctor`` checks in full.
    """
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if full or size <= SAMPLE_ABOVE:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()
        h.update(str(size).encode())
        for off in (0, size // 2, max(0, size - sample)):
            fh.seek(off)
            h.update(fh.read(sample))
    return "sampled:" + h.hexdigest()


# -- the manifest ----------------------------------------------------------------------------------
def data_files(version: Path) -> list[str]:
    """Every file of a version the manifest checksums: :data:`FILES` and all of bm25s's files
    (a damaged vocabulary or parameter file would otherwise load and fail, or mislead, at question time)."""
    bm25 = sorted(p.relative_to(version).as_posix() for p in (version / BM25).iterdir() if p.is_file())
    optional = [f for f in OPTIONAL_FILES if (version / f).is_file()]
    return [*FILES, *optional, *(f for f in bm25 if f not in FILES)]


def data_bytes(version: Path) -> int:
    """Bytes of a version's files (all but the manifest): what loading it can map into memory."""
    return sum(p.stat().st_size for p in version.rglob("*") if p.is_file() and p.name != MANIFEST)


def checksums(version: Path) -> dict:
    """The manifest's ``checksums`` and ``samples`` entries for the data files of ``version``."""
    files = data_files(version)
    return {"checksums": {f: file_digest(version / f, full=True) for f in files},
            "samples": {f: file_digest(version / f) for f in files if (version / f).stat().st_size > SAMPLE_ABOVE}}


def write_manifest(version: Path, manifest: dict) -> None:
    """Write ``manifest.json``; called last, since a version folder without one is never complete."""
    (version / MANIFEST).write_text(json.dumps(manifest, indent=1), "utf-8")


def _complete(m: dict) -> bool:
    """The keys loading relies on, with the right types; every data file has a checksum."""
    sums, samples = m.get("checksums"), m.get("samples", {})
    return (isinstance(m.get("passages"), int) and not isinstance(m.get("passages"), bool)
            and isinstance(sums, dict) and isinstance(samples, dict)
            and all(isinstance(sums.get(f), str) for f in FILES)
            and all(isinstance(v, str) for v in samples.values()))


def read_manifest(version: Path) -> dict:
    """The version's manifest; :class:`IndexCorrupt` when it is missing, unreadable or incomplete."""
    try:
        m = json.loads((version / MANIFEST).read_text("utf-8"))
    except FileNotFoundError:
        raise IndexCorrupt(f"index at {version} has no manifest; {REBUILD_HINT}") from None
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"index manifest at {version} is unreadable ({e}); {REBUILD_HINT}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT_VERSION:
        raise IndexCorrupt(f"index at {version} has an unknown format; {REBUILD_HINT}")
    if not _complete(m):
        raise IndexCorrupt(f"index manifest at {version} is incomplete; {REBUILD_HINT}")
    return m


def verify(version: Path, manifest: dict, full: bool = False) -> None:
    """Raise :class:`IndexCorrupt` when a file is missing or its checksum differs.

    Args:
        version: the version folder.
        manifest: its manifest.
        full: hash large files completely (by default they are checked by size and samples).
    """
    sums, samples = manifest.get("checksums", {}), manifest.get("samples", {})
    for name, digest in sums.items():
        p = version / name
        if not p.is_file():
            raise IndexCorrupt(f"index file {name} is missing in {version}; {REBUILD_HINT}")
        ok = file_digest(p, full=True) == digest if full or name not in samples else file_digest(p) == samples[name]
        if not ok:
            raise IndexCorrupt(f"index file {name} in {version} is corrupted (checksum mismatch); {REBUILD_HINT}")


# -- the pointer and the folder -------------------------------------------------------------------
def current_version(index_dir: Path) -> Path:
    """The version folder ``CURRENT`` points at; :class:`IndexMissing` when there is none."""
    index_dir = Path(index_dir)
    cur = index_dir / CURRENT
    if not cur.is_file():
        raise IndexMissing(f"no index in {index_dir}; build one with `citebot index`")
    name = Versions(index_dir).pointer() or ""
    path = index_dir / name
    if not name.startswith("v-") or "/" in name or not path.is_dir():
        raise IndexCorrupt(f"index pointer {cur} names a missing version {name!r}; {REBUILD_HINT}")
    return path


@contextmanager
def build_lock(index_dir: Path):
    """Exclusive lock for building; :class:`ReindexInProgress` when another build holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fh = open(index_dir / LOCK, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReindexInProgress(f"another index build is running in {index_dir}") from None
        yield
    finally:
        fh.close()


class Versions:
    """The version folders of one index directory and the pointer to the one in use.

    Args:
        index_dir: where versions live.
    """

    def __init__(self, index_dir: Path):
        self.dir = Path(index_dir)

    def pointer(self) -> str | None:
        """The version name in ``CURRENT``, or None when it cannot be read."""
        try:
            return (self.dir / CURRENT).read_text("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None

    @staticmethod
    def new_name() -> str:
        return f"v-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"

    @contextmanager
    def staging(self, name: str):
        """A ``.build-<name>`` folder to write a version into; on success it is fsynced, renamed to
        ``<name>`` and ``CURRENT`` is pointed at it. On any failure both are removed and
        ``CURRENT`` is untouched."""
        tmp, final = self.dir / f".build-{name}", self.dir / name
        tmp.mkdir(parents=True)
        try:
            yield tmp
            fsync_tree(tmp)
            os.rename(tmp, final)
            fsync_dir(self.dir)
            self.point_to(name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists() and self.pointer() != name:  # renamed, never pointed at
                shutil.rmtree(final, ignore_errors=True)
            raise

    def point_to(self, name: str) -> None:
        """Replace ``CURRENT`` atomically (temp file, fsync, rename, fsync of the folder)."""
        tmp = self.dir / f".CURRENT-{uuid.uuid4().hex[:8]}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.dir / CURRENT)
        fsync_dir(self.dir)

    def clear_stale(self) -> None:
        """Remove what a crashed build left (under the build lock, so none is running)."""
        for p in self.dir.glob(".build-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.dir.glob(".CURRENT-*"):
            p.unlink(missing_ok=True)

    def remove_old(self, keep: set[str]) -> None:
        """Remove every version not in ``keep``; the one before the new version stays, since an
        engine may still be answering from it."""
        for p in self.dir.glob("v-*"):
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
