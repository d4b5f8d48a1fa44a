"""Fixtures for the reliability tests (retrieval side: nothing here imports discord).

The encoder comes from ``tests/conftest.py`` (one per session). The hostile corpus engine is built
once per session over a temporary folder; tests that reindex or damage an index build their own.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for ``bench.hostile``
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.hostile import write_hostile_corpus  # noqa: E402

SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def encoder():
    """fp32 for these tests: on a bf16-capable CPU ``auto`` uses bf16 autocast, whose per-call
    overhead makes a one-question encode several times slower; the tests ask thousands."""
    from retrieval.embeddings import Encoder

    return Encoder("bundled", "fp32", batch_size=32)


@pytest.fixture(scope="session")
def hostile_corpus(tmp_path_factory) -> Path:
    """seeds/ plus documents full of mentions, markdown, RTL and zero-width text."""
    return write_hostile_corpus(tmp_path_factory.mktemp("hostile") / "corpus", seeds=SEEDS)


@pytest.fixture(scope="session")
def hostile_engine(encoder, hostile_corpus, tmp_path_factory):
    """A read-only engine over :func:`hostile_corpus` (tests must not reindex it)."""
    from retrieval.config import Settings
    from retrieval.engine import Engine

    s = Settings(corpus=hostile_corpus, index_dir=tmp_path_factory.mktemp("hostile-index"))
    return Engine.open(s, encoder=encoder)


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A private, writable copy of seeds/ for tests that change the corpus."""
    dst = tmp_path / "corpus"
    shutil.copytree(SEEDS, dst)
    return dst
