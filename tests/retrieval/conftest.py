"""Fixtures of the index tests (test_index, test_store, test_dense, test_versions, test_build):
the session's seeds index, copied for each test that changes it."""

import shutil
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture
def own_corpus(tmp_path):
    """A private copy of seeds/ (tests may change it)."""
    dst = tmp_path / "corpus"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture(scope="session")
def seeds_index_dir(seeds_engine):
    """The session's seeds index (read-only); tests copy it (``own_engine``) before changing it."""
    return seeds_engine.settings.index_dir


@pytest.fixture
def own_engine(encoder, own_corpus, tmp_path, seeds_index_dir):
    """An engine over private copies of the seeds corpus and its index."""
    from retrieval.config import Settings
    from retrieval.engine import Engine

    shutil.copytree(seeds_index_dir, tmp_path / "idx")
    return Engine.open(Settings(corpus=own_corpus, index_dir=tmp_path / "idx"), encoder=encoder)


@pytest.fixture
def one_file_corpus(tmp_path):
    """Factory: a corpus folder holding one file, ``one_file_corpus(name, text)``."""
    def make(name: str, text: str) -> Path:
        corpus = tmp_path / "docs"
        corpus.mkdir()
        (corpus / name).write_text(text, encoding="utf-8")
        return corpus

    return make
