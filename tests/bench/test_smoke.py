"""Every benchmark script runs end to end in its seconds-long smoke variant (CI never runs the full ones)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"


@pytest.mark.parametrize("module, needs_scifact", [
    ("bench.beir", True),
    ("bench.beir_tune", True),
    ("bench.citebot_tune", True),
    ("bench.fusion_cv", True),
    ("bench.encoder", True),
    ("bench.speed", True),
    ("bench.indexing", True),
    ("bench.bot_latency", False),
])
def test_smoke(module, needs_scifact, tmp_path):
    if needs_scifact and not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip("../shared/bench/scifact not present")
    r = subprocess.run([sys.executable, "-m", module, "--smoke"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip()
