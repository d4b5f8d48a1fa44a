"""Faults while writing, and damaged indexes.

* A writer fails mid-build (simulated at every write step, and for real on a full tmpfs where the
  machine allows mounting one): the build reports one line, the previous version stays in use and
  answers exactly as before (in this process and in a fresh one), no ``.build-*`` or orphan version
  is left, and the next build succeeds.
* A damaged index (truncated/garbled FAISS file, SQLite store, sentence vectors, BM25 files,
  manifest, CURRENT pointer; with and without matching checksums): ``citebot ask`` exits 1 with one
  error line naming ``citebot index --rebuild`` and no traceback; ``citebot index --rebuild`` exits 0
  and ``citebot ask`` answers again.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from retrieval.index import build as build_mod
from retrieval.cli import commands as rcli
from retrieval.index import versions as versions_mod
from retrieval.index.versions import EMBED_CACHE as CACHE_DIR
from retrieval.config import Settings
from retrieval.model.embeddings import Encoder
from retrieval.engine import Engine
from retrieval.errors import IndexBuildError
from retrieval.index.loaded import open_index
from retrieval.index.lexical import Lexical
from retrieval.index.versions import FILES, current_version, file_digest

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["What bounty has the US put on Maduro?", "Who refused to comment?",
             "What did the Wall Street Journal disclose?", "ferry timetable harbour"]
NEW_DOC = ("Penguin survey\n\nThe penguin survey counted twelve thousand emperor penguins on the Antarctic "
           "ice shelf this winter, the expedition leader said.\n")


def signature(answer) -> tuple:
    """What a user sees of an answer (scores rounded: batching may move the last float bits)."""
    return (answer.answered, [(r.doc_id, r.paragraph, r.quote, round(r.score, 4)) for r in answer.results])


def answers(engine) -> list[tuple]:
    return [signature(engine.ask(q)) for q in QUESTIONS]


def change_corpus(corpus: Path) -> None:
    (corpus / "penguins.txt").write_text(NEW_DOC)
    first = sorted(corpus.glob("*.txt"))[0]
    first.write_text(first.read_text() + "\n\nA late correction: the harbour ferry was cancelled.\n")


def leftovers(root: Path, keep: set[str]) -> list[str]:
    """Anything a failed build left that is not the kept version(s), the pointer, the lock or the
    vectors it embedded (kept on purpose: the next build reuses them)."""
    return sorted(p.name for p in root.iterdir()
                  if p.name not in keep | {"CURRENT", ".lock", CACHE_DIR} and not p.name.startswith(".CURRENT-"))


def tiny_corpus(folder: Path) -> Path:
    """Three short documents cut from seeds/ (builds in about a second)."""
    folder.mkdir(parents=True)
    for src in sorted((ROOT / "seeds").glob("*.txt"))[:3]:
        paras = src.read_text().split("\n\n")
        (folder / src.name).write_text("\n\n".join(paras[:5]) + "\n")
    return folder


@pytest.fixture(scope="session")
def pristine(encoder, tmp_path_factory):
    """One built index over :func:`tiny_corpus`, copied by each test that damages or rebuilds it."""
    base = tmp_path_factory.mktemp("pristine")
    corpus = tiny_corpus(base / "corpus")
    eng = Engine(Settings(corpus=corpus, index_dir=base / "index"), encoder)
    eng.reindex()
    return corpus, base / "index", answers(eng)


@pytest.fixture
def built(encoder, pristine, tmp_path):
    """A private copy of the pristine corpus and index, opened: ``(engine, answers before)``."""
    corpus, index_dir, before = pristine
    shutil.copytree(corpus, tmp_path / "corpus")
    shutil.copytree(index_dir, tmp_path / "index")
    eng = Engine.open(Settings(corpus=tmp_path / "corpus", index_dir=tmp_path / "index"), encoder=encoder,
                      build_if_missing=False)
    assert answers(eng) == before
    return eng, before


# ------------------------------------------------------------------ simulated write failures

def _partial_then(exc):
    """A writer that leaves half a file behind, then fails like a full disk would."""
    def write(path, *a, **k):
        Path(path).write_bytes(b"\0" * 1000)
        raise exc
    return write


ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fault(point: str, monkeypatch, encoder):
    import faiss

    if point == "sqlite":
        def store(path, *a, **k):
            Path(path).write_bytes(b"SQLite format 3\0" + b"\0" * 500)
            raise sqlite3.OperationalError("database or disk is full")
        monkeypatch.setattr(build_mod, "write_store", store)
    elif point == "faiss":
        monkeypatch.setattr(faiss, "write_index", lambda idx, path: _partial_then(
            RuntimeError("Error in faiss::FileIOWriter: write error (No space left on device)"))(path))
    elif point == "numpy":
        monkeypatch.setattr(build_mod.np, "save", _partial_then(ENOSPC))
    elif point == "bm25":
        def save(self, folder):
            Path(folder).mkdir(parents=True, exist_ok=True)
            raise ENOSPC
        monkeypatch.setattr(Lexical, "save", save)
    elif point == "manifest":
        real = Path.write_text

        def write_text(self, data, *a, **k):
            if self.name == "manifest.json":
                real(self, data[: len(data) // 2], *a, **k)
                raise ENOSPC
            return real(self, data, *a, **k)
        monkeypatch.setattr(Path, "write_text", write_text)
    elif point == "fsync":
        def fsync_tree(path):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        monkeypatch.setattr(versions_mod, "fsync_tree", fsync_tree)
    elif point == "rename":
        real_rename = os.rename

        def rename(src, dst, *a, **k):
            if Path(src).name.startswith(".build-"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))
            return real_rename(src, dst, *a, **k)
        monkeypatch.setattr(os, "rename", rename)
    elif point == "pointer":
        real_replace = os.replace

        def replace(src, dst, *a, **k):
            if Path(dst).name == "CURRENT":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            return real_replace(src, dst, *a, **k)
        monkeypatch.setattr(os, "replace", replace)
    elif point == "encoder":
        def boom(*a, **k):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory")
        monkeypatch.setattr(encoder, "encode_passages", boom)
    else:
        raise AssertionError(point)


POINTS = ["sqlite", "faiss", "numpy", "bm25", "manifest", "fsync", "rename", "pointer", "encoder"]


@pytest.mark.parametrize("point", POINTS)
def test_write_failure_keeps_previous_version(built, encoder, monkeypatch, point):
    eng, before = built
    root = eng.settings.index_dir
    v1 = eng.version
    change_corpus(eng.settings.corpus)
    _fault(point, monkeypatch, encoder)
    with pytest.raises(IndexBuildError) as err:
        eng.reindex()
    monkeypatch.undo()
    msg = str(err.value)
    assert "\n" not in msg and "previous index is still in use" in msg
    # the old version is still current, in this engine and for a fresh process
    assert eng.version == v1 and current_version(root).name == v1
    assert answers(eng) == before
    fresh = Engine.open(Settings(corpus=eng.settings.corpus, index_dir=root), encoder=encoder,
                        build_if_missing=False)
    assert fresh.version == v1 and answers(fresh) == before
    open_index(root).verify(full=True)
    assert leftovers(root, {v1}) == []
    # nothing left behind breaks the next build, which picks up the change
    summary = eng.reindex()
    assert summary.version != v1 and "penguins" in summary.added
    # the vectors the failed build computed are not computed again (the encoder fault computed none)
    if point == "encoder":
        assert summary.resumed == 0 and summary.embedded > 0
    else:
        assert summary.embedded == 0 and summary.resumed > 0
    assert eng.ask("How many emperor penguins were counted?").results[0].doc_id == "penguins"


def test_cli_index_on_write_failure_is_one_line(built, encoder, monkeypatch, capsys, tmp_path):
    eng, before = built
    change_corpus(eng.settings.corpus)
    _fault("numpy", monkeypatch, encoder)
    code, out, err = run_cli(["index", "--corpus", str(eng.settings.corpus), "--index-dir",
                              str(eng.settings.index_dir)], monkeypatch, encoder, capsys, tmp_path)
    assert code == 1
    assert_one_error_line(err, "No space left on device")
    assert "previous index is still in use" in err


# ------------------------------------------------------------------ a real full disk (tmpfs)

@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mount we can resize; skipped where mounting is not allowed (needs root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")

    def resize(nbytes: int) -> None:
        kb = max(16, nbytes // 1024)
        subprocess.run(["mount", "-o", f"remount,size={kb}k", str(mnt)], check=True, capture_output=True)

    try:
        yield mnt, resize
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.mark.heavy  # a real tmpfs and up to five builds
def test_real_full_disk(encoder, pristine, small_disk, tmp_path):
    """ENOSPC from the real writers (SQLite, FAISS, numpy, bm25s, the manifest) at several fill levels."""
    mnt, resize = small_disk
    root = mnt / "index"
    small_corpus = shutil.copytree(pristine[0], tmp_path / "corpus")
    eng = Engine(Settings(corpus=small_corpus, index_dir=root), encoder)
    eng.reindex()
    v1 = eng.version
    before = answers(eng)
    size_v1 = _du(root)
    # a bigger corpus so the next version needs more room than is left
    for i in range(8):
        (small_corpus / f"extra{i}.txt").write_text(f"Extra {i}\n\n" + " ".join(
            f"The ferry number {i}-{j} sailed past harbour light {j} at dawn." for j in range(60)) + "\n")
    outcomes = []
    for fraction in (0.05, 0.3, 0.6, 0.9):
        resize(int(size_v1 * (1 + fraction)) + 64 * 1024)
        try:
            eng.reindex()
        except IndexBuildError as e:
            msg = str(e)
            assert "\n" not in msg and "previous index is still in use" in msg
            outcomes.append(msg)
        else:
            outcomes.append("built")
            break
        assert current_version(root).name == v1 and eng.version == v1
        assert answers(eng) == before
        assert leftovers(root, {v1}) == [], leftovers(root, {v1})
    assert any("No space left" in o or "full" in o for o in outcomes), outcomes
    resize(64 << 20)
    summary = eng.reindex()
    assert "extra0" in summary.added and current_version(root).name == summary.version


# ------------------------------------------------------------------ damaged indexes through the CLI

def run_cli(argv, monkeypatch, encoder, capsys, tmp_path):
    """``citebot ARGV`` in this process (the shared encoder instead of loading the model again)."""
    monkeypatch.setattr(Encoder, "shared", classmethod(lambda cls, *a, **k: encoder))
    monkeypatch.chdir(tmp_path)  # no stray citebot.toml
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CITEBOT_CONFIG", raising=False)
    capsys.readouterr()
    code = rcli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(err: str, needle: str) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "Token indices sequence length" not in ln]
    assert len(lines) == 1, lines
    assert lines[0].startswith("citebot: error: ") and needle in lines[0], lines[0]


def _rewrite_checksums(version: Path) -> None:
    """Make the manifest agree with damaged files, so the loader itself must notice."""
    m = json.loads((version / "manifest.json").read_text())
    m["checksums"] = {f: file_digest(version / f, full=True) for f in FILES if (version / f).is_file()}
    (version / "manifest.json").write_text(json.dumps(m))


def _damage(root: Path, how: str) -> None:
    v = current_version(root)
    if how == "faiss-truncated":
        p = v / "dense.faiss"
        p.write_bytes(p.read_bytes()[:100])
    elif how == "faiss-garbage":
        (v / "dense.faiss").write_bytes(os.urandom(4096))
    elif how == "faiss-deleted":
        (v / "dense.faiss").unlink()
    elif how == "faiss-truncated-checksummed":
        p = v / "dense.faiss"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        _rewrite_checksums(v)
    elif how == "faiss-fewer-vectors-checksummed":  # a valid FAISS file that disagrees with the store
        import faiss

        idx = faiss.read_index(str(v / "dense.faiss"))
        idx.remove_ids(np.arange(5, dtype=np.int64))
        faiss.write_index(idx, str(v / "dense.faiss"))
        _rewrite_checksums(v)
    elif how == "sqlite-truncated":
        p = v / "store.sqlite"
        p.write_bytes(p.read_bytes()[:2048])
    elif how == "sqlite-garbage":
        p = v / "store.sqlite"
        data = bytearray(p.read_bytes())
        data[:100] = os.urandom(100)
        p.write_bytes(bytes(data))
    elif how == "sqlite-truncated-checksummed":
        p = v / "store.sqlite"
        p.write_bytes(p.read_bytes()[:2048])
        _rewrite_checksums(v)
    elif how == "sqlite-empty-db-checksummed":
        (v / "store.sqlite").unlink()
        sqlite3.connect(v / "store.sqlite").close()
        _rewrite_checksums(v)
    elif how == "sentences-truncated-checksummed":
        p = v / "sentences.npy"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        _rewrite_checksums(v)
    elif how == "sentences-fewer-rows-checksummed":
        arr = np.load(v / "sentences.npy")
        np.save(v / "sentences.npy", arr[: len(arr) // 2])
        _rewrite_checksums(v)
    elif how == "bm25-deleted":
        shutil.rmtree(v / "bm25")
    elif how == "bm25-count-garbage-checksummed":
        (v / "bm25" / "count").write_text("many")
        _rewrite_checksums(v)
    elif how == "manifest-garbage":
        (v / "manifest.json").write_bytes(b"\x00\xff{{{" + os.urandom(64))
    elif how == "manifest-truncated":
        p = v / "manifest.json"
        p.write_bytes(p.read_bytes()[:40])
    elif how == "manifest-deleted":
        (v / "manifest.json").unlink()
    elif how == "manifest-minimal":
        (v / "manifest.json").write_text('{"format": 1}')
    elif how == "manifest-wrong-types":
        m = json.loads((v / "manifest.json").read_text())
        m["checksums"] = list(m["checksums"].values())
        m["passages"] = "many"
        (v / "manifest.json").write_text(json.dumps(m))
    elif how == "manifest-future-format":
        m = json.loads((v / "manifest.json").read_text())
        m["format"] = 99
        (v / "manifest.json").write_text(json.dumps(m))
    elif how == "current-garbage":
        (root / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    elif how == "current-missing-version":
        (root / "CURRENT").write_text("v-20000101T000000-000000\n")
    elif how == "current-empty":
        (root / "CURRENT").write_text("")
    elif how == "current-traversal":
        (root / "CURRENT").write_text("../../etc\n")
    elif how == "current-points-at-build":
        (root / ".build-v-x").mkdir()
        (root / "CURRENT").write_text(".build-v-x\n")
    elif how == "version-folder-is-a-file":
        shutil.rmtree(v)
        v.write_text("not a folder")
    else:
        raise AssertionError(how)


DAMAGES = ["faiss-truncated", "faiss-garbage", "faiss-deleted", "faiss-truncated-checksummed",
           "faiss-fewer-vectors-checksummed", "sqlite-truncated", "sqlite-garbage", "sqlite-truncated-checksummed",
           "sqlite-empty-db-checksummed", "sentences-truncated-checksummed", "sentences-fewer-rows-checksummed",
           "bm25-deleted", "bm25-count-garbage-checksummed", "manifest-garbage", "manifest-truncated",
           "manifest-deleted", "manifest-minimal", "manifest-wrong-types", "manifest-future-format",
           "current-garbage", "current-missing-version", "current-empty", "current-traversal",
           "current-points-at-build", "version-folder-is-a-file"]


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_index_one_line_then_rebuild_recovers(built, encoder, monkeypatch, capsys, tmp_path, how):
    eng, before = built
    root, corpus = eng.settings.index_dir, eng.settings.corpus
    loc = ["--corpus", str(corpus), "--index-dir", str(root)]
    _damage(root, how)
    code, out, err = run_cli(["ask", *loc, QUESTIONS[0]], monkeypatch, encoder, capsys, tmp_path)
    assert code == 1 and not out.strip(), (code, out)
    assert_one_error_line(err, "citebot index --rebuild")
    code, out, err = run_cli(["index", "--rebuild", *loc], monkeypatch, encoder, capsys, tmp_path)
    assert code == 0, err
    assert "Traceback" not in err
    # the note says what happens now, not to run the command that is running
    for note in [ln for ln in err.splitlines() if ln.startswith("citebot")]:
        assert note.endswith("— building a fresh index") and "--rebuild" not in note, note
    code, out, err = run_cli(["ask", "--json", *loc, QUESTIONS[0]], monkeypatch, encoder, capsys, tmp_path)
    assert code == 0, err
    got = json.loads(out.splitlines()[0])
    assert [(r["doc_id"], r["paragraph"], r["quote"]) for r in got["results"]] == \
        [(d, p, q) for d, p, q, _ in before[0][1]]
    open_index(root).verify(full=True)


def _script(args, env, cwd):
    exe = Path(sys.executable).with_name("citebot")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_damaged_index_real_process(built, tmp_path):
    """The same through the installed ``citebot`` script: real exit code and stderr (a model load,
    ~5 s: --run-slow only; tests/retrieval/test_cli.py runs the installed script once in CI)."""
    eng, _ = built
    root, corpus = eng.settings.index_dir, eng.settings.corpus
    _damage(root, "faiss-truncated")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env.pop("CITEBOT_CONFIG", None)
    r = _script(["ask", "--corpus", str(corpus), "--index-dir", str(root), QUESTIONS[0]], env, tmp_path)
    assert r.returncode == 1 and not r.stdout.strip()
    assert_one_error_line(r.stderr, "citebot index --rebuild")


@pytest.mark.slow
def test_damaged_index_real_process_rebuild(built, tmp_path):
    """``citebot index --rebuild`` through the installed script repairs it (a model load and a build,
    ~6 s: --run-slow only; every damage kind is rebuilt through the same CLI code in-process above)."""
    eng, _ = built
    root, corpus = eng.settings.index_dir, eng.settings.corpus
    _damage(root, "faiss-truncated")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env.pop("CITEBOT_CONFIG", None)
    r = _script(["index", "--rebuild", "--corpus", str(corpus), "--index-dir", str(root)], env, tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    open_index(root).verify(full=True)
