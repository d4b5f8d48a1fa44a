"""Shared fixtures: one encoder and one seeds index per test session (loading costs seconds).

Test tiers: ``pytest -m "not heavy"`` (``./scripts/test.sh --quick``) is the edit-test loop: every
module's own tests, without tests/reliability (faults, fuzz, concurrency, kill trials: all marked
``heavy`` here), real ``citebot`` processes and benchmark smoke runs. Plain ``pytest`` is the full
suite CI runs. ``--run-slow`` adds the long variants (marked ``slow``), which nothing else runs.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
SHARED = Path(os.environ.get("CITEBOT_SHARED", ROOT.parent / "shared"))
DEV_QUESTIONS = SHARED / "eval" / "dev-questions.jsonl"
TOOLS = ROOT / "tests" / "tools"  # the fault and fuzz tools: ``import hostile``, ``kill_trials``, …
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the long variants (marked slow)")


RELIABILITY = ROOT / "tests" / "reliability"


def pytest_collection_modifyitems(config, items):
    for item in items:  # fault, fuzz, concurrency and secrets runs: the full suite's, not the quick tier's
        if RELIABILITY in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.heavy)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="long variant: use --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def encoder():
    """The bundled all-MiniLM-L6-v2, loaded once (bf16 weights where the CPU has bf16 units, else
    fp32). It is also the encoder ``Encoder.shared`` hands out for default settings, so CLI commands
    run in process (``retrieval.cli.commands.main``) reuse it instead of loading the model again."""
    from retrieval.config import Settings
    from retrieval.model.embeddings import Encoder

    s = Settings()
    return Encoder.shared(s.model, s.precision, s.batch_size)


@pytest.fixture(scope="session")
def seeds_copy(tmp_path_factory) -> Path:
    """A private copy of seeds/ (tests may not modify the shipped corpus)."""
    dst = tmp_path_factory.mktemp("corpus") / "seeds"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture(scope="session")
def seeds_engine(encoder, seeds_copy, tmp_path_factory):
    """A read-only engine over the seeds copy. Tests must not reindex it (use ``make_engine``)."""
    from retrieval.config import Settings
    from retrieval.engine import Engine

    s = Settings(corpus=seeds_copy, index_dir=tmp_path_factory.mktemp("seeds-index"))
    return Engine.open(s, encoder=encoder)


@pytest.fixture
def make_engine(encoder, tmp_path):
    """Factory: an engine over a given corpus with a fresh index dir (built on first use)."""
    from retrieval.config import Settings
    from retrieval.engine import Engine

    def make(corpus: Path, **settings) -> Engine:
        s = Settings(corpus=Path(corpus), index_dir=tmp_path / f"index-{len(list(tmp_path.glob('index-*')))}",
                     **settings)
        return Engine.open(s, encoder=encoder)

    return make


@pytest.fixture(scope="session")
def dev_questions() -> Path:
    """The shared dev question set (``../shared/eval``); tests using it skip when it is absent."""
    if not DEV_QUESTIONS.exists():
        pytest.skip(f"{DEV_QUESTIONS} not present")
    return DEV_QUESTIONS


# -- a config file in a test's folder (tests/tools/configs.py writes knowledge-base tables)
@pytest.fixture
def write_config(tmp_path, monkeypatch):
    monkeypatch.delenv("CITEBOT_CORPUS", raising=False)

    def go(text: str) -> Path:
        p = tmp_path / "citebot.toml"
        p.write_text(text, encoding="utf-8")
        return p

    return go
