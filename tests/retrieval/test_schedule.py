"""retrieval.serve.schedule: durations, next-run times, debouncing, one build at a time, failures kept
apart from the live index; the decisions with a fake clock, the loops with short real waits."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from retrieval.config import Settings
from retrieval.errors import ConfigError, CorpusError, ReindexInProgress
from retrieval.serve.kb import parse_knowledge_base
from retrieval.serve.schedule import (LONGEST, Build, Debounce, Plan, Refresher, fingerprint, format_duration, next_run,
                                parse_duration, watch_changes)
from retrieval.types import IndexSummary, Skipped


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


async def _until(cond, timeout: float = 20.0) -> None:
    """Wait (bounded) until ``cond()`` holds."""
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)


# -- durations ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("6h", 21600), ("30m", 1800), ("1d", 86400), ("90s", 90),
                                           ("1h30m", 5400), ("1h 30m", 5400), ("1.5h", 5400), (" 2D ", 172800)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "off", "OFF", "never", None])
def test_no_schedule(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["6", "6x", "h", "-1h", "1h30", "weekly", "6 hours", "0s", "0.5s"])
def test_bad_durations_are_one_line_errors(text):
    with pytest.raises(ConfigError) as e:
        parse_duration(text)
    assert "\n" not in str(e.value) and "reindex_every" in str(e.value)


def test_settings_validate_the_refresh_keys(tmp_path):
    s = Settings.from_mapping({"corpus": tmp_path, "reindex_every": "6h", "watch": "true", "watch_debounce": "0.5"})
    assert (s.reindex_every, s.watch, s.watch_debounce) == ("6h", True, 0.5)
    with pytest.raises(ConfigError, match="reindex_every: cannot use 'daily'"):
        Settings.from_mapping({"reindex_every": "daily"})
    with pytest.raises(ConfigError, match="watch_debounce must be between"):
        Settings.from_mapping({"watch_debounce": 0})
    with pytest.raises(ConfigError, match="setting watch: cannot use 'sometimes'"):
        Settings.from_mapping({"watch": "sometimes"})


def test_knowledge_base_table_names_itself_in_the_error(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    base = Settings.from_mapping({"corpus": corpus})
    table = {"name": "alpha", "corpus": str(corpus), "index_dir": str(tmp_path / "index"), "guilds": [1]}
    kb = parse_knowledge_base({**table, "reindex_every": "30m", "watch": True}, base, 1)
    plan = Plan.of(kb.name, kb.settings)
    assert (plan.every, plan.watch, plan.debounce, plan.ignore) == (1800, True, 2.0, ())
    with pytest.raises(ConfigError, match=r"^knowledge base 'alpha': reindex_every: cannot use '30 minutes'"):
        parse_knowledge_base({**table, "reindex_every": "30 minutes"}, base, 1)
    # an index inside the corpus folder: its writes are not corpus changes
    inside = parse_knowledge_base({**table, "index_dir": str(corpus / "index")}, base, 1)
    assert Plan.of("alpha", inside.settings).ignore == ((corpus / "index").resolve(),)


def test_format_duration():
    assert [format_duration(s) for s in (0, 45, 5400, 21600, 93784)] == ["0s", "45s", "1h 30m", "6h", "1d 2h"]


def test_next_run_keeps_the_grid_and_skips_missed_slots():
    assert next_run(100, 10, 95) == 100  # not yet due
    assert next_run(100, 10, 100) == 110
    assert next_run(100, 10, 125) == 130  # a long build: the slots at 110 and 120 are not made up
    assert next_run(100, 3600, 100 + 3 * 3600 + 1) == 100 + 4 * 3600


# -- debouncing -----------------------------------------------------------------------------------

def test_debounce_coalesces_a_burst():
    d = Debounce(2.0)
    assert not d.pending and d.due_at() is None
    for t in (10.0, 10.5, 11.0, 12.5):
        d.poke(t)
    assert d.due_at() == 14.5  # 2 s after the last change, not one build per change
    d.take()
    assert d.due_at() is None


def test_debounce_builds_a_folder_that_never_settles():
    d = Debounce(1.0)
    for i in range(100):
        d.poke(i * 0.5)  # a change every half second for 50 s
    assert d.due_at() == LONGEST * 1.0


def test_debounce_defer():
    d = Debounce(2.0)
    d.poke(0.0)
    d.defer(5.0, 3.0)
    assert d.pending and d.due_at() == 8.0


# -- decisions with a fake clock ------------------------------------------------------------------

async def _never(name, trigger):
    raise AssertionError("no build expected")


def test_due_schedule_and_watch():
    clock = Clock(1000.0)
    r = Refresher([Plan("a", Path("/x"), every=3600.0, watch=True, debounce=2.0), Plan("off", Path("/y"))], _never,
                  clock=clock)
    assert list(r.plans) == ["a"]  # a plan with neither is not run
    assert r.due("a", 1000.0) == (None, 3600.0)
    clock.t = 1010.0
    r.poke("a")
    assert r.due("a", 1011.0) == (None, 1.0)
    assert r.due("a", 1012.0) == ("watch", 0.0)  # a change before the schedule
    r.pending["a"].take()
    assert r.due("a", 4600.0) == ("schedule", 0.0)


def test_status_lines():
    clock, wall = Clock(0.0), Clock(1_800_000_000.0)
    r = Refresher([Plan("a", Path("/x"), every=21600.0, watch=True, debounce=0.5)], _never, clock=clock, wall=wall)
    last, upcoming = r.status("a")
    assert last == "none since the bot started"
    assert "(in 6h; every 6h)" in upcoming and "watching the corpus folder (0.5 s debounce)" in upcoming
    summary = IndexSummary(added=["x"], unchanged=["y", "z"], passages=7,
                           skipped=[Skipped("broken.pdf", "not a PDF")])
    r.record("a", Build.of("watch", wall.t, 1.25, summary))
    last, _ = r.status("a")
    assert "· watch · ok: 3 documents, 7 passages (1 added), 1 skipped (broken.pdf: not a PDF) · 1.2 s" in last
    r.record("a", Build.of("admin", wall.t, 0.5, error=CorpusError("corpus not found: /x")))
    assert r.status("a")[0].endswith("· admin · failed: corpus not found: /x · 0.5 s")
    assert r.status("b") == ("none since the bot started", "not scheduled (set reindex_every or watch)")


# -- running --------------------------------------------------------------------------------------

async def test_skip_when_busy(tmp_path):
    calls = []

    async def build(name, trigger):
        calls.append(trigger)
        return IndexSummary()

    busy = {"a": True}
    r = Refresher([Plan("a", tmp_path, every=60.0)], build, busy=lambda n: busy[n])
    assert await r.run("a", "schedule") == "busy" and calls == []
    busy["a"] = False
    r.running.add("a")  # one of ours is running
    assert await r.run("a", "schedule") == "busy" and calls == []
    r.running.clear()
    assert (await r.run("a", "schedule")).ok and calls == ["schedule"]


async def test_one_build_at_a_time_and_reindex_in_progress_is_busy(tmp_path):
    gate = asyncio.Event()
    calls = []

    async def build(name, trigger):
        calls.append(trigger)
        if len(calls) == 1:
            await gate.wait()
            return IndexSummary()
        raise ReindexInProgress("another process")

    r = Refresher([Plan("a", tmp_path, every=60.0, watch=True)], build)
    first = asyncio.create_task(r.run("a", "schedule"))
    await _until(lambda: calls)
    assert await r.run("a", "watch") == "busy" and calls == ["schedule"]  # not concurrent
    gate.set()
    assert (await first).ok
    (tmp_path / "new.txt").write_text("x")
    assert await r.run("a", "watch") == "busy"  # the engine's lock said so
    assert r.last["a"].trigger == "schedule"


async def test_unchanged_corpus_is_not_built_again(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    calls = []

    async def build(name, trigger):
        calls.append(trigger)
        return IndexSummary()

    r = Refresher([Plan("a", tmp_path, every=60.0)], build)
    assert (await r.run("a", "schedule")).ok
    assert await r.run("a", "schedule") == "unchanged"
    (tmp_path / ".hidden").write_text("not read by the build")
    assert await r.run("a", "schedule") == "unchanged"
    (tmp_path / "a.txt").write_text("two!")
    assert (await r.run("a", "schedule")).ok and calls == ["schedule", "schedule"]


def test_fingerprint_follows_the_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("one")
    first = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == first
    (tmp_path / "sub" / "a.txt").rename(tmp_path / "sub" / "b.txt")
    assert fingerprint(tmp_path) != first
    (tmp_path / ".idx").mkdir()
    second = fingerprint(tmp_path)
    (tmp_path / ".idx" / "v1").write_text("index files")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "v1").write_text("index files")
    assert fingerprint(tmp_path, ignore=(tmp_path / "index",)) == second


async def test_failure_keeps_the_last_good_index(make_engine, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "pharos.txt").write_text("The Pharos\n\nThe lighthouse was rebuilt by stonemasons from Crete.\n")
    engine = make_engine(corpus)
    good = engine.version

    async def build(name, trigger):
        return await asyncio.to_thread(engine.reindex)

    r = Refresher([Plan("a", corpus, every=60.0)], build)
    (corpus / "pharos.txt").rename(tmp_path / "elsewhere.txt")
    corpus.rmdir()  # the corpus is gone: the build fails
    rec = await r.run("a", "schedule")
    assert not rec.ok and "corpus" in rec.reason.lower() and r.last["a"] is rec
    assert engine.version == good  # still serving the last good index
    assert "stonemasons" in engine.ask("Who rebuilt the lighthouse?").results[0].text
    # the next build goes ahead once the corpus is back
    corpus.mkdir()
    (tmp_path / "elsewhere.txt").rename(corpus / "pharos.txt")
    (corpus / "more.txt").write_text("Bees\n\nTwelve beehives stand on the harbour wall.\n")
    rec = await r.run("a", "schedule")
    assert rec.ok and rec.documents == 2 and engine.version != good


async def test_an_unexpected_exception_is_recorded_and_the_loop_goes_on(tmp_path):
    calls = []

    async def build(name, trigger):
        calls.append(trigger)
        if len(calls) == 1:
            raise ValueError("boom")
        return IndexSummary(passages=3)

    r = Refresher([Plan("a", tmp_path, every=0.1)], build)
    r.start()
    tasks = list(r._tasks)
    try:
        await _until(lambda: len(calls) >= 1 and "a" in r.last)
        assert not r.last["a"].ok and r.last["a"].reason == "ValueError: boom"
        await _until(lambda: r.last["a"].ok)  # the next slot builds (a failed build left no fingerprint)
    finally:
        await r.close()
    assert len(tasks) == 1 and all(t.done() for t in tasks)  # stopped by close


async def test_loop_debounces_a_burst_into_one_build(tmp_path):
    """Five changes within the quiet period: one watch build, after the last of them."""
    queue: asyncio.Queue = asyncio.Queue()

    async def watcher(plan, stop):
        while True:
            yield await queue.get()

    builds = []

    async def build(name, trigger):
        builds.append((trigger, time.monotonic()))
        return IndexSummary()

    r = Refresher([Plan("a", tmp_path, watch=True, debounce=0.3)], build, watcher=watcher)
    r.start()
    try:
        for i in range(5):
            (tmp_path / f"{i}.txt").write_text(str(i))
            await queue.put({("added", str(i))})
            await asyncio.sleep(0.05)
        last_change = time.monotonic()
        await _until(lambda: builds)
        await asyncio.sleep(0.6)  # nothing more comes of that burst
        assert [t for t, _ in builds] == ["watch"] and builds[0][1] >= last_change + 0.2
    finally:
        await r.close()


async def test_watch_change_while_busy_is_retried(tmp_path, monkeypatch):
    monkeypatch.setattr("retrieval.serve.schedule.RETRY", 0.1)
    queue: asyncio.Queue = asyncio.Queue()

    async def watcher(plan, stop):
        while True:
            yield await queue.get()

    builds, busy = [], {"a": True}

    async def build(name, trigger):
        builds.append(trigger)
        return IndexSummary()

    r = Refresher([Plan("a", tmp_path, watch=True, debounce=0.1)], build, busy=lambda n: busy[n], watcher=watcher)
    r.start()
    try:
        (tmp_path / "a.txt").write_text("x")
        await queue.put({("added", "a.txt")})
        await asyncio.sleep(0.5)
        assert builds == [] and r.pending["a"].pending  # an admin's build runs: kept for later
        busy["a"] = False
        await _until(lambda: builds == ["watch"])
    finally:
        await r.close()


async def test_real_watcher_sees_corpus_changes_not_hidden_or_index_files(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "index").mkdir(parents=True)
    plan = Plan("a", corpus, watch=True, ignore=(corpus / "index", corpus / "_discord"))
    stop = asyncio.Event()
    seen: list[set] = []

    async def collect():
        async for changes in watch_changes(plan, stop):
            seen.append({Path(p).name for _, p in changes})

    task = asyncio.create_task(collect())
    try:
        await asyncio.sleep(0.3)  # the watch is set up
        (corpus / ".upload-123").write_text("temp")
        (corpus / "index" / "v2").write_text("index")
        (corpus / "_discord" / "1").mkdir(parents=True)
        (corpus / "_discord" / "1" / "2.json").write_text("{}")  # the bot's own fetch
        (corpus / "doc.txt").write_text("new")
        await _until(lambda: any("doc.txt" in s for s in seen), timeout=15)
        assert not any({".upload-123", "v2", "2.json", "_discord", "1"} & s for s in seen), seen
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)  # stops promptly on the event


async def test_scheduled_slots_while_busy_are_skipped_not_queued(tmp_path):
    builds, busy = [], {"a": True}

    async def build(name, trigger):
        builds.append(trigger)
        return IndexSummary()

    r = Refresher([Plan("a", tmp_path, every=0.1)], build, busy=lambda n: busy[n])
    first = r.next_at["a"]
    r.start()
    try:
        await asyncio.sleep(0.6)  # five or so slots pass while an admin's build runs
        assert builds == [] and r.next_at["a"] > first + 0.3  # each skipped slot moved the schedule on
        busy["a"] = False
        await _until(lambda: builds)
        await asyncio.sleep(0.3)
        assert builds == ["schedule"]  # one build, not one per missed slot; then nothing changed
    finally:
        await r.close()


async def test_after_a_failure_the_same_files_are_built_again(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    outcomes = [IndexSummary(), OSError("disk full"), IndexSummary()]

    async def build(name, trigger):
        out = outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out

    r = Refresher([Plan("a", tmp_path, every=60.0)], build)
    assert (await r.run("a", "schedule")).ok
    (tmp_path / "a.txt").write_text("two!")
    assert not (await r.run("a", "schedule")).ok
    rec = await r.run("a", "schedule")  # nothing changed since the failure: tried again all the same
    assert rec != "unchanged" and rec.ok and outcomes == []
