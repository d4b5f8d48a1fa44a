"""Versions on disk: the atomic switch, the lock, failed builds, old-version cleanup, checksums."""

import pytest

from retrieval.index import build as build_mod
from retrieval.index.build import Builder
from retrieval.errors import IndexBuildError, IndexCorrupt, ReindexInProgress
from retrieval.index.loaded import open_index
from retrieval.index.versions import build_lock, current_version, file_digest


def test_failed_build_keeps_the_previous_version(own_engine, monkeypatch):
    before = own_engine.version
    answer = own_engine.ask("What bounty has the US put on Maduro?").to_dict()

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build_mod.np, "save", disk_full)
    with pytest.raises(IndexBuildError, match="No space left on device"):  # one line for the user
        own_engine.reindex(rebuild=True)
    monkeypatch.undo()
    root = own_engine.settings.index_dir
    assert current_version(root).name == before
    assert not list(root.glob(".build-*"))
    assert own_engine.version == before
    assert own_engine.ask("What bounty has the US put on Maduro?").to_dict() == answer
    assert open_index(root).version == before


def test_old_version_folder_stays_until_the_next_swap(own_engine):
    v1 = own_engine.version
    own_engine.reindex()
    v2 = own_engine.version
    root = own_engine.settings.index_dir
    assert {p.name for p in root.glob("v-*")} == {v1, v2}
    own_engine.reindex()
    assert v1 not in {p.name for p in root.glob("v-*")}


def test_concurrent_builds_are_refused(own_engine):
    with build_lock(own_engine.settings.index_dir):
        with pytest.raises(ReindexInProgress):
            own_engine.reindex()


def test_rebuild_recovers_from_a_damaged_index(own_engine):
    root = own_engine.settings.index_dir
    (current_version(root) / "dense.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt):
        open_index(root)
    builder = Builder(own_engine.encoder, root)
    s = builder.build(own_engine.settings.corpus, previous=None)
    assert s.embedded == s.passages > 0
    assert open_index(root).manifest["passages"] == s.passages


def test_large_files_are_checked_by_samples(tmp_path):
    f = tmp_path / "big.bin"
    f.write_bytes(b"\0" * ((64 << 20) + 10))
    assert file_digest(f).startswith("sampled:")
    assert not file_digest(f, full=True).startswith("sampled:")
