"""Embeddings of an unfinished build, kept so an interrupted build (Ctrl-C, SIGKILL, a crash) does
not have to embed them again.

The builder appends one chunk per batch of embedded passages to ``index_dir/.embed-cache/``: an
``.npz`` written to a temporary name, fsynced, then renamed, so a chunk is either whole or absent.
The next build loads every readable chunk made by the same model at the same precision, takes the
vectors of passages whose encoder input (hash) and sentence spans match, and deletes the cache
after it has switched to its new version. Unreadable, foreign or half-written chunks are ignored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
import zipfile
from pathlib import Path

import numpy as np

from retrieval.index import versions as layout
from retrieval.index.versions import fsync_dir

log = logging.getLogger("citebot")



class EmbedCache:
    """Checkpointed passage vectors (float32) and sentence vectors (float16) by passage hash.

    Args:
        index_dir: the index directory (the cache lives in its ``.embed-cache`` folder).
        model_key: what makes vectors comparable: the model name, dimension and precision.
    """

    def __init__(self, index_dir: Path, model_key: str):
        self.dir = Path(index_dir) / layout.EMBED_CACHE
        self.key = hashlib.sha256(model_key.encode("utf-8")).hexdigest()[:16]
        self._found: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def load(self) -> int:
        """Read every usable chunk; returns how many passages they hold."""
        self._found = {}
        if not self.dir.is_dir():
            return 0
        for tmp in self.dir.glob(".*.tmp"):  # a chunk whose writer was killed: never complete
            tmp.unlink(missing_ok=True)
        for path in sorted(self.dir.glob(f"{self.key}-*.npz")):
            try:
                with np.load(path, allow_pickle=False) as z:
                    hashes, vecs, counts = z["hashes"], z["vecs"], z["counts"]
                    spans, svecs = z["spans"], z["svecs"]
                if not (len(hashes) == len(vecs) == len(counts) and len(spans) == len(svecs) == int(counts.sum())):
                    raise ValueError("inconsistent chunk")
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
                log.info("ignoring unreadable embedding checkpoint %s (%s)", path.name, e)
                continue
            at = 0
            for h, v, c in zip(hashes, vecs, counts):
                self._found[str(h)] = (v, spans[at:at + c], svecs[at:at + c])
                at += int(c)
        return len(self._found)

    def get(self, hash_: str, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(vector, sentence vectors)`` of a passage when a checkpoint holds it with the same spans."""
        hit = self._found.get(hash_)
        if hit is None:
            return None
        vec, stored_spans, svecs = hit
        if stored_spans.shape != (len(spans), 2) or not np.array_equal(stored_spans, np.asarray(spans).reshape(-1, 2)):
            return None
        return vec.astype(np.float32), svecs

    def append(self, hashes: list[str], vecs: np.ndarray, spans: list[list[tuple[int, int]]],
               svecs: list[np.ndarray]) -> None:
        """Persist one batch: whole or not at all (temp file, fsync, rename, fsync of the folder)."""
        if not hashes:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        flat = [s for ss in spans for s in ss]
        name = f"{self.key}-{uuid.uuid4().hex}"
        tmp = self.dir / f".{name}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, hashes=np.array(hashes), vecs=np.asarray(vecs, np.float32),
                     counts=np.array([len(s) for s in spans], np.int32),
                     spans=np.array(flat, np.int32).reshape(-1, 2),
                     svecs=(np.vstack(svecs) if flat else np.zeros((0, vecs.shape[1]))).astype(np.float16))
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, self.dir / f"{name}.npz")
        fsync_dir(self.dir)

    def clear(self) -> None:
        """Remove the cache (after a successful switch, or when its chunks are of no use)."""
        self._found = {}
        shutil.rmtree(self.dir, ignore_errors=True)
