"""A relevance model trained on the corpus's own structure: a query-side linear adapter.

Opt-in (``adapt = true``), trained at index time. Pairs come from how documentation is written: a
section's heading (with the page title when the heading is generic, "OPTIONS", "Examples") names what
its text answers, and one sentence of a passage stands for the rest of it (inverse cloze). The
passages' vectors stay as the encoder made them; a matrix ``W`` (384 × 384 for the bundled model),
initialised to the identity and pulled back towards it, learns to move a *question* closer to the
passage that answers it, against the other passages of the same page and of the batch. At question
time it costs one matrix-vector product, and only the dense search reads it: the sentence cosines,
page evidence and the confidence models keep the encoder's own vectors.

Why not fine-tune the encoder, or train a cross-encoder? Both were measured (docs/RANKING.md,
session 10): fine-tuning MiniLM on these pairs lowered git's documentation R@1 from 0.378 to 0.333
and needs every passage embedded again; a cross-encoder over the quoted candidates costs hundreds of
milliseconds per question on two cores, against an ``ask`` of 13–22 ms at 100k passages.
"""

from __future__ import annotations

import hashlib
import random
import time
import shutil
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


#: a heading is generic when more than this share of the pages (and at least 4) have it
GENERIC_SHARE = 0.05
#: at most this many pairs (sampled) per training: encoding them is the cost, so it stops growing
#: with the corpus (20,000 short queries ≈ 4 minutes on 2 busy cores)
MAX_PAIRS = 20_000
#: fewer pairs than this teach nothing reliable (the five seed articles give 51)
MIN_PAIRS = 200
#: queries encoded per saved chunk: an interrupted training loses at most this many
CHUNK = 512


@dataclass
class Pair:
    """A training pair.

    Args:
        query: text standing for a question (a heading, or one sentence of the passage).
        passage: row of the passage it should find.
        kind: ``heading`` or ``sentence``.
    """

    query: str
    passage: int
    kind: str


def structure_pairs(passages: Sequence, titles: dict[str, str | None], *, seed: int = 0,
                    min_chars: int = 40, limit: int | None = MAX_PAIRS) -> list[Pair]:
    """Pairs from the corpus's structure.

    Args:
        passages: :class:`~retrieval.index.store.StoredPassage` rows in id order (``id``, ``doc_id``,
            ``text``, ``heading_path``, ``spans``).
        titles: document id → title.
        seed: for the sentence chosen per passage.
        min_chars: shorter passages make no pair (a bare command, a lone link).
        limit: a seeded sample of at most this many pairs (None: all).
    """
    rng = random.Random(seed)
    pages_with: dict[str, set] = defaultdict(set)
    docs = set()
    for p in passages:
        docs.add(p.doc_id)
        if p.heading_path:
            pages_with[p.heading_path[-1].lower()].add(p.doc_id)
    generic = {h for h, d in pages_with.items() if len(d) > max(3, GENERIC_SHARE * len(docs))}
    out: list[Pair] = []
    for p in passages:
        if len(p.text) < min_chars:
            continue
        if p.heading_path and len(p.heading_path[-1]) <= 200:
            leaf = p.heading_path[-1]
            title = titles.get(p.doc_id) or p.doc_id
            out.append(Pair(f"{title} {leaf}" if leaf.lower() in generic else leaf, p.id, "heading"))
        if len(p.spans) >= 2:
            a, b = p.spans[rng.randrange(len(p.spans))]
            q = p.text[a:b].strip()
            if 20 <= len(q) <= 300:
                out.append(Pair(q, p.id, "sentence"))
    if limit is not None and len(out) > limit:
        out = [out[i] for i in sorted(rng.sample(range(len(out)), limit))]
    return out


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _read_cache(cache: Path, dim: int) -> dict[bytes, np.ndarray]:
    known: dict[bytes, np.ndarray] = {}
    for f in sorted(cache.glob("*.npz")):
        try:
            with np.load(f) as z:
                keys, vecs = z["keys"], z["vecs"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # cut short by a kill: encoded again
            continue
        if vecs.ndim == 2 and vecs.shape[1] == dim and len(keys) == len(vecs):
            known.update(zip((bytes(k) for k in keys), vecs))
    return known


def _write_chunk(path: Path, keys: list[bytes], vecs: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, keys=np.array(keys, dtype="S16"), vecs=vecs.astype(np.float32))
    tmp.replace(path)


def encode_queries(encoder, texts: Sequence[str], cache: Path | None = None,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The queries' vectors. Queries already in ``cache`` (an interrupted training's, or the previous
    build's: most headings and sentences survive an edit) are read back; the rest are encoded
    :data:`CHUNK` at a time, each chunk saved as soon as it is done. The cache then holds these
    queries (and, when none was new, whatever else it held).

    Args:
        encoder: an :class:`~retrieval.model.embeddings.Encoder` (its ``name`` keys the cache).
        texts: the queries.
        cache: a folder for encoded queries (created when missing), or None.
        progress: ``progress(done, total)``, from 0 and after each chunk.
    """
    out = np.zeros((len(texts), encoder.dim), np.float32)
    keys = [_key(f"{encoder.name}\0{t}") for t in texts]
    known: dict[bytes, np.ndarray] = {}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        known = _read_cache(cache, encoder.dim)
    todo = [i for i, k in enumerate(keys) if k not in known]
    for i, k in enumerate(keys):
        if k in known:
            out[i] = known[k]
    done = len(texts) - len(todo)
    if progress:
        progress(done, len(texts))
    for s in range(0, len(todo), CHUNK):
        part = todo[s:s + CHUNK]
        vecs = encoder.encode_queries([texts[i] for i in part])
        out[part] = vecs
        if cache is not None:
            _write_chunk(cache / f"part-{uuid.uuid4().hex[:12]}.npz", [keys[i] for i in part], vecs)
        done += len(part)
        if progress:
            progress(done, len(texts))
    old = list(cache.glob("*.npz")) if cache is not None else []
    if cache is not None and (todo or len(old) > 1):  # one file of this build's queries; older ones go
        uniq = dict(zip(keys, range(len(keys))))
        _write_chunk(cache / f"all-{uuid.uuid4().hex[:12]}.npz", list(uniq), out[list(uniq.values())])
        for f in old:
            f.unlink(missing_ok=True)
    return out


def fit(qvecs: np.ndarray, positives: np.ndarray, vectors: np.ndarray, groups: np.ndarray, *,
        reg: float = 1.0, epochs: int = 2, batch: int = 256, hard: int = 8, temperature: float = 0.05,
        lr: float = 1e-3, seed: int = 0) -> np.ndarray:
    """Fit ``W`` so that ``normalize(q @ W)`` ranks each query's passage first among the batch's
    passages and ``hard`` other passages of the same page.

    Args:
        qvecs: normalized query vectors (n × d).
        positives: the row of each query's passage in ``vectors``.
        vectors: normalized passage vectors (rows × d), fixed.
        groups: each passage row's page (an integer code).
        reg: weight of ``‖W − I‖²`` (keeps the encoder's geometry; 0 lets it drift).
        epochs, batch, lr: the optimisation.
        hard: passages of the same page added per query as negatives.
        temperature: of the softmax over cosines.
        seed: shuffling and negative sampling.
    """
    import torch

    d = qvecs.shape[1]
    rng = np.random.default_rng(seed)
    members: dict[int, np.ndarray] = {}
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for chunk in np.split(order, bounds):
        if chunk.size:
            members[int(groups[chunk[0]])] = chunk
    eye = torch.eye(d)
    W = torch.nn.Parameter(eye.clone())
    opt = torch.optim.Adam([W], lr=lr)
    P = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    Q = torch.from_numpy(np.ascontiguousarray(qvecs, dtype=np.float32))
    pos_all = np.asarray(positives, np.int64)
    for _ in range(epochs):
        perm = rng.permutation(len(Q))
        for s in range(0, len(perm), batch):
            b = perm[s:s + batch]
            pos = pos_all[b]
            negs = [rng.choice(m, size=min(hard, m.size), replace=False) for m in
                    (members[int(groups[p])] for p in pos)]
            cand = np.unique(np.concatenate([pos, *negs]))
            logits = torch.nn.functional.normalize(Q[b] @ W, dim=1) @ P[cand].T / temperature
            target = torch.from_numpy(np.searchsorted(cand, pos))
            loss = torch.nn.functional.cross_entropy(logits, target) + reg * ((W - eye) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return W.detach().numpy().astype(np.float32)


def train(encoder, passages: Sequence, titles: dict[str, str | None], vectors: np.ndarray, groups: np.ndarray,
          *, cache: Path | None = None, progress: Callable[[int, int], None] | None = None,
          reg: float = 1.0, min_pairs: int | None = None) -> tuple[np.ndarray | None, dict]:
    """Pairs → query vectors (resumable through ``cache``) → ``W``, and what was done.

    Returns ``(None, info)`` when the corpus has too little structure to learn from (fewer than
    :data:`MIN_PAIRS` pairs): the index is then used without an adapter.

    Args:
        encoder: the index's encoder.
        passages, titles: as for :func:`structure_pairs`.
        vectors: the passages' vectors, in ``passages`` order.
        groups: each passage's page code.
        cache: a folder of encoded queries (an interrupted training's, the previous build's).
        progress: ``progress(queries_encoded, queries_total)``.
        reg: see :func:`fit`.
        min_pairs: fewer pairs than this train nothing (default :data:`MIN_PAIRS`).
    """
    t0 = time.perf_counter()
    pairs = structure_pairs(passages, titles)
    info = {"pairs": len(pairs), "heading": sum(p.kind == "heading" for p in pairs),
            "sentence": sum(p.kind == "sentence" for p in pairs), "reg": reg}
    least = MIN_PAIRS if min_pairs is None else min_pairs
    if len(pairs) < least:
        info["seconds"] = round(time.perf_counter() - t0, 2)
        info["skipped"] = f"fewer than {least} structure pairs"
        return None, info
    q = encode_queries(encoder, [p.query for p in pairs], cache, progress)
    rows = {p.id: n for n, p in enumerate(passages)}
    W = fit(q, np.array([rows[p.passage] for p in pairs]), vectors, groups, reg=reg)
    info["seconds"] = round(time.perf_counter() - t0, 2)
    return W, info


def clear_cache(cache: Path) -> None:
    """Remove the cached query vectors (``--rebuild`` starts afresh)."""
    shutil.rmtree(cache, ignore_errors=True)


def apply(W: np.ndarray | None, qvec: np.ndarray) -> np.ndarray:
    """The question vector the dense search uses: ``normalize(qvec @ W)``, or ``qvec`` without one."""
    if W is None:
        return qvec
    v = qvec.astype(np.float32) @ W
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else qvec
