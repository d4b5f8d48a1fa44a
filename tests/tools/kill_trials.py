"""SIGKILL ``citebot index`` at random moments (and at every step boundary) and check what is left.

    HF_HUB_OFFLINE=1 .venv/bin/python tests/tools/kill_trials.py --trials 20            # random moments
    HF_HUB_OFFLINE=1 .venv/bin/python tests/tools/kill_trials.py --trials 0 --phases    # every step boundary

Setup: a synthetic corpus A (``--docs`` documents) is indexed; corpus B changes a third of the
documents, adds a sixth and removes a tenth, so rebuilding to B embeds a few seconds' worth of
passages. A reference run of ``citebot index`` from A to B (never killed) gives B's answers.

Each trial copies the A index, starts ``citebot index`` (a real subprocess, the installed CLI) for
corpus B and sends SIGKILL at a random moment. Delays count from events seen in that run (the
process start; the ``.build-*`` folder appearing; the first index file appearing in it), so a loaded
machine does not shift them: one trial in five uniformly over the reference run's whole life (model
loading, lock, scan, build); three in ten uniformly over the reference build; half uniformly over
1.2× the reference's short write window (store, FAISS, vectors, BM25, manifest, fsync, rename,
pointer swap, cleanup). ``--phases`` instead kills the process from inside at each step
boundary of ``Builder.build`` (after the first checkpoint of embedded vectors, the store, the FAISS
file, the sentence vectors, BM25, the manifest, the fsync, the rename, the pointer's temp file, the
pointer swap, during old-version cleanup).

Afterwards the index must be exactly one of:

* ``old`` — CURRENT names A's version, every checksum verifies in full, the documents and their
  content hashes are A's, and every reference question gets A's answer;
* ``new`` — CURRENT names a new version that verifies in full, holds exactly B's documents with B's
  content hashes, and answers every question as the reference B build does.

Anything else is a ``mix`` (a failure). Then an in-process build from whatever was left must
succeed and give B's answers (leftovers such as ``.build-*`` folders must not break it).
Prints one JSON object; exit status 1 if any trial is not ``old`` or ``new``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PRECISION = "fp32"  # the subprocesses and the checker use the same encoder settings
WORDS = ("harbour ferry council mayor budget pier storm fishing license tourism bridge tunnel rail station "
         "school hospital election audit contract dredging lighthouse festival museum library market "
         "vessel cargo customs strike union wage pension flood drought wind solar grid tariff").split()
PHASES = {  # phase -> the outcome it must leave
    "after-scan": "old", "after-checkpoint": "old", "after-store": "old", "after-faiss": "old",
    "after-sentences": "old", "after-bm25": "old", "after-manifest": "old", "after-fsync": "old", "after-rename": "old",
    "after-pointer-temp": "old", "after-pointer": "new", "during-cleanup": "new",
}


# ---------------------------------------------------------------- corpus

def _para(rng: random.Random, topic: str, n: int) -> str:
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
        words.insert(rng.randint(0, len(words)), topic)
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def doc_text(i: int, version: int) -> str:
    rng = random.Random(i * 1000 + version)
    topic = f"topic{i}"
    paras = [_para(rng, topic, rng.randint(2, 6)) for _ in range(rng.randint(3, 7))]
    if version:
        paras.insert(1, f"Revision {version}: the {topic} {rng.choice(WORDS)} was moved to the {rng.choice(WORDS)}.")
    return f"Report on {topic}\n\n" + "\n\n".join(paras) + "\n"


def make_corpus(folder: Path, n_docs: int, variant: str) -> None:
    """``a``: documents 0..n-1. ``b``: every third revised, a tenth removed, n/6 new ones added."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for i in range(n_docs + (n_docs // 6 if variant == "b" else 0)):
        if variant == "b" and i % 10 == 9 and i < n_docs:
            continue
        version = 1 if variant == "b" and i % 3 == 0 else 0
        (folder / f"doc{i:04d}.txt").write_text(doc_text(i, version), encoding="utf-8")


def questions(n_docs: int) -> list[str]:
    qs = [f"What happened to the topic{i} {w}?" for i, w in zip(range(0, n_docs + n_docs // 6, 7), WORDS * 9)]
    return qs + ["Which revision moved the ferry?", "harbour budget audit", "storm flood drought"]


def corpus_hashes(folder: Path) -> dict[str, str]:
    return {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.txt"))}


# ---------------------------------------------------------------- checking

def signature(answer) -> list:
    return [answer.answered, [(r.doc_id, r.paragraph, r.quote, round(r.score, 4)) for r in answer.results]]


def snapshot(index_dir: Path, corpus: Path, encoder, qs: list[str]) -> dict:
    """Version, documents and answers of what ``index_dir`` holds now (IndexCorrupt/Missing raise)."""
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.index.versions import current_version

    version = current_version(index_dir)
    eng = Engine.open(Settings(corpus=corpus, index_dir=index_dir, precision=PRECISION), encoder=encoder,
                      build_if_missing=False)
    eng.verify(full=True)
    docs = {d["doc_id"]: d["content_hash"] for d in eng.documents()}
    out = {"version": version.name, "docs": docs, "answers": [signature(eng.ask(q)) for q in qs]}
    eng.close()
    return out


def classify(snap: dict | None, ref_a: dict, ref_b: dict, hashes_a: dict, hashes_b: dict) -> str:
    if snap is None:
        return "mix"
    if snap["version"] == ref_a["version"]:
        ok = snap["docs"] == hashes_a and snap["answers"] == ref_a["answers"]
        return "old" if ok else "mix"
    ok = snap["docs"] == hashes_b and snap["answers"] == ref_b["answers"]
    return "new" if ok else "mix"


# ---------------------------------------------------------------- the subprocess

def citebot_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("citebot")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from bot.launcher import main; sys.exit(main())"]


PHASE_WRAPPER = r'''
import os, signal, sys, shutil
import numpy as np
import faiss
from retrieval.index import build as bd
from retrieval.ingest import documents as dm
from retrieval.index import versions as vs
from retrieval.index.checkpoint import EmbedCache
from retrieval.index.lexical import Lexical

PHASE = os.environ["CITEBOT_KILL_PHASE"]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def after(obj, name, phase, static=False):
    real = getattr(obj, name)
    def wrapped(*a, **k):
        r = real(*a, **k)
        if PHASE == phase:
            die()
        return r
    setattr(obj, name, staticmethod(wrapped) if static else wrapped)

after(dm, "scan", "after-scan")
after(EmbedCache, "append", "after-checkpoint")  # the first chunk of embedded vectors is on disk
after(bd, "write_store", "after-store")
after(faiss, "write_index", "after-faiss")
after(np, "save", "after-sentences")
after(Lexical, "save", "after-bm25")
after(vs, "fsync_tree", "after-fsync")
real_rename, real_replace, real_rmtree = os.rename, os.replace, shutil.rmtree
def rename(src, dst, *a, **k):
    real_rename(src, dst, *a, **k)
    if PHASE == "after-rename" and os.path.basename(str(src)).startswith(".build-"):
        die()
def replace(src, dst, *a, **k):
    if PHASE == "after-pointer-temp" and os.path.basename(str(dst)) == "CURRENT":
        die()
    real_replace(src, dst, *a, **k)
    if PHASE == "after-pointer" and os.path.basename(str(dst)) == "CURRENT":
        die()
def rmtree(path, *a, **k):
    real_rmtree(path, *a, **k)
    if PHASE == "during-cleanup" and os.path.basename(str(path)).startswith("v-"):
        die()
os.rename, os.replace, shutil.rmtree = rename, replace, rmtree
from pathlib import Path
real_write_text = Path.write_text
def write_text(self, *a, **k):
    r = real_write_text(self, *a, **k)
    if PHASE == "after-manifest" and self.name == "manifest.json":
        die()
    return r
Path.write_text = write_text

from bot.launcher import main
sys.exit(main(sys.argv[1:]))
'''


def run_index(index_dir: Path, corpus: Path, *, kill: float | None = None, kill_from: str = "build",
              phase: str | None = None, timeout: float = 600) -> dict:
    """Run ``citebot index``; SIGKILL it ``kill`` seconds after the build folder appears (or the start)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITEBOT_PRECISION": PRECISION, "TOKENIZERS_PARALLELISM": "false"}
    env.pop("CITEBOT_CONFIG", None)
    args = ["index", "--corpus", str(corpus), "--index-dir", str(index_dir)]
    if phase:
        env["CITEBOT_KILL_PHASE"] = phase
        cmd = [sys.executable, "-c", PHASE_WRAPPER, *args]
    else:
        cmd = [*citebot_cmd(), *args]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=index_dir.parent,
                            start_new_session=True)
    t_build = t_write = None
    killed_at = None
    state_at_kill = None
    while proc.poll() is None:
        now = time.monotonic()
        if t_build is None and any(index_dir.glob(".build-*")):
            t_build = now
        if t_build is not None and t_write is None and any(index_dir.glob(".build-*/store.sqlite")):
            t_write = now  # embedding done, the files are being written
        if kill is not None and killed_at is None:
            origin = {"start": t0, "build": t_build, "write": t_write}[kill_from]
            if origin is not None and now - origin >= kill:
                state_at_kill = sorted(p.name for p in index_dir.iterdir())
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = now - t0
        if now - t0 > timeout:
            os.kill(proc.pid, signal.SIGKILL)
            raise RuntimeError("citebot index did not finish in time")
        time.sleep(0.005)
    out, err = proc.communicate()
    end = time.monotonic()
    return {"code": proc.returncode, "seconds": round(end - t0, 3),
            "build_seconds": round(end - t_build, 3) if t_build else None,
            "write_starts": round(t_write - t_build, 3) if t_write and t_build else None,
            "killed_at": round(killed_at, 3) if killed_at is not None else None, "state_at_kill": state_at_kill,
            "stderr": err.decode(errors="replace")[-400:]}


# ---------------------------------------------------------------- the experiment

class Experiment:
    def __init__(self, work: Path, n_docs: int, encoder=None):
        from retrieval.config import Settings
        from retrieval.model.embeddings import Encoder
        from retrieval.engine import Engine

        self.work, self.n_docs = work, n_docs
        self.encoder = encoder or Encoder("bundled", PRECISION)
        self.corpus_a, self.corpus_b = work / "corpus-a", work / "corpus-b"
        make_corpus(self.corpus_a, n_docs, "a")
        make_corpus(self.corpus_b, n_docs, "b")
        self.hashes_a, self.hashes_b = corpus_hashes(self.corpus_a), corpus_hashes(self.corpus_b)
        self.qs = questions(n_docs)
        self.index_a = work / "index-a"
        # A is built in-process (same encoder settings as the CLI uses)
        Engine(Settings(corpus=self.corpus_a, index_dir=self.index_a, precision=PRECISION), self.encoder).reindex()
        self.ref_a = snapshot(self.index_a, self.corpus_a, self.encoder, self.qs)
        # the reference B: the real CLI, from A, never killed
        ref_dir = self.fresh_copy("reference")
        self.ref_run = run_index(ref_dir / "index", self.corpus_b)
        if self.ref_run["code"] != 0:
            raise RuntimeError(f"reference build failed: {self.ref_run['stderr']}")
        self.ref_b = snapshot(ref_dir / "index", self.corpus_b, self.encoder, self.qs)
        if self.ref_b["answers"] == self.ref_a["answers"]:
            raise RuntimeError("A and B answer alike: the trials could not tell them apart")
        self.differing = sum(a != b for a, b in zip(self.ref_a["answers"], self.ref_b["answers"]))

    def fresh_copy(self, name: str) -> Path:
        d = self.work / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir()
        shutil.copytree(self.index_a, d / "index")
        return d

    def check(self, index_dir: Path) -> tuple[str, str | None]:
        try:
            snap = snapshot(index_dir, self.corpus_b, self.encoder, self.qs)
        except Exception as e:  # IndexCorrupt, IndexMissing, anything: not a clean state
            return "mix", f"{type(e).__name__}: {e}"
        return classify(snap, self.ref_a, self.ref_b, self.hashes_a, self.hashes_b), snap["version"]

    def next_build_ok(self, index_dir: Path) -> bool:
        """A normal build from whatever the kill left must succeed and give B's answers."""
        from retrieval.config import Settings
        from retrieval.engine import Engine

        eng = Engine.open(Settings(corpus=self.corpus_b, index_dir=index_dir, precision=PRECISION),
                          encoder=self.encoder, build_if_missing=True)
        eng.reindex()
        leftovers = [p.name for p in index_dir.glob(".build-*")]
        snap = snapshot(index_dir, self.corpus_b, self.encoder, self.qs)
        return not leftovers and snap["docs"] == self.hashes_b and snap["answers"] == self.ref_b["answers"]

    def random_trial(self, i: int, rng: random.Random) -> dict:
        d = self.fresh_copy(f"trial-{i}")
        build = self.ref_run["build_seconds"] or 1.0
        window = build - (self.ref_run["write_starts"] or build * 0.8)
        r = rng.random()
        # delays count from events seen in this very run, so a loaded machine shifts nothing
        if r < 0.2:  # anywhere in the process's life: model loading, lock, scan, build
            kill_from, delay = "start", rng.uniform(0, self.ref_run["seconds"])
        elif r < 0.5:  # anywhere in the build, from the .build-* folder's appearance
            kill_from, delay = "build", rng.uniform(0, build)
        else:  # from the first file written: store, FAISS, vectors, BM25, manifest, fsync, rename, pointer
            kill_from, delay = "write", rng.uniform(0, window * 1.2)
        run = run_index(d / "index", self.corpus_b, kill=delay, kill_from=kill_from)
        outcome, detail = self.check(d / "index")
        rec = {"trial": i, "kill_from": kill_from, "delay": round(delay, 3), "killed": run["killed_at"] is not None,
               "exit": run["code"], "state_at_kill": run["state_at_kill"], "outcome": outcome, "detail": detail,
               "next_build_ok": self.next_build_ok(d / "index")}
        shutil.rmtree(d, ignore_errors=True)
        return rec

    def phase_trial(self, phase: str) -> dict:
        d = self.fresh_copy(f"phase-{phase}")
        if phase == "during-cleanup":  # an older version for the cleanup to remove
            (old,) = (d / "index").glob("v-*")
            shutil.copytree(old, d / "index" / "v-19990101T000000-000000")
        run = run_index(d / "index", self.corpus_b, phase=phase)
        outcome, detail = self.check(d / "index")
        rec = {"phase": phase, "exit": run["code"], "killed": run["code"] == -signal.SIGKILL,
               "outcome": outcome, "expected": PHASES[phase], "detail": detail,
               "left": sorted(p.name for p in (d / "index").iterdir()),
               "next_build_ok": self.next_build_ok(d / "index")}
        shutil.rmtree(d, ignore_errors=True)
        return rec


def summarize(exp: Experiment, trials: list[dict], phases: list[dict]) -> dict:
    counts: dict[str, int] = {}
    for t in trials:
        key = t["outcome"] if t["killed"] else f"{t['outcome']} (finished before the kill)"
        counts[key] = counts.get(key, 0) + 1
    return {
        "docs_a": len(exp.hashes_a), "docs_b": len(exp.hashes_b), "questions": len(exp.qs),
        "questions_answered_differently_by_a_and_b": exp.differing,
        "reference_run_seconds": exp.ref_run["seconds"], "reference_build_seconds": exp.ref_run["build_seconds"],
        "reference_write_starts": exp.ref_run["write_starts"],
        "trials": len(trials), "outcomes": counts,
        "mixes": sum(t["outcome"] == "mix" for t in trials) + sum(p["outcome"] != p["expected"] for p in phases),
        "next_build_failures": sum(not t["next_build_ok"] for t in trials + phases),
        "phases": [{k: p[k] for k in ("phase", "killed", "outcome", "expected", "next_build_ok")} for p in phases],
        "details": trials,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--docs", type=int, default=150, help="documents in corpus A")
    ap.add_argument("--phases", action="store_true", help="also kill at every step boundary")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="citebot-kill-") as tmp:
        exp = Experiment(Path(tmp), args.docs)
        trials = []
        for i in range(args.trials):
            trials.append(exp.random_trial(i, rng))
            t = trials[-1]
            print(f"trial {i}: kill {t['delay']}s after {t['kill_from']} -> {t['outcome']}"
                  f"{'' if t['killed'] else ' (finished first)'}", file=sys.stderr)
        phases = []
        if args.phases:
            for ph in PHASES:
                phases.append(exp.phase_trial(ph))
                print(f"phase {ph}: {phases[-1]['outcome']} (expected {PHASES[ph]})", file=sys.stderr)
        result = summarize(exp, trials, phases)
    result["seed"] = args.seed
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if result["mixes"] or result["next_build_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
