"""PNG plots from the benchmark JSON files (bench/out/...) into bench/figures/.

    .venv/bin/python -m bench.plots
    .venv/bin/python -m bench.plots --speed bench/out/speed/speed.json --out bench/figures

- latency.png: warm p50 / p99 per question vs passages (log-log), one line per system, targets marked.
- encoder.png: encoder throughput per option, speedup over fp32 labelled, the 2x target marked.
- quality.png: SciFact nDCG@10 of each system next to the published test-split anchors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import common

ANCHORS = {  # published nDCG@10 on the SciFact *test* split (shared/bench/scifact/README.md)
    "BM25 (BEIR paper)": 0.665,
    "BM25 Anserini flat": 0.679,
    "all-MiniLM-L6-v2 dense (MTEB)": 0.645,
    "BM25 + MiniLM cross-encoder": 0.688,
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def latency_plot(speed: dict, out: Path) -> Path:
    """p50 (solid) and p99 (dashed) latency vs passages for every system in the speed results."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series: dict[str, list] = {}
    for r in speed["results"]:
        for name, s in r["systems"].items():
            series.setdefault(name, []).append((r["size"], s["p50_ms"], s["p99_ms"]))
    for i, (name, pts) in enumerate(sorted(series.items())):
        pts.sort()
        x = [p[0] for p in pts]
        color = f"C{i}"
        ax.plot(x, [p[1] for p in pts], "o-", color=color, label=f"{name} p50")
        ax.plot(x, [p[2] for p in pts], "s--", color=color, alpha=0.6, label=f"{name} p99")
    ax.plot([100_000], [15], "r*", markersize=14, label="target p50 @100k (15 ms)")
    ax.plot([1_000_000], [50], "r^", markersize=11, label="target p50 @1M (50 ms)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("warm latency per question, ms (end to end)")
    ax.set_title("Question latency vs corpus size (2-core CPU)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return _save(plt, fig, out / "latency.png")


def encoder_plot(enc: dict, out: Path) -> Path:
    """Grouped bars per encoder option: docs/s wall-clock and docs per CPU-second, with speedups."""
    plt = _plt()
    import numpy as np

    rows = [r for r in enc["rows"] if "error" not in r]
    base = rows[0]  # fp32 bs=64 threads=2
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r["docs_per_s"] for r in rows], 0.4, color="C0", label="docs/s (wall clock)")
    ax.barh(y + 0.2, [r.get("cpu_docs_per_s", 0) for r in rows], 0.4, color="C1", label="docs per CPU-second")
    for i, r in enumerate(rows):
        top = max(r["docs_per_s"], r.get("cpu_docs_per_s", 0))
        ax.text(top, i, f" wall x{r['speedup']:.2f} / cpu x{r.get('cpu_speedup', 0):.2f}  cos≥{r['cos_min']:.5f}",
                va="center", fontsize=7)
    ax.axvline(2 * base.get("cpu_docs_per_s", base["docs_per_s"]), color="r", ls="--", label="2x fp32 (per CPU-s)")
    ax.set_yticks(y)
    ax.set_yticklabels([r["option"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"throughput ({enc['sample_docs']} SciFact abstracts, title+text, ≤256 tokens; shared machine)")
    ax.set_xlim(0, max(max(r["docs_per_s"], r.get("cpu_docs_per_s", 0)) for r in rows) * 1.75)
    ax.set_title("Encoder throughput by option (all-MiniLM-L6-v2, 2-core CPU)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=3)
    return _save(plt, fig, out / "encoder.png")


def quality_plot(beir_files: list[Path], out: Path) -> Path:
    """nDCG@10 bars: our systems per mode (train split) and the published anchors (test split)."""
    plt = _plt()
    bars: list[tuple[str, float, str]] = []
    colors = {"naive": "C0", "tuned": "C2", "citebot": "C1"}
    seen = set()
    for f in beir_files:
        d = json.loads(f.read_text())
        split = d["dataset"].split(":")[0].split()[-1]
        for r in d["results"]:
            if r["pipeline"] in seen:  # the same pipeline in two files: keep the first
                continue
            seen.add(r["pipeline"])
            for mode, m in r["modes"].items():
                bars.append((f"{r['pipeline']} {mode} ({split})", m["nDCG@10"], colors.get(r["pipeline"], "C3")))
    bars += [(f"{k} (test, published)", v, "0.6") for k, v in ANCHORS.items()]
    fig, ax = plt.subplots(figsize=(9, 0.4 * len(bars) + 1.5))
    ax.barh(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars])
    for i, b in enumerate(bars):
        ax.text(b[1], i, f" {b[1]:.3f}", va="center", fontsize=8)
    ax.axvline(0.74, color="r", ls="--", label="target 0.74 (test split)")
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0.5, 0.85)
    ax.set_xlabel("nDCG@10 on BEIR SciFact")
    ax.set_title("SciFact nDCG@10: ours (train split) vs published (test split)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _save(plt, fig, out / "quality.png")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=Path, nargs="*", default=None,
                    help="speed result files, merged (default: bench/out/speed/speed*.json)")
    ap.add_argument("--encoder", type=Path, default=common.OUT / "encoder" / "scifact.json")
    ap.add_argument("--beir", type=Path, nargs="*", default=None,
                    help="BEIR result files (default: bench/out/beir/scifact-train-*.json)")
    ap.add_argument("--out", type=Path, default=common.ROOT / "bench" / "figures")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    made = []
    speed_files = args.speed if args.speed is not None else sorted((common.OUT / "speed").glob("speed*.json"))
    if speed_files:
        merged = {"results": [r for f in speed_files for r in json.loads(Path(f).read_text())["results"]]}
        made.append(latency_plot(merged, args.out))
    if args.encoder.exists():
        made.append(encoder_plot(json.loads(args.encoder.read_text()), args.out))
    beir = args.beir if args.beir is not None else sorted((common.OUT / "beir").glob("scifact-train-*.json"))
    beir = [f for f in beir if "smoke" not in f.name]
    if beir:
        made.append(quality_plot(beir, args.out))
    for p in made:
        print(p)
    return 0 if made else 1


if __name__ == "__main__":
    raise SystemExit(main())
