"""Knowledge bases (retrieval/serve/kb.py): the config's validation, and the engine pool's budget
(retrieval/serve/pool.py). Routing in Discord: tests/bot/test_routing.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from configs import kb_table

from retrieval.cli import commands as rcli
from retrieval.errors import ConfigError, IndexMissing
from retrieval.serve.kb import load_registry
from retrieval.serve.pool import EnginePool, MemoryBudgetExceeded, estimate_bytes

A, B, C = 111111111111111111, 222222222222222222, 333333333333333333


def test_knowledge_bases_with_overrides_and_no_default(write_config):
    reg = load_registry(write_config(kb_table("alpha", [A], k=5) + kb_table("beta", [B, C], channels=[44])))
    assert reg.names == ["alpha", "beta"] and reg.default is None
    alpha, beta = reg.get("alpha"), reg.get("beta")
    assert alpha.settings.k == 5 and beta.settings.k == 3, "overrides apply to their knowledge base only"
    assert alpha.settings.corpus == Path("/srv/alpha/docs") 
    with pytest.raises(ConfigError, match="choose one with --kb"):
        reg.get(None)


@pytest.mark.parametrize("text,message", [
    (kb_table("alpha", [A], colour='"red"'), "knowledge base 'alpha': unknown key(s): colour"),
    (kb_table("alpha", [A]) + kb_table("alpha", [B]).replace("/srv/alpha", "/srv/alpha2"), "'alpha' is used twice"),
    (kb_table("alpha", '["abc"]'), "guilds has 'abc', not a Discord id"),
    (kb_table("alpha", "[true]"), "not a Discord id"),
    (kb_table("alpha", "[-4]"), "not a Discord id"),
    (kb_table("alpha", "[0]"), "not a Discord id"),
    (kb_table("alpha", "[]"), "guilds must list at least one"),
    (kb_table("alpha", A), "guilds must be a list"),
    (kb_table("alpha", [A], channels="[1.5]"), "channels has 1.5"),
    (kb_table("Alpha!", [A]), "name must be 1-32 lowercase"),
    (kb_table("default", [A]), "'default' is reserved"),
    (kb_table("alpha", [A], model='"other"'), "model is shared by every knowledge base"),
    (kb_table("alpha", [A], k=0), "knowledge base 'alpha': k must be at least 1"),
    (kb_table("alpha", [A], k=1.5), "knowledge base 'alpha': setting k: cannot use 1.5"),
    (kb_table("alpha", [A]) + kb_table("beta", [B]).replace("/srv/beta/index", "/srv/alpha/index"), "same index_dir"),
    ("[[knowledge_bases]]\nname = \"alpha\"\nguilds = [1]\n", "corpus is required"),
    ("knowledge_bases = 3\n", "must be an array of tables"),
])
def test_bad_configs_are_one_line_errors(write_config, text, message):
    with pytest.raises(ConfigError) as e:
        load_registry(write_config(text))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cli_kb_option_picks_the_knowledge_base(write_config):
    path = write_config(kb_table("alpha", [A], k=4) + kb_table("beta", [B]))
    parser = rcli.build_parser()
    s = rcli.settings_from(parser.parse_args(["ask", "--config", str(path), "--kb", "alpha", "hi"]))
    assert s.corpus == Path("/srv/alpha/docs") and s.k == 4
    with pytest.raises(ConfigError, match="no knowledge base 'gamma'; configured: alpha, beta"):
        rcli.settings_from(parser.parse_args(["sources", "--config", str(path), "--kb", "gamma"]))
    with pytest.raises(Exception, match="leave out --corpus"):
        rcli.settings_from(parser.parse_args(["index", "--config", str(path), "--kb", "beta", "--corpus", "x"]))
    with pytest.raises(ConfigError, match="choose one with --kb"):  # not silently the seeds corpus
        rcli.settings_from(parser.parse_args(["sources", "--config", str(path)]))
    s = rcli.settings_from(parser.parse_args(["sources", "--config", str(path), "--corpus", "mine"]))
    assert s.corpus == Path("mine").resolve(), "an explicit corpus is the default knowledge base"
    for cmd in (["index"], ["ask", "q"], ["source", "d"], ["sources"], ["eval", "f.jsonl"]):
        assert parser.parse_args([*cmd, "--kb", "beta"]).kb == "beta"


class FakeEngine:
    def __init__(self, name):
        self.name, self.reindexing, self.index = name, False, object()


def make_pool(write_config, budget_mb, sizes_mb, idle=60.0):
    tables = "".join(kb_table(n, [1000 + i]) for i, n in enumerate(sizes_mb))
    reg = load_registry(write_config(tables))
    now = [0.0]
    opened: list[str] = []

    def opener(kb):
        opened.append(kb.name)
        return FakeEngine(kb.name)

    pool = EnginePool(reg, memory_budget_mb=budget_mb, idle_seconds=idle, opener=opener,
                      estimator=lambda kb: sizes_mb[kb.name] << 20, clock=lambda: now[0])
    return pool, now, opened


def tick(now, seconds=1.0):
    now[0] += seconds


def test_pool_opens_lazily_and_evicts_idle_lru_first(write_config):
    pool, now, opened = make_pool(write_config, 100, {"a": 40, "b": 40, "c": 40, "d": 90})
    assert opened == [] and pool.used_bytes() == 0
    with pool.use("a") as ea:
        assert ea.name == "a"
    tick(now)
    pool.acquire("b"); pool.release("b")
    tick(now)
    with pool.use("a"):  # a used again: b is now the least recently used
        pass
    tick(now)
    pool.acquire("c")
    assert not pool.is_open("b") and pool.is_open("a") and pool.is_open("c")
    assert pool.used_bytes() == 80 << 20 and opened == ["a", "b", "c"]
    # c is in use and a idle: d (90) needs both gone, c can't go -> refused, nothing over budget
    with pytest.raises(MemoryBudgetExceeded, match="'d' needs about 90 MB"):
        pool.acquire("d")
    assert pool.used_bytes() <= 100 << 20 and "d" not in opened
    pool.release("c")
    with pool.use("d"):
        assert pool.used_bytes() == 90 << 20 and [n for n in "abcd" if pool.is_open(n)] == ["d"]


def test_pool_never_closes_a_reindexing_engine_and_closes_idle_ones(write_config):
    pool, now, opened = make_pool(write_config, 100, {"a": 60, "b": 60}, idle=30)
    ea = pool.acquire("a"); pool.release("a")
    ea.reindexing = True
    with pytest.raises(MemoryBudgetExceeded):
        pool.acquire("b")
    ea.reindexing = False
    tick(now, 10)
    assert pool.close_idle() == []
    tick(now, 25)
    assert pool.close_idle() == ["a"] and ea.index is None, "closed: its index dropped"
    with pool.use("b"):
        tick(now, 100)
        assert pool.close_idle() == [], "in use: not idle"


def test_pool_opens_each_knowledge_base_once_under_concurrency(write_config):
    pool, now, opened = make_pool(write_config, 0, {"a": 10, "b": 10})
    threads = [threading.Thread(target=lambda n=n: pool.release(n) if pool.acquire(n) else None) for n in "abab" * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(opened) == ["a", "b"]


def test_two_indexes_opening_at_once_count_each_other(write_config):
    """While one index is being opened its size is reserved: another opening alongside cannot take
    the same room (both fitting alone, not together)."""
    pool, now, opened = make_pool(write_config, 100, {"a": 60, "b": 60})
    started, go = threading.Event(), threading.Event()
    slow = pool.opener

    def opener(kb):
        if kb.name == "a":
            started.set()
            go.wait(10)
        return slow(kb)

    pool.opener = opener
    t = threading.Thread(target=lambda: pool.release("a") if pool.acquire("a") else None)
    t.start()
    assert started.wait(10)
    with pytest.raises(MemoryBudgetExceeded):
        pool.acquire("b")
    go.set()
    t.join()
    assert pool.is_open("a") and not pool.is_open("b") and pool.used_bytes() == 60 << 20
    with pool.use("b"):  # a is idle now: closed to make room
        assert not pool.is_open("a")


def test_estimate_from_a_real_index(make_engine, tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "one.txt").write_text("One\n\nA short document about lighthouses and their keepers.\n", encoding="utf-8")
    eng = make_engine(corpus)
    size = estimate_bytes(eng.settings.index_dir)
    assert 8 << 20 < size < 16 << 20, "the fixed overhead plus a few kilobytes of files"
    with pytest.raises(IndexMissing):
        estimate_bytes(tmp_path / "nothing-here")
