"""Questions from many threads while a reindex builds and swaps versions (the engine side of the bot's
``/reindex``): no question fails, and every answer is exactly what one of the two versions gives.
Two reindexes at once: the second is refused, in the same engine and from another engine (process).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.errors import ReindexInProgress

QUESTIONS = ["What bounty has the US put on Maduro?", "Who refused to comment?",
             "What did the Wall Street Journal disclose?", "How many penguins were counted?",
             "What happened to the harbour ferry?", "Which ships were struck in the Caribbean?",
             "What did the president say about Venezuela?", "Who is Hegseth?"]
CHANGES = {"penguins.txt": "Penguin survey\n\nThe survey counted twelve thousand emperor penguins on the ice "
                           "shelf, the expedition leader said.\n",
           "ferry.txt": "Ferry news\n\nThe harbour ferry was cancelled after the storm damaged the pier, "
                        "the harbour master said.\n"}


def sig(a) -> tuple:
    return a.answered, [(r.doc_id, r.paragraph, r.quote) for r in a.results], [r.score for r in a.results]


def same(a, ref) -> bool:
    """Same results and quotes; scores equal up to float noise (concurrent questions share a batch)."""
    return a[0] == ref[0] and a[1] == ref[1] and all(abs(x - y) < 1e-4 for x, y in zip(a[2], ref[2]))


@pytest.fixture
def engine(encoder, small_corpus, tmp_path):
    eng = Engine(Settings(corpus=small_corpus, index_dir=tmp_path / "index"), encoder)
    eng.reindex()
    return eng


def test_questions_during_reindex_each_match_one_version(engine):
    v1 = engine.version
    ref = {v1: {q: sig(engine.ask(q)) for q in QUESTIONS}}
    for name, text in CHANGES.items():
        (engine.settings.corpus / name).write_text(text)
    held, release = threading.Event(), threading.Event()

    def progress(done, total):  # hold the build once it has started, so questions surely overlap it
        if not held.is_set():
            held.set()
            assert release.wait(60)

    results: list[tuple[str, str, object, str]] = []  # (phase, question, answer or error, version)
    lock = threading.Lock()

    def ask(phase: str, q: str) -> None:
        try:
            a = engine.ask(q)
            item = (phase, q, sig(a), a.index_version)
        except Exception as e:  # any failure is a failed answer
            item = (phase, q, e, "")
        with lock:
            results.append(item)

    summary = {}
    builder = threading.Thread(target=lambda: summary.update(s=engine.reindex(progress=progress)))
    builder.start()
    assert held.wait(60)
    with ThreadPoolExecutor(8) as pool:
        # 1. the build is running (held): every answer must come from v1
        list(pool.map(lambda i: ask("during", QUESTIONS[i % len(QUESTIONS)]), range(80)))
        # 2. let it finish and swap while questions keep coming
        release.set()
        futures = []
        i = 0
        while builder.is_alive() or i < 80:
            futures.append(pool.submit(ask, "swap", QUESTIONS[i % len(QUESTIONS)]))
            i += 1
            if len(futures) > 16:
                futures.pop(0).result()
        for f in futures:
            f.result()
    builder.join()
    v2 = summary["s"].version
    assert v2 != v1 and engine.version == v2
    ref[v2] = {q: sig(engine.ask(q)) for q in QUESTIONS}
    assert ref[v1] != ref[v2], "the change must alter some answers, or the check proves nothing"
    # 3. after the swap: every answer from v2
    for q in QUESTIONS * 5:
        ask("after", q)
    failed = [r for r in results if isinstance(r[2], Exception)]
    assert not failed, failed[:3]
    assert len(results) >= 200
    for phase, q, s, version in results:
        assert version in ref, (phase, version)
        assert same(s, ref[version][q]), (phase, q, version)
    assert {v for p, _, _, v in results if p == "during"} == {v1}
    assert {v for p, _, _, v in results if p == "after"} == {v2}


def test_two_reindexes_at_once_one_refused(engine, encoder):
    held, release = threading.Event(), threading.Event()

    def progress(done, total):
        held.set()
        assert release.wait(60)

    out = {}
    t = threading.Thread(target=lambda: out.update(s=engine.reindex(progress=progress)))
    t.start()
    try:
        assert held.wait(60)
        assert engine.reindexing
        with pytest.raises(ReindexInProgress):  # same engine (a second /reindex in the bot)
            engine.reindex()
        other = Engine(engine.settings, encoder)  # another process on the same index dir
        other.load()
        with pytest.raises(ReindexInProgress):
            other.reindex()
        assert engine.ask(QUESTIONS[0]).results  # questions still answered meanwhile
    finally:
        release.set()
        t.join()
    assert out["s"].version == engine.version
    engine.reindex()  # and the lock is free again afterwards
