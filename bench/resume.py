"""An interrupted ``citebot index`` resumes: SIGKILL a build half-way, run it again, count what it embeds.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.resume --corpus ../shared/eval/gitdocs/corpus [--at 0.5]

1. A clean build (a real ``citebot index`` process, stderr not a terminal): passages, seconds,
   passages/s, and the log lines it printed.
2. A second build into an empty directory, killed with SIGKILL once the checkpointed vectors in
   ``.embed-cache`` cover ``--at`` of the passages.
3. ``citebot index`` again on that directory: how many passages it embedded and how many it took from
   the checkpoint; its vectors against the clean build's (max absolute difference).

Prints one JSON object. ``--smoke`` runs on seeds/ (seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"passages: (\d+) \((\d+) embedded, (\d+) reused(?:, (\d+) of them from an interrupted build)?\)"
                     r" in ([\d.]+)s")


def _cmd(corpus: Path, index_dir: Path) -> list[str]:
    exe = Path(sys.executable).with_name("citebot")
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "bot.launcher"]
    return [*base, "index", "--corpus", str(corpus), "--index-dir", str(index_dir)]


def _env() -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("CITEBOT_CONFIG", None)
    return env


def run(corpus: Path, index_dir: Path) -> dict:
    """One complete ``citebot index``; its summary figures and stderr lines."""
    t0 = time.perf_counter()
    r = subprocess.run(_cmd(corpus, index_dir), capture_output=True, text=True, env=_env(), cwd=index_dir.parent)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    m = SUMMARY.search(r.stdout)
    passages, embedded, _, resumed, seconds = m.groups()
    return {"passages": int(passages), "embedded": int(embedded), "resumed": int(resumed or 0),
            "build_s": float(seconds), "process_s": round(time.perf_counter() - t0, 1),
            "passages_per_s": round(int(passages) / float(seconds), 1),
            "log_lines": [ln for ln in r.stderr.splitlines() if ln.startswith("citebot: embedding")]}


def checkpointed(index_dir: Path) -> int:
    """Passages whose vectors the checkpoint holds now."""
    n = 0
    for p in (index_dir / ".embed-cache").glob("*.npz"):
        try:
            with np.load(p) as z:
                n += len(z["hashes"])
        except Exception:  # being renamed into place, or gone
            pass
    return n


def killed_run(corpus: Path, index_dir: Path, at: int) -> dict:
    """Start ``citebot index``; SIGKILL it once ``at`` passages are checkpointed."""
    proc = subprocess.Popen(_cmd(corpus, index_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=_env(), cwd=index_dir.parent, start_new_session=True)
    t0 = time.perf_counter()
    while proc.poll() is None:
        if checkpointed(index_dir) >= at:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait()
    return {"killed": proc.returncode == -signal.SIGKILL, "after_s": round(time.perf_counter() - t0, 1),
            "checkpointed_at_kill": checkpointed(index_dir), "index_written": (index_dir / "CURRENT").exists()}


def compare(a: Path, b: Path) -> dict:
    from retrieval.index.loaded import open_index

    x, y = open_index(a), open_index(b)
    n = x.manifest["passages"]
    ids = np.arange(n)
    same = [p.hash for p in x.passages(ids).values()] == [p.hash for p in y.passages(ids).values()]
    return {"same_passages": same and n == y.manifest["passages"],
            "max_abs_diff_vectors": float(np.abs(x.vectors(ids) - y.vectors(ids)).max()) if n else 0.0,
            "max_abs_diff_sentence_vectors": float(np.abs(np.asarray(x.sentences, np.float32)
                                                          - np.asarray(y.sentences, np.float32)).max())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "eval" / "gitdocs" / "corpus")
    ap.add_argument("--at", type=float, default=0.5, help="fraction of the passages embedded at the kill")
    ap.add_argument("--kill-at", type=int, help="kill at this many checkpointed passages; skips the clean build")
    ap.add_argument("--smoke", action="store_true", help="seeds/, seconds")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    corpus = ROOT / "seeds" if args.smoke else args.corpus
    work = Path(tempfile.mkdtemp(prefix="citebot-resume-"))
    try:
        clean = None if args.kill_at else run(corpus, work / "clean")
        print(json.dumps({"clean": clean}), file=sys.stderr)
        kill = killed_run(corpus, work / "resumed", args.kill_at or int(clean["embedded"] * args.at))
        print(json.dumps({"kill": kill}), file=sys.stderr)
        resumed = run(corpus, work / "resumed")
        result = {"corpus": str(corpus), "clean": clean, "kill": kill, "resumed": resumed,
                  "vectors": compare(work / "clean", work / "resumed") if clean else None,
                  "cache_left": (work / "resumed" / ".embed-cache").exists()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
