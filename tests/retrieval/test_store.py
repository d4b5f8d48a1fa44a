"""The SQLite store: typed passage records, named reads, and stores written before heading paths
and pages existed."""

import sqlite3

from retrieval.index.build import Builder
from retrieval.index.loaded import Index
from retrieval.index.store import StoredPassage, Store
from retrieval.index.versions import current_version


def test_named_reads(seeds_engine):
    store = seeds_engine.index.store
    docs = store.documents()
    assert [d["doc_id"] for d in docs] == sorted(d["doc_id"] for d in docs) and len(docs) == 5
    doc = store.document(docs[0]["doc_id"])
    assert doc == docs[0] and store.document("no-such-doc") is None
    paras = store.paragraphs(doc["doc_id"])
    assert [p.number for p in paras] == list(range(1, doc["paragraphs"] + 1))
    assert [p.number for p in store.paragraphs(doc["doc_id"], 2, 3)] == [2, 3]
    own = store.document_passages(doc["doc_id"])
    assert own and all(isinstance(p, StoredPassage) and p.doc_id == doc["doc_id"] for p in own)
    # every passage is a verbatim piece of its paragraph, its spans inside its text
    for p in own:
        assert p.text in paras[p.paragraph - 1].text
        assert all(0 <= a < b <= len(p.text) for a, b in p.spans)
    by_id = store.passages([own[0].id, 10_000])
    assert list(by_id) == [own[0].id] and by_id[own[0].id] == own[0]
    owners = store.passage_documents()
    assert len(owners) == store.passage_count and owners[own[0].id] == doc["doc_id"]
    assert store.ids_by_hash()[own[0].hash] == own[0].id


def test_many_ids_in_one_read(seeds_engine):
    """More ids than SQLite binds in one statement."""
    n = seeds_engine.index.store.passage_count
    got = seeds_engine.passages(list(range(n)) * 20)
    assert sorted(got) == list(range(n))


def _unstructured(version):
    """Turn a version's store into one written before heading paths and pages existed."""
    db = sqlite3.connect(version / "store.sqlite")
    for table in ("paragraphs", "passages"):
        db.execute(f"ALTER TABLE {table} DROP COLUMN heading_path")
        db.execute(f"ALTER TABLE {table} DROP COLUMN page")
    db.commit()
    db.close()


def test_older_store_without_heading_paths_still_loads_and_is_reused(own_engine):
    root = own_engine.settings.index_dir
    version = current_version(root)
    own_engine.close()
    _unstructured(version)
    store = Store(version / "store.sqlite")
    assert not store.structured
    p = store.passages([0])[0]
    assert p.heading_path == [] and p.page is None and p.text
    assert store.paragraphs(p.doc_id, 1, 1)[0].heading_path == []
    store.close()
    # a build from it reuses every unchanged passage (the checksums changed: load without them)
    prev = Index(version, verify=False)
    s = Builder(own_engine.encoder, root).build(own_engine.settings.corpus, previous=prev)
    assert s.embedded == 0 and s.passages == prev.manifest["passages"] and len(s.unchanged) == 5
    own_engine.load()
    assert own_engine.index.structured and own_engine.ask("What bounty has the US put on Maduro?").answered
