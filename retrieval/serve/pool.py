"""The engine pool: the open indexes of the knowledge bases, opened on first use, closed after being
idle, and never opened past a memory budget (estimated from the index's files before opening; idle
ones are closed least recently used first)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import CitebotError, IndexMissing
from retrieval.serve.kb import KnowledgeBase, Registry

log = logging.getLogger("citebot.kb")

# An open index holds FAISS and BM25 in memory and pages in its SQLite store and memory-mapped
# sentence vectors as questions touch them: at most every file of the version, plus this for the
# Python, FAISS and bm25s objects beside them. An upper bound (bench/kb_memory.py, docs/SCALING.md).
BASE_OVERHEAD = 8 * 2**20


class MemoryBudgetExceeded(CitebotError):
    """Opening one more index would exceed the configured memory budget."""


def estimate_bytes(index_dir: Path) -> int:
    """Memory an index can take once open and answering (an upper bound), from its current version's files.

    Raises:
        IndexMissing: no index built yet in ``index_dir``.
    """
    from retrieval.index.versions import current_version, data_bytes

    return BASE_OVERHEAD + data_bytes(current_version(Path(index_dir)))


@dataclass
class _Slot:
    engine: object
    bytes: int
    last_used: float
    users: int = 0
    owned: bool = True


class EnginePool:
    """Open engines by knowledge base name, within a memory budget.

    Args:
        registry: the knowledge bases.
        encoder: the one encoder every engine shares (None: ``Encoder.shared`` for the settings).
        memory_budget_mb: the most the open indexes may take together (estimated; 0: no limit).
        idle_seconds: :meth:`close_idle` closes indexes unused for this long.
        opener: ``opener(kb) -> Engine`` (default: ``Engine.open`` building a missing index).
        estimator: ``estimator(kb) -> bytes`` before opening (default: :func:`estimate_bytes`).
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, registry: Registry, *, encoder=None, memory_budget_mb: float = 0, idle_seconds: float = 1800,
                 opener: Callable | None = None, estimator: Callable | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.registry = registry
        self.encoder = encoder
        self.budget = int(memory_budget_mb * 2**20)
        self.idle_seconds = idle_seconds
        self.opener = opener or self._open
        self.estimator = estimator or (lambda kb: estimate_bytes(kb.settings.index_dir))
        self.clock = clock
        self._slots: dict[str, _Slot] = {}
        self._pending: dict[str, int] = {}  # bytes reserved by indexes being opened right now
        self._lock = threading.Lock()  # the slots, the reservations and the budget
        self._opening: dict[str, threading.Lock] = {name: threading.Lock() for name in registry.names}

    def _open(self, kb: KnowledgeBase):
        from retrieval.engine import Engine

        return Engine.open(kb.settings, build_if_missing=True, encoder=self.encoder)

    def adopt(self, name: str, engine, *, owned: bool = False) -> None:
        """Put an already open engine in the pool (it is not closed on eviction unless ``owned``)."""
        kb = self.registry.get(name)
        try:
            size = self.estimator(kb)
        except IndexMissing:
            size = BASE_OVERHEAD
        with self._lock:
            self._slots[name] = _Slot(engine, size, self.clock(), owned=owned)

    def is_open(self, name: str) -> bool:
        return name in self._slots

    def used_bytes(self) -> int:
        with self._lock:
            return sum(s.bytes for s in self._slots.values())

    def peek(self, name: str):
        """The engine of ``name`` if it is open, else None (opens nothing)."""
        slot = self._slots.get(name)
        return slot.engine if slot is not None else None

    def acquire(self, name: str):
        """The open engine of ``name`` (opened now if needed), counted as in use until :meth:`release`.

        Raises:
            MemoryBudgetExceeded: it does not fit even after closing every idle index.
            ConfigError: no such knowledge base.
        """
        kb = self.registry.get(name)
        with self._opening[kb.name]:  # one opener per knowledge base; others open alongside
            with self._lock:
                slot = self._slots.get(kb.name)
                if slot is not None:
                    slot.users += 1
                    slot.last_used = self.clock()
                    return slot.engine
            try:
                need = self.estimator(kb)
            except IndexMissing:
                need = None  # built by the opener; its size is known afterwards
            try:
                if need is not None:
                    self._make_room(kb.name, need)  # reserved: another opening counts it
                engine = self.opener(kb)
                if need is None:
                    need = self.estimator(kb)
                    try:
                        self._make_room(kb.name, need)
                    except MemoryBudgetExceeded:
                        _close(engine)
                        raise
            except BaseException:
                with self._lock:
                    self._pending.pop(kb.name, None)
                raise
            with self._lock:
                self._pending.pop(kb.name, None)
                self._slots[kb.name] = _Slot(engine, need, self.clock(), users=1)
            log.info("knowledge base %s opened (~%d MB; %d MB open in all)", kb.name, need >> 20, self.used_bytes() >> 20)
            return engine

    def release(self, name: str) -> None:
        with self._lock:
            slot = self._slots.get(name)
            if slot is not None and slot.users > 0:
                slot.users -= 1
                slot.last_used = self.clock()

    @contextmanager
    def use(self, name: str) -> Iterator:
        """``with pool.use(name) as engine:`` — the engine stays open until the block ends."""
        engine = self.acquire(name)
        try:
            yield engine
        finally:
            self.release(name)

    def _evictable(self, slot: _Slot) -> bool:
        return slot.users == 0 and not getattr(slot.engine, "reindexing", False)

    def _make_room(self, name: str, need: int) -> None:
        """Close idle indexes, least recently used first, until ``need`` more bytes fit the budget,
        and reserve them for ``name`` (indexes being opened alongside count with their reservation)."""
        if not self.budget:
            return
        closed = []
        with self._lock:
            used = sum(s.bytes for s in self._slots.values()) + sum(b for n, b in self._pending.items() if n != name)
            for victim, slot in sorted(self._slots.items(), key=lambda kv: kv[1].last_used):
                if used + need <= self.budget:
                    break
                if self._evictable(slot):
                    del self._slots[victim]
                    used -= slot.bytes
                    closed.append((victim, slot))
            fits = used + need <= self.budget
            if fits:
                self._pending[name] = need
        for victim, slot in closed:
            log.info("knowledge base %s closed to make room for %s", victim, name)
            if slot.owned:
                _close(slot.engine)
        if not fits:
            raise MemoryBudgetExceeded(
                f"knowledge base {name!r} needs about {_mb(need)} MB but only {_mb(max(0, self.budget - used))} MB "
                f"of the {_mb(self.budget)} MB memory budget is free (the other open indexes are in use); "
                "try again shortly, or raise [bot] memory_budget_mb")

    def resize(self, name: str) -> None:
        """Estimate an open index again (after a reindex changed its files)."""
        kb = self.registry.get(name)
        try:
            size = self.estimator(kb)
        except IndexMissing:
            return
        with self._lock:
            if name in self._slots:
                self._slots[name].bytes = size

    def close_idle(self, now: float | None = None) -> list[str]:
        """Close the indexes unused for ``idle_seconds``; returns their names."""
        now = self.clock() if now is None else now
        with self._lock:
            idle = [(n, s) for n, s in self._slots.items() if self._evictable(s) and now - s.last_used >= self.idle_seconds]
            for n, _ in idle:
                del self._slots[n]
        for n, s in idle:
            log.info("knowledge base %s closed after %.0f s idle", n, now - s.last_used)
            if s.owned:
                _close(s.engine)
        return [n for n, _ in idle]

    def close_all(self) -> None:
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for s in slots:
            if s.owned:
                _close(s.engine)


def _mb(n: int) -> int:
    return int(round(n / 2**20))


def _close(engine) -> None:
    """Drop an engine's index (its SQLite connection closed; FAISS and BM25 freed with the object)."""
    index = getattr(engine, "index", None)
    if index is not None:
        engine.index = None
        close = getattr(index, "close", None)
        if close is not None:
            close()
