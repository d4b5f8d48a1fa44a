"""A loaded index version: its parts agree, and damaged files give one-line errors."""

import numpy as np
import pytest

from retrieval.errors import IndexCorrupt, IndexMissing
from retrieval.index.loaded import Index, open_index
from retrieval.index.versions import FILES, current_version


def test_fresh_build_contents(own_engine):
    idx = own_engine.index
    m = own_engine.manifest
    assert m["documents"] == 5 and m["passages"] == idx.dense.ntotal == idx.lexical.n > 5
    assert m["model"] == "sentence-transformers/all-MiniLM-L6-v2" and m["dim"] == 384 and m["dense"] == "flat"
    # every data file is checksummed, bm25s's own files included
    files = {f.relative_to(idx.path).as_posix() for f in idx.path.rglob("*") if f.is_file()} - {"manifest.json"}
    assert set(m["checksums"]) == files and set(FILES) <= files
    assert {"bm25/params.index.json", "bm25/vocab.index.json"} <= files
    # stored vectors are the encoder's vectors of the stored passages
    row = own_engine.passages([0])[0]
    text = f"{row.heading}\n{row.text}" if row.heading else row.text
    v = own_engine.encoder.encode_passages([text])[0][0]
    assert float(v @ idx.vectors(np.array([0]))[0]) > 0.999
    assert idx.sentence_vectors(row).shape == (len(row.spans), 384)


def test_missing_index(tmp_path):
    with pytest.raises(IndexMissing, match="citebot index"):
        open_index(tmp_path / "none")


@pytest.mark.parametrize("target", ["dense.faiss", "store.sqlite", "sentences.npy", "pages.npy", "page_rows.npy",
                                    "manifest.json", "CURRENT",
                                    "bm25/params.index.json", "bm25/vocab.index.json",
                                    "bm25/indices.csc.index.npy", "bm25/data.csc.index.npy"])
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_files_give_one_line_errors(own_engine, target, damage):
    root = own_engine.settings.index_dir
    path = root / "CURRENT" if target == "CURRENT" else current_version(root) / target
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        mid = len(data) // 2
        path.write_bytes(data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:])
    with pytest.raises((IndexCorrupt, IndexMissing)) as e:
        open_index(root)
    msg = str(e.value)
    assert "\n" not in msg and "citebot index" in msg


def test_a_version_written_before_page_centroids_still_answers(own_engine):
    import json

    from retrieval.index.pages import page_centroids

    root = own_engine.settings.index_dir
    v = current_version(root)
    rows, stored = np.load(v / "page_rows.npy"), np.load(v / "pages.npy").astype(np.float32)
    m = json.loads((v / "manifest.json").read_text())
    for f in ("pages.npy", "page_rows.npy"):
        (v / f).unlink()
        del m["checksums"][f]
        m.get("samples", {}).pop(f, None)
    (v / "manifest.json").write_text(json.dumps(m))
    idx = open_index(root)
    assert idx.pages is None
    got_rows, got = page_centroids(idx)  # computed from the passage vectors instead
    assert (got_rows == rows).all() and np.allclose(got, stored, atol=2e-3)
    own_engine.load()
    assert own_engine.ask("What bounty has the US put on Maduro?").results


def test_valid_but_wrong_bm25_parameters_are_caught_at_load(own_engine):
    """bm25s's files are checksummed too: a well-formed but wrong params file used to load and then
    fail with a traceback at the first question."""
    root = own_engine.settings.index_dir
    (current_version(root) / "bm25" / "params.index.json").write_text("{}")
    with pytest.raises(IndexCorrupt, match="params.index.json.*citebot index --rebuild"):
        open_index(root)


def test_parts_that_disagree_are_refused(own_engine):
    """A store with fewer passages than the vectors (files each intact, checks skipped) is damaged."""
    import sqlite3

    version = current_version(own_engine.settings.index_dir)
    db = sqlite3.connect(version / "store.sqlite")
    db.execute("DELETE FROM passages WHERE id = (SELECT MAX(id) FROM passages)")
    db.commit()
    db.close()
    with pytest.raises(IndexCorrupt, match="inconsistent parts"):
        Index(version, verify=False)
