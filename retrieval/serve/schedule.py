"""Knowledge bases that stay current: builds on a schedule (``reindex_every``) and after the corpus
folder changes (``watch``, debounced), never two of one knowledge base at once.

:class:`Refresher` holds the logic; the bot (``bot/cogs/refresh.py``) and ``citebot watch`` drive
it with their own build function. Clocks are injectable, so the decisions (:meth:`Refresher.due`)
can be tested without waiting. This module does not import discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from retrieval.config import format_duration, parse_duration, corpus_parts, is_local, is_remote
from retrieval.sources.added import added as added_sources
from retrieval.errors import CitebotError, ReindexInProgress

log = logging.getLogger("citebot.schedule")

#: seconds before a change seen while another build of the knowledge base ran is tried again
RETRY = 2.0
#: a corpus that never stops changing is still built this many debounce periods after the first change
LONGEST = 10
IDLE = 3600.0  # the longest a loop sleeps with nothing due (it is woken by changes anyway)


def next_run(due: float, every: float, now: float) -> float:
    """The first slot after ``now`` on the grid ``due + k * every``: a build that ran late or long
    does not queue up the slots it missed."""
    if now < due:
        return due
    return due + every * (math.floor((now - due) / every) + 1)


def fingerprint(corpus: Path, ignore: tuple[Path, ...] = ()) -> str:
    """A digest of the corpus files' names, sizes and modification times (as the build reads them:
    hidden files and folders left out): equal digests mean a build would find nothing new."""
    corpus = Path(corpus)
    h = hashlib.sha256()
    if corpus.is_file():
        st = corpus.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    skip = {os.path.abspath(p) for p in ignore}
    for root, dirs, files in os.walk(corpus):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.join(root, d) not in skip)
        for name in sorted(files):
            if name.startswith("."):
                continue
            p = os.path.join(root, name)
            with contextlib.suppress(OSError):  # gone meanwhile: the next look sees it
                st = os.stat(p)
                h.update(f"{os.path.relpath(p, corpus)}\0{st.st_size}:{st.st_mtime_ns}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class Debounce:
    """Coalesces a burst of file changes into one build: due ``quiet`` seconds after the last
    change, or ``LONGEST * quiet`` after the first (a folder that keeps changing is still built).

    Args:
        quiet: seconds without a change before the build.
    """

    def __init__(self, quiet: float):
        self.quiet = quiet
        self.first: float | None = None
        self.last: float | None = None

    @property
    def pending(self) -> bool:
        return self.first is not None

    def poke(self, now: float) -> None:
        """A change was seen at ``now``."""
        if self.first is None:
            self.first = now
        self.last = now

    def due_at(self) -> float | None:
        """When the build of the changes seen so far is due (None: no change pending)."""
        if self.first is None:
            return None
        return min(self.last + self.quiet, self.first + LONGEST * self.quiet)

    def defer(self, now: float, delay: float) -> None:
        """Keep the changes pending, due again ``delay`` seconds from ``now`` (another build ran)."""
        self.first = self.last = now + delay - self.quiet

    def take(self) -> None:
        """The pending changes are being built."""
        self.first = self.last = None


@dataclass(frozen=True)
class Plan:
    """When one knowledge base is built.

    Args:
        name: the knowledge base.
        corpus: its corpus folder (or file), watched when ``watch``.
        every: seconds between scheduled builds (None: no schedule).
        watch: build after the corpus changes.
        debounce: seconds of quiet after a change before that build.
        ignore: folders inside the corpus whose changes don't count (its index, when it lives there).
        index_dir: its index folder, where sources added from Discord are listed.
        fetched: the corpus has websites or repositories (they change without a local file changing:
            every build fetches).
    """

    name: str
    corpus: Path
    every: float | None = None
    watch: bool = False
    debounce: float = 2.0
    ignore: tuple[Path, ...] = ()
    index_dir: Path | None = None
    fetched: bool = False

    @classmethod
    def of(cls, name: str, settings, ignore: tuple[str, ...] = ()) -> "Plan":
        """The plan of a knowledge base from its :class:`~retrieval.config.Settings`.

        Args:
            ignore: folder names inside the corpus whose changes don't count (a caller's own output:
                the bot's channel exports, which it rewrites before each build).
        """
        index = Path(settings.index_dir).resolve()
        local = [p for p in corpus_parts(settings.corpus) if not is_remote(p)]
        # the first local folder is watched; a corpus of websites only has none (its fetched copy,
        # written by the build itself, must not trigger builds)
        corpus = Path(local[0]).resolve() if local else index / "sources"
        inside = index.is_relative_to(corpus) if corpus.is_dir() else False
        skip = ((index,) if inside else ()) + (tuple(corpus / n for n in ignore) if corpus.is_dir() else ())
        return cls(name, corpus, parse_duration(settings.reindex_every), bool(settings.watch) and bool(local),
                   float(settings.watch_debounce), skip, index,
                   fetched=not is_local(settings.corpus))

    @property
    def active(self) -> bool:
        return self.every is not None or self.watch


@dataclass
class Build:
    """One finished build, for ``/stats`` and the ``citebot watch`` lines.

    Args:
        trigger: ``schedule``, ``watch`` or ``admin``.
        started: wall-clock time (epoch seconds).
        seconds: how long it took.
        ok: it went live.
        documents / passages: of the new index (ok only).
        added / changed / removed: document counts (ok only).
        skipped: ``path: reason`` of files left out (ok only).
        reason: why it failed (not ok).
    """

    trigger: str
    started: float
    seconds: float
    ok: bool
    documents: int = 0
    passages: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    skipped: list[str] = field(default_factory=list)
    reason: str = ""

    @classmethod
    def of(cls, trigger: str, started: float, seconds: float, summary=None, error: BaseException | str | None = None) -> "Build":
        """From an :class:`~retrieval.types.IndexSummary`, or the error that stopped the build."""
        if summary is None:
            # citebot's own errors are one readable line; anything else is named by its type
            reason = error if isinstance(error, (str, CitebotError)) else f"{type(error).__name__}: {error}"
            return cls(trigger, started, seconds, False, reason=(str(reason).splitlines() or ["unknown"])[0][:300])
        return cls(trigger, started, seconds, True,
                   documents=len(summary.added) + len(summary.changed) + len(summary.unchanged),
                   passages=summary.passages, added=len(summary.added), changed=len(summary.changed),
                   removed=len(summary.removed), skipped=[f"{s.path}: {s.reason}" for s in summary.skipped])

    def result(self) -> str:
        """``ok: 12 documents, 340 passages (1 added), 1 skipped`` or ``failed: reason``."""
        if not self.ok:
            return f"failed: {self.reason}"
        delta = ", ".join(f"{n} {w}" for n, w in ((self.added, "added"), (self.changed, "changed"),
                                                  (self.removed, "removed")) if n)
        text = f"ok: {self.documents} documents, {self.passages} passages" + (f" ({delta})" if delta else "")
        if self.skipped:
            text += f", {len(self.skipped)} skipped ({'; '.join(self.skipped[:3])}" + \
                    (f"; and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else "") + ")"
        return text

    def line(self) -> str:
        """``2026-12-07 16:20 UTC · watch · ok: …`` (one line)."""
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return f"{when} · {self.trigger} · {self.result()} · {self.seconds:.1f} s"


BuildFn = Callable[[str, str], Awaitable[object]]


class Refresher:
    """Builds knowledge bases on their schedules and after their files change, one build per
    knowledge base at a time; a failed build is logged and recorded, the last good index stays live.

    Args:
        plans: one per knowledge base kept current (inactive plans are ignored).
        build: ``await build(name, trigger)`` builds and switches to a new index, returning its
            :class:`~retrieval.types.IndexSummary`; raises on failure (:class:`ReindexInProgress`:
            another build got there first, counted as busy).
        busy: ``busy(name)``: a build started elsewhere (an admin's ``/reindex``) is running; a
            scheduled build is then skipped, a change is retried after it.
        prepare: ``await prepare(name)`` before each automatic build (the bot fetches new Discord
            messages); its failures are logged, the build goes on.
        clock: monotonic seconds; wall: epoch seconds (both injectable for tests).
        watcher: ``watcher(plan, stop) -> async iterator`` of change batches (default: watchfiles).
    """

    def __init__(self, plans: list[Plan], build: BuildFn, *, busy: Callable[[str], bool] = lambda name: False,
                 prepare: Callable[[str], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 watcher: Callable | None = None):
        self.plans = {p.name: p for p in plans if p.active}
        self.build = build
        self.busy = busy
        self.prepare = prepare
        self.clock, self.wall = clock, wall
        self.watcher = watcher or watch_changes
        self.last: dict[str, Build] = {}  # the latest finished build of each knowledge base, any trigger
        self.running: set[str] = set()
        self.listeners: list[Callable[[str, Build], None]] = []  # called with each finished build
        now = clock()
        self.next_at = {n: (now + p.every if p.every else None) for n, p in self.plans.items()}
        self.pending = {n: Debounce(p.debounce) for n, p in self.plans.items()}
        self._prints: dict[str, str] = {}  # corpus fingerprint at the last automatic build
        self._wake = {n: asyncio.Event() for n in self.plans}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    # -- decisions (no waiting: unit-testable with a fake clock) ----------------------------------
    def due(self, name: str, now: float) -> tuple[str | None, float]:
        """``(trigger, wait)``: the build due for ``name`` at ``now`` (``watch`` before
        ``schedule``), else None and the seconds until something will be."""
        waits = []
        for trigger, at in (("watch", self.pending[name].due_at()), ("schedule", self.next_at[name])):
            if at is not None:
                if now >= at:
                    return trigger, 0.0
                waits.append(at - now)
        return None, min(waits, default=IDLE)

    def poke(self, name: str) -> None:
        """A change in ``name``'s corpus was seen now (from the event loop)."""
        self.pending[name].poke(self.clock())
        self._wake[name].set()

    def next_wall(self, name: str) -> float | None:
        """When the next scheduled build of ``name`` is due (epoch seconds), or None."""
        at = self.next_at.get(name)
        return None if at is None else self.wall() + max(0.0, at - self.clock())

    def record(self, name: str, build: Build) -> None:
        """Keep ``build`` as ``name``'s latest (also for builds run elsewhere: an admin's ``/reindex``)."""
        self.last[name] = build
        for listener in list(self.listeners):
            try:
                listener(name, build)
            except Exception:  # a listener must not break the builds
                log.exception("build listener failed")

    def status(self, name: str) -> tuple[str, str]:
        """``(last, next)``: one line each for ``/stats``."""
        last = self.last.get(name)
        last_text = last.line() if last is not None else "none since the bot started"
        plan = self.plans.get(name)
        if plan is None:
            return last_text, "not scheduled (set reindex_every or watch)"
        parts = []
        at = self.next_wall(name)
        if at is not None:
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))
            parts.append(f"{when} (in {format_duration(at - self.wall())}; every {format_duration(plan.every)})")
        if plan.watch:
            parts.append(f"watching the corpus folder ({plan.debounce:g} s debounce)")
        if name in self.running:
            parts.insert(0, "building now")
        return last_text, " · ".join(parts)

    # -- running ----------------------------------------------------------------------------------
    async def run(self, name: str, trigger: str) -> Build | str:
        """One build of ``name`` now: the :class:`Build`, or ``"busy"`` (another build is running)
        or ``"unchanged"`` (an automatic build found the corpus as the last one left it)."""
        if name in self.running or self.busy(name):
            return "busy"
        self.running.add(name)  # before the first await: nothing else can start one meanwhile
        try:
            plan = self.plans.get(name)
            if self.prepare is not None:
                try:
                    await self.prepare(name)
                except Exception:
                    log.exception("preparing the build of %s failed; building what is stored", name)
            if name in self.pending:
                self.pending[name].take()  # changes from here on are seen by this build or trigger the next
            prints = None
            if plan is not None and not plan.fetched and not (plan.index_dir and added_sources(plan.index_dir)):
                prints = await asyncio.to_thread(fingerprint, plan.corpus, plan.ignore)
                if prints == self._prints.get(name):
                    log.info("knowledge base %s: corpus unchanged since the last build; %s build skipped", name, trigger)
                    return "unchanged"
            started, t0 = self.wall(), self.clock()
            try:
                summary = await self.build(name, trigger)
            except ReindexInProgress:
                return "busy"
            except Exception as e:  # the last good index stays live
                if isinstance(e, CitebotError):
                    log.warning("%s build of %s failed: %s", trigger, name, e)
                else:
                    log.exception("%s build of %s failed", trigger, name)
                rec = Build.of(trigger, started, self.clock() - t0, error=e)
                self._prints.pop(name, None)  # the next slot tries again, even with the same files
            else:
                rec = Build.of(trigger, started, self.clock() - t0, summary)
                if prints is not None:
                    self._prints[name] = prints
                log.info("%s build of %s: %s", trigger, name, rec.result())
            self.record(name, rec)
            return rec
        finally:
            self.running.discard(name)

    async def _loop(self, name: str) -> None:
        plan = self.plans[name]
        while not self._stop.is_set():
            trigger, wait = self.due(name, self.clock())
            if trigger is None:
                self._wake[name].clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake[name].wait(), wait)
                continue
            if trigger == "schedule":  # the next slot is set now, whatever this one does
                self.next_at[name] = next_run(self.next_at[name], plan.every, self.clock())
            result = await self.run(name, trigger)
            if result == "busy":
                if trigger == "watch":  # retried after the other build: it may have read the files before the change
                    self.pending[name].defer(self.clock(), RETRY)
                log.info("knowledge base %s: a build is already running; %s build %s", name, trigger,
                         "retried after it" if trigger == "watch" else "skipped")

    async def _watch(self, name: str) -> None:
        plan = self.plans[name]
        while not self._stop.is_set():
            try:
                async for _ in self.watcher(plan, self._stop):
                    self.poke(name)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the folder vanished, too many watches: try again shortly
                log.warning("watching %s for %s failed (%s); trying again in 10 s", plan.corpus, name, e)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), 10)

    def start(self) -> None:
        """Start the loops (and watchers) on the running event loop."""
        for name, plan in self.plans.items():
            self._tasks.append(asyncio.create_task(self._loop(name), name=f"citebot-refresh-{name}"))
            if plan.watch:
                self._tasks.append(asyncio.create_task(self._watch(name), name=f"citebot-watch-{name}"))
            log.info("knowledge base %s: %s", name, self.status(name)[1])

    async def close(self, timeout: float = 10.0) -> None:
        """Stop the watchers and loops. A build in progress is abandoned by this task (its thread
        finishes on its own; the version it writes is complete or not used)."""
        self._stop.set()  # the watchers' threads stop within one step
        for t in self._tasks:
            t.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)
        self._tasks = []


class _Filter:
    """watchfiles' default filter (editor swap files, ``__pycache__``, …) plus hidden names (the
    build skips them; ``/corpus add`` writes ``.upload-*`` first) and the plan's ignored folders."""

    def __init__(self, plan: Plan):
        from watchfiles import DefaultFilter

        self.default = DefaultFilter()
        self.corpus = str(plan.corpus)
        self.ignore = tuple(str(p) for p in plan.ignore)

    def __call__(self, change, path: str) -> bool:
        if any(path == p or path.startswith(p + os.sep) for p in self.ignore):
            return False
        rel = os.path.relpath(path, self.corpus)
        if rel != "." and any(part.startswith(".") for part in Path(rel).parts):
            return False
        return self.default(change, path)


async def watch_changes(plan: Plan, stop: asyncio.Event):
    """Batches of changes in ``plan.corpus`` until ``stop`` is set (watchfiles: inotify on Linux)."""
    from watchfiles import awatch

    # short batches: the quiet period is the plan's debounce, applied by Debounce
    async for changes in awatch(plan.corpus, watch_filter=_Filter(plan), stop_event=stop, debounce=200, step=50,
                                rust_timeout=1000):
        yield changes
