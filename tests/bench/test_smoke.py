"""Every benchmark harness runs end to end in its seconds-long smoke variant, and what it writes has
the shape bench/RESULTS.md reads (CI never runs the full benchmarks).

The harnesses run in this process: one torch import and model files already in the page cache,
instead of a fresh interpreter per harness. The parts that are child processes by design (each
``bench.speed`` size in its own process for peak RSS, ``bench.indexing``'s cold start) are run
whole by the ``slow`` variants (``--run-slow``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCIFACT = Path(os.environ.get("CITEBOT_SHARED", ROOT.parent / "shared")) / "bench" / "scifact"

pytestmark = pytest.mark.heavy


@pytest.fixture
def scifact() -> Path:
    if not (SCIFACT / "corpus.jsonl").exists():
        pytest.skip(f"{SCIFACT} not present")
    return SCIFACT


@pytest.fixture(autouse=True)
def keep_thread_settings():
    """The harnesses set torch's and FAISS's thread counts; later tests get theirs back."""
    import faiss
    import torch

    threads, omp = torch.get_num_threads(), faiss.omp_get_max_threads()
    yield
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(omp)


def _between_0_and_1(x) -> bool:
    return isinstance(x, float | int) and 0.0 <= x <= 1.0


def test_beir(scifact, tmp_path, capsys):
    from bench import beir

    assert beir.main(["--smoke", "--data", str(scifact), "--pipeline", "naive,citebot", "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "scifact-train-smoke-naive+citebot.json").read_text())
    results = payload["results"]
    assert [r["pipeline"] for r in results] == ["naive", "citebot"]
    for r in results:
        assert set(r["modes"]) == set(beir.MODES)
        for m in r["modes"].values():
            assert _between_0_and_1(m["nDCG@10"]) and _between_0_and_1(m["R@100"])
            assert m["queries"] == len(m["per_query_ndcg10"]) == 15
    assert m["nDCG@10"] > 0.3, "citebot's hybrid finds the relevant abstracts of the smoke slice"
    assert set(payload["comparisons"]) == {f"citebot - naive ({mode})" for mode in beir.MODES}
    assert "| naive | hybrid |" in capsys.readouterr().out


def test_encoder(scifact, tmp_path):
    from bench import encoder

    assert encoder.main(["--smoke", "--repeat", "1", "--data", str(scifact), "--out", str(tmp_path)]) == 0
    payload = json.loads((tmp_path / "smoke.json").read_text())
    assert payload["sample_docs"] == 16
    fp32 = payload["rows"][0]
    assert fp32["precision"] == "fp32" and fp32["speedup"] == 1.0 and fp32["cos_min"] > 0.9999
    for row in payload["rows"]:
        assert "error" in row or (row["docs_per_s"] > 0 and -1 <= row["cos_min"] <= row["cos_mean"] <= 1.0001)
    assert sorted(payload["question_latency"]) == ["bf16-autocast threads=1", "fp32 threads=1", "int8-dynamic threads=1"]
    assert all(v["p50_ms"] > 0 for v in payload["question_latency"].values())


@pytest.mark.parametrize("pipe", ["naive", "citebot"])
def test_speed_one_size(scifact, tmp_path, capsys, pipe):
    """What each child process of ``bench.speed`` does, here: one size, one pipeline."""
    from bench import speed

    # fp32: bf16 autocast (what "auto" picks on this CPU for the naive peer) takes ~1 s per question
    # on a loaded machine, and the precision is not what a smoke run checks
    assert speed.main(["--smoke", "--data", str(scifact), "--one", "2000", "--pipe", pipe, "--precision", "fp32",
                       "--out", str(tmp_path)]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    assert r["size"] == 2000 and r["peak_rss_gib"] > 0
    systems = r["systems"]
    assert set(systems) == ({"citebot"} if pipe == "citebot" else {"naive-exact", "naive-ann"})
    for s in systems.values():
        assert 0 < s["p50_ms"] <= s["p99_ms"]


def test_indexing_throughput_and_incremental(scifact, tmp_path):
    from bench import indexing
    from retrieval.model.embeddings import Encoder

    enc = Encoder.shared("bundled", "auto", 64)
    records = indexing.scifact_records(scifact, 20)
    t = indexing.throughput(enc, records, tmp_path)
    assert t["documents"] == 20 and t["passages"] >= 20 and t["citebot_passages_per_s"] > 0
    assert t["ratio_vs_raw_default"] > 0 and t["ratio_vs_raw_same_precision"] > 0
    inc = indexing.incremental(enc, records, 60, tmp_path)
    assert inc["documents"] == 60 and inc["changed"] == ["d00042"] and inc["embedded"] == 1


def test_bot_latency(capsys):
    from bench import bot_latency

    assert bot_latency.main(["--smoke"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["checks"] == {"unknown_routes": 0, "limit_violations": 0, "ping_risks": 0}
    assert out["sequential"]["n"] == 5 and out["concurrent"]["askers"] == 5 and out["slash_answer"]["n"] == 3
    for part in ("sequential", "concurrent", "slash_defer", "slash_answer", "engine_ask"):
        assert 0 < out[part]["p50_ms"] <= out[part]["max_ms"]


@pytest.mark.slow
@pytest.mark.parametrize("module", ["bench.speed", "bench.indexing"])
def test_whole_harness_with_its_child_processes(scifact, module, tmp_path):
    import subprocess
    import sys

    data = ["--data", str(scifact)] if module == "bench.speed" else ["--scifact", str(scifact)]
    r = subprocess.run([sys.executable, "-m", module, "--smoke", *data, "--out", str(tmp_path / "out")],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "out").exists()


def test_adapter_bench_on_the_seeds(scifact, tmp_path, capsys):
    """bench.adapt: the naive peer and the defaults on one corpus, and the adapter's training report
    (the seeds have too little structure: it says so instead of training)."""
    from bench import adapt as bench_adapt

    out = tmp_path / "adapt.json"
    assert bench_adapt.main(["--work", str(tmp_path / "w"), "--corpora", "seeds", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())["seeds"]
    assert _between_0_and_1(rep["naive"]["R@1"]) and _between_0_and_1(rep["now"]["MRR"])
    assert rep["now"]["R@1"] >= rep["naive"]["R@1"]
    info = rep["training reg=1.0"]
    assert info["pairs"] < 200 and "skipped" in info and "now + adapter 1.0" not in rep
    assert "naive" in capsys.readouterr().out
